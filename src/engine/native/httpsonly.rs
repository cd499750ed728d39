//! `K8sHttpsOnly`: Ingresses must be HTTPS only.
//!
//! An `Ingress` of API group `extensions` or `networking.k8s.io` must carry the annotation
//! `kubernetes.io/ingress.allow-http: "false"` and, unless the constraint sets
//! `tlsOptional: true`, a non-empty `spec.tls`. Messages are the library's, and like the
//! Rego an Ingress without `metadata.name` yields none. The group test mirrors the Rego's
//! unescaped regex `^(extensions|networking.k8s.io)/`, whose dots match any character.

use std::sync::Arc;

use serde_json::Value;

use super::{bad_param, param, truthy, Opa};
use crate::engine::{BoundProgram, EngineError, EvalInput, Violation};

/// The annotation that must be `"false"`.
const ALLOW_HTTP: &str = "kubernetes.io/ingress.allow-http";

/// A bound `K8sHttpsOnly` constraint.
#[derive(Debug)]
struct HttpsOnly {
    tls_optional: bool,
}

/// Bind a `K8sHttpsOnly` constraint.
pub(crate) fn bind(parameters: &Value) -> Result<Arc<dyn BoundProgram>, EngineError> {
    let tls_optional = match param(parameters, "tlsOptional") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad_param("tlsOptional", "must be a boolean")),
    };
    Ok(Arc::new(HttpsOnly { tls_optional }))
}

/// Whether an apiVersion matches `^(extensions|networking.k8s.io)/` as a regex would.
fn ingress_group(api_version: &str) -> bool {
    if api_version.starts_with("extensions/") {
        return true;
    }
    let mut chars = api_version.chars();
    "networking.k8s.io/".chars().all(|p| match chars.next() {
        Some(c) => c == p || (p == '.' && c != '\n'),
        None => false,
    })
}

/// Number of elements as Rego's `count` sees them; `None` where `count` is an error.
fn rego_count(v: &Value) -> Option<usize> {
    match v {
        Value::Array(a) => Some(a.len()),
        Value::Object(o) => Some(o.len()),
        Value::String(s) => Some(s.chars().count()),
        _ => None,
    }
}

