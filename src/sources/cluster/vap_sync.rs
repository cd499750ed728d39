//! Cluster mode's `--generate-vap`: the ValidatingAdmissionPolicies and bindings that
//! `portcullis vap` prints for the cluster's CEL templates and constraints, kept in the
//! cluster so the API server enforces them itself beside the webhook.
//!
//! Level based, like the constraint CRDs: every pass lists the objects labelled as
//! portcullis's, creates what is missing, replaces what differs (fields the API server
//! defaults do not count as differences) and deletes what no template or constraint asks
//! for any more. An object of a generated name without the label (made by hand, or by
//! Gatekeeper) is never touched. With leader election only the leader runs it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind};
use kube::api::{ListParams, PostParams};
use serde_json::Value;
use tokio::sync::watch;

use crate::policy::Document;

/// The label on every object written, and the selector of those a pass may change.
const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
const PORTCULLIS: &str = "portcullis";

/// A pass with nothing changed runs again after this long (objects edited by hand).
const RESYNC: Duration = Duration::from_secs(60);
const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The two kinds written, policies first (a binding names its policy).
const KINDS: [(&str, &str); 2] = [
    ("ValidatingAdmissionPolicy", "validatingadmissionpolicies"),
    (
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
    ),
];

fn api(client: &kube::Client, kind: &str, plural: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("admissionregistration.k8s.io", "v1", kind);
    Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(&gvk, plural),
    )
}

/// Keep the cluster's generated policies and bindings equal to `desired` (the objects of
/// the latest export) until the task is aborted.
pub(super) fn spawn(
    client: kube::Client,
    mut desired: watch::Receiver<Option<Vec<Value>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = MIN_BACKOFF;
        loop {
            let want = desired.borrow_and_update().clone();
            // `None`: no export yet (the policy set has not loaded); nothing to compare.
            let wait = match want {
                None => RESYNC,
                Some(want) => match pass(&client, &want).await {
                    Ok(()) => {
                        backoff = MIN_BACKOFF;
                        RESYNC
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, retry_in_s = backoff.as_secs_f64(),
                            "generated ValidatingAdmissionPolicies not yet in line; retrying");
                        let wait = backoff;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        wait
                    }
                },
            };
            tokio::select! {
                changed = desired.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(wait) => {}
            }
        }
    })
}

/// The policy objects the generated policies are made from: each object's current version,
/// or, where that version was refused, the last one that was not. The webhook keeps
/// enforcing the last good version of a refused template or constraint, so the API
/// server's copy of the policy must not disappear (or change) because of a bad edit.
#[derive(Debug, Default)]
pub(super) struct Serving(BTreeMap<String, Document>);

impl Serving {
    /// Take one build's documents and the locations it refused; the documents to export.
    /// An object refused before any version of it was good is left out; an object gone
    /// from `docs` is forgotten.
    pub(super) fn update(&mut self, docs: &[Document], refused: &BTreeSet<&str>) -> Vec<Document> {
        let mut next = BTreeMap::new();
        for d in docs {
            let serving = if refused.contains(d.location.as_str()) {
                self.0.remove(&d.location)
            } else {
                Some(d.clone())
            };
            if let Some(doc) = serving {
                next.insert(d.location.clone(), doc);
            }
        }
        self.0 = next;
        self.0.values().cloned().collect()
    }
}

fn is_ours(meta: &kube::api::ObjectMeta) -> bool {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(MANAGED_BY))
        .is_some_and(|v| v == PORTCULLIS)
}

/// One pass over both kinds.
async fn pass(client: &kube::Client, want: &[Value]) -> Result<(), kube::Error> {
    for (kind, plural) in KINDS {
        let api = api(client, kind, plural);
        let listed = api
            .list(&ListParams::default().labels(&format!("{MANAGED_BY}={PORTCULLIS}")))
            .await?;
        let mut ours: BTreeMap<String, DynamicObject> = listed
            .items
            .into_iter()
            .filter(|o| is_ours(&o.metadata))
            .filter_map(|o| Some((o.metadata.name.clone()?, o)))
            .collect();
        let of_kind = want
            .iter()
            .filter(|o| o.get("kind").and_then(Value::as_str) == Some(kind));
        for object in of_kind {
            let Ok(mut typed) = serde_json::from_value::<DynamicObject>(object.clone()) else {
                continue;
            };
            let Some(name) = typed.metadata.name.clone() else {
                continue;
            };
            let name = name.as_str();
            typed
                .metadata
                .labels
                .get_or_insert_with(Default::default)
                .insert(MANAGED_BY.into(), PORTCULLIS.into());
            match ours.remove(name) {
                Some(current) => {
                    let have = serde_json::to_value(&current).unwrap_or(Value::Null);
                    let spec = |v: &Value| v.get("spec").cloned().unwrap_or(Value::Null);
                    if super::crds::includes(&spec(&have), &spec(object)) {
                        continue;
                    }
                    typed.metadata.resource_version = current.metadata.resource_version;
                    api.replace(name, &PostParams::default(), &typed).await?;
                    tracing::info!(kind, name, "generated policy object updated");
                }
                None => match api.create(&PostParams::default(), &typed).await {
                    Ok(_) => tracing::info!(kind, name, "generated policy object created"),
                    // One of that name exists without our label: it is someone else's.
                    Err(kube::Error::Api(status)) if status.code == 409 => {
                        tracing::debug!(kind, name, "left alone: not labelled as portcullis's");
                    }
                    Err(e) => return Err(e),
                },
            }
        }
        // What is left of ours, no template or constraint asks for.
        for name in ours.keys() {
            match api.delete(name, &DeleteParams::default()).await {
                Ok(_) => tracing::info!(kind, name, "generated policy object deleted"),
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(location: &str, version: u32) -> Document {
        Document {
            location: location.into(),
            value: json!({"version": version}),
        }
    }

    fn versions(docs: &[Document]) -> Vec<(String, u64)> {
        docs.iter()
            .map(|d| (d.location.clone(), d.value["version"].as_u64().unwrap_or(0)))
            .collect()
    }

    #[test]
    fn a_refused_edit_keeps_the_last_good_version_and_a_deleted_object_goes() {
        let mut serving = Serving::default();
        let none = BTreeSet::new();
        let first = serving.update(&[doc("t", 1), doc("c", 1)], &none);
        assert_eq!(versions(&first), [("c".into(), 1), ("t".into(), 1)]);
        // The template's edit is refused: version 1 stays; the constraint's edit is taken.
        let refused = BTreeSet::from(["t"]);
        let second = serving.update(&[doc("t", 2), doc("c", 2)], &refused);
        assert_eq!(versions(&second), [("c".into(), 2), ("t".into(), 1)]);
        // Still refused on the next build: still version 1.
        let third = serving.update(&[doc("t", 3), doc("c", 2)], &refused);
        assert_eq!(versions(&third), [("c".into(), 2), ("t".into(), 1)]);
        // Fixed: the new version.
        let fourth = serving.update(&[doc("t", 4), doc("c", 2)], &none);
        assert_eq!(versions(&fourth), [("c".into(), 2), ("t".into(), 4)]);
        // Deleted: gone, and a later refused object of that name has nothing to fall back on.
        let fifth = serving.update(&[doc("c", 2)], &none);
        assert_eq!(versions(&fifth), [("c".into(), 2)]);
        let sixth = serving.update(&[doc("t", 5), doc("c", 2)], &refused);
        assert_eq!(versions(&sixth), [("c".into(), 2)]);
    }
}
