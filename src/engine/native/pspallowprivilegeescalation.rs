//! `K8sPSPAllowPrivilegeEscalationContainer`: every container must set
//! `securityContext.allowPrivilegeEscalation: false`. Escalation (setuid binaries, file
//! capabilities) is allowed by default, so only an explicit `false` turns it off; this is
//! a control of the Pod Security restricted profile.
//!
//! Follows the library's Rego (the template's CEL variant lists images, not names):
//! - UPDATE requests pass: the field cannot change on a running Pod;
//! - containers, init containers and ephemeral containers are all judged, and a container
//!   whose image matches `exemptImages` (exact, or a prefix written with a trailing `*`) is
//!   skipped;
//! - only the boolean `false` passes: an absent `securityContext` or field, `true`, the
//!   string `"false"` or `null` all allow escalation;
//! - one violation per distinct container name, `Privilege escalation container is not
//!   allowed: <name>`, with empty details; a container without a `name` gives none (the
//!   Rego's message is undefined then).

use std::sync::Arc;

use serde_json::Value;

use super::containers::{per_container_violations, ExemptImages};
use super::{field, Opa};
use crate::engine::{BoundProgram, EngineError, EvalInput, Violation};

/// A bound `K8sPSPAllowPrivilegeEscalationContainer` constraint.
#[derive(Debug)]
struct AllowPrivilegeEscalation {
    exempt: ExemptImages,
}

/// Bind a `K8sPSPAllowPrivilegeEscalationContainer` constraint.
pub(crate) fn bind(parameters: &Value) -> Result<Arc<dyn BoundProgram>, EngineError> {
    Ok(Arc::new(AllowPrivilegeEscalation {
        exempt: ExemptImages::from_parameters(parameters)?,
    }))
}

/// Whether a container turns escalation off: `securityContext.allowPrivilegeEscalation`
/// is the boolean `false`.
fn escalation_off(container: &Value) -> bool {
    field(container, "securityContext").and_then(|s| field(s, "allowPrivilegeEscalation"))
        == Some(&Value::Bool(false))
}

impl BoundProgram for AllowPrivilegeEscalation {
    fn evaluate(&self, input: &EvalInput<'_>) -> Result<Vec<Violation>, EngineError> {
        per_container_violations(input, &self.exempt, |container, name| {
            (!escalation_off(container)).then(|| {
                format!(
                    "Privilege escalation container is not allowed: {}",
                    Opa(name)
                )
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::{Operation, Review};
    use serde_json::json;

    use super::super::test_pod as pod;

    fn run(parameters: Value, spec: Value) -> Vec<String> {
        super::super::messages(bind, &parameters, &Review::from_object(pod(spec)))
    }

    fn container(name: &str, image: &str, escalation: Option<Value>) -> Value {
        let mut c = json!({"name": name, "image": image});
        if let Some(v) = escalation {
            c["securityContext"] = json!({ "allowPrivilegeEscalation": v });
        }
        c
    }

    #[test]
    fn only_an_explicit_false_passes() {
        let spec = |e: Option<Value>| json!({"containers": [container("app", "nginx", e)]});
        assert!(run(Value::Null, spec(Some(json!(false)))).is_empty());
        for e in [
            None,
            Some(json!(true)),
            Some(json!("false")),
            Some(Value::Null),
        ] {
            assert_eq!(
                run(Value::Null, spec(e.clone())),
                vec!["Privilege escalation container is not allowed: app"],
                "{e:?}"
            );
        }
    }

    #[test]
    fn every_kind_of_container_and_exemptions() {
        let p = json!({"exemptImages": ["safe.example.com/*"]});
        let spec = json!({
            "containers": [container("a", "nginx", None), container("s", "safe.example.com/x", None)],
            "initContainers": [container("i", "nginx", Some(json!(true)))],
            "ephemeralContainers": [container("e", "nginx", None)]
        });
        let mut got = run(p, spec);
        got.sort();
        assert_eq!(
            got,
            vec![
                "Privilege escalation container is not allowed: a",
                "Privilege escalation container is not allowed: e",
                "Privilege escalation container is not allowed: i",
            ]
        );
    }

    #[test]
    fn updates_nameless_and_repeated_names() {
        let spec = json!({"containers": [container("a", "nginx", None)]});
        let mut review = Review::from_object(pod(spec));
        review.operation = Operation::Update;
        assert!(super::super::messages(bind, &Value::Null, &review).is_empty());
        assert!(run(Value::Null, json!({"containers": [{"image": "nginx"}]})).is_empty());
        let twice = json!({"containers": [container("a", "x", None)],
                           "initContainers": [container("a", "y", None)]});
        assert_eq!(run(Value::Null, twice).len(), 1);
    }

    fn edge_cases() -> Vec<(Value, Value)> {
        let params = [
            Value::Null,
            json!({"exemptImages": []}),
            json!({"exemptImages": ["safe.example.com/*", "busybox"]}),
            json!({"exemptImages": ["*"]}),
        ];
        let containers = [
            container("a", "nginx", None),
            container("b", "nginx", Some(json!(false))),
            container("c", "nginx", Some(json!(true))),
            container("d", "nginx", Some(json!("false"))),
            container("e", "nginx", Some(json!(null))),
            container("f", "nginx", Some(json!(0))),
            container("g", "safe.example.com/x", None),
            container("h", "busybox", Some(json!(true))),
            container("i", "busybox:1", None),
            json!({"name": "j", "image": "nginx", "securityContext": null}),
            json!({"name": "k", "image": "nginx", "securityContext": false}),
            json!({"name": "l", "image": "nginx", "securityContext": {}}),
            json!({"name": "m", "image": "nginx", "securityContext": [false]}),
            json!({"name": "n", "securityContext": {"allowPrivilegeEscalation": true}}),
            json!({"name": 5, "image": 5}),
            json!({"name": null, "image": "nginx"}),
            json!({"name": ["x"], "image": "nginx"}),
            json!({"image": "nginx"}),
            json!("nginx"),
            json!(["name", "x"]),
            Value::Null,
        ];
        let mut cases = Vec::new();
        for p in &params {
            for c in &containers {
                for list in ["containers", "initContainers", "ephemeralContainers"] {
                    cases.push((p.clone(), pod(json!({ list: [c.clone()] }))));
                }
                cases.push((p.clone(), pod(json!({"initContainers": {"k": c.clone()}}))));
            }
            cases.push((p.clone(), pod(json!({"containers": containers.to_vec(), "initContainers": [container("a", "other", None)]}))));
            cases.push((
                p.clone(),
                pod(json!({"containers": "x", "ephemeralContainers": true})),
            ));
            cases.push((p.clone(), pod(Value::Null)));
            cases.push((p.clone(), Value::Null));
        }
        cases
    }

    #[test]
    fn agrees_with_library_rego() {
        super::super::rego_diff::check_cases(
            "allow-privilege-escalation",
            "k8spspallowprivilegeescalationcontainer",
            &edge_cases(),
        );
    }

    #[test]
    fn operations_agree_with_library_rego() {
        let cases = super::super::rego_diff::operation_cases(pod(json!({
            "containers": [container("a", "nginx", Some(json!(true)))]
        })));
        super::super::rego_diff::check_reviews(
            "allow-privilege-escalation",
            "k8spspallowprivilegeescalationcontainer",
            &cases,
        );
    }

    #[test]
    fn conformance_suite() {
        super::super::conformance::check(
            "allow-privilege-escalation",
            "k8spspallowprivilegeescalationcontainer",
        );
    }
}
