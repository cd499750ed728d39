//! One kube-rs watcher per watched resource, feeding [`ClusterState`].
//!
//! The watcher lists, then watches from the list's resourceVersion, re-watches when the
//! server closes the stream, and relists (with backoff) after errors such as 410 Gone.
//! Each relist is buffered and swapped in whole, so objects deleted while the watch was
//! down do not linger.
//!
//! [`ClusterState`]: super::state::ClusterState

use std::sync::Arc;

use futures::StreamExt;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client};
use serde_json::Value;

use super::state::{Slot, SyncTarget};
use super::Shared;

/// Where a slot's objects live on the API server.
fn resource_of(slot: &Slot) -> Option<ApiResource> {
    let gvk = |group: &str, version: &str, kind: &str| GroupVersionKind::gvk(group, version, kind);
    // Gatekeeper's CRDs (its own and those it generates for templates) use the lowercased
    // kind as the plural, which is not what English pluralisation would guess.
    let lowercase_plural = |g: GroupVersionKind| {
        let plural = g.kind.to_ascii_lowercase();
        ApiResource::from_gvk_with_plural(&g, &plural)
    };
    Some(match slot {
        Slot::Templates => ApiResource::from_gvk_with_plural(
            &gvk("templates.gatekeeper.sh", "v1", "ConstraintTemplate"),
            "constrainttemplates",
        ),
        Slot::Constraints(kind) => {
            lowercase_plural(gvk("constraints.gatekeeper.sh", "v1beta1", kind))
        }
        // AssignImage has only ever been served as v1alpha1.
        Slot::Mutators("AssignImage") => {
            lowercase_plural(gvk("mutations.gatekeeper.sh", "v1alpha1", "AssignImage"))
        }
        Slot::Mutators(kind) => lowercase_plural(gvk("mutations.gatekeeper.sh", "v1", kind)),
        Slot::Config => ApiResource::from_gvk_with_plural(
            &gvk("config.gatekeeper.sh", "v1alpha1", "Config"),
            "configs",
        ),
        // Served (and stored) as v1alpha1 by every Gatekeeper release that has it; the
        // plural is the singular, as Gatekeeper's CRD spells it.
        Slot::Expansions => ApiResource::from_gvk_with_plural(
            &gvk("expansion.gatekeeper.sh", "v1alpha1", "ExpansionTemplate"),
            "expansiontemplate",
        ),
        Slot::Namespaces => {
            ApiResource::from_gvk_with_plural(&gvk("", "v1", "Namespace"), "namespaces")
        }
        Slot::Sync(_) => return None,
    })
}

/// A synced kind's resource: asked of the API server's discovery, since plurals of
/// arbitrary kinds cannot be guessed reliably; the guess is the fallback.
async fn discover(client: &Client, target: &SyncTarget) -> ApiResource {
    let gvk = GroupVersionKind::gvk(&target.group, &target.version, &target.kind);
    match kube::discovery::pinned_kind(client, &gvk).await {
        Ok((resource, _)) => resource,
        Err(e) => {
            let guess = ApiResource::from_gvk(&gvk);
            tracing::warn!(kind = %target.kind, error = %e, plural = %guess.plural,
                "discovery failed for a synced kind; guessing its plural");
            guess
        }
    }
}

/// The stored form of a watched object: JSON with apiVersion and kind filled in (list
/// items may omit them) and without `managedFields`, which nothing reads. Policy objects
/// also drop `status` and `resourceVersion`, so a status write (Gatekeeper's or ours)
/// compares equal and does not trigger a recompilation.
fn stored(obj: DynamicObject, resource: &ApiResource, policy: bool) -> Option<Value> {
    let mut value = serde_json::to_value(obj).ok()?;
    let map = value.as_object_mut()?;
    map.insert("apiVersion".into(), resource.api_version.clone().into());
    map.insert("kind".into(), resource.kind.clone().into());
    if policy {
        map.remove("status");
    }
    if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
        if policy {
            meta.remove("resourceVersion");
        }
    }
    Some(value)
}

