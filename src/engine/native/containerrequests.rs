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
pub(crate) mod tests {
    use super::*;
    use crate::review::Review;
    use serde_json::json;

    fn run(parameters: Value, object: Value) -> Vec<String> {
        let review = Review::from_object(object);
        super::super::messages(bind, &parameters, &review)
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

    /// Container shapes whose verdict must equal the library Rego's under each parameter
    /// set; shared with the limits tests, `section` choosing `limits` or `requests`.
    pub(crate) fn edge_containers(section: &str) -> Vec<Value> {
        let with = |v: Value| json!({"name": "c", "image": "img/a:1", "resources": {section: v}});
        vec![
            json!({"name": "c"}),
            json!({"name": "c", "resources": {}}),
            json!({"name": "c", "resources": "x"}),
            json!({"name": "c", "resources": false}),
            with(json!({})),
            with(Value::Null),
            with(json!(false)),
            with(json!({"cpu": "", "memory": ""})),
            with(json!({"cpu": false, "memory": null})),
            with(json!({"cpu": 1, "memory": 1073741824})),
            with(json!({"cpu": 0.1, "memory": 2147483648_u64})),
            with(json!({"cpu": "1.5", "memory": "1.5Gi"})),
            with(json!({"cpu": "100m", "memory": "512Mi"})),
            with(json!({"cpu": "200m", "memory": "1Gi"})),
            with(json!({"cpu": "201m", "memory": "1025Mi"})),
            with(json!({"cpu": "0.2", "memory": "1073741824"})),
            with(json!({"cpu": "abc", "memory": "abc"})),
            with(json!({"cpu": "1", "memory": "2G"})),
            with(json!({"cpu": "10m", "memory": "100m"})),
            with(json!({"cpu": "-100m", "memory": "1k"})),
            with(json!({"cpu": {"a": 1}, "memory": ["1Gi"]})),
            json!({"image": "img/a:1", "resources": {}}),
            json!({"name": "x", "image": "exempt/one", "resources": {}}),
            json!({"name": "y", "image": "exempt/one-more", "resources": {}}),
        ]
    }

    /// Parameter sets the edge cases run under.
    pub(crate) fn edge_parameters() -> Vec<Value> {
        vec![
            Value::Null,
            json!({}),
            json!({"cpu": "200m", "memory": "1Gi"}),
            json!({"cpu": "-1", "memory": "1Gi"}),
            json!({"cpu": "1", "memory": "-1"}),
            json!({"cpu": "0.2", "memory": "1Gi", "exemptImages": ["exempt/one"]}),
            json!({"memory": "2Gi", "exemptImages": ["exempt/*"]}),
        ]
    }

    /// Every parameter set against every container shape, plus a few whole objects.
    pub(crate) fn edge_cases(section: &str) -> Vec<(Value, Value)> {
        let mut cases = Vec::new();
        for p in edge_parameters() {
            for c in edge_containers(section) {
                let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                                 "spec": {"initContainers": [c]}});
                cases.push((p.clone(), pod));
            }
            let both = json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": {
                "containers": [{"name": "same"}], "initContainers": [{"name": "same"}],
                "ephemeralContainers": [{"name": "e"}]}});
            cases.push((p.clone(), both));
            cases.push((
                p.clone(),
                json!({"kind": "ConfigMap", "metadata": {"name": "c"}}),
            ));
            cases.push((
                p,
                json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": []}}),
            ));
        }
        cases
    }

    #[test]
    fn agrees_with_library_rego() {
        let cases = edge_cases("requests");
        super::super::rego_diff::check_cases("containerrequests", "k8scontainerrequests", &cases);
    }

    #[test]
    fn conformance_suite() {
        super::super::conformance::check("containerrequests", "k8scontainerrequests");
    }
}