impl BoundProgram for HttpsOnly {
    fn evaluate(&self, input: &EvalInput<'_>) -> Result<Vec<Violation>, EngineError> {
        let mut out = Vec::new();
        let ingress = input.review.object();
        if ingress.get("kind").and_then(Value::as_str) != Some("Ingress") {
            return Ok(out);
        }
        if !ingress
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(ingress_group)
        {
            return Ok(out);
        }
        let Some(name) = ingress.pointer("/metadata/name") else {
            return Ok(out);
        };
        let annotated = ingress
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(ALLOW_HTTP))
            .and_then(Value::as_str)
            == Some("false");
        if self.tls_optional {
            if !annotated {
                out.push(Violation::new(format!(
                    "Ingress should be https. The allow-http=false annotation is required for {}",
                    Opa(name)
                )));
            }
        } else {
            let tls = ingress.get("spec").and_then(|s| s.get("tls"));
            let has_tls = truthy(tls) && tls.and_then(rego_count).is_some_and(|n| n > 0);
            if !(has_tls && annotated) {
                out.push(Violation::new(format!(
                    "Ingress should be https. tls configuration and allow-http=false annotation are required for {}",
                    Opa(name)
                )));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::Review;
    use serde_json::json;

    fn run(parameters: Value, object: Value) -> Vec<String> {
        let review = Review::from_object(object);
        super::super::messages(bind, &parameters, &review)
    }

    fn ingress(api: &str, annotation: Option<&str>, tls: Value) -> Value {
        let mut obj = json!({
            "apiVersion": api, "kind": "Ingress",
            "metadata": {"name": "web"}, "spec": {"tls": tls, "rules": []}
        });
        if let Some(a) = annotation {
            obj["metadata"]["annotations"] = json!({ALLOW_HTTP: a});
        }
        obj
    }

    #[test]
    fn tls_required_by_default() {
        let tls = json!([{"hosts": ["a"]}]);
        assert!(run(
            Value::Null,
            ingress("networking.k8s.io/v1", Some("false"), tls.clone())
        )
        .is_empty());
        assert_eq!(
            run(Value::Null, ingress("networking.k8s.io/v1", Some("true"), tls)),
            vec!["Ingress should be https. tls configuration and allow-http=false annotation are required for web"]
        );
        assert_eq!(
            run(
                Value::Null,
                ingress("extensions/v1beta1", Some("false"), json!([]))
            )
            .len(),
            1
        );
        assert_eq!(
            run(
                Value::Null,
                ingress("networking.k8s.io/v1", Some("false"), json!(false))
            )
            .len(),
            1
        );
        assert_eq!(
            run(
                json!({"tlsOptional": false}),
                ingress("extensions/v1beta1", None, json!(null))
            )
            .len(),
            1
        );
    }

    #[test]
    fn tls_optional_needs_only_the_annotation() {
        let p = json!({"tlsOptional": true});
        assert!(run(
            p.clone(),
            ingress("networking.k8s.io/v1", Some("false"), json!(null))
        )
        .is_empty());
        assert_eq!(
            run(p, ingress("networking.k8s.io/v1", None, json!([{}]))),
            vec!["Ingress should be https. The allow-http=false annotation is required for web"]
        );
    }

    #[test]
    fn other_kinds_and_groups_pass() {
        assert!(run(Value::Null, ingress("example.com/v1", None, json!(null))).is_empty());
        assert!(run(
            Value::Null,
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}})
        )
        .is_empty());
        assert!(run(Value::Null, Value::Null).is_empty());
        let mut nameless = ingress("networking.k8s.io/v1", None, json!(null));
        nameless["metadata"] = json!({});
        assert!(run(Value::Null, nameless).is_empty());
    }

    #[test]
    fn group_test_is_the_regex() {
        assert!(ingress_group("networking.k8s.io/v1"));
        assert!(ingress_group("networkingXk8sYio/v1"));
        assert!(ingress_group("extensions/v1beta1"));
        assert!(!ingress_group("networking.k8s.io"));
        assert!(!ingress_group("xnetworking.k8s.io/v1"));
        assert!(!ingress_group("networking.k8s.io.evil/v1"));
        assert!(
            ingress_group("networking\u{e9}k8s.io/v1"),
            "a dot matches any character"
        );
    }

    #[test]
    fn rejects_non_boolean_tls_optional() {
        assert!(matches!(
            bind(&json!({"tlsOptional": "yes"})),
            Err(EngineError::Parameters(_))
        ));
    }

    fn edge_cases() -> Vec<(Value, Value)> {
        let params = [
            Value::Null,
            json!({"tlsOptional": true}),
            json!({"tlsOptional": false}),
        ];
        let apis = [
            "networking.k8s.io/v1",
            "extensions/v1beta1",
            "networkingXk8s.io/v1",
            "example.com/v1",
            "v1",
        ];
        let annotations = [None, Some("false"), Some("true"), Some("False")];
        let tls = [
            json!(null),
            json!([]),
            json!([{}]),
            json!(false),
            json!({}),
            json!({"a": 1}),
            json!("x"),
            json!(3),
        ];
        let mut cases = Vec::new();
        for p in &params {
            for api in apis {
                for a in annotations {
                    for t in &tls {
                        cases.push((p.clone(), ingress(api, a, t.clone())));
                    }
                }
            }
            let mut no_tls_key = ingress("networking.k8s.io/v1", Some("false"), json!(null));
            no_tls_key["spec"] = json!({"rules": []});
            cases.push((p.clone(), no_tls_key));
            let mut nameless = ingress("networking.k8s.io/v1", None, json!(null));
            nameless["metadata"] = json!({"annotations": {ALLOW_HTTP: false}});
            cases.push((p.clone(), nameless));
            cases.push((p.clone(), json!({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "c"}})));
        }
        cases
    }

    #[test]
    fn agrees_with_library_rego() {
        super::super::rego_diff::check_cases("httpsonly", "k8shttpsonly", &edge_cases());
    }

    #[test]
    fn conformance_suite() {
        super::super::conformance::check("httpsonly", "k8shttpsonly");
    }
}
