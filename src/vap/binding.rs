//! A constraint as a ValidatingAdmissionPolicyBinding, shaped as Gatekeeper generates it:
//! named `gatekeeper-<lower-cased kind>-<constraint name>` (cut to 253 characters with an
//! 8-digit SHA-256 suffix when longer), bound to its template's policy, with `paramRef`
//! naming the constraint (`parameterNotFoundAction: Allow`), the constraint's
//! `labelSelector` and `namespaceSelector` as `matchResources.objectSelector` and
//! `namespaceSelector`, and `validationActions` from the enforcement action
//! (`deny` → `Deny`, `warn` → `Warn`, `dryrun` → `Audit`; a `scoped` constraint uses the
//! actions it names for the `vap.k8s.io` enforcement point or `*`).

use serde_json::{json, Map, Value};

use super::policy::policy_name;
use crate::policy::{Action, Constraint, Enforcement};

/// The enforcement point of ValidatingAdmissionPolicy in `scopedEnforcementActions`.
pub const VAP_POINT: &str = "vap.k8s.io";

/// Longest object name the API server accepts (a DNS subdomain).
const MAX_NAME: usize = 253;

/// The binding of `constraint` (whose document is `doc`), or why it cannot be one.
pub fn binding(constraint: &Constraint, doc: &Value) -> Result<Value, String> {
    let actions = validation_actions(&constraint.enforcement)?;
    if constraint.matcher.source.as_deref() == Some("Generated") {
        return Err(
            "matches only resources that ExpansionTemplates generate (match.source: \
                    Generated), which the API server never admits on their own"
                .into(),
        );
    }
    let mut match_resources = Map::new();
    for (from, to) in [
        ("labelSelector", "objectSelector"),
        ("namespaceSelector", "namespaceSelector"),
    ] {
        let Some(selector) = doc
            .pointer(&format!("/spec/match/{from}"))
            .filter(|v| !v.is_null())
        else {
            continue;
        };
        let parsed = match from {
            "labelSelector" => constraint.matcher.label_selector.as_ref(),
            _ => constraint.matcher.namespace_selector.as_ref(),
        };
        if let Some(parsed) = parsed {
            parsed
                .validate()
                .map_err(|e| format!("match.{from} is one the API server refuses: {e}"))?;
        }
        match_resources.insert(to.into(), selector_of(selector));
    }
    Ok(json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": binding_name(&constraint.kind, &constraint.name)},
        "spec": {
            "policyName": policy_name(&constraint.kind.to_lowercase()),
            "paramRef": {"name": constraint.name, "parameterNotFoundAction": "Allow"},
            "matchResources": match_resources,
            "validationActions": actions,
        }
    }))
}

/// `validationActions` for an enforcement, or why there are none the API server takes.
fn validation_actions(enforcement: &Enforcement) -> Result<Vec<&'static str>, String> {
    let actions = match enforcement {
        Enforcement::Uniform(a) => vec![*a],
        Enforcement::Scoped(_) => {
            let out = enforcement.actions_at(VAP_POINT);
            if out.is_empty() {
                return Err(format!(
                    "its scopedEnforcementActions name no action for the {VAP_POINT} \
                     enforcement point (or *), so it does not act as a ValidatingAdmissionPolicy"
                ));
            }
            out
        }
    };
    if actions.contains(&Action::Deny) && actions.contains(&Action::Warn) {
        return Err(format!(
            "its scopedEnforcementActions give both deny and warn at {VAP_POINT}, and the API \
             server refuses a binding with both Deny and Warn"
        ));
    }
    Ok(actions
        .into_iter()
        .map(|a| match a {
            Action::Deny => "Deny",
            Action::Warn => "Warn",
            Action::Dryrun => "Audit",
        })
        .collect())
}

/// A label selector with only the fields the API knows (`matchLabels`,
/// `matchExpressions` of `key`, `operator`, `values`), so nothing unknown is carried over.
fn selector_of(selector: &Value) -> Value {
    let mut out = Map::new();
    if let Some(labels) = selector
        .get("matchLabels")
        .filter(|v| v.as_object().is_some_and(|m| !m.is_empty()))
    {
        out.insert("matchLabels".into(), labels.clone());
    }
    if let Some(exprs) = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
    {
        let exprs: Vec<Value> = exprs
            .iter()
            .map(|e| {
                let mut r = Map::new();
                for field in ["key", "operator", "values"] {
                    if let Some(v) = e.get(field).filter(|v| !v.is_null()) {
                        r.insert(field.into(), v.clone());
                    }
                }
                Value::Object(r)
            })
            .collect();
        out.insert("matchExpressions".into(), Value::Array(exprs));
    }
    Value::Object(out)
}

/// `gatekeeper-<kind>-<name>`, cut to a DNS subdomain's length with a hash suffix.
pub fn binding_name(kind: &str, constraint: &str) -> String {
    let name = format!("gatekeeper-{}-{constraint}", kind.to_lowercase());
    if name.len() <= MAX_NAME {
        return name;
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, name.as_bytes());
    let hash: String = digest
        .as_ref()
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect();
    // Names are ASCII (a constraint name is a DNS subdomain), so any cut is a boundary.
    let keep = MAX_NAME - hash.len() - 1;
    let cut = name.get(..keep).unwrap_or(&name);
    format!("{}-{hash}", cut.trim_end_matches(['-', '.']))
}
