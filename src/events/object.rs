//! The Events Gatekeeper writes for violations, in its terms: the reasons
//! (`FailedAdmission`, `WarningAdmission`, `DryrunViolation`, `AuditViolation`), the
//! message forms, the annotations naming constraint and resource, and the involved object
//! reference. By default an Event goes to the server's own namespace and names the
//! resource with a synthetic uid (`kind/namespace/name/constraintKind/constraintNamespace/
//! constraintName`), so tenants' namespaces are not written to; with the
//! `*-events-involved-namespace` flags it goes to the resource's namespace and carries the
//! resource's own uid and resourceVersion (cluster-scoped resources still go to the
//! server's namespace).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::aggregate::Key;
use crate::policy::Action;
use crate::text;

/// Longest Event message written (the API server's own Events keep theirs about this
/// short; a template's message is chosen by the policy author and may be long).
pub const MAX_MESSAGE_CHARS: usize = 1024;

/// Longest object name put in an Event (Kubernetes names are at most 253 characters).
const MAX_NAME_CHARS: usize = 253;

/// Where a violation was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Process {
    /// At admission, in a request of `username`.
    Admission {
        /// `request.userInfo.username`.
        username: String,
    },
    /// By an audit sweep started at `timestamp` (RFC 3339).
    Audit {
        /// The sweep's timestamp.
        timestamp: String,
    },
}

/// The resource a violation is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resource {
    /// API group (empty for the core group).
    pub group: String,
    /// API version.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Namespace (empty when cluster-scoped).
    pub namespace: String,
    /// Name (may be empty at CREATE with `generateName`).
    pub name: String,
    /// `metadata.uid`, when the object has one.
    pub uid: String,
    /// `metadata.resourceVersion`, when the object has one.
    pub resource_version: String,
}

impl Resource {
    /// The resource of a judged object (its metadata read from the review's object).
    pub fn of(review: &crate::review::Review) -> Self {
        let meta = &review.request["object"]["metadata"];
        let field = |f: &str| meta[f].as_str().unwrap_or_default().to_string();
        Resource {
            group: review.gvk.group.clone(),
            version: review.gvk.version.clone(),
            kind: review.gvk.kind.clone(),
            namespace: review.namespace.clone(),
            name: review.name.clone(),
            uid: field("uid"),
            resource_version: field("resourceVersion"),
        }
    }
}

/// One violation to report as an Event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Admission or audit.
    pub process: Process,
    /// The action at the enforcement point.
    pub action: Action,
    /// True when the constraint's actions are scoped (its enforcement actions are listed).
    pub scoped: bool,
    /// Constraint kind.
    pub constraint_kind: String,
    /// Constraint name.
    pub constraint_name: String,
    /// The resource.
    pub resource: Resource,
    /// The template's message.
    pub message: String,
}

/// Where Events go and who writes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// The server's namespace (the default home of Events).
    pub namespace: String,
    /// Admission Events go to the resource's namespace.
    pub admission_involved_namespace: bool,
    /// Audit Events go to the resource's namespace.
    pub audit_involved_namespace: bool,
}

/// The Event reason of a violation.
pub fn reason(v: &Violation) -> &'static str {
    match (&v.process, v.action) {
        (Process::Audit { .. }, _) => "AuditViolation",
        (Process::Admission { .. }, Action::Dryrun) => "DryrunViolation",
        (Process::Admission { .. }, Action::Warn) => "WarningAdmission",
        (Process::Admission { .. }, Action::Deny) => "FailedAdmission",
    }
}

fn involved_namespace(v: &Violation, placement: &Placement) -> bool {
    match v.process {
        Process::Admission { .. } => placement.admission_involved_namespace,
        Process::Audit { .. } => placement.audit_involved_namespace,
    }
}

/// The Event's message.
fn message(v: &Violation, involved: bool) -> String {
    let lead = match (&v.process, v.action) {
        (Process::Audit { .. }, _) => "",
        (Process::Admission { .. }, Action::Dryrun) => "Dryrun violation, ",
        (Process::Admission { .. }, Action::Warn) => {
            "Admission webhook \"validation.gatekeeper.sh\" raised a warning for this request, "
        }
        (Process::Admission { .. }, Action::Deny) => {
            "Admission webhook \"validation.gatekeeper.sh\" denied request, "
        }
    };
    let text = if involved {
        format!(
            "{lead}Constraint: {}, Message: {}",
            v.constraint_name, v.message
        )
    } else {
        format!(
            "{lead}Resource Namespace: {}, Constraint: {}, Message: {}",
            v.resource.namespace, v.constraint_name, v.message
        )
    };
    text::clip(&text, MAX_MESSAGE_CHARS).into_owned()
}

