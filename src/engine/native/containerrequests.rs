//! `K8sContainerRequests`: containers must set cpu and memory requests, each below a
//! maximum.
//!
//! Same machinery as `K8sContainerLimits` (see `containerlimits` for the semantics and the
//! deliberate departures from the Rego), reading `resources.requests`. Unlike limits, the
//! library's requests template has no cpu opt-out: missing or unparseable cpu requests are
//! always reported, and `"-1"` for either parameter only means "no maximum".

use std::sync::Arc;

use serde_json::Value;

use super::containerlimits::{bind_section, Section};
use crate::engine::{BoundProgram, EngineError};

/// Bind a `K8sContainerRequests` constraint.
pub(crate) fn bind(parameters: &Value) -> Result<Arc<dyn BoundProgram>, EngineError> {
    bind_section(Section::Requests, parameters)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EvalInput;
    use crate::review::Review;
    use serde_json::json;

    fn run(parameters: Value, object: Value) -> Vec<String> {
        let rule = match bind(&parameters) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        let review = Review::from_object(object);
        match rule.evaluate(&EvalInput::new(&review, &Value::Null)) {
            Ok(v) => v.into_iter().map(|v| v.msg).collect(),
            Err(e) => panic!("{e}"),
        }
    }

    fn pod(containers: Value) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": containers}
        })
    }

    #[test]
    fn requests_within_and_above() {
        let p = json!({"cpu": "200m", "memory": "1Gi"});
        let ok =
            json!([{"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "1Gi"}}}]);
        assert!(run(p.clone(), pod(ok)).is_empty());
        let high =
            json!([{"name": "a", "resources": {"requests": {"cpu": "300m", "memory": "1e10"}}}]);
        assert_eq!(
            run(p, pod(high)),
            vec![
                "container <a> cpu request <300m> is higher than the maximum allowed of <200m>",
                "container <a> memory request <1e10> is higher than the maximum allowed of <1Gi>",
            ]
        );
    }

    #[test]
    fn cpu_is_always_checked_for_requests() {
        for p in [Value::Null, json!({"cpu": "-1"}), json!({"memory": "1Gi"})] {
            let c = json!([{"name": "a", "resources": {"requests": {"memory": "1Mi"}}}]);
            assert_eq!(
                run(p.clone(), pod(c)),
                vec!["container <a> has no cpu request"],
                "{p}"
            );
            let c =
                json!([{"name": "a", "resources": {"requests": {"cpu": "1x", "memory": "1Mi"}}}]);
            assert_eq!(
                run(p.clone(), pod(c)),
                vec!["container <a> cpu request <1x> could not be parsed"],
                "{p}"
            );
        }
    }

    #[test]
    fn limits_do_not_satisfy_requests() {
        let c = json!([{"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]);
        assert_eq!(
            run(Value::Null, pod(c)),
            vec!["container <a> has no resource requests"]
        );
    }

    #[test]
    fn non_pod_and_empty_objects_pass() {
        assert!(run(Value::Null, json!({"kind": "ConfigMap", "data": {}})).is_empty());
        assert!(run(Value::Null, pod(json!([]))).is_empty());
        assert!(run(Value::Null, Value::Null).is_empty());
    }

    #[test]
    fn init_containers_are_judged() {
        let object = json!({
            "kind": "Pod", "metadata": {"name": "p"},
            "spec": {
                "containers": [],
                "initContainers": [{"name": "i", "resources": {"requests": {"cpu": 5, "memory": "1Ki"}}}],
                "ephemeralContainers": [{"name": "e"}]
            }
        });
        let p = json!({"cpu": "4", "memory": "1Mi"});
        assert_eq!(
            run(p, object),
            vec!["container <i> cpu request <5> is higher than the maximum allowed of <4>"]
        );
    }

    #[test]
    fn agrees_with_library_rego() {
        let cases = super::super::containerlimits::tests::edge_cases("requests");
        super::super::rego_diff::check_cases("containerrequests", "k8scontainerrequests", &cases);
    }

    #[test]
    fn conformance_suite() {
        super::super::conformance::check("containerrequests", "k8scontainerrequests");
    }
}
