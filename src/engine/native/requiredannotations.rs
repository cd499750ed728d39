//! `K8sRequiredAnnotations`: objects must carry the listed annotations (owner, runbook,
//! on-call channel, ...), with values matching an optional regex.
//!
//! Follows the library's Rego, which differs from the required-labels rule in ways users
//! can see, so they are kept:
//! - one violation names every missing key, `you must provide annotation(s): {"a", "b"}`
//!   (keys in set order), with details `{"missing_annotations": [...]}`;
//! - one violation per present annotation whose value the `allowedRegex` of an entry with
//!   that key does not match (unanchored search, RE2 syntax):
//!   `Annotation <key: value> does not satisfy allowed regex: <regex>`; an absent or empty
//!   regex accepts any value;
//! - the `message` parameter is accepted (the schema has it) but, as in the Rego, changes
//!   no message;
//! - an annotation whose value is `false` counts as missing *and* is judged by its regex;
//!   a value that is not a string never matches a regex (Rego's `regex.match` fails and
//!   `not` turns the failure into a violation), and is printed as a Rego term;
//! - an entry without `key` requires nothing; identical violations collapse into one.
//!
//! Deliberate departure: an `allowedRegex` that does not compile is a parameter error when
//! the constraint loads, where the Rego would flag every object carrying that annotation.

use std::collections::BTreeSet;
use std::sync::Arc;

use regex::Regex;
use serde_json::{json, Map, Value};

use super::{bad_param, field, judged_object, param, render_strings, truthy, Opa, Violations};
use crate::engine::{BoundProgram, EngineError, EvalInput, Violation};
use crate::matching::map_get;

/// One `annotations[]` entry that has a key, with its regex compiled.
#[derive(Debug)]
struct Required {
    key: String,
    /// `None` when absent or empty: any value passes.
    allowed: Option<Regex>,
}

/// A bound `K8sRequiredAnnotations` constraint.
#[derive(Debug)]
struct RequiredAnnotations {
    entries: Vec<Required>,
    /// Distinct required keys, sorted (Rego's set order for strings).
    keys: BTreeSet<String>,
}

/// Bind a `K8sRequiredAnnotations` constraint: checks the entries' types and compiles
/// every `allowedRegex` once.
pub(crate) fn bind(parameters: &Value) -> Result<Arc<dyn BoundProgram>, EngineError> {
    if param(parameters, "message").is_some_and(|m| !m.is_string()) {
        return Err(bad_param("message", "must be a string"));
    }
    let mut entries = Vec::new();
    if let Some(list) = param(parameters, "annotations") {
        let list = list
            .as_array()
            .ok_or_else(|| bad_param("annotations", "must be a list of {key, allowedRegex}"))?;
        for (i, entry) in list.iter().enumerate() {
            let at = |f: &str| format!("annotations[{i}]{f}");
            if !entry.is_object() {
                return Err(bad_param(&at(""), "must be an object"));
            }
            let key = match entry.get("key") {
                None => None,
                Some(Value::String(k)) => Some(k.clone()),
                Some(_) => return Err(bad_param(&at(".key"), "must be a string")),
            };
            let allowed = match entry.get("allowedRegex") {
                None => None,
                Some(Value::String(re)) if re.is_empty() => None,
                Some(Value::String(re)) => {
                    Some(Regex::new(re).map_err(|e| bad_param(&at(".allowedRegex"), e))?)
                }
                Some(_) => return Err(bad_param(&at(".allowedRegex"), "must be a string")),
            };
            if let Some(key) = key {
                entries.push(Required { key, allowed });
            }
        }
    }
    let keys = entries.iter().map(|e| e.key.clone()).collect();
    Ok(Arc::new(RequiredAnnotations { entries, keys }))
}

