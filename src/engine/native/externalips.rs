//! `K8sExternalIPs`: a Service may only list `spec.externalIPs` from the constraint's
//! `allowedIPs`. External IPs make nodes accept traffic for any address a user names, a
//! known way to intercept another tenant's traffic, so clusters restrict them to a list.
//!
//! Follows the library's Rego, which works on sets:
//! - the request must be for kind `Service` in the core group (`kind.group == ""`, read
//!   from the request, not the object);
//! - the forbidden IPs are the set of `externalIPs` values minus the `allowedIPs`: a
//!   repeated address counts once, addresses are compared as written (no IP parsing, so
//!   `10.0.0.1` and `010.0.0.1` differ), and a value that is not a string is never allowed;
//! - one violation lists them all in Rego's set order: `service has forbidden external IPs:
//!   {"1.1.1.1", "8.8.8.8"}`;
//! - absent `allowedIPs` allows nothing; a `spec.externalIPs` that is a map is read through
//!   its values, as Rego's `[_]` does, and any other shape lists no IPs.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;

use super::{field, judged_object, opa_set, rego_iter, render_set, request_kind, string_list};
use crate::engine::{BoundProgram, EngineError, EvalInput, Violation};

/// A bound `K8sExternalIPs` constraint.
#[derive(Debug)]
struct ExternalIps {
    /// `allowedIPs`, exactly as written; hashed, so judging a Service is linear in its
    /// `externalIPs` whatever the length of the list.
    allowed: HashSet<String>,
}

/// Bind a `K8sExternalIPs` constraint.
pub(crate) fn bind(parameters: &Value) -> Result<Arc<dyn BoundProgram>, EngineError> {
    let allowed = string_list(parameters, "allowedIPs")?
        .unwrap_or_default()
        .into_iter()
        .collect();
    Ok(Arc::new(ExternalIps { allowed }))
}

