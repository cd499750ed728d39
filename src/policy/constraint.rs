//! Constraints (`constraints.gatekeeper.sh/v1beta1`, `v1alpha1`, `v1`).

use serde_json::Value;

use super::enforcement::{Action, Enforcement, ScopedAction};
use super::PolicyError;
use crate::matching::Match;

/// The API group of constraints.
pub const CONSTRAINTS_GROUP: &str = "constraints.gatekeeper.sh";

/// A constraint: an instance of a template's kind, with match, parameters and action.
#[derive(Debug, Clone)]
pub struct Constraint {
    /// Kind (the template's `names.kind`).
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `spec.match`.
    pub matcher: Match,
    /// `spec.parameters` (Null when absent).
    pub parameters: Value,
    /// `spec.enforcementAction` resolved with `scopedEnforcementActions`.
    pub enforcement: Enforcement,
}

impl Constraint {
    /// Read a constraint from its parsed document (schema and unknown-field checks happen
    /// in the snapshot builder, which knows the template; see [`super::fields`]).
    pub fn from_value(doc: &Value) -> Result<Self, PolicyError> {
        let kind = doc
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let name = doc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| PolicyError::invalid("metadata.name", "is required"))?
            .to_string();
        let spec = doc.get("spec").cloned().unwrap_or(Value::Null);
        let matcher: Match = match spec.get("match") {
            None | Some(Value::Null) => Match::default(),
            Some(m) => serde_json::from_value(m.clone())
                .map_err(|e| PolicyError::invalid("spec.match", e.to_string()))?,
        };
        matcher
            .validate()
            .map_err(|e| PolicyError::invalid("spec.match", e))?;
        let parameters = spec.get("parameters").cloned().unwrap_or(Value::Null);
        let action = spec
            .get("enforcementAction")
            .and_then(Value::as_str)
            .unwrap_or("deny");
        let enforcement = if action.eq_ignore_ascii_case("scoped") {
            let scoped: Vec<ScopedAction> = match spec.get("scopedEnforcementActions") {
                None | Some(Value::Null) => Vec::new(),
                Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
                    PolicyError::invalid("spec.scopedEnforcementActions", e.to_string())
                })?,
            };
            if scoped.is_empty() {
                return Err(PolicyError::invalid(
                    "spec.scopedEnforcementActions",
                    "is required when enforcementAction is scoped",
                ));
            }
            for (i, s) in scoped.iter().enumerate() {
                if Action::parse(&s.action).is_none() {
                    return Err(PolicyError::invalid(
                        format!("spec.scopedEnforcementActions[{i}].action"),
                        format!("unknown action {:?} (deny, warn or dryrun)", s.action),
                    ));
                }
            }
            Enforcement::Scoped(scoped)
        } else {
            Enforcement::Uniform(Action::parse(action).ok_or_else(|| {
                PolicyError::invalid(
                    "spec.enforcementAction",
                    format!("unknown action {action:?} (deny, warn, dryrun or scoped)"),
                )
            })?)
        };
        Ok(Constraint {
            kind,
            name,
            matcher,
            parameters,
            enforcement,
        })
    }
}
