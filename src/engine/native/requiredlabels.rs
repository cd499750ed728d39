//! `K8sRequiredLabels`: objects must carry the listed labels, with values matching an
//! optional regex.
//!
//! Follows the library's Rego (the template's CEL variant words its messages differently):
//! - one violation listing every missing key, `you must provide labels: {"a", "b"}` (keys
//!   sorted, as a Rego set prints), with details `{"missing_labels": [...]}`;
//! - one violation per present label whose value does not match the `allowedRegex` of an
//!   entry with that key (unanchored search, RE2 syntax); an absent or empty regex accepts
//!   any value: `Label <key: value> does not satisfy allowed regex: <regex>`;
//! - `message`, when given, replaces both texts; identical violations collapse into one;
//! - a label whose value is `false` counts as absent, a non-string value never matches.

use std::collections::BTreeSet;
use std::sync::Arc;

use regex::Regex;
use serde_json::{json, Value};

use super::{bad_param, judged_object, param, render_strings, truthy, Opa, Violations};
use crate::engine::{BoundProgram, EngineError, EvalInput, Violation};
use crate::matching::{labels_of, map_get};

/// One `labels[]` entry with its regex compiled.
#[derive(Debug)]
struct Required {
    key: String,
    allowed: Option<Regex>,
}

/// A bound `K8sRequiredLabels` constraint.
#[derive(Debug)]
struct RequiredLabels {
    entries: Vec<Required>,
    /// Distinct required keys, sorted.
    keys: BTreeSet<String>,
    message: Option<String>,
}

/// Bind a `K8sRequiredLabels` constraint: compiles every `allowedRegex` once.
pub(crate) fn bind(parameters: &Value) -> Result<Arc<dyn BoundProgram>, EngineError> {
    let message = match param(parameters, "message") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(bad_param("message", "must be a string")),
    };
    let mut entries = Vec::new();
    if let Some(labels) = param(parameters, "labels") {
        let labels = labels
            .as_array()
            .ok_or_else(|| bad_param("labels", "must be a list of {key, allowedRegex}"))?;
        for (i, entry) in labels.iter().enumerate() {
            let key = entry
                .get("key")
                .and_then(Value::as_str)
                .ok_or_else(|| bad_param(&format!("labels[{i}].key"), "must be a string"))?;
            let allowed = match param(entry, "allowedRegex") {
                None => None,
                Some(Value::String(re)) if re.is_empty() => None,
                Some(Value::String(re)) => Some(
                    Regex::new(re)
                        .map_err(|e| bad_param(&format!("labels[{i}].allowedRegex"), e))?,
                ),
                Some(_) => {
                    return Err(bad_param(
                        &format!("labels[{i}].allowedRegex"),
                        "must be a string",
                    ))
                }
            };
            entries.push(Required {
                key: key.to_string(),
                allowed,
            });
        }
    }
    let keys = entries.iter().map(|e| e.key.clone()).collect();
    Ok(Arc::new(RequiredLabels {
        entries,
        keys,
        message,
    }))
}