impl BoundProgram for ExternalIps {
    fn evaluate(&self, input: &EvalInput<'_>) -> Result<Vec<Violation>, EngineError> {
        let request = &input.review.request;
        if request_kind(request, "kind") != Some("Service")
            || request_kind(request, "group") != Some("")
        {
            return Ok(Vec::new());
        }
        let listed =
            field(judged_object(input.review), "spec").and_then(|s| field(s, "externalIPs"));
        let pacer = input.deadline.pacer();
        let mut forbidden: Vec<&Value> = Vec::new();
        for ip in rego_iter(listed) {
            pacer.tick()?;
            if !ip.as_str().is_some_and(|ip| self.allowed.contains(ip)) {
                forbidden.push(ip);
            }
        }
        if forbidden.is_empty() {
            return Ok(Vec::new());
        }
        let forbidden = opa_set(forbidden);
        Ok(vec![Violation::new(format!(
            "service has forbidden external IPs: {}",
            render_set(&forbidden)
        ))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::Review;
    use serde_json::json;

    fn service(ips: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
               "spec": {"ports": [{"port": 80}], "externalIPs": ips}})
    }

    fn run(parameters: Value, object: Value) -> Vec<String> {
        super::super::messages(bind, &parameters, &Review::from_object(object))
    }

    #[test]
    fn lists_every_forbidden_ip_once_in_set_order() {
        let p = json!({"allowedIPs": ["203.0.113.0"]});
        assert!(run(p.clone(), service(json!(["203.0.113.0"]))).is_empty());
        assert_eq!(
            run(
                p,
                service(json!(["8.8.8.8", "203.0.113.0", "1.1.1.1", "8.8.8.8"]))
            ),
            vec![r#"service has forbidden external IPs: {"1.1.1.1", "8.8.8.8"}"#]
        );
    }

    #[test]
    fn absent_allow_list_allows_nothing() {
        assert_eq!(
            run(Value::Null, service(json!(["10.0.0.1"]))),
            vec![r#"service has forbidden external IPs: {"10.0.0.1"}"#]
        );
        assert!(run(Value::Null, service(json!([]))).is_empty());
        assert!(run(Value::Null, service(Value::Null)).is_empty());
    }

    #[test]
    fn odd_shapes_follow_rego_iteration() {
        let p = json!({"allowedIPs": ["1"]});
        assert_eq!(
            run(p.clone(), service(json!([1, "1", null, "1"]))),
            vec![r#"service has forbidden external IPs: {null, 1}"#]
        );
        assert_eq!(
            run(p.clone(), service(json!({"a": "2", "b": "1"}))),
            vec![r#"service has forbidden external IPs: {"2"}"#]
        );
        assert!(run(p, service(json!("2.2.2.2"))).is_empty());
    }

    #[test]
    fn only_core_services_by_the_request() {
        let p = json!({"allowedIPs": []});
        let mut review = Review::from_object(service(json!(["1.1.1.1"])));
        review.request["kind"]["group"] = json!("example.com");
        assert!(super::super::messages(bind, &p, &review).is_empty());
        review.request["kind"] = json!({"kind": "Service"});
        assert!(super::super::messages(bind, &p, &review).is_empty());
    }

    #[test]
    fn bad_parameters_name_the_field() {
        for p in [json!({"allowedIPs": "1.1.1.1"}), json!({"allowedIPs": [1]})] {
            match bind(&p) {
                Err(EngineError::Parameters(m)) => assert!(m.contains("allowedIPs"), "{m}"),
                other => panic!("{p}: {other:?}"),
            }
        }
    }

    fn edge_cases() -> Vec<(Value, Value)> {
        let params = [
            Value::Null,
            json!({}),
            json!({"allowedIPs": null}),
            json!({"allowedIPs": []}),
            json!({"allowedIPs": ["203.0.113.0"]}),
            json!({"allowedIPs": ["203.0.113.0", "203.0.113.1", "203.0.113.0", ""]}),
            json!({"allowedIPs": ["1", "true", "null"]}),
        ];
        let ips = [
            json!(["203.0.113.0"]),
            json!(["203.0.113.1", "203.0.113.0"]),
            json!(["9.9.9.9", "1.1.1.1", "9.9.9.9", "203.0.113.0"]),
            json!(["", " 203.0.113.0"]),
            json!([1, "1", 1.0, 2.5, true, "true", null, "null"]),
            json!([1.0, 1, 3.0, 2.50, 1e20, 0.000001, -0.0]),
            json!([["203.0.113.0"], {"ip": "1.1.1.1"}, {"ip": "0.0.0.0", "a": 1}, []]),
            json!({"x": "203.0.113.0", "y": "5.5.5.5"}),
            json!("203.0.113.7"),
            json!(7),
            json!([]),
            json!({}),
            Value::Null,
        ];
        let mut cases = Vec::new();
        for p in &params {
            for list in &ips {
                cases.push((p.clone(), service(list.clone())));
            }
            let mut no_field = service(Value::Null);
            no_field["spec"] = json!({"type": "ClusterIP"});
            cases.push((p.clone(), no_field));
            cases.push((
                p.clone(),
                json!({"apiVersion": "v1", "kind": "Service", "spec": "x"}),
            ));
            let mut pod = service(json!(["1.1.1.1"]));
            pod["kind"] = json!("Pod");
            cases.push((p.clone(), pod));
            let mut grouped = service(json!(["1.1.1.1"]));
            grouped["apiVersion"] = json!("example.com/v1");
            cases.push((p.clone(), grouped));
        }
        cases
    }

    #[test]
    fn agrees_with_library_rego() {
        super::super::rego_diff::check_cases("externalip", "k8sexternalips", &edge_cases());
    }

    #[test]
    fn request_kinds_agree_with_library_rego() {
        let obj = service(json!(["1.1.1.1"]));
        let cases: Vec<_> = [
            json!({"group": "", "version": "v1", "kind": "Service"}),
            json!({"group": "apps", "version": "v1", "kind": "Service"}),
            json!({"version": "v1", "kind": "Service"}),
            json!({"group": null, "kind": "Service"}),
            json!({"group": "", "kind": "Endpoints"}),
        ]
        .into_iter()
        .map(|kind| {
            let mut review = Review::from_object(obj.clone());
            review.request["kind"] = kind;
            (json!({"allowedIPs": ["2.2.2.2"]}), review, Value::Null)
        })
        .collect();
        super::super::rego_diff::check_reviews("externalip", "k8sexternalips", &cases);
    }

    #[test]
    fn conformance_suite() {
        super::super::conformance::check("externalip", "k8sexternalips");
    }
}