/// The involved object reference and the namespace the Event is written to.
fn involved_object(v: &Violation, involved: bool, placement: &Placement) -> (Value, String) {
    let r = &v.resource;
    let namespace = if involved && !r.namespace.is_empty() {
        r.namespace.clone()
    } else {
        placement.namespace.clone()
    };
    let api_version = if r.group.is_empty() {
        r.version.clone()
    } else {
        format!("{}/{}", r.group, r.version)
    };
    let mut reference = json!({
        "apiVersion": api_version, "kind": r.kind, "namespace": namespace,
        "name": text::clip(&r.name, MAX_NAME_CHARS),
    });
    if involved {
        if !r.uid.is_empty() && !r.resource_version.is_empty() {
            reference["uid"] = json!(r.uid);
            reference["resourceVersion"] = json!(r.resource_version);
        }
    } else {
        // Constraints are cluster-scoped: their namespace is empty.
        reference["uid"] = json!(format!(
            "{}/{}/{}/{}//{}",
            r.kind, r.namespace, r.name, v.constraint_kind, v.constraint_name
        ));
    }
    (reference, namespace)
}

/// Annotations naming the constraint and the resource, with Gatekeeper's keys.
fn annotations(v: &Violation) -> BTreeMap<&'static str, String> {
    let r = &v.resource;
    let actions = if v.scoped {
        v.action.as_str().to_string()
    } else {
        String::new()
    };
    let mut a = BTreeMap::from([
        (
            "constraint_group",
            crate::policy::constraint::CONSTRAINTS_GROUP.to_string(),
        ),
        ("constraint_api_version", "v1beta1".to_string()),
        ("constraint_kind", v.constraint_kind.clone()),
        ("constraint_name", v.constraint_name.clone()),
        ("constraint_action", v.action.as_str().to_string()),
        ("constraint_enforcement_actions", actions),
        ("resource_group", r.group.clone()),
        ("resource_api_version", r.version.clone()),
        ("resource_kind", r.kind.clone()),
        ("resource_namespace", r.namespace.clone()),
        ("resource_name", r.name.clone()),
    ]);
    match &v.process {
        Process::Admission { username } => {
            a.insert("process", "admission".into());
            a.insert("event_type", "violation".into());
            a.insert("request_username", username.clone());
        }
        Process::Audit { timestamp } => {
            a.insert("process", "audit".into());
            a.insert("event_type", "violation_audited".into());
            a.insert("auditTimestamp", timestamp.clone());
            a.insert("constraint_namespace", String::new());
        }
    }
    for value in a.values_mut() {
        text::truncate(value, text::MAX_FIELD_CHARS);
    }
    a
}

/// A valid Event name for an involved object's name and a time in nanoseconds, as
/// Kubernetes' own recorders name Events (`<name>.<hex time>`).
pub fn event_name(involved: &str, nanos: u128) -> String {
    let mut base: String = involved
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-' | '.') => c,
            _ => '-',
        })
        .take(200)
        .collect();
    let trimmed = base.trim_matches(|c| c == '-' || c == '.').len();
    if trimmed == 0 {
        base = "portcullis".into();
    }
    let base = base.trim_matches(|c| c == '-' || c == '.');
    format!("{base}.{nanos:x}")
}

/// The aggregation key of a violation: what makes two occurrences the same Event.
pub fn key(v: &Violation, placement: &Placement) -> Key {
    let involved = involved_namespace(v, placement);
    let (reference, namespace) = involved_object(v, involved, placement);
    Key {
        namespace,
        reason: reason(v),
        constraint: format!("{}/{}", v.constraint_kind, v.constraint_name),
        involved: format!(
            "{}/{}/{}/{}",
            v.resource.kind,
            v.resource.namespace,
            reference["name"].as_str().unwrap_or_default(),
            reference["uid"].as_str().unwrap_or_default()
        ),
        message: message(v, involved),
    }
}

/// The Event of a violation first seen at `time` (RFC 3339), named for `nanos`; the
/// aggregator sets its `count` and `lastTimestamp`.
pub fn draft(v: &Violation, placement: &Placement, time: &str, nanos: u128) -> Value {
    let involved = involved_namespace(v, placement);
    let (reference, namespace) = involved_object(v, involved, placement);
    let component = match v.process {
        Process::Admission { .. } => "portcullis-webhook",
        Process::Audit { .. } => "portcullis-audit",
    };
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": event_name(&v.resource.name, nanos),
            "namespace": namespace,
            "annotations": annotations(v),
        },
        "involvedObject": reference,
        "reason": reason(v),
        "message": message(v, involved),
        "type": "Warning",
        "source": {"component": component},
        "firstTimestamp": time,
        "lastTimestamp": time,
        "count": 1,
    })
}