impl BoundProgram for RequiredLabels {
    fn evaluate(&self, input: &EvalInput<'_>) -> Result<Vec<Violation>, EngineError> {
        let mut out = Violations::new();
        let labels = labels_of(judged_object(input.review));
        let has = |key: &str| truthy(labels.and_then(|l| map_get(l, key)));
        if self.keys.iter().any(|k| !has(k)) {
            let missing: Vec<&String> = self.keys.iter().filter(|k| !has(k)).collect();
            let msg = match &self.message {
                Some(m) => m.clone(),
                None => format!(
                    "you must provide labels: {}",
                    render_strings(missing.iter().copied(), '{', '}')
                ),
            };
            out.push(Violation {
                msg,
                details: Some(json!({ "missing_labels": missing })),
            });
        }
        let Some(labels) = labels else {
            return Ok(out.into_vec());
        };
        let pacer = input.deadline.pacer();
        for entry in &self.entries {
            pacer.tick()?;
            let (Some(re), Some(value)) = (&entry.allowed, map_get(labels, &entry.key)) else {
                continue;
            };
            if value.as_str().is_some_and(|v| re.is_match(v)) {
                continue;
            }
            let msg = match &self.message {
                Some(m) => m.clone(),
                None => format!(
                    "Label <{}: {}> does not satisfy allowed regex: {}",
                    entry.key,
                    Opa(value),
                    re.as_str()
                ),
            };
            out.push(Violation::new(msg));
        }
        Ok(out.into_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::Review;

    fn run_full(parameters: Value, labels: Value) -> Vec<Violation> {
        let rule = match bind(&parameters) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        let review = Review::from_object(json!({
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n", "labels": labels}
        }));
        match rule.evaluate(&EvalInput::new(&review, &Value::Null)) {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        }
    }

    fn run(parameters: Value, labels: Value) -> Vec<String> {
        run_full(parameters, labels)
            .into_iter()
            .map(|v| v.msg)
            .collect()
    }

    #[test]
    fn missing_labels_sorted_with_details() {
        let p = json!({"labels": [{"key": "zeta"}, {"key": "alpha"}, {"key": "team"}]});
        let got = run_full(p, json!({"team": "x"}));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].msg, r#"you must provide labels: {"alpha", "zeta"}"#);
        assert_eq!(
            got[0].details,
            Some(json!({"missing_labels": ["alpha", "zeta"]}))
        );
    }

    #[test]
    fn regex_is_a_search_and_empty_regex_accepts() {
        let p = json!({"labels": [{"key": "owner", "allowedRegex": "agilebank"}, {"key": "env", "allowedRegex": ""}]});
        assert!(run(
            p.clone(),
            json!({"owner": "me.agilebank.demo", "env": "anything"})
        )
        .is_empty());
        assert_eq!(
            run(p, json!({"owner": "someone", "env": "x"})),
            vec!["Label <owner: someone> does not satisfy allowed regex: agilebank"]
        );
    }

    #[test]
    fn custom_message_replaces_both_and_collapses() {
        let p = json!({"message": "fix labels", "labels": [
            {"key": "a", "allowedRegex": "^x$"}, {"key": "b", "allowedRegex": "^y$"}, {"key": "c"}
        ]});
        let got = run_full(p, json!({"a": "1", "b": "2"}));
        // The missing-label violation has details, so it stays apart from the regex ones.
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|v| v.msg == "fix labels"));
    }

    #[test]
    fn no_labels_at_all_and_null_parameters() {
        assert!(run(Value::Null, Value::Null).is_empty());
        let p = json!({"labels": [{"key": "owner"}]});
        assert_eq!(
            run(p.clone(), Value::Null),
            vec![r#"you must provide labels: {"owner"}"#]
        );
        assert_eq!(run(p.clone(), json!({"owner": false})).len(), 1);
        assert!(
            run(p, json!({"owner": ""})).is_empty(),
            "an empty value is present"
        );
    }

    #[test]
    fn non_string_value_fails_the_regex() {
        let p = json!({"labels": [{"key": "n", "allowedRegex": "^[0-9]+$"}]});
        assert_eq!(
            run(p, json!({"n": 5})),
            vec!["Label <n: 5> does not satisfy allowed regex: ^[0-9]+$"]
        );
    }

    #[test]
    fn bad_parameters_name_the_field() {
        for (p, field) in [
            (
                json!({"labels": [{"key": "a", "allowedRegex": "("}]}),
                "labels[0].allowedRegex",
            ),
            (json!({"labels": [{"allowedRegex": "x"}]}), "labels[0].key"),
            (json!({"labels": "owner"}), "labels"),
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
            json!({"labels": []}),
            json!({"labels": [{"key": "owner"}]}),
            json!({"labels": [{"key": "owner", "allowedRegex": "^[a-z]+\\.acme$"}, {"key": "env", "allowedRegex": ""}]}),
            json!({"labels": [{"key": "b"}, {"key": "a", "allowedRegex": "x"}, {"key": "a", "allowedRegex": "y"}]}),
            json!({"message": "custom", "labels": [{"key": "a", "allowedRegex": "^x$"}, {"key": "b", "allowedRegex": "^y$"}, {"key": "c"}]}),
            json!({"message": "", "labels": [{"key": "a"}]}),
        ];
        let label_sets = [
            Value::Null,
            json!({}),
            json!({"owner": "team.acme", "env": "prod"}),
            json!({"owner": "Team.acme"}),
            json!({"owner": "", "a": "x", "b": "y"}),
            json!({"a": "xy", "b": "n", "c": "1"}),
            json!({"a": false, "owner": 5}),
        ];
        let mut cases = Vec::new();
        for p in &params {
            for labels in &label_sets {
                let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n", "labels": labels}});
                cases.push((p.clone(), obj));
            }
            cases.push((p.clone(), json!({"kind": "Namespace"})));
        }
        cases
    }

    #[test]
    fn agrees_with_library_rego() {
        super::super::rego_diff::check_cases("requiredlabels", "k8srequiredlabels", &edge_cases());
    }

    #[test]
    fn conformance_suite() {
        super::super::conformance::check("requiredlabels", "k8srequiredlabels");
    }
}
