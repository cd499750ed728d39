//! `K8sPSPPrivilegedContainer`: no container may run privileged. A privileged container
//! has every capability and the host's devices, so it is root on the node in all but name;
//! this is the first control of the Pod Security baseline.
//!
//! Follows the library's Rego (the template's CEL variant words its message differently):
//! - UPDATE requests pass: `privileged` cannot change on a running Pod, so the create was
//!   already judged;
//! - containers, init containers and ephemeral containers are all judged, and a container
//!   whose image matches `exemptImages` (exact, or a prefix written with a trailing `*`) is
//!   skipped;
//! - `securityContext.privileged` counts when present and not `false`, so a string
//!   `"false"` or a `null` counts as privileged, as in Rego;
//! - one violation per distinct container, naming it and printing its whole
//!   `securityContext` as a Rego term: `Privileged container is not allowed: app,
//!   securityContext: {"privileged": true}`, with empty details; a container without a
//!   `name` gives no violation (the Rego's message is undefined then).

use std::sync::Arc;

use serde_json::Value;

use super::containers::{per_container_violations, ExemptImages};
use super::{field, truthy, Opa};
use crate::engine::{BoundProgram, EngineError, EvalInput, Violation};

/// A bound `K8sPSPPrivilegedContainer` constraint.
#[derive(Debug)]
struct PrivilegedContainer {
    exempt: ExemptImages,
}

/// Bind a `K8sPSPPrivilegedContainer` constraint.
pub(crate) fn bind(parameters: &Value) -> Result<Arc<dyn BoundProgram>, EngineError> {
    Ok(Arc::new(PrivilegedContainer {
        exempt: ExemptImages::from_parameters(parameters)?,
    }))
}

impl BoundProgram for PrivilegedContainer {
    fn evaluate(&self, input: &EvalInput<'_>) -> Result<Vec<Violation>, EngineError> {
        per_container_violations(input, &self.exempt, |container, name| {
            let context = field(container, "securityContext")?;
            truthy(field(context, "privileged")).then(|| {
                format!(
                    "Privileged container is not allowed: {}, securityContext: {}",
                    Opa(name),
                    Opa(context)
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

    fn privileged(name: &str, image: &str) -> Value {
        json!({"name": name, "image": image, "securityContext": {"privileged": true}})
    }

    #[test]
    fn every_kind_of_container_is_judged() {
        let got = run(
            Value::Null,
            json!({"containers": [privileged("a", "nginx")],
                   "initContainers": [privileged("i", "nginx")],
                   "ephemeralContainers": [privileged("e", "nginx")]}),
        );
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(
            got[0],
            r#"Privileged container is not allowed: a, securityContext: {"privileged": true}"#
        );
    }

    #[test]
    fn exempt_images_are_skipped() {
        let p = json!({"exemptImages": ["safe.example.com/*", "busybox"]});
        let spec = json!({"containers": [
            privileged("a", "safe.example.com/nginx"), privileged("b", "busybox"),
            privileged("c", "busybox:1")
        ]});
        assert_eq!(
            run(p, spec),
            vec![
                r#"Privileged container is not allowed: c, securityContext: {"privileged": true}"#
            ]
        );
    }

    #[test]
    fn false_and_absent_pass_but_other_values_count() {
        let c =
            |v: Value| json!({"containers": [{"name": "a", "securityContext": {"privileged": v}}]});
        assert!(run(Value::Null, c(json!(false))).is_empty());
        assert!(run(Value::Null, json!({"containers": [{"name": "a"}]})).is_empty());
        assert_eq!(run(Value::Null, c(json!("false"))).len(), 1);
        assert_eq!(run(Value::Null, c(Value::Null)).len(), 1);
    }

    #[test]
    fn updates_and_nameless_containers_pass() {
        let spec = json!({"containers": [privileged("a", "nginx")]});
        let mut review = Review::from_object(pod(spec));
        review.operation = Operation::Update;
        assert!(super::super::messages(bind, &Value::Null, &review).is_empty());
        let nameless = json!({"containers": [{"securityContext": {"privileged": true}}]});
        assert!(run(Value::Null, nameless).is_empty());
    }

    #[test]
    fn same_container_twice_is_one_violation() {
        let c = privileged("a", "nginx");
        assert_eq!(
            run(
                Value::Null,
                json!({"containers": [c.clone()], "initContainers": [c]})
            )
            .len(),
            1
        );
    }

    fn edge_cases() -> Vec<(Value, Value)> {
        let params = [
            Value::Null,
            json!({"exemptImages": []}),
            json!({"exemptImages": null}),
            json!({"exemptImages": ["safe.example.com/*", "busybox", "*"]}),
            json!({"exemptImages": ["nginx*", "redis"]}),
        ];
        let sc = |v: Value| json!({"name": "c", "image": "nginx", "securityContext": v});
        let containers = [
            privileged("a", "nginx"),
            privileged("b", "safe.example.com/x"),
            privileged("c", "busybox"),
            privileged("d", "redis:7"),
            sc(json!({"privileged": false})),
            sc(json!({"privileged": "false"})),
            sc(json!({"privileged": null})),
            sc(json!({"privileged": 0})),
            sc(
                json!({"privileged": true, "runAsUser": 1000, "capabilities": {"add": ["NET_ADMIN"]}}),
            ),
            sc(json!({"privileged": true, "runAsUser": 1000.0, "seLinuxOptions": {"level": 1.5}})),
            sc(json!({})),
            sc(json!(null)),
            sc(json!(["privileged"])),
            sc(json!(true)),
            json!({"name": "noimage", "securityContext": {"privileged": true}}),
            json!({"name": 7, "image": 7, "securityContext": {"privileged": true}}),
            json!({"name": {"n": 1}, "image": "nginx", "securityContext": {"privileged": true}}),
            json!({"image": "nginx", "securityContext": {"privileged": true}}),
            json!({"name": null, "image": "nginx", "securityContext": {"privileged": true}}),
            json!("nginx"),
            Value::Null,
        ];
        let mut cases = Vec::new();
        for p in &params {
            for c in &containers {
                for list in ["containers", "initContainers", "ephemeralContainers"] {
                    cases.push((p.clone(), pod(json!({ list: [c.clone()] }))));
                }
                cases.push((p.clone(), pod(json!({"containers": {"k": c.clone()}}))));
            }
            cases.push((p.clone(), pod(json!({"containers": containers.to_vec(), "initContainers": [privileged("a", "nginx")]}))));
            cases.push((
                p.clone(),
                pod(json!({"containers": "x", "initContainers": 5})),
            ));
            cases.push((p.clone(), pod(Value::Null)));
            cases.push((p.clone(), Value::Null));
        }
        cases
    }

    #[test]
    fn agrees_with_library_rego() {
        super::super::rego_diff::check_cases(
            "privileged-containers",
            "k8spspprivilegedcontainer",
            &edge_cases(),
        );
    }

    #[test]
    fn operations_agree_with_library_rego() {
        let cases = super::super::rego_diff::operation_cases(pod(json!({
            "containers": [privileged("a", "nginx")]
        })));
        super::super::rego_diff::check_reviews(
            "privileged-containers",
            "k8spspprivilegedcontainer",
            &cases,
        );
    }

    #[test]
    fn conformance_suite() {
        super::super::conformance::check("privileged-containers", "k8spspprivilegedcontainer");
    }
}
