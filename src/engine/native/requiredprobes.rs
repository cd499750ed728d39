//! `K8sRequiredProbes`: every container must define the listed probes, each using one of
//! the listed probe types.
//!
//! As in the library's Rego: only `spec.containers` are judged; UPDATE requests pass
//! (probes are immutable on Pods); a probe is missing when absent or `false`, or when none
//! of `probeTypes` is set (non-`false`) on it, so with an empty `probeTypes` every listed
//! probe counts as missing. The message names the request's kind and the object's name,
//! and is not produced (like the Rego's) when the container name, the kind or the name is
//! absent.

use std::sync::Arc;

use serde_json::Value;

use super::containers::containers;
use super::{field, judged_object, string_list, truthy, Opa, Violations};
use crate::engine::{BoundProgram, EngineError, EvalInput, Violation};
use crate::review::Operation;

/// A bound `K8sRequiredProbes` constraint.
#[derive(Debug)]
struct RequiredProbes {
    probes: Vec<String>,
    probe_types: Vec<String>,
}

/// Bind a `K8sRequiredProbes` constraint.
pub(crate) fn bind(parameters: &Value) -> Result<Arc<dyn BoundProgram>, EngineError> {
    let probes = string_list(parameters, "probes")?.unwrap_or_default();
    let mut probe_types = string_list(parameters, "probeTypes")?.unwrap_or_default();
    probe_types.sort();
    probe_types.dedup();
    Ok(Arc::new(RequiredProbes {
        probes,
        probe_types,
    }))
}

impl RequiredProbes {
    /// Whether the container lacks a usable `probe`.
    fn missing(&self, container: &Value, probe: &str) -> bool {
        let Some(p) = field(container, probe).filter(|p| truthy(Some(p))) else {
            return true;
        };
        !self.probe_types.iter().any(|t| truthy(field(p, t)))
    }
}

impl BoundProgram for RequiredProbes {
    fn evaluate(&self, input: &EvalInput<'_>) -> Result<Vec<Violation>, EngineError> {
        let mut out = Violations::new();
        let review = input.review;
        if review.operation == Operation::Update || self.probes.is_empty() {
            return Ok(Vec::new());
        }
        let object = judged_object(review);
        let (Some(kind), Some(name)) = (
            field(&review.request, "kind").and_then(|k| field(k, "kind")),
            field(object, "metadata").and_then(|m| field(m, "name")),
        ) else {
            return Ok(Vec::new());
        };
        let pacer = input.deadline.pacer();
        for (_, container) in containers(object, &["containers"]) {
            let Some(cname) = field(container, "name") else {
                pacer.tick()?;
                continue;
            };
            for probe in &self.probes {
                pacer.tick()?;
                if self.missing(container, probe) {
                    out.push(Violation::new(format!(
                        "Container <{}> in your <{}> <{}> has no <{probe}>",
                        Opa(cname),
                        Opa(kind),
                        Opa(name)
                    )));
                }
            }
        }
        Ok(out.into_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::Review;
    use serde_json::json;

    fn params() -> Value {
        json!({"probes": ["readinessProbe", "livenessProbe"], "probeTypes": ["tcpSocket", "httpGet", "exec"]})
    }

    fn review(containers: Value) -> Review {
        Review::from_object(json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
            "spec": {"containers": containers, "initContainers": [{"name": "init"}]}
        }))
    }

    fn run(parameters: Value, review: &Review) -> Vec<String> {
        super::super::messages(bind, &parameters, review)
    }

    #[test]
    fn reports_each_missing_probe() {
        let r = review(json!([
            {"name": "a", "readinessProbe": {"httpGet": {"path": "/"}}, "livenessProbe": {"exec": {}}},
            {"name": "b", "readinessProbe": {"tcpSocket": {"port": 80}}},
            {"name": "c", "livenessProbe": null, "readinessProbe": {"initialDelaySeconds": 5}}
        ]));
        assert_eq!(
            run(params(), &r),
            vec![
                "Container <b> in your <Pod> <web> has no <livenessProbe>",
                "Container <c> in your <Pod> <web> has no <readinessProbe>",
                "Container <c> in your <Pod> <web> has no <livenessProbe>",
            ]
        );
    }

    #[test]
    fn updates_pass() {
        let mut r = review(json!([{"name": "a"}]));
        r.operation = Operation::Update;
        assert!(run(params(), &r).is_empty());
    }

    #[test]
    fn empty_probe_types_mean_every_probe_is_missing() {
        let r = review(json!([{"name": "a", "readinessProbe": {"exec": {}}}]));
        assert_eq!(
            run(json!({"probes": ["readinessProbe"]}), &r),
            vec!["Container <a> in your <Pod> <web> has no <readinessProbe>"]
        );
        assert!(
            run(Value::Null, &r).is_empty(),
            "no probes listed, nothing required"
        );
    }

    #[test]
    fn false_fields_count_as_absent() {
        let r = review(
            json!([{"name": "a", "readinessProbe": false, "livenessProbe": {"exec": false}}]),
        );
        assert_eq!(run(params(), &r).len(), 2);
    }

    #[test]
    fn nameless_objects_and_containers_are_skipped() {
        let r =
            Review::from_object(json!({"kind": "Pod", "spec": {"containers": [{"name": "a"}]}}));
        assert!(run(params(), &r).is_empty());
        assert!(run(params(), &review(json!([{"image": "x"}]))).is_empty());
        assert!(run(params(), &Review::from_object(Value::Null)).is_empty());
    }

    fn edge_cases() -> Vec<(Value, Value)> {
        let params = [
            Value::Null,
            params(),
            json!({"probes": ["readinessProbe"]}),
            json!({"probes": ["livenessProbe"], "probeTypes": []}),
            json!({"probeTypes": ["exec"]}),
        ];
        let containers = [
            json!([]),
            json!([{"name": "a", "readinessProbe": {"httpGet": {}}, "livenessProbe": {"exec": {}}}]),
            json!([{"name": "b", "readinessProbe": {"tcpSocket": {"port": 80}}}]),
            json!([{"name": "c", "livenessProbe": null, "readinessProbe": {"initialDelaySeconds": 5}}]),
            json!([{"name": "d", "readinessProbe": false, "livenessProbe": {"exec": false}}]),
            json!([{"name": "e", "readinessProbe": "x", "livenessProbe": [1]}]),
            json!([{"image": "nameless"}, {"name": "f"}]),
        ];
        let mut cases = Vec::new();
        for p in &params {
            for c in &containers {
                let obj = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
                                 "spec": {"containers": c, "initContainers": [{"name": "init"}]}});
                cases.push((p.clone(), obj));
            }
            cases.push((
                p.clone(),
                json!({"kind": "Pod", "spec": {"containers": [{"name": "a"}]}}),
            ));
        }
        cases
    }

    #[test]
    fn agrees_with_library_rego() {
        super::super::rego_diff::check_cases("requiredprobes", "k8srequiredprobes", &edge_cases());
    }

    #[test]
    fn conformance_suite() {
        super::super::conformance::check("requiredprobes", "k8srequiredprobes");
    }
}
