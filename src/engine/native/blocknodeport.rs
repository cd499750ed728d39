//! `K8sBlockNodePort`: Services of type `NodePort` are not allowed.
//!
//! Like the library's Rego, the kind is read from the request (`input.review.kind.kind`),
//! not from the object, and the rule takes no parameters (any given are ignored). A
//! Service of any other type, or without `spec.type`, passes.

use std::sync::Arc;

use serde_json::Value;

use super::{field, judged_object, request_kind};
use crate::engine::{BoundProgram, EngineError, EvalInput, Violation};

/// The library's message, word for word.
const MESSAGE: &str = "User is not allowed to create service of type NodePort";

/// A bound `K8sBlockNodePort` constraint (it has no parameters).
#[derive(Debug)]
struct BlockNodePort;

/// Bind a `K8sBlockNodePort` constraint.
pub(crate) fn bind(_parameters: &Value) -> Result<Arc<dyn BoundProgram>, EngineError> {
    Ok(Arc::new(BlockNodePort))
}

impl BoundProgram for BlockNodePort {
    fn evaluate(&self, input: &EvalInput<'_>) -> Result<Vec<Violation>, EngineError> {
        Ok(block_service_type(input, "NodePort", MESSAGE))
    }
}

/// The check the Service-type rules share, as their Rego makes it: the request's kind
/// (not the object's) is `Service` and the object's `spec.type` is exactly `service_type`.
pub(super) fn block_service_type(
    input: &EvalInput<'_>,
    service_type: &str,
    message: &str,
) -> Vec<Violation> {
    let review = input.review;
    let of_type = field(judged_object(review), "spec")
        .and_then(|s| field(s, "type"))
        .and_then(Value::as_str)
        == Some(service_type);
    if request_kind(&review.request, "kind") == Some("Service") && of_type {
        vec![Violation::new(message)]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::Review;
    use serde_json::json;

    fn run(object: Value) -> Vec<String> {
        let rule = match bind(&json!({"ignored": true})) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        let review = Review::from_object(object);
        match rule.evaluate(&EvalInput::new(&review, &Value::Null)) {
            Ok(v) => v.into_iter().map(|v| v.msg).collect(),
            Err(e) => panic!("{e}"),
        }
    }

    fn service(kind: &str, spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": "s"}, "spec": spec})
    }

    #[test]
    fn blocks_node_port_services() {
        assert_eq!(
            run(service("Service", json!({"type": "NodePort"}))),
            vec![MESSAGE]
        );
    }

    #[test]
    fn allows_other_types_and_kinds() {
        for t in ["ClusterIP", "LoadBalancer", "ExternalName", "nodeport"] {
            assert!(
                run(service("Service", json!({"type": t}))).is_empty(),
                "{t}"
            );
        }
        assert!(run(service("Service", json!({}))).is_empty());
        assert!(run(json!({"apiVersion": "v1", "kind": "Service"})).is_empty());
        assert!(run(service("Pod", json!({"type": "NodePort"}))).is_empty());
        assert!(run(Value::Null).is_empty());
    }

    #[test]
    fn kind_comes_from_the_request() {
        let rule = match bind(&Value::Null) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        let mut review = Review::from_object(service("Service", json!({"type": "NodePort"})));
        review.request["kind"] = json!({"group": "", "version": "v1", "kind": "Endpoints"});
        let got = rule.evaluate(&EvalInput::new(&review, &Value::Null));
        assert_eq!(got.ok().map(|v| v.len()), Some(0));
    }

    fn edge_cases() -> Vec<(Value, Value)> {
        let mut cases = Vec::new();
        for kind in ["Service", "Pod"] {
            for spec in [
                json!({"type": "NodePort"}),
                json!({"type": "ClusterIP"}),
                json!({}),
                json!(null),
                json!({"type": 1}),
            ] {
                cases.push((Value::Null, service(kind, spec)));
            }
        }
        cases.push((Value::Null, Value::Null));
        cases
    }

    #[test]
    fn agrees_with_library_rego() {
        super::super::rego_diff::check_cases(
            "block-nodeport-services",
            "k8sblocknodeport",
            &edge_cases(),
        );
    }

    #[test]
    fn conformance_suite() {
        super::super::conformance::check("block-nodeport-services", "k8sblocknodeport");
    }
}
