//! Status of ConstraintTemplates, constraints, mutators and Config, reported the way Gatekeeper
//! reports it: one `status.byPod[]` entry per server replica carrying the reasons an
//! object was refused (`errors[]`), so `kubectl get <kind> <name> -o yaml` shows them;
//! templates also get `status.created` (with constraint CRD management, only once the
//! template's CRD is Established), constraints and mutators `byPod[].enforced`.
//! A mutator left out for a schema conflict gets an error of type `ErrConflictingSchema`,
//! as in Gatekeeper.
//!
//! Replicas share the `byPod` list, so each write reads the current status, replaces only
//! its own entry and writes back under the read resourceVersion, retrying on conflict.
//! One writer task receives the latest reports through a watch channel: bursts coalesce
//! and writes never overtake each other.

use std::collections::{BTreeMap, HashMap};

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use serde_json::{json, Value};

use crate::policy::refusal::{Cause, Refusal};
use crate::policy::Document;
use crate::snapshot::PolicySnapshot;

/// Where an object is served.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Resource {
    /// `constrainttemplates.templates.gatekeeper.sh`.
    Template,
    /// One constraint kind.
    Constraint(String),
    /// Gatekeeper's Config, in its namespace.
    Config(String),
    /// One mutator kind, at the version it was read.
    Mutator {
        /// The kind.
        kind: String,
        /// The version of `mutations.gatekeeper.sh`.
        version: String,
    },
}

impl Resource {
    /// The resource of a document, if it gets a status.
    fn of(doc: &Value) -> Option<Resource> {
        let api_version = doc.get("apiVersion").and_then(Value::as_str)?;
        let kind = doc.get("kind").and_then(Value::as_str)?.to_string();
        let (group, version) = api_version.split_once('/')?;
        match group {
            "templates.gatekeeper.sh" if kind == "ConstraintTemplate" => Some(Resource::Template),
            "constraints.gatekeeper.sh" => Some(Resource::Constraint(kind)),
            "config.gatekeeper.sh" if kind == "Config" => {
                let namespace = doc.pointer("/metadata/namespace").and_then(Value::as_str)?;
                Some(Resource::Config(namespace.to_string()))
            }
            "mutations.gatekeeper.sh" => Some(Resource::Mutator {
                kind,
                version: version.to_string(),
            }),
            _ => None,
        }
    }

    pub(super) fn api(&self, client: kube::Client) -> Api<DynamicObject> {
        // Gatekeeper's CRDs use the lowercased kind as plural.
        let (gvk, plural) = match self {
            Resource::Template => (
                GroupVersionKind::gvk("templates.gatekeeper.sh", "v1", "ConstraintTemplate"),
                "constrainttemplates".to_string(),
            ),
            Resource::Constraint(kind) => (
                GroupVersionKind::gvk("constraints.gatekeeper.sh", "v1beta1", kind),
                kind.to_ascii_lowercase(),
            ),
            Resource::Mutator { kind, version } => (
                GroupVersionKind::gvk("mutations.gatekeeper.sh", version, kind),
                kind.to_ascii_lowercase(),
            ),
            Resource::Config(namespace) => {
                let gvk = GroupVersionKind::gvk("config.gatekeeper.sh", "v1alpha1", "Config");
                let resource = ApiResource::from_gvk_with_plural(&gvk, "configs");
                return Api::namespaced_with(client, namespace, &resource);
            }
        };
        Api::all_with(client, &ApiResource::from_gvk_with_plural(&gvk, &plural))
    }
}

/// What one replica says about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Report {
    pub(super) uid: String,
    pub(super) generation: i64,
    /// A version of it serves on this replica (templates: `created`; others: `enforced`).
    pub(super) serving: bool,
    /// Why its current version was refused: (error type, message).
    pub(super) errors: Vec<(Option<&'static str>, String)>,
    /// A template's constraint CRD (by its kind: a shadow version of a template has
    /// another name), which must be Established for `created`.
    pub(super) crd: Option<String>,
}

/// Reports by resource and name.
pub(super) type Reports = BTreeMap<(Resource, String), Report>;

/// The reports for the templates, constraints and mutators among `docs`, given the
/// snapshot built from them.
pub(super) fn reports(docs: &[Document], snap: &PolicySnapshot) -> Reports {
    reports_with(docs, snap, |resource, name, kind, _| match resource {
        Resource::Template => snap.templates.values().any(|t| t.template.name == name),
        Resource::Constraint(kind) => snap
            .constraints
            .iter()
            .any(|c| c.constraint.kind == *kind && c.constraint.name == name),
        Resource::Mutator { .. } => {
            let id = format!("{kind}/{name}");
            snap.mutators.iter().any(|m| m.id == id)
        }
        Resource::Config(_) => snap.last_good.configs.contains_key(name),
    })
}

