//! Garbage collection of `status.byPod[]`: entries of replicas that are gone are removed
//! from templates, constraints, mutators and Config, as Gatekeeper's are (there each
//! entry is an object owned by its Pod, removed with it).
//!
//! The live replicas are the Pods of the server's namespace (those matching a label
//! selector, when one is given: the chart selects its release's Pods, webhook and audit
//! alike); an entry's id is the Pod name its writer used. A sweep lists the policy objects
//! first and the Pods after, so every entry it reads was written by a Pod that existed
//! before the Pod list: a Pod missing from that list is gone, never just not yet listed.
//! Writes replace only the stale entries, under the read resourceVersion (409 Conflict:
//! read again and retry), so entries written meanwhile by live replicas stay.
//!
//! A sweep is skipped when the Pod list does not hold this replica's own Pod (a selector
//! that does not describe the installation would otherwise erase every entry), and an
//! entry written by a process outside the namespace (an `audit --write-status` run from a
//! workstation) counts as gone.
//!
//! Sweeps are idempotent and safe on several replicas at once; running them on one
//! replica only (the leader) saves API calls.

use std::collections::BTreeSet;
use std::time::Duration;

use kube::api::{Api, DynamicObject, ListParams, PostParams};
use serde_json::Value;

use super::status::{status_map, Resource, CONFLICT_RETRIES};

/// Settings of the status garbage collector.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// The namespace of the server's Pods (and of Gatekeeper's Config).
    pub namespace: String,
    /// This replica's Pod name: a sweep runs only when the Pod list holds it.
    pub pod: String,
    /// Label selector of the installation's Pods; `None`: every Pod of the namespace.
    pub selector: Option<String>,
    /// Time between sweeps.
    pub interval: Duration,
}

/// The mutator kinds and the versions their status is written at.
const MUTATORS: [(&str, &str); 4] = [
    ("Assign", "v1"),
    ("AssignMetadata", "v1"),
    ("ModifySet", "v1"),
    ("AssignImage", "v1alpha1"),
];

/// Sweep every `interval` until the task is aborted.
pub fn spawn(client: kube::Client, options: GcOptions) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut reported = false;
        let mut ticks = tokio::time::interval(options.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match sweep(&client, &options).await {
                Ok(removed) => {
                    reported = false;
                    if removed > 0 {
                        tracing::info!(removed, "removed status entries of replicas that are gone");
                    }
                }
                Err(e) => {
                    if !reported {
                        tracing::warn!(error = %e, "status garbage collection failed; retrying each interval");
                        reported = true;
                    }
                }
            }
        }
    })
}

/// Why a sweep did not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    /// The API server refused or failed a request.
    #[error(transparent)]
    Api(#[from] kube::Error),
    /// The Pod list does not describe this installation.
    #[error("this replica's Pod {0} is not among the Pods listed (namespace or selector wrong?); nothing removed")]
    NotListed(String),
}

/// One sweep; the number of entries removed.
pub async fn sweep(client: &kube::Client, options: &GcOptions) -> Result<usize, GcError> {
    // Objects first, Pods after: see the module documentation.
    let mut objects: Vec<(Resource, Vec<DynamicObject>)> = Vec::new();
    let templates = list(&Resource::Template.api(client.clone())).await?;
    let kinds: BTreeSet<String> = templates
        .iter()
        .filter_map(|t| t.data.pointer("/spec/crd/spec/names/kind")?.as_str())
        .map(str::to_string)
        .collect();
    objects.push((Resource::Template, templates));
    for kind in kinds {
        let resource = Resource::Constraint(kind);
        let items = list(&resource.api(client.clone())).await?;
        objects.push((resource, items));
    }
    for (kind, version) in MUTATORS {
        let resource = Resource::Mutator {
            kind: kind.into(),
            version: version.into(),
        };
        let items = list(&resource.api(client.clone())).await?;
        objects.push((resource, items));
    }
    let config = Resource::Config(options.namespace.clone());
    let items = list(&config.api(client.clone())).await?;
    objects.push((config, items));

    let pods: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &options.namespace,
        &kube::api::ApiResource::erase::<k8s_openapi::api::core::v1::Pod>(&()),
    );
    let mut params = ListParams::default();
    if let Some(selector) = &options.selector {
        params = params.labels(selector);
    }
    let live: BTreeSet<String> = pods
        .list_metadata(&params)
        .await?
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    if !live.contains(&options.pod) {
        return Err(GcError::NotListed(options.pod.clone()));
    }

    let mut removed = 0;
    for (resource, items) in objects {
        let api = resource.api(client.clone());
        for object in items {
            let stale = stale_ids(&object.data, &live);
            if stale.is_empty() {
                continue;
            }
            let Some(name) = object.metadata.name.as_deref() else {
                continue;
            };
            removed += remove(&api, name, &stale).await?;
        }
    }
    Ok(removed)
}

/// Every object of a resource; a resource not served (its CRD not installed) has none.
async fn list(api: &Api<DynamicObject>) -> Result<Vec<DynamicObject>, kube::Error> {
    match api.list(&ListParams::default()).await {
        Ok(list) => Ok(list.items),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// The `byPod` ids of an object that are not live.
pub fn stale_ids(object: &Value, live: &BTreeSet<String>) -> BTreeSet<String> {
    object
        .pointer("/status/byPod")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("id").and_then(Value::as_str))
        .filter(|id| !live.contains(*id))
        .map(str::to_string)
        .collect()
}

/// Remove the entries of `stale` ids from one object's status, retrying on conflict; the
/// number removed.
async fn remove(
    api: &Api<DynamicObject>,
    name: &str,
    stale: &BTreeSet<String>,
) -> Result<usize, kube::Error> {
    let mut attempt = 0;
    loop {
        let mut object = match api.get_status(name).await {
            Ok(o) => o,
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(0),
            Err(e) => return Err(e),
        };
        let Some(status) = status_map(&mut object.data) else {
            return Ok(0);
        };
        let Some(by_pod) = status.get_mut("byPod").and_then(Value::as_array_mut) else {
            return Ok(0);
        };
        let before = by_pod.len();
        by_pod.retain(|e| {
            e.get("id")
                .and_then(Value::as_str)
                .is_none_or(|id| !stale.contains(id))
        });
        let removed = before - by_pod.len();
        if removed == 0 {
            return Ok(0);
        }
        match api
            .replace_status(name, &PostParams::default(), &object)
            .await
        {
            Ok(_) => return Ok(removed),
            Err(kube::Error::Api(s)) if s.code == 409 && attempt < CONFLICT_RETRIES => {
                attempt += 1;
            }
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(0),
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_ids_of_pods_not_listed_are_stale() {
        let object = json!({"status": {"byPod": [
            {"id": "web-1"}, {"id": "web-2"}, {"id": "audit-1"}, {"noid": true}]}});
        let live: BTreeSet<String> = ["web-1", "audit-1"].map(String::from).into();
        assert_eq!(stale_ids(&object, &live), ["web-2".to_string()].into());
        assert!(stale_ids(&json!({"status": {}}), &live).is_empty());
        assert!(stale_ids(&json!({"status": {"byPod": "odd"}}), &live).is_empty());
    }
}
