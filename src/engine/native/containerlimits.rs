//! `K8sContainerLimits`: containers must set cpu and memory limits, each below a maximum.
//!
//! The shared machinery here also drives `K8sContainerRequests` (see `containerrequests`),
//! which differs only in the section it reads and in which checks the `cpu` parameter
//! gates.
//!
//! Agreement with the library's Rego, including its quirks:
//! - `containers` and `initContainers` are judged, ephemeral containers are not; exempt
//!   images are skipped; a container without a `name` yields no violation.
//! - For limits, the cpu checks (missing, unparseable, too high) run only when the `cpu`
//!   parameter is set and is not the string `"-1"`; the memory checks always run, and the
//!   maximum applies when `memory` is set. `"-1"` as memory (or, for requests, as either
//!   maximum) means no maximum, which is what the Rego ends up doing with it.
//! - A field counts as missing when absent, `false` or `""`; `""` is also unparseable.
//! - A JSON number is that many cores or bytes, as the Rego's `orig * 1000` has it.
//!
//! Deliberate departures: values are read with full Kubernetes quantity syntax, so valid
//! forms the Rego calls unparseable (`1e3`, `+1`, cpu `2k`) are compared by value, and
//! forms Kubernetes rejects (`1mm`) are reported as unparseable. Parameters that are not
//! quantities, or are negative other than `"-1"`, are rejected at bind time instead of
//! silently disabling the check.

use std::sync::Arc;

use serde_json::Value;

use super::containers::{containers, ExemptImages, RESOURCE_FIELDS};
use super::quantity::Quantity;
use super::{field, judged_object, param, truthy, Opa, Violations};
use crate::engine::{BoundProgram, EngineError, EvalInput, Violation};

/// Which resource section a rule judges, with the words its messages use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    /// `resources.limits`.
    Limits,
    /// `resources.requests`.
    Requests,
}

impl Section {
    /// The key under `resources`.
    fn key(self) -> &'static str {
        match self {
            Section::Limits => "limits",
            Section::Requests => "requests",
        }
    }

    /// The singular noun in messages.
    fn noun(self) -> &'static str {
        match self {
            Section::Limits => "limit",
            Section::Requests => "request",
        }
    }
}

/// A `cpu` or `memory` maximum parameter.
#[derive(Debug, Clone)]
enum Max {
    /// Not given.
    Unset,
    /// `"-1"`: no maximum.
    Disabled,
    /// A maximum, with the value as written for messages.
    Value(Quantity, Value),
}

impl Max {
    /// Read the `cpu` or `memory` parameter.
    fn from_parameters(parameters: &Value, key: &str) -> Result<Self, EngineError> {
        let Some(v) = param(parameters, key) else {
            return Ok(Max::Unset);
        };
        if v.as_str() == Some("-1") {
            return Ok(Max::Disabled);
        }
        if !(v.is_string() || v.is_number()) {
            return Err(super::bad_param(
                key,
                "must be a quantity string such as \"500m\" or \"1Gi\"",
            ));
        }
        match Quantity::from_json(v) {
            Some(q) if q.is_negative() => Err(super::bad_param(
                key,
                format!("{} is negative; use \"-1\" for no maximum", Opa(v)),
            )),
            Some(q) => Ok(Max::Value(q, v.clone())),
            None => Err(super::bad_param(
                key,
                format!("{} is not a Kubernetes quantity", Opa(v)),
            )),
        }
    }

    /// The maximum and its text as written, when one applies.
    fn limit(&self) -> Option<(Quantity, &Value)> {
        match self {
            Max::Value(q, orig) => Some((*q, orig)),
            _ => None,
        }
    }
}

/// A bound limits or requests constraint.
#[derive(Debug)]
pub(crate) struct ResourceRule {
    section: Section,
    cpu: Max,
    memory: Max,
    exempt: ExemptImages,
}