/// The reports for shadow-labelled objects, given the shadow set (`None` when none was
/// built): their refusals in it as errors; constraints and mutators are never enforced,
/// and a template is `created` when its kind serves in the shadow set and its own version
/// was not refused without a version to keep.
pub(super) fn shadow_reports(docs: &[Document], shadow: Option<&PolicySnapshot>) -> Reports {
    let empty = PolicySnapshot::default();
    let snap = shadow.unwrap_or(&empty);
    reports_with(docs, snap, |resource, _, _, doc| match resource {
        Resource::Template => {
            let kind = doc
                .value
                .pointer("/spec/crd/spec/names/kind")
                .and_then(Value::as_str)
                .unwrap_or_default();
            shadow.is_some()
                && snap.templates.contains_key(kind)
                && !snap
                    .refused
                    .iter()
                    .any(|r| r.location == doc.location && !r.kept)
        }
        _ => false,
    })
}

/// The reports for `docs`, with their refusals in `snap`; `serving` says whether a version
/// of an object (resource, name, kind, document) serves.
fn reports_with(
    docs: &[Document],
    snap: &PolicySnapshot,
    serving: impl Fn(&Resource, &str, &str, &Document) -> bool,
) -> Reports {
    let mut refusals: HashMap<&str, Vec<&Refusal>> = HashMap::new();
    for r in snap.refused.iter() {
        refusals.entry(r.location.as_str()).or_default().push(r);
    }
    docs.iter()
        .filter_map(|d| {
            let resource = Resource::of(&d.value)?;
            let meta = d.value.get("metadata")?;
            let name = meta.get("name")?.as_str()?.to_string();
            let kind = d
                .value
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let serving = serving(&resource, &name, kind, d);
            let errors = refusals
                .get(d.location.as_str())
                .into_iter()
                .flatten()
                .map(|r| {
                    let ty = (r.cause == Cause::Conflict).then_some("ErrConflictingSchema");
                    (ty, r.reason())
                })
                .collect();
            let crd = (resource == Resource::Template).then(|| {
                d.value
                    .pointer("/spec/crd/spec/names/kind")
                    .and_then(Value::as_str)
                    .map_or_else(|| name.clone(), str::to_lowercase)
            });
            let report = Report {
                uid: meta
                    .get("uid")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .into(),
                generation: meta.get("generation").and_then(Value::as_i64).unwrap_or(0),
                serving,
                errors,
                crd,
            };
            Some(((resource, name), report))
        })
        .collect()
}

/// Write reports as they change, until the task is aborted. With `crds` (constraint CRD
/// management on), a template reports `created` only once its CRD is Established, and
/// its status is written again when that changes.
pub(super) fn spawn_writer(
    client: kube::Client,
    pod: String,
    mut reports: tokio::sync::watch::Receiver<Reports>,
    mut crds: Option<tokio::sync::watch::Receiver<super::crds::CrdView>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut written = Reports::new();
        loop {
            let changed = match crds.as_mut() {
                Some(view) => tokio::select! {
                    r = reports.changed() => r,
                    r = view.changed() => r,
                },
                None => reports.changed().await,
            };
            if changed.is_err() {
                return;
            }
            let mut latest = reports.borrow_and_update().clone();
            if let Some(view) = crds.as_mut() {
                let view = view.borrow_and_update().clone();
                for ((resource, name), report) in latest.iter_mut() {
                    if *resource == Resource::Template {
                        let crd = report.crd.as_deref().unwrap_or(name);
                        report.serving &= view.established(&super::crds::crd_name(crd));
                    }
                }
            }
            written.retain(|key, _| latest.contains_key(key));
            for (key, report) in latest {
                if written.get(&key) == Some(&report) {
                    continue;
                }
                let api = key.0.api(client.clone());
                match write(&api, &pod, &key, &report).await {
                    Ok(()) => {
                        written.insert(key, report);
                    }
                    Err(e) => {
                        tracing::warn!(resource = ?key.0, name = %key.1, error = %e, "cannot write policy object status")
                    }
                }
            }
        }
    })
}

