//! `K8sBlockLoadBalancer`: Services of type `LoadBalancer` are not allowed, so nothing is
//! exposed through a cloud load balancer without an explicit exception (a constraint's
//! `match` leaving the namespace out).
//!
//! Like the library's Rego, the kind is read from the request (`input.review.kind.kind`),
//! not from the object, so a request for another kind carrying a Service-shaped object
//! passes. The type must be exactly the string `LoadBalancer` (Kubernetes itself rejects
//! other spellings); a Service without `spec.type` defaults to `ClusterIP` and passes. The
//! rule takes no parameters; any given are ignored, as the Rego ignores them.

use std::sync::Arc;

use serde_json::Value;

use super::blocknodeport::block_service_type;
use crate::engine::{BoundProgram, EngineError, EvalInput, Violation};

/// The library's message, word for word.
const MESSAGE: &str = "User is not allowed to create service of type LoadBalancer";

/// A bound `K8sBlockLoadBalancer` constraint (it has no parameters).
#[derive(Debug)]
struct BlockLoadBalancer;

/// Bind a `K8sBlockLoadBalancer` constraint.
pub(crate) fn bind(_parameters: &Value) -> Result<Arc<dyn BoundProgram>, EngineError> {
    Ok(Arc::new(BlockLoadBalancer))
}

impl BoundProgram for BlockLoadBalancer {
    fn evaluate(&self, input: &EvalInput<'_>) -> Result<Vec<Violation>, EngineError> {
        Ok(block_service_type(input, "LoadBalancer", MESSAGE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::Review;
    use serde_json::json;

    fn run(review: &Review) -> Vec<String> {
        let rule = bind(&json!({"ignored": true})).expect("the rule takes any parameters");
        rule.evaluate(&EvalInput::new(review, &Value::Null))
            .expect("the rule never fails")
            .into_iter()
            .map(|v| v.msg)
            .collect()
    }

    fn service(kind: &str, spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": "s"}, "spec": spec})
    }

    fn object(kind: &str, spec: Value) -> Vec<String> {
        run(&Review::from_object(service(kind, spec)))
    }

    #[test]
    fn blocks_load_balancer_services() {
        assert_eq!(
            object(
                "Service",
                json!({"type": "LoadBalancer", "ports": [{"port": 80}]})
            ),
            vec![MESSAGE]
        );
    }

    #[test]
    fn allows_other_types_spellings_and_kinds() {
        for t in [
            "ClusterIP",
            "NodePort",
            "ExternalName",
            "loadbalancer",
            "LoadBalancer ",
        ] {
            assert!(object("Service", json!({"type": t})).is_empty(), "{t}");
        }
        assert!(object("Service", json!({})).is_empty());
        assert!(object("Service", json!({"type": ["LoadBalancer"]})).is_empty());
        assert!(object("Service", json!("LoadBalancer")).is_empty());
        assert!(object("Pod", json!({"type": "LoadBalancer"})).is_empty());
        assert!(run(&Review::from_object(Value::Null)).is_empty());
    }

    #[test]
    fn kind_comes_from_the_request() {
        let mut review = Review::from_object(service("Service", json!({"type": "LoadBalancer"})));
        review.request["kind"] = json!({"group": "", "version": "v1", "kind": "Endpoints"});
        assert!(run(&review).is_empty());
        let mut review = Review::from_object(service("Thing", json!({"type": "LoadBalancer"})));
        review.request["kind"] = json!({"group": "", "version": "v1", "kind": "Service"});
        assert_eq!(run(&review), vec![MESSAGE]);
    }

    fn edge_cases() -> Vec<(Value, Value)> {
        let mut cases = Vec::new();
        for params in [Value::Null, json!({}), json!({"anything": [1]})] {
            for kind in ["Service", "Pod", "service"] {
                for spec in [
                    json!({"type": "LoadBalancer"}),
                    json!({"type": "NodePort"}),
                    json!({"type": "loadBalancer"}),
                    json!({"type": ""}),
                    json!({"type": null}),
                    json!({"type": false}),
                    json!({"type": 1}),
                    json!({"type": ["LoadBalancer"]}),
                    json!({"type": {"LoadBalancer": true}}),
                    json!({}),
                    json!(null),
                    json!(["LoadBalancer"]),
                ] {
                    cases.push((params.clone(), service(kind, spec)));
                }
            }
            cases.push((params.clone(), Value::Null));
            cases.push((
                params,
                json!({"kind": "Service", "spec": {"type": "LoadBalancer"}}),
            ));
        }
        cases
    }

    #[test]
    fn agrees_with_library_rego() {
        super::super::rego_diff::check_cases(
            "block-loadbalancer-services",
            "k8sblockloadbalancer",
            &edge_cases(),
        );
    }

    #[test]
    fn request_kinds_agree_with_library_rego() {
        let obj = service("Service", json!({"type": "LoadBalancer"}));
        let cases: Vec<_> = [
            json!({"group": "", "version": "v1", "kind": "Service"}),
            json!({"group": "", "version": "v1", "kind": "Endpoints"}),
            json!({"kind": "Service"}),
            json!({"kind": 5}),
            json!(null),
        ]
        .into_iter()
        .map(|kind| {
            let mut review = Review::from_object(obj.clone());
            review.request["kind"] = kind;
            (Value::Null, review, Value::Null)
        })
        .collect();
        super::super::rego_diff::check_reviews(
            "block-loadbalancer-services",
            "k8sblockloadbalancer",
            &cases,
        );
    }

    #[test]
    fn conformance_suite() {
        super::super::conformance::check("block-loadbalancer-services", "k8sblockloadbalancer");
    }
}