/// Watch one slot until the task is aborted. `namespace` limits the watch (Config).
pub(super) fn spawn(
    client: Client,
    slot: Slot,
    namespace: Option<String>,
    shared: Arc<Shared>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let resource = match (&slot, resource_of(&slot)) {
            (_, Some(r)) => r,
            (Slot::Sync(target), None) => discover(&client, target).await,
            (_, None) => return,
        };
        let policy = !matches!(slot, Slot::Namespaces | Slot::Sync(_));
        let api: Api<DynamicObject> = match &namespace {
            Some(ns) => Api::namespaced_with(client, ns, &resource),
            None => Api::all_with(client, &resource),
        };
        let mut events = watcher::watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        let mut reported_absent = false;
        while let Some(event) = events.next().await {
            match event {
                Ok(Event::Init) => shared.update(|s| s.relist_begin(&slot)),
                Ok(Event::InitApply(obj)) => {
                    if let Some(v) = stored(obj, &resource, policy) {
                        shared.update(|s| s.relist_item(&slot, v));
                    }
                }
                Ok(Event::InitDone) => {
                    reported_absent = false;
                    tracing::debug!(resource = %slot, "list synced");
                    shared.update(|s| s.relist_done(&slot));
                }
                Ok(Event::Apply(obj)) => {
                    if let Some(v) = stored(obj, &resource, policy) {
                        shared.update(|s| s.apply(&slot, v));
                    }
                }
                Ok(Event::Delete(obj)) => {
                    if let Some(v) = stored(obj, &resource, policy) {
                        shared.update(|s| s.delete(&slot, &v));
                    }
                }
                Err(watcher::Error::InitialListFailed(kube::Error::Api(status)))
                    if status.code == 404 =>
                {
                    if !reported_absent {
                        tracing::warn!(resource = %slot, plural = %resource.plural,
                            "resource not served by the API server (CRD not installed?); \
                             treated as empty and retried");
                        reported_absent = true;
                    }
                    shared.update(|s| s.absent(&slot));
                }
                Err(e) => tracing::warn!(resource = %slot, error = %e, "watch failed; retrying"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> DynamicObject {
        serde_json::from_value(value).expect("a Kubernetes object")
    }

    #[test]
    fn policy_objects_drop_what_status_writes_change() {
        let resource = resource_of(&Slot::Templates).expect("templates resource");
        let listed = object(json!({
            "metadata": {"name": "t", "resourceVersion": "7", "generation": 2,
                         "managedFields": [{"manager": "kubectl"}]},
            "spec": {"crd": {}}, "status": {"created": true}}));
        let v = stored(listed, &resource, true).expect("stored");
        assert_eq!(
            v["apiVersion"], "templates.gatekeeper.sh/v1",
            "list items may omit it"
        );
        assert_eq!(v["kind"], "ConstraintTemplate");
        assert!(v.get("status").is_none());
        assert!(v["metadata"].get("resourceVersion").is_none());
        assert!(v["metadata"].get("managedFields").is_none());
        assert_eq!(v["metadata"]["generation"], 2);
    }

    #[test]
    fn synced_objects_keep_their_status() {
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("networking.k8s.io", "v1", "Ingress"),
            "ingresses",
        );
        let ingress = object(json!({
            "metadata": {"name": "i", "namespace": "n", "resourceVersion": "9"},
            "status": {"loadBalancer": {}}}));
        let v = stored(ingress, &resource, false).expect("stored");
        assert!(v.get("status").is_some());
        assert_eq!(v["metadata"]["resourceVersion"], "9");
    }

    #[test]
    fn gatekeeper_plurals_are_the_lowercased_kind() {
        let plural = |slot: Slot| resource_of(&slot).map(|r| (r.plural, r.version));
        assert_eq!(
            plural(Slot::Constraints("K8sRequiredLabels".into())),
            Some(("k8srequiredlabels".into(), "v1beta1".into()))
        );
        assert_eq!(
            plural(Slot::Mutators("AssignImage")),
            Some(("assignimage".into(), "v1alpha1".into()))
        );
        assert_eq!(
            plural(Slot::Mutators("ModifySet")),
            Some(("modifyset".into(), "v1".into()))
        );
    }
}