/// Parse the parameters of a limits (or requests) constraint.
pub(crate) fn bind_section(
    section: Section,
    parameters: &Value,
) -> Result<Arc<dyn BoundProgram>, EngineError> {
    Ok(Arc::new(ResourceRule {
        section,
        cpu: Max::from_parameters(parameters, "cpu")?,
        memory: Max::from_parameters(parameters, "memory")?,
        exempt: ExemptImages::from_parameters(parameters)?,
    }))
}

/// Bind a `K8sContainerLimits` constraint.
pub(crate) fn bind(parameters: &Value) -> Result<Arc<dyn BoundProgram>, EngineError> {
    bind_section(Section::Limits, parameters)
}

impl ResourceRule {
    /// Whether the cpu checks other than the maximum run at all.
    fn cpu_checked(&self) -> bool {
        match self.section {
            Section::Limits => matches!(self.cpu, Max::Value(..)),
            Section::Requests => true,
        }
    }

    /// Judge one resource (`cpu` or `memory`) of one container's section.
    fn check(
        &self,
        out: &mut Violations,
        name: &Value,
        section: &Value,
        resource: &str,
        max: &Max,
    ) {
        let noun = self.section.noun();
        let value = field(section, resource);
        if let Some(v) = value {
            match Quantity::from_json(v) {
                None => out.push(Violation::new(format!(
                    "container <{}> {resource} {noun} <{}> could not be parsed",
                    Opa(name),
                    Opa(v)
                ))),
                Some(q) => {
                    if let Some((limit, orig)) = max.limit() {
                        if q > limit {
                            out.push(Violation::new(format!(
                                "container <{}> {resource} {noun} <{}> is higher than the maximum allowed of <{}>",
                                Opa(name),
                                Opa(v),
                                Opa(orig)
                            )));
                        }
                    }
                }
            }
        }
        if !truthy(value) || value.and_then(Value::as_str) == Some("") {
            out.push(Violation::new(format!(
                "container <{}> has no {resource} {noun}",
                Opa(name)
            )));
        }
    }
}

impl BoundProgram for ResourceRule {
    fn evaluate(&self, input: &EvalInput<'_>) -> Result<Vec<Violation>, EngineError> {
        let mut out = Violations::new();
        let pacer = input.deadline.pacer();
        for (_, container) in containers(judged_object(input.review), RESOURCE_FIELDS) {
            pacer.tick()?;
            if self.exempt.is_exempt(container) {
                continue;
            }
            let Some(name) = field(container, "name") else {
                continue;
            };
            let resources = field(container, "resources");
            let section = resources.and_then(|r| field(r, self.section.key()));
            if !truthy(resources) || !truthy(section) {
                out.push(Violation::new(format!(
                    "container <{}> has no resource {}",
                    Opa(name),
                    self.section.key()
                )));
            }
            let Some(section) = section else {
                continue;
            };
            if self.cpu_checked() {
                self.check(&mut out, name, section, "cpu", &self.cpu);
            }
            self.check(&mut out, name, section, "memory", &self.memory);
        }
        Ok(out.into_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::Review;
    use serde_json::json;

    fn run(parameters: Value, containers: Value) -> Vec<String> {
        let review = Review::from_object(json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": containers}
        }));
        super::super::messages(bind, &parameters, &review)
    }

    #[test]
    fn within_and_above_maxima() {
        let p = json!({"cpu": "200m", "memory": "1Gi"});
        let ok =
            json!([{"name": "a", "resources": {"limits": {"cpu": "0.1", "memory": "1073741824"}}}]);
        assert!(run(p.clone(), ok).is_empty());
        let high = json!([{"name": "a", "resources": {"limits": {"cpu": 1, "memory": "2Gi"}}}]);
        assert_eq!(
            run(p, high),
            vec![
                "container <a> cpu limit <1> is higher than the maximum allowed of <200m>",
                "container <a> memory limit <2Gi> is higher than the maximum allowed of <1Gi>",
            ]
        );
    }