impl RequiredAnnotations {
    /// The violation naming the required keys that are absent or `false`, if any.
    fn missing(&self, annotations: Option<&Map<String, Value>>) -> Option<Violation> {
        let has = |key: &str| truthy(annotations.and_then(|a| map_get(a, key)));
        let missing: Vec<&String> = self.keys.iter().filter(|k| !has(k)).collect();
        if missing.is_empty() {
            return None;
        }
        Some(Violation {
            msg: format!(
                "you must provide annotation(s): {}",
                render_strings(missing.iter().copied(), '{', '}')
            ),
            details: Some(json!({ "missing_annotations": missing })),
        })
    }
}

impl BoundProgram for RequiredAnnotations {
    fn evaluate(&self, input: &EvalInput<'_>) -> Result<Vec<Violation>, EngineError> {
        let annotations = field(judged_object(input.review), "metadata")
            .and_then(|m| field(m, "annotations"))
            .and_then(Value::as_object);
        let mut out = Violations::new();
        if let Some(v) = self.missing(annotations) {
            out.push(v);
        }
        let Some(annotations) = annotations else {
            return Ok(out.into_vec());
        };
        let pacer = input.deadline.pacer();
        for entry in &self.entries {
            pacer.tick()?;
            let (Some(re), Some(value)) = (&entry.allowed, map_get(annotations, &entry.key)) else {
                continue;
            };
            if value.as_str().is_some_and(|v| re.is_match(v)) {
                continue;
            }
            let msg = format!(
                "Annotation <{}: {}> does not satisfy allowed regex: {}",
                entry.key,
                Opa(value),
                re.as_str()
            );
            out.push(Violation::new(msg));
        }
        Ok(out.into_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::Review;

    fn object(annotations: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "s", "annotations": annotations}})
    }

    fn run_full(parameters: Value, annotations: Value) -> Vec<Violation> {
        let rule = bind(&parameters).expect("test parameters are valid");
        let review = Review::from_object(object(annotations));
        rule.evaluate(&EvalInput::new(&review, &Value::Null))
            .expect("the rule never fails")
    }

    fn run(parameters: Value, annotations: Value) -> Vec<String> {
        run_full(parameters, annotations)
            .into_iter()
            .map(|v| v.msg)
            .collect()
    }

    const OWNER_RUNBOOK: &str = r#"{"annotations": [
        {"key": "a8r.io/owner", "allowedRegex": "^[a-z]+@example\\.com$"},
        {"key": "a8r.io/runbook"}
    ]}"#;

    fn owner_runbook() -> Value {
        serde_json::from_str(OWNER_RUNBOOK).expect("valid JSON")
    }

    #[test]
    fn missing_keys_in_one_violation_with_details() {
        let got = run_full(owner_runbook(), json!({"other": "x"}));
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].msg,
            r#"you must provide annotation(s): {"a8r.io/owner", "a8r.io/runbook"}"#
        );
        assert_eq!(
            got[0].details,
            Some(json!({"missing_annotations": ["a8r.io/owner", "a8r.io/runbook"]}))
        );
        assert_eq!(run(owner_runbook(), Value::Null).len(), 1);
    }

    #[test]
    fn regex_judges_present_values() {
        let ok = json!({"a8r.io/owner": "ops@example.com", "a8r.io/runbook": "https://x"});
        assert!(run(owner_runbook(), ok).is_empty());
        let bad = json!({"a8r.io/owner": "Ops", "a8r.io/runbook": ""});
        assert_eq!(
            run(owner_runbook(), bad),
            vec![
                r"Annotation <a8r.io/owner: Ops> does not satisfy allowed regex: ^[a-z]+@example\.com$"
            ]
        );
    }

    #[test]
    fn false_is_missing_and_still_judged() {
        let got = run(
            owner_runbook(),
            json!({"a8r.io/owner": false, "a8r.io/runbook": 3}),
        );
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got.contains(&r#"you must provide annotation(s): {"a8r.io/owner"}"#.to_string()));
        assert!(got.contains(
            &r"Annotation <a8r.io/owner: false> does not satisfy allowed regex: ^[a-z]+@example\.com$"
                .to_string()
        ));
    }

    #[test]
    fn message_parameter_changes_nothing() {
        let mut p = owner_runbook();
        p["message"] = json!("custom");
        assert_eq!(
            run(p, json!({})),
            vec![r#"you must provide annotation(s): {"a8r.io/owner", "a8r.io/runbook"}"#]
        );
    }

    #[test]
    fn keyless_entries_and_duplicates() {
        let p = json!({"annotations": [
            {"allowedRegex": "x"}, {"key": "a", "allowedRegex": "^x$"}, {"key": "a", "allowedRegex": "^x$"},
            {"key": "a", "allowedRegex": "^y$"}
        ]});
        assert_eq!(run(p.clone(), json!({"a": "x"})).len(), 1);
        assert_eq!(run(p, json!({"a": "z"})).len(), 2);
        assert!(run(Value::Null, json!({})).is_empty());
    }

    #[test]
    fn bad_parameters_name_the_field() {
        for (p, field) in [
            (
                json!({"annotations": [{"key": "a", "allowedRegex": "("}]}),
                "annotations[0].allowedRegex",
            ),
            (
                json!({"annotations": [{"key": "a", "allowedRegex": 1}]}),
                "annotations[0].allowedRegex",
            ),
            (json!({"annotations": [{"key": 1}]}), "annotations[0].key"),
            (json!({"annotations": ["a"]}), "annotations[0]"),
            (json!({"annotations": "a"}), "annotations"),
            (json!({"message": 3}), "message"),
        ] {
            match bind(&p) {
                Err(EngineError::Parameters(m)) => assert!(m.contains(field), "{m}"),
                other => panic!("{p}: {other:?}"),
            }
        }
    }

    fn edge_cases() -> Vec<(Value, Value)> {
        let params = [
            Value::Null,
            json!({}),
            json!({"annotations": []}),
            json!({"annotations": null}),
            owner_runbook(),
            json!({"message": "ignored", "annotations": [{"key": "b"}, {"key": "a", "allowedRegex": ""}, {"key": "b"}]}),
            json!({"annotations": [{"key": "a", "allowedRegex": "^x"}, {"key": "a", "allowedRegex": "y$"}, {"allowedRegex": "z"}]}),
            json!({"annotations": [{"key": "0"}, {"key": "n", "allowedRegex": "^[0-9]+$"}]}),
        ];
        let annotation_sets = [
            Value::Null,
            json!({}),
            json!([]),
            json!(["a", "b"]),
            json!("a8r.io/owner"),
            json!({"a8r.io/owner": "ops@example.com", "a8r.io/runbook": "r"}),
            json!({"a8r.io/owner": "ops@example.org", "a8r.io/runbook": false}),
            json!({"a8r.io/owner": null, "a8r.io/runbook": ""}),
            json!({"a": "xy", "b": "", "0": "zero"}),
            json!({"a": "x", "b": false}),
            json!({"a": "q", "n": 5}),
            json!({"a": 2.0, "n": [1.5, 3.0]}),
            json!({"a": ["x"], "n": {"v": "1"}}),
            json!({"a": false, "n": "12a"}),
        ];
        let mut cases = Vec::new();
        for p in &params {
            for a in &annotation_sets {
                cases.push((p.clone(), object(a.clone())));
            }
            cases.push((p.clone(), json!({"kind": "Service"})));
            cases.push((p.clone(), json!({"kind": "Service", "metadata": "x"})));
            cases.push((p.clone(), Value::Null));
        }
        cases
    }

    #[test]
    fn agrees_with_library_rego() {
        super::super::rego_diff::check_cases(
            "requiredannotations",
            "k8srequiredannotations",
            &edge_cases(),
        );
    }

    #[test]
    fn conformance_suite() {
        super::super::conformance::check("requiredannotations", "k8srequiredannotations");
    }
}
