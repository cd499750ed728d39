//! ConstraintTemplate status, reported the way Gatekeeper reports it: `status.created` and
//! one `status.byPod[]` entry per server replica, carrying the reasons a template did not
//! load (`errors[].message`), so `kubectl get constrainttemplate -o yaml` shows them.
//!
//! Replicas share the `byPod` list, so each write reads the current status, replaces only
//! its own entry and writes back under the read resourceVersion, retrying on conflict.
//! One writer task receives the latest reports through a watch channel: bursts coalesce
//! and writes never overtake each other.

use std::collections::BTreeMap;

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use serde_json::{json, Value};

use crate::policy::{Document, PolicyError, PolicySnapshot};

/// What one replica says about one template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TemplateReport {
    uid: String,
    generation: i64,
    /// Compiled and serving on this replica.
    created: bool,
    /// Why it did not load.
    errors: Vec<String>,
}

/// Reports by template name.
pub(super) type Reports = BTreeMap<String, TemplateReport>;

/// The reports for the templates among `docs`, given the errors of the last build and the
/// policy set now serving.
pub(super) fn reports(
    docs: &[Document],
    errors: &[PolicyError],
    serving: Option<&PolicySnapshot>,
) -> Reports {
    let mut reasons: BTreeMap<String, Vec<String>> = BTreeMap::new();
    collect_reasons(errors, &mut reasons);
    docs.iter()
        .filter(|d| d.value.get("kind").and_then(Value::as_str) == Some("ConstraintTemplate"))
        .filter_map(|d| {
            let meta = d.value.get("metadata")?;
            let name = meta.get("name")?.as_str()?.to_string();
            let created =
                serving.is_some_and(|s| s.templates.values().any(|t| t.template.name == name));
            Some((
                name.clone(),
                TemplateReport {
                    uid: meta
                        .get("uid")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .into(),
                    generation: meta.get("generation").and_then(Value::as_i64).unwrap_or(0),
                    created,
                    errors: reasons
                        .remove(&format!("ConstraintTemplate/{name}"))
                        .unwrap_or_default(),
                },
            ))
        })
        .collect()
}

/// The reasons of each document's errors, by `Kind/name`.
fn collect_reasons(errors: &[PolicyError], out: &mut BTreeMap<String, Vec<String>>) {
    for e in errors {
        match e {
            PolicyError::Set(list) => collect_reasons(list, out),
            PolicyError::At { what, error, .. } => {
                out.entry(what.clone()).or_default().push(error.to_string())
            }
            _ => {}
        }
    }
}

/// Write reports as they change, until the task is aborted.
pub(super) fn spawn_writer(
    client: kube::Client,
    pod: String,
    mut reports: tokio::sync::watch::Receiver<Reports>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let gvk = GroupVersionKind::gvk("templates.gatekeeper.sh", "v1", "ConstraintTemplate");
        let api: Api<DynamicObject> = Api::all_with(
            client,
            &ApiResource::from_gvk_with_plural(&gvk, "constrainttemplates"),
        );
        let mut written = Reports::new();
        while reports.changed().await.is_ok() {
            let latest = reports.borrow_and_update().clone();
            written.retain(|name, _| latest.contains_key(name));
            for (name, report) in latest {
                if written.get(&name) == Some(&report) {
                    continue;
                }
                match write(&api, &pod, &name, &report).await {
                    Ok(()) => {
                        written.insert(name, report);
                    }
                    Err(e) => {
                        tracing::warn!(template = %name, error = %e, "cannot write ConstraintTemplate status")
                    }
                }
            }
        }
    })
}

/// Replace this replica's `byPod` entry of one template, retrying on write conflicts.
async fn write(
    api: &Api<DynamicObject>,
    pod: &str,
    name: &str,
    report: &TemplateReport,
) -> Result<(), kube::Error> {
    let errors: Vec<Value> = report
        .errors
        .iter()
        .map(|m| json!({"code": "ingest_error", "message": m}))
        .collect();
    let entry = json!({
        "id": pod,
        "observedGeneration": report.generation,
        "templateUID": report.uid,
        "operations": ["webhook", "mutation-webhook"],
        "errors": errors,
    });
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
        status.insert("created".into(), Value::Bool(report.created));
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
pub(crate) fn replace_by_pod(status: &mut serde_json::Map<String, Value>, entry: Value) {
    let id = entry.get("id").cloned();
    let mut by_pod: Vec<Value> = status
        .get("byPod")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter(|e| e.get("id") != id.as_ref())
                .cloned()
                .collect()
        })
        .unwrap_or_default();
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

    fn template(name: &str, kind: &str) -> Document {
        Document {
            location: format!("cluster:ConstraintTemplate//{name}"),
            value: json!({"apiVersion": "templates.gatekeeper.sh/v1", "kind": "ConstraintTemplate",
                "metadata": {"name": name, "uid": format!("uid-{name}"), "generation": 3},
                "spec": {"crd": {"spec": {"names": {"kind": kind}}}}}),
        }
    }

    #[test]
    fn each_template_gets_its_own_reasons() {
        let docs = [template("good", "Good"), template("bad", "Bad")];
        let errors = [PolicyError::Set(vec![PolicyError::At {
            location: "cluster:ConstraintTemplate//bad".into(),
            what: "ConstraintTemplate/bad".into(),
            error: Box::new(PolicyError::invalid("spec.targets", "no code")),
        }])];
        let r = reports(&docs, &errors, None);
        assert_eq!(r["bad"].errors, ["spec.targets: no code"]);
        assert!(r["good"].errors.is_empty());
        assert_eq!(
            (r["good"].generation, r["good"].uid.as_str()),
            (3, "uid-good")
        );
        assert!(!r["good"].created, "nothing serves yet");
    }

    #[test]
    fn a_status_that_is_not_an_object_is_replaced() {
        let mut data = json!({"spec": {}, "status": "odd"});
        if let Some(status) = status_map(&mut data) {
            status.insert("created".into(), json!(true));
        }
        assert_eq!(data["status"]["created"], true);
    }
}
