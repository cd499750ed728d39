//! Audit results written to constraint `status`, in Gatekeeper's shape, so
//! `kubectl get <kind> <name> -o yaml` shows what already violates a constraint:
//!
//! ```yaml
//! status:
//!   auditTimestamp: "2026-01-01T00:00:00Z"
//!   totalViolations: 3
//!   violations:            # at most --constraint-violations-limit
//!   - {enforcementAction: deny, group: "", version: v1, kind: Pod, namespace: a, name: p, message: ...}
//!   byPod:
//!   - {id: <pod>, constraintUID: ..., observedGeneration: 2, enforced: true, operations: [audit, status]}
//! ```
//!
//! Writes go through the status subresource under the resourceVersion just read, retried
//! on 409 Conflict, since webhook replicas write their own `byPod` entries beside ours.
//! Only the audit fields and this replica's entry change; everything else is kept.

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use serde_json::{json, Map, Value};

use super::report::{AuditReport, ConstraintReport};
use crate::policy::constraint::CONSTRAINTS_GROUP;
use crate::sources::cluster::status::{replace_by_pod, status_map, CONFLICT_RETRIES};

/// Where a constraint kind is served (Gatekeeper's CRDs use the lowercased kind as plural).
fn constraint_api(client: &kube::Client, kind: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(CONSTRAINTS_GROUP, "v1beta1", kind);
    let resource = ApiResource::from_gvk_with_plural(&gvk, &kind.to_ascii_lowercase());
    Api::all_with(client.clone(), &resource)
}

/// The current time as Kubernetes writes timestamps (RFC 3339, seconds, UTC).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    k8s_openapi::jiff::Timestamp::from_second(i64::try_from(secs).unwrap_or(0))
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

/// Write every constraint's audit status. Failures are logged per constraint and counted;
/// the number of constraints written is returned.
pub async fn write_all(
    client: &kube::Client,
    report: &AuditReport,
    pod: Option<&str>,
    timestamp: &str,
) -> usize {
    let mut written = 0;
    for c in &report.constraints {
        match write(client, c, pod, timestamp).await {
            Ok(()) => written += 1,
            Err(e) => tracing::warn!(kind = %c.kind, constraint = %c.name, error = %e,
                "cannot write constraint audit status"),
        }
    }
    written
}

/// Write one constraint's audit status, retrying on conflicts.
pub async fn write(
    client: &kube::Client,
    constraint: &ConstraintReport,
    pod: Option<&str>,
    timestamp: &str,
) -> Result<(), kube::Error> {
    let api = constraint_api(client, &constraint.kind);
    let audit = constraint.status(timestamp);
    let mut attempt = 0;
    loop {
        let mut object = api.get_status(&constraint.name).await?;
        let entry = pod.map(|id| by_pod_entry(id, &object));
        let Some(status) = status_map(&mut object.data) else {
            return Ok(());
        };
        apply(status, &audit, entry);
        match api
            .replace_status(&constraint.name, &PostParams::default(), &object)
            .await
        {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 && attempt < CONFLICT_RETRIES => {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// This replica's `byPod` entry for a constraint as read.
fn by_pod_entry(pod: &str, object: &DynamicObject) -> Value {
    json!({
        "id": pod,
        "constraintUID": object.metadata.uid.clone().unwrap_or_default(),
        "observedGeneration": object.metadata.generation.unwrap_or(0),
        "enforced": true,
        "operations": ["audit", "status"],
    })
}

/// Set the audit fields and replace this replica's `byPod` entry (if any) in `status`.
fn apply(status: &mut Map<String, Value>, audit: &Value, entry: Option<Value>) {
    if let Some(fields) = audit.as_object() {
        for (k, v) in fields {
            status.insert(k.clone(), v.clone());
        }
    }
    if let Some(entry) = entry {
        replace_by_pod(status, entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_fields_replace_and_other_replicas_entries_stay() {
        let mut data = json!({"status": {
            "totalViolations": 9, "violations": [{"name": "old"}],
            "byPod": [{"id": "webhook-1", "enforced": true}, {"id": "audit-0", "stale": true}]}});
        let audit = json!({"auditTimestamp": "t", "totalViolations": 1, "violations": []});
        let entry = json!({"id": "audit-0", "operations": ["audit", "status"]});
        let status = status_map(&mut data).expect("status map");
        apply(status, &audit, Some(entry));
        let s = &data["status"];
        assert_eq!(s["totalViolations"], 1);
        assert_eq!(s["violations"], json!([]));
        assert_eq!(s["byPod"].as_array().map(Vec::len), Some(2));
        assert_eq!(s["byPod"][0]["id"], "audit-0");
        assert!(s["byPod"][0].get("stale").is_none());
        assert_eq!(s["byPod"][1]["id"], "webhook-1");
    }

    #[test]
    fn timestamps_are_rfc3339_utc_seconds() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.ends_with('Z') && t.contains('T'), "{t}");
    }
}