    #[test]
    fn missing_and_unparseable() {
        let p = json!({"cpu": "1", "memory": "1Gi"});
        assert_eq!(
            run(p.clone(), json!([{"name": "a"}])),
            vec!["container <a> has no resource limits"]
        );
        assert_eq!(
            run(
                p.clone(),
                json!([{"name": "a", "resources": {"limits": {}}}])
            ),
            vec![
                "container <a> has no cpu limit",
                "container <a> has no memory limit"
            ]
        );
        assert_eq!(
            run(
                p.clone(),
                json!([{"name": "a", "resources": {"limits": {"cpu": "", "memory": "lots"}}}])
            ),
            vec![
                "container <a> cpu limit <> could not be parsed",
                "container <a> has no cpu limit",
                "container <a> memory limit <lots> could not be parsed",
            ]
        );
        assert!(
            run(p, json!([{"resources": {}}])).is_empty(),
            "nameless containers are skipped"
        );
    }

    #[test]
    fn cpu_unset_or_disabled_skips_cpu_checks() {
        for p in [
            json!({"memory": "1Gi"}),
            json!({"cpu": "-1", "memory": "1Gi"}),
            Value::Null,
        ] {
            let c =
                json!([{"name": "a", "resources": {"limits": {"cpu": "junk", "memory": "1Gi"}}}]);
            assert!(run(p.clone(), c).is_empty(), "{p}");
            let c = json!([{"name": "a", "resources": {"limits": {"memory": "512Mi"}}}]);
            assert!(run(p.clone(), c).is_empty(), "{p}");
        }
        // Without a memory maximum, memory must still be present.
        assert_eq!(
            run(
                Value::Null,
                json!([{"name": "a", "resources": {"limits": {"cpu": "1"}}}])
            ),
            vec!["container <a> has no memory limit"]
        );
    }

    #[test]
    fn exempt_images_and_init_containers() {
        let p = json!({"cpu": "1", "memory": "1Gi", "exemptImages": ["safe/*"]});
        let c = json!([{"name": "a", "image": "safe/x"}, {"name": "b", "image": "bad/x"}]);
        assert_eq!(run(p, c), vec!["container <b> has no resource limits"]);
    }

    #[test]
    fn bad_parameters_name_the_field() {
        for (p, field) in [
            (json!({"cpu": "lots"}), "cpu"),
            (json!({"memory": "1GB"}), "memory"),
            (json!({"memory": "-2Gi"}), "memory"),
            (json!({"cpu": ["1"]}), "cpu"),
            (json!({"exemptImages": [1]}), "exemptImages"),
        ] {
            match bind(&p) {
                Err(EngineError::Parameters(m)) => assert!(m.contains(field), "{m}"),
                other => panic!("{p}: {other:?}"),
            }
        }
        assert!(bind(&json!({"cpu": 2, "memory": "-1"})).is_ok());
    }

    #[test]
    fn agrees_with_library_rego() {
        super::super::rego_diff::check_cases(
            "containerlimits",
            "k8scontainerlimits",
            &super::super::containerrequests::tests::edge_cases("limits"),
        );
    }

    #[test]
    fn departs_from_rego_only_on_quantity_syntax() {
        let p = json!({"cpu": "2", "memory": "1Gi"});
        let c = |cpu: &str, mem: &str| json!([{"name": "a", "resources": {"limits": {"cpu": cpu, "memory": mem}}}]);
        // Valid Kubernetes forms the Rego cannot parse are compared by value.
        assert!(run(p.clone(), c("1e0", "1e9")).is_empty());
        assert!(run(p.clone(), c("+1", "1Mi")).is_empty());
        assert_eq!(
            run(p.clone(), c("3k", "1Gi")),
            vec!["container <a> cpu limit <3k> is higher than the maximum allowed of <2>"]
        );
        // Forms Kubernetes rejects are unparseable even where the Rego's string surgery copes.
        assert_eq!(
            run(p, c("1mm", "1Mim")),
            vec![
                "container <a> cpu limit <1mm> could not be parsed",
                "container <a> memory limit <1Mim> could not be parsed",
            ]
        );
    }

    #[test]
    fn conformance_suite() {
        super::super::conformance::check("containerlimits", "k8scontainerlimits");
    }
}