/// This replica's `byPod` entry for one object, in the shape Gatekeeper uses for its kind.
fn entry(pod: &str, resource: &Resource, report: &Report) -> Value {
    let operations = json!(["mutation-webhook", "webhook"]);
    match resource {
        Resource::Template => json!({
            "id": pod,
            "observedGeneration": report.generation,
            "templateUID": report.uid,
            "operations": operations,
            "errors": report.errors.iter()
                .map(|(_, m)| json!({"code": "ingest_error", "message": m}))
                .collect::<Vec<_>>(),
        }),
        Resource::Constraint(_) => json!({
            "id": pod,
            "observedGeneration": report.generation,
            "constraintUID": report.uid,
            "operations": operations,
            "enforced": report.serving,
            "errors": report.errors.iter()
                .map(|(_, m)| json!({"code": "", "message": m}))
                .collect::<Vec<_>>(),
        }),
        Resource::Config(_) => json!({
            "id": pod,
            "observedGeneration": report.generation,
            "configUID": report.uid,
            "operations": operations,
            "errors": report.errors.iter()
                .map(|(_, m)| json!({"message": m}))
                .collect::<Vec<_>>(),
        }),
        Resource::Mutator { .. } => json!({
            "id": pod,
            "observedGeneration": report.generation,
            "mutatorUID": report.uid,
            "operations": operations,
            "enforced": report.serving,
            "errors": report.errors.iter()
                .map(|(ty, m)| match ty {
                    Some(ty) => json!({"type": ty, "message": m}),
                    None => json!({"message": m}),
                })
                .collect::<Vec<_>>(),
        }),
    }
}

/// Replace this replica's `byPod` entry of one object, retrying on write conflicts.
async fn write(
    api: &Api<DynamicObject>,
    pod: &str,
    (resource, name): &(Resource, String),
    report: &Report,
) -> Result<(), kube::Error> {
    let entry = entry(pod, resource, report);
    let mut attempt = 0;
    loop {
        let mut object = api.get_status(name).await?;
        if object.metadata.uid.as_deref().unwrap_or_default() != report.uid {
            // Deleted and re-created since the report: the next report covers it.
            return Ok(());
        }
        let Some(status) = status_map(&mut object.data) else {
            return Ok(());
        };
        replace_by_pod(status, entry.clone());
        if *resource == Resource::Template {
            status.insert("created".into(), Value::Bool(report.serving));
        }
        match api
            .replace_status(name, &PostParams::default(), &object)
            .await
        {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 && attempt < CONFLICT_RETRIES => attempt += 1,
            Err(e) => return Err(e),
        }
    }
}

/// Attempts of a status write before a conflict (409) is reported as an error.
pub(crate) const CONFLICT_RETRIES: usize = 5;

/// Put this replica's `byPod` entry in `status`, replacing its previous one (matched by
/// `id`) and keeping the list sorted by id, so replicas never overwrite each other's.
///
/// One process may write under one id for two operations (the webhook's load errors, the
/// audit's results), as a Gatekeeper Pod running both does: an entry without `errors`
/// keeps the errors of the entry it replaces, and `operations` are joined, so neither
/// writer erases what the other reported.
pub(crate) fn replace_by_pod(status: &mut serde_json::Map<String, Value>, mut entry: Value) {
    let id = entry.get("id").cloned();
    let mut by_pod: Vec<Value> = status
        .get("byPod")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(previous) = by_pod.iter().find(|e| e.get("id") == id.as_ref()) {
        if let Some(fields) = entry.as_object_mut() {
            if !fields.contains_key("errors") {
                if let Some(errors) = previous.get("errors") {
                    fields.insert("errors".into(), errors.clone());
                }
            }
            let mut operations: Vec<Value> = [previous, &Value::Object(fields.clone())]
                .iter()
                .filter_map(|e| e.get("operations").and_then(Value::as_array))
                .flatten()
                .cloned()
                .collect();
            if !operations.is_empty() {
                operations.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
                operations.dedup();
                fields.insert("operations".into(), Value::Array(operations));
            }
        }
    }
    by_pod.retain(|e| e.get("id") != id.as_ref());
    by_pod.push(entry);
    by_pod.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    status.insert("byPod".into(), Value::Array(by_pod));
}