/// [`key`] and [`draft`] together.
pub fn build(v: &Violation, placement: &Placement, time: &str, nanos: u128) -> (Key, Value) {
    (key(v, placement), draft(v, placement, time, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violation(process: Process, action: Action) -> Violation {
        Violation {
            process,
            action,
            scoped: false,
            constraint_kind: "K8sRequiredLabels".into(),
            constraint_name: "must-have-owner".into(),
            resource: Resource {
                group: String::new(),
                version: "v1".into(),
                kind: "Pod".into(),
                namespace: "apps".into(),
                name: "web".into(),
                uid: "u-1".into(),
                resource_version: "42".into(),
            },
            message: "you must provide labels: {\"owner\"}".into(),
        }
    }

    fn admission() -> Process {
        Process::Admission {
            username: "alice".into(),
        }
    }

    #[test]
    fn reasons_follow_the_action_and_the_process() {
        let audit = Process::Audit {
            timestamp: "t".into(),
        };
        assert_eq!(
            reason(&violation(admission(), Action::Deny)),
            "FailedAdmission"
        );
        assert_eq!(
            reason(&violation(admission(), Action::Warn)),
            "WarningAdmission"
        );
        assert_eq!(
            reason(&violation(admission(), Action::Dryrun)),
            "DryrunViolation"
        );
        assert_eq!(reason(&violation(audit, Action::Warn)), "AuditViolation");
    }

    #[test]
    fn by_default_events_go_to_the_server_namespace_with_a_synthetic_uid() {
        let placement = Placement {
            namespace: "portcullis-system".into(),
            ..Placement::default()
        };
        let (key, ev) = build(
            &violation(admission(), Action::Deny),
            &placement,
            "2026-01-01T00:00:00Z",
            0xabc,
        );
        assert_eq!(ev["metadata"]["namespace"], "portcullis-system");
        assert_eq!(ev["metadata"]["name"], "web.abc");
        assert_eq!(
            ev["involvedObject"]["uid"],
            "Pod/apps/web/K8sRequiredLabels//must-have-owner"
        );
        assert!(ev["involvedObject"].get("resourceVersion").is_none());
        assert_eq!(
            ev["message"],
            "Admission webhook \"validation.gatekeeper.sh\" denied request, Resource Namespace: apps, \
             Constraint: must-have-owner, Message: you must provide labels: {\"owner\"}"
        );
        let a = &ev["metadata"]["annotations"];
        assert_eq!(a["process"], "admission");
        assert_eq!(a["event_type"], "violation");
        assert_eq!(a["constraint_kind"], "K8sRequiredLabels");
        assert_eq!(a["constraint_action"], "deny");
        assert_eq!(a["resource_kind"], "Pod");
        assert_eq!(a["request_username"], "alice");
        assert_eq!(
            (ev["type"].as_str(), ev["count"].as_u64()),
            (Some("Warning"), Some(1))
        );
        assert_eq!(key.namespace, "portcullis-system");
        assert_eq!(key.reason, "FailedAdmission");
    }

    #[test]
    fn involved_namespace_names_the_resource_itself() {
        let placement = Placement {
            namespace: "portcullis-system".into(),
            audit_involved_namespace: true,
            ..Placement::default()
        };
        let audit = Process::Audit {
            timestamp: "2026-01-01T00:00:00Z".into(),
        };
        let (_, ev) = build(&violation(audit, Action::Dryrun), &placement, "t", 1);
        assert_eq!(ev["metadata"]["namespace"], "apps");
        assert_eq!(ev["involvedObject"]["uid"], "u-1");
        assert_eq!(ev["involvedObject"]["resourceVersion"], "42");
        assert_eq!(
            ev["message"],
            "Constraint: must-have-owner, Message: you must provide labels: {\"owner\"}"
        );
        assert_eq!(
            ev["metadata"]["annotations"]["event_type"],
            "violation_audited"
        );
        assert_eq!(ev["source"]["component"], "portcullis-audit");
        // A cluster-scoped resource stays in the server's namespace.
        let mut v = violation(
            Process::Audit {
                timestamp: "t".into(),
            },
            Action::Deny,
        );
        v.resource.namespace.clear();
        let (_, ev) = build(&v, &placement, "t", 1);
        assert_eq!(ev["metadata"]["namespace"], "portcullis-system");
    }

    #[test]
    fn names_and_messages_are_bounded_and_valid() {
        assert_eq!(event_name("", 16), "portcullis.10");
        assert_eq!(event_name("Web_Server", 1), "web-server.1");
        assert_eq!(event_name("..", 1), "portcullis.1");
        assert!(event_name(&"x".repeat(1000), u128::MAX).len() < 253);
        let mut v = violation(admission(), Action::Deny);
        v.message = "m".repeat(100_000);
        v.resource.name = "n".repeat(100_000);
        let (_, ev) = build(&v, &Placement::default(), "t", 1);
        assert!(ev["message"].as_str().map(str::len).unwrap_or(0) < 4 * MAX_MESSAGE_CHARS);
        let name = ev["metadata"]["annotations"]["resource_name"]
            .as_str()
            .unwrap_or("");
        assert!(name.chars().count() <= text::MAX_FIELD_CHARS + 1);
    }
}
