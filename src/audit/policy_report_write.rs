//! Writing an audit's PolicyReports to the cluster: each report is created, replaced in
//! place when its content changed (same object, new resourceVersion; never deleted and
//! created again, so watchers such as Policy Reporter see an update), left alone when it
//! did not, and deleted when its namespace (or the cluster scope) has no results left.
//!
//! Only reports named [`REPORT_NAME`] and labelled [`MANAGED_BY`] are read, replaced or
//! deleted: another tool's reports, even one of the same name without the label, are
//! never touched. Whether to write at all is the caller's decision (the process that
//! audits); this module only makes the cluster match one audit's findings.

use std::collections::BTreeMap;

use kube::api::PostParams;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams};
use serde_json::Value;

use super::policy_report::{content, MANAGED_BY, OMITTED_ANNOTATION, REPORT_NAME};

/// What one write of the reports did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportWrites {
    /// Reports created.
    pub created: usize,
    /// Reports replaced in place.
    pub updated: usize,
    /// Reports already as found.
    pub unchanged: usize,
    /// Reports of clean namespaces deleted.
    pub deleted: usize,
    /// Writes refused (logged; retried by the next audit).
    pub failed: usize,
}

fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("wgpolicyk8s.io", "v1alpha2", kind),
        plural,
    )
}

/// Make the cluster's portcullis reports those of `reports` (as built by
/// [`super::policy_report::Findings::reports`]). An error means the reports could not be
/// listed (e.g. the CRDs are not installed); single writes that fail are counted.
pub async fn write_all(
    client: &kube::Client,
    reports: &[Value],
) -> Result<ReportWrites, kube::Error> {
    let mut out = ReportWrites::default();
    let namespaced = resource("PolicyReport", "policyreports");
    let cluster = resource("ClusterPolicyReport", "clusterpolicyreports");
    let (wanted_ns, wanted_cluster): (Vec<&Value>, Vec<&Value>) =
        reports.iter().partition(|r| r["kind"] == "PolicyReport");
    sync(client, &namespaced, true, &wanted_ns, &mut out).await?;
    sync(client, &cluster, false, &wanted_cluster, &mut out).await?;
    Ok(out)
}

/// Make the reports of one kind match `wanted`.
async fn sync(
    client: &kube::Client,
    resource: &ApiResource,
    namespaced: bool,
    wanted: &[&Value],
    out: &mut ReportWrites,
) -> Result<(), kube::Error> {
    let all: Api<DynamicObject> = Api::all_with(client.clone(), resource);
    let selector = format!("{}={}", MANAGED_BY.0, MANAGED_BY.1);
    let listed = all.list(&ListParams::default().labels(&selector)).await?;
    let mut existing: BTreeMap<String, DynamicObject> = listed
        .items
        .into_iter()
        // The selector already says so; checked again so that a server ignoring it can
        // never make another tool's report look like ours.
        .filter(|o| {
            o.metadata.name.as_deref() == Some(REPORT_NAME)
                && o.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(MANAGED_BY.0))
                    .is_some_and(|v| v == MANAGED_BY.1)
        })
        .map(|o| (o.metadata.namespace.clone().unwrap_or_default(), o))
        .collect();
    for report in wanted {
        let ns = report["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let api: Api<DynamicObject> = if namespaced {
            Api::namespaced_with(client.clone(), &ns, resource)
        } else {
            Api::all_with(client.clone(), resource)
        };
        let result = match existing.remove(&ns) {
            Some(current) => {
                let current = serde_json::to_value(&current).unwrap_or_default();
                if content(&current) == content(report) {
                    out.unchanged += 1;
                    continue;
                }
                let updated = updated(current, report);
                match serde_json::from_value::<DynamicObject>(updated) {
                    Ok(obj) => api
                        .replace(REPORT_NAME, &PostParams::default(), &obj)
                        .await
                        .map(|_| out.updated += 1),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot encode a policy report");
                        out.failed += 1;
                        continue;
                    }
                }
            }
            None => match serde_json::from_value::<DynamicObject>((*report).clone()) {
                Ok(obj) => api
                    .create(&PostParams::default(), &obj)
                    .await
                    .map(|_| out.created += 1),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot encode a policy report");
                    out.failed += 1;
                    continue;
                }
            },
        };
        if let Err(e) = result {
            out.failed += 1;
            tracing::warn!(kind = %resource.kind, namespace = %ns, error = %e,
                "cannot write a policy report; the next audit retries");
        }
    }
    // What is left has no results any more.
    for (ns, _) in existing {
        let api: Api<DynamicObject> = if namespaced {
            Api::namespaced_with(client.clone(), &ns, resource)
        } else {
            Api::all_with(client.clone(), resource)
        };
        match api.delete(REPORT_NAME, &DeleteParams::default()).await {
            Ok(_) => out.deleted += 1,
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => {
                out.failed += 1;
                tracing::warn!(kind = %resource.kind, namespace = %ns, error = %e,
                    "cannot delete a policy report of a clean namespace");
            }
        }
    }
    Ok(())
}

/// The stored report with the new summary, results and omission note, keeping its
/// identity (uid, resourceVersion for the precondition) and what others added to it.
fn updated(mut current: Value, report: &Value) -> Value {
    current["apiVersion"] = report["apiVersion"].clone();
    current["kind"] = report["kind"].clone();
    current["summary"] = report["summary"].clone();
    current["results"] = report["results"].clone();
    let meta = &mut current["metadata"];
    meta["labels"][MANAGED_BY.0] = MANAGED_BY.1.into();
    let omitted = report["metadata"]["annotations"][OMITTED_ANNOTATION].clone();
    if omitted.is_null() {
        if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove(OMITTED_ANNOTATION);
        }
    } else {
        meta["annotations"][OMITTED_ANNOTATION] = omitted;
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_update_keeps_identity_and_foreign_metadata() {
        let current = json!({
            "apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
            "metadata": {"name": REPORT_NAME, "namespace": "a", "uid": "u", "resourceVersion": "7",
                         "labels": {MANAGED_BY.0: MANAGED_BY.1, "team": "x"},
                         "annotations": {OMITTED_ANNOTATION: "3", "note": "kept"}},
            "summary": {"fail": 9}, "results": [{"policy": "old"}]});
        let report = json!({"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
                            "metadata": {}, "summary": {"fail": 1}, "results": [{"policy": "new"}]});
        let u = updated(current, &report);
        assert_eq!(u["metadata"]["uid"], "u");
        assert_eq!(u["metadata"]["resourceVersion"], "7");
        assert_eq!(u["metadata"]["labels"]["team"], "x");
        assert_eq!(u["metadata"]["annotations"], json!({"note": "kept"}));
        assert_eq!(u["results"], json!([{"policy": "new"}]));
        assert_eq!(u["summary"], json!({"fail": 1}));
    }
}