/// The object's `status` as a JSON map, made one if it is absent or not a map (constraint
/// audit status is written the same way).
pub(crate) fn status_map(data: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    if !data.is_object() {
        *data = json!({});
    }
    let status = data
        .as_object_mut()?
        .entry("status")
        .or_insert_with(|| json!({}));
    if !status.is_object() {
        *status = json!({});
    }
    status.as_object_mut()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::BuildOptions;

    fn cluster_doc(kind: &str, name: &str, value: Value) -> Document {
        Document {
            location: format!("cluster:{kind}//{name}"),
            value,
        }
    }

    fn template(name: &str, kind: &str, rego: &str) -> Document {
        cluster_doc(
            "ConstraintTemplate",
            name,
            json!({"apiVersion": "templates.gatekeeper.sh/v1", "kind": "ConstraintTemplate",
                "metadata": {"name": name, "uid": format!("uid-{name}"), "generation": 3},
                "spec": {"crd": {"spec": {"names": {"kind": kind}}},
                         "targets": [{"target": "admission.k8s.gatekeeper.sh", "rego": rego}]}}),
        )
    }

    fn assign(name: &str, location: &str) -> Document {
        cluster_doc(
            "Assign",
            name,
            json!({"apiVersion": "mutations.gatekeeper.sh/v1", "kind": "Assign",
                "metadata": {"name": name, "uid": format!("uid-{name}"), "generation": 1},
                "spec": {"applyTo": [{"groups": [""], "versions": ["v1"], "kinds": ["Pod"]}],
                         "location": location, "parameters": {"assign": {"value": "x"}}}}),
        )
    }

    const GOOD: &str = "package good\nviolation[{\"msg\": \"no\"}] { false }\n";

    #[test]
    fn each_object_gets_its_own_reasons() {
        let docs = [
            template("good", "Good", GOOD),
            template(
                "bad",
                "Bad",
                "package bad\nviolation[{\"msg\": msg}] {\n  msg := \n",
            ),
            cluster_doc(
                "Bad",
                "c",
                json!({"apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "Bad",
                       "metadata": {"name": "c", "uid": "uid-c", "generation": 2}}),
            ),
            assign("keyed", "spec.containers[name: a].image"),
            assign("object", "spec.containers.image"),
            Document {
                location: "cluster:Config/config".into(),
                value: json!({"apiVersion": "config.gatekeeper.sh/v1alpha1", "kind": "Config",
                    "metadata": {"name": "config", "namespace": "gk", "uid": "uid-cfg", "generation": 4},
                    "spec": {"match": "not a list"}}),
            },
        ];
        let snap = PolicySnapshot::build_from(&docs, &BuildOptions::default(), None);
        let r = reports(&docs, &snap);
        let get = |resource: Resource, name: &str| r[&(resource, name.to_string())].clone();
        let good = get(Resource::Template, "good");
        assert!(good.serving && good.errors.is_empty());
        assert_eq!((good.generation, good.uid.as_str()), (3, "uid-good"));
        let bad = get(Resource::Template, "bad");
        assert!(!bad.serving);
        assert_eq!(bad.errors.len(), 1);
        let c = get(Resource::Constraint("Bad".into()), "c");
        assert!(!c.serving);
        assert!(
            c.errors[0].1.contains("ConstraintTemplate bad"),
            "{:?}",
            c.errors
        );
        let m = Resource::Mutator {
            kind: "Assign".into(),
            version: "v1".into(),
        };
        let keyed = get(m, "keyed");
        assert!(!keyed.serving);
        assert_eq!(keyed.errors[0].0, Some("ErrConflictingSchema"));
        let config = get(Resource::Config("gk".into()), "config");
        assert!(config.errors[0].1.starts_with("spec.match"), "{config:?}");
        let ce = entry("pod-0", &Resource::Config("gk".into()), &config);
        assert_eq!(
            (ce["configUID"].as_str(), ce["observedGeneration"].as_i64()),
            (Some("uid-cfg"), Some(4))
        );
        let e = entry("pod-0", &Resource::Constraint("Bad".into()), &c);
        assert_eq!(e["constraintUID"], "uid-c");
        assert_eq!(e["enforced"], false);
        assert!(e["errors"][0]["message"].is_string());
    }

    #[test]
    fn a_status_that_is_not_an_object_is_replaced() {
        let mut data = json!({"spec": {}, "status": "odd"});
        if let Some(status) = status_map(&mut data) {
            status.insert("created".into(), json!(true));
        }
        assert_eq!(data["status"]["created"], true);
    }

    #[test]
    fn an_entry_of_the_same_replica_keeps_the_errors_another_writer_put_there() {
        let mut status = json!({"byPod": [
            {"id": "p", "operations": ["webhook"], "enforced": false,
             "errors": [{"message": "m"}], "stale": 1},
            {"id": "q", "errors": []}]});
        let map = status.as_object_mut().expect("map");
        // The audit's entry: no errors of its own.
        replace_by_pod(
            map,
            json!({"id": "p", "operations": ["audit", "status"], "enforced": true}),
        );
        let p = &status["byPod"][0];
        assert_eq!(p["operations"], json!(["audit", "status", "webhook"]));
        assert_eq!(p["enforced"], true);
        assert_eq!(p["errors"][0]["message"], "m");
        assert!(p.get("stale").is_none(), "other fields are replaced");
        assert_eq!(status["byPod"][1]["id"], "q");
        // The webhook's entry says what its errors are now.
        let map = status.as_object_mut().expect("map");
        replace_by_pod(
            map,
            json!({"id": "p", "operations": ["webhook"], "errors": []}),
        );
        assert_eq!(status["byPod"][0]["errors"], json!([]));
    }
}
