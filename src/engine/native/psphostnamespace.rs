//! `K8sPSPHostNamespace`: a Pod may not share the host's PID or IPC namespace. With
//! `hostPID` a container sees (and can signal or trace) every process on the node; with
//! `hostIPC` it reaches the host's shared memory. Both are part of the Pod Security baseline.
//!
//! Follows the library's Rego:
//! - UPDATE requests pass: the fields cannot change on a running Pod;
//! - `spec.hostPID` or `spec.hostIPC` counts when present and not `false` (so `"false"` or
//!   `null` counts, as Rego's truthiness has it);
//! - one violation, `Sharing the host namespace is not allowed: <metadata.name>`, with
//!   empty details, whichever of the two is set; an object without `metadata.name` gives
//!   none (the Rego's message is undefined then).
//!
//! The rule reads `spec` of whatever object it is given; constraints match it to Pods.
//! It takes no parameters; any given are ignored, as the Rego ignores them.

use std::sync::Arc;

use serde_json::{json, Value};

use super::{field, judged_object, truthy, Opa};
use crate::engine::{BoundProgram, EngineError, EvalInput, Violation};
use crate::review::Operation;

/// A bound `K8sPSPHostNamespace` constraint (it has no parameters).
#[derive(Debug)]
struct HostNamespace;

/// Bind a `K8sPSPHostNamespace` constraint.
pub(crate) fn bind(_parameters: &Value) -> Result<Arc<dyn BoundProgram>, EngineError> {
    Ok(Arc::new(HostNamespace))
}

impl BoundProgram for HostNamespace {
    fn evaluate(&self, input: &EvalInput<'_>) -> Result<Vec<Violation>, EngineError> {
        if input.review.operation == Operation::Update {
            return Ok(Vec::new());
        }
        let object = judged_object(input.review);
        let spec = field(object, "spec");
        let shares = ["hostPID", "hostIPC"]
            .iter()
            .any(|f| truthy(spec.and_then(|s| field(s, f))));
        let name = field(object, "metadata").and_then(|m| field(m, "name"));
        match (shares, name) {
            (true, Some(name)) => Ok(vec![Violation {
                msg: format!("Sharing the host namespace is not allowed: {}", Opa(name)),
                details: Some(json!({})),
            }]),
            _ => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::Review;

    fn pod(spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
               "spec": spec})
    }

    fn run(object: Value) -> Vec<String> {
        super::super::messages(bind, &json!({"ignored": 1}), &Review::from_object(object))
    }

    const MESSAGE: &str = "Sharing the host namespace is not allowed: web";

    #[test]
    fn either_namespace_gives_one_violation() {
        assert_eq!(run(pod(json!({"hostPID": true}))), vec![MESSAGE]);
        assert_eq!(run(pod(json!({"hostIPC": true}))), vec![MESSAGE]);
        assert_eq!(
            run(pod(json!({"hostPID": true, "hostIPC": true}))),
            vec![MESSAGE]
        );
    }

    #[test]
    fn false_and_absent_pass_but_other_values_count() {
        assert!(run(pod(json!({"hostPID": false, "hostIPC": false}))).is_empty());
        assert!(run(pod(json!({"hostNetwork": true}))).is_empty());
        assert!(run(pod(json!({}))).is_empty());
        assert_eq!(run(pod(json!({"hostPID": "false"}))), vec![MESSAGE]);
        assert_eq!(run(pod(json!({"hostIPC": null}))), vec![MESSAGE]);
    }

    #[test]
    fn updates_and_nameless_objects_pass() {
        let mut review = Review::from_object(pod(json!({"hostPID": true})));
        review.operation = Operation::Update;
        assert!(super::super::messages(bind, &Value::Null, &review).is_empty());
        let mut nameless = pod(json!({"hostPID": true}));
        nameless["metadata"] = json!({"generateName": "web-"});
        assert!(run(nameless).is_empty());
    }

    fn edge_cases() -> Vec<(Value, Value)> {
        let values = [
            None,
            Some(json!(true)),
            Some(json!(false)),
            Some(json!("false")),
            Some(json!(null)),
            Some(json!(0)),
            Some(json!([])),
        ];
        let mut cases = Vec::new();
        for pid in &values {
            for ipc in &values {
                let mut spec = json!({"containers": [{"name": "c", "image": "nginx"}]});
                if let Some(v) = pid {
                    spec["hostPID"] = v.clone();
                }
                if let Some(v) = ipc {
                    spec["hostIPC"] = v.clone();
                }
                cases.push((Value::Null, pod(spec)));
            }
        }
        for metadata in [
            json!({}),
            json!({"name": 5}),
            json!({"name": null}),
            json!("x"),
            json!({"name": ["a"]}),
        ] {
            let mut o = pod(json!({"hostIPC": true}));
            o["metadata"] = metadata;
            cases.push((Value::Null, o));
        }
        for spec in [
            json!("hostPID"),
            json!(["hostPID"]),
            json!({"hostPID": {"x": false}}),
        ] {
            cases.push((json!({"unused": true}), pod(spec)));
        }
        cases.push((Value::Null, Value::Null));
        cases
    }

    #[test]
    fn agrees_with_library_rego() {
        super::super::rego_diff::check_cases(
            "host-namespaces",
            "k8spsphostnamespace",
            &edge_cases(),
        );
    }

    #[test]
    fn operations_agree_with_library_rego() {
        let cases = super::super::rego_diff::operation_cases(pod(json!({"hostPID": true})));
        super::super::rego_diff::check_reviews("host-namespaces", "k8spsphostnamespace", &cases);
    }

    #[test]
    fn conformance_suite() {
        super::super::conformance::check("host-namespaces", "k8spsphostnamespace");
    }
}
