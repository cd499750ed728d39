//! The checks the API server applies when a ValidatingAdmissionPolicy or binding is
//! created, beyond its schema: names are DNS subdomains, a policy has match constraints
//! with at least one resource rule and at least one validation, every expression is
//! non-empty, messages are single lines, match condition names are qualified names and
//! unique, variable names are CEL identifiers and unique, `paramKind` is a group/version
//! and a kind, failure policies and actions are known values, a binding's actions are
//! unique and never both `Deny` and `Warn`, and its `paramRef` has a name and a
//! `parameterNotFoundAction`. The exporter runs them on everything it writes, so an object
//! the API server would refuse is reported instead of printed.

use std::collections::HashSet;

use serde_json::Value;

/// Most match conditions a policy may have.
const MAX_MATCH_CONDITIONS: usize = 64;

/// Problems with a ValidatingAdmissionPolicy, each naming its field.
pub fn policy_problems(policy: &Value) -> Vec<String> {
    let mut out = Vec::new();
    name_problems(policy, &mut out);
    let spec = policy.get("spec").unwrap_or(&Value::Null);
    match spec.get("paramKind") {
        None => {}
        Some(kind) => {
            let api_version = str_of(kind, "apiVersion");
            match api_version.split_once('/') {
                Some((group, version)) if dns_subdomain(group) && dns_label(version) => {}
                _ => out.push(format!(
                    "spec.paramKind.apiVersion: {api_version:?} is not group/version"
                )),
            }
            if str_of(kind, "kind").is_empty() {
                out.push("spec.paramKind.kind: required".into());
            }
        }
    }
    let rules = spec
        .pointer("/matchConstraints/resourceRules")
        .and_then(Value::as_array);
    match rules {
        Some(rules) if !rules.is_empty() => {
            for (i, r) in rules.iter().enumerate() {
                let ops = strings(r.get("operations"));
                if ops.is_empty() {
                    out.push(format!(
                        "spec.matchConstraints.resourceRules[{i}].operations: required"
                    ));
                }
                for op in ops {
                    if !["CREATE", "UPDATE", "DELETE", "CONNECT", "*"].contains(&op) {
                        out.push(format!(
                            "spec.matchConstraints.resourceRules[{i}].operations: unknown {op:?}"
                        ));
                    }
                }
                for field in ["apiGroups", "apiVersions", "resources"] {
                    if strings(r.get(field)).is_empty() {
                        out.push(format!(
                            "spec.matchConstraints.resourceRules[{i}].{field}: required"
                        ));
                    }
                }
            }
        }
        _ => out.push("spec.matchConstraints.resourceRules: at least one is required".into()),
    }
    let conditions = list(spec, "matchConditions");
    if conditions.len() > MAX_MATCH_CONDITIONS {
        out.push(format!(
            "spec.matchConditions: {} is more than {MAX_MATCH_CONDITIONS}",
            conditions.len()
        ));
    }
    let mut seen = HashSet::new();
    for (i, c) in conditions.iter().enumerate() {
        let name = str_of(c, "name");
        if !qualified_name(name) {
            out.push(format!(
                "spec.matchConditions[{i}].name: {name:?} is not a qualified name"
            ));
        }
        if !seen.insert(name) {
            out.push(format!(
                "spec.matchConditions[{i}].name: {name:?} is duplicated"
            ));
        }
        expression_problem(
            c,
            "expression",
            &format!("spec.matchConditions[{i}]"),
            &mut out,
        );
    }
    let mut seen = HashSet::new();
    for (i, v) in list(spec, "variables").iter().enumerate() {
        let name = str_of(v, "name");
        if !cel_identifier(name) {
            out.push(format!(
                "spec.variables[{i}].name: {name:?} is not a CEL identifier"
            ));
        }
        if !seen.insert(name) {
            out.push(format!("spec.variables[{i}].name: {name:?} is duplicated"));
        }
        expression_problem(v, "expression", &format!("spec.variables[{i}]"), &mut out);
    }
    let validations = list(spec, "validations");
    if validations.is_empty() && list(spec, "auditAnnotations").is_empty() {
        out.push("spec.validations: at least one validation is required".into());
    }
    for (i, v) in validations.iter().enumerate() {
        let at = format!("spec.validations[{i}]");
        expression_problem(v, "expression", &at, &mut out);
        if let Some(message) = v.get("message").and_then(Value::as_str) {
            if message.trim().is_empty() {
                out.push(format!("{at}.message: must be non-empty if specified"));
            }
            if message.contains(['\n', '\r']) {
                out.push(format!("{at}.message: must not contain line breaks"));
            }
        }
        if v.get("messageExpression").is_some() {
            expression_problem(v, "messageExpression", &at, &mut out);
        }
    }
    match spec.get("failurePolicy").and_then(Value::as_str) {
        None | Some("Fail" | "Ignore") => {}
        Some(other) => out.push(format!("spec.failurePolicy: unknown {other:?}")),
    }
    out
}

/// Problems with a ValidatingAdmissionPolicyBinding, each naming its field.
pub fn binding_problems(binding: &Value) -> Vec<String> {
    let mut out = Vec::new();
    name_problems(binding, &mut out);
    let spec = binding.get("spec").unwrap_or(&Value::Null);
    let policy = str_of(spec, "policyName");
    if !dns_subdomain(policy) {
        out.push(format!(
            "spec.policyName: {policy:?} is not a DNS subdomain"
        ));
    }
    if let Some(param_ref) = spec.get("paramRef") {
        let name = str_of(param_ref, "name");
        if name.is_empty() && param_ref.get("selector").is_none() {
            out.push("spec.paramRef: one of name or selector is required".into());
        }
        if !name.is_empty() && !dns_subdomain(name) {
            out.push(format!("spec.paramRef.name: {name:?} is not a valid name"));
        }
        match param_ref
            .get("parameterNotFoundAction")
            .and_then(Value::as_str)
        {
            Some("Allow" | "Deny") => {}
            other => out.push(format!(
                "spec.paramRef.parameterNotFoundAction: {other:?} is not Allow or Deny"
            )),
        }
    }
    let actions = strings(spec.get("validationActions"));
    if actions.is_empty() {
        out.push("spec.validationActions: at least one is required".into());
    }
    let mut seen = HashSet::new();
    for a in &actions {
        if !["Deny", "Warn", "Audit"].contains(a) {
            out.push(format!("spec.validationActions: unknown {a:?}"));
        }
        if !seen.insert(*a) {
            out.push(format!("spec.validationActions: {a:?} is duplicated"));
        }
    }
    if actions.contains(&"Deny") && actions.contains(&"Warn") {
        out.push("spec.validationActions: Deny and Warn may not both be given".into());
    }
    out
}

fn name_problems(object: &Value, out: &mut Vec<String>) {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !dns_subdomain(name) {
        out.push(format!("metadata.name: {name:?} is not a DNS subdomain"));
    }
}

fn expression_problem(entry: &Value, field: &str, at: &str, out: &mut Vec<String>) {
    if str_of(entry, field).trim().is_empty() {
        out.push(format!("{at}.{field}: required"));
    }
}

fn str_of<'a>(v: &'a Value, field: &str) -> &'a str {
    v.get(field).and_then(Value::as_str).unwrap_or("")
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn list<'a>(v: &'a Value, field: &str) -> &'a [Value] {
    v.get(field)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// RFC 1123 subdomain: at most 253 characters, dot-separated labels of lower-case
/// letters, digits and `-`, each starting and ending with a letter or digit.
pub fn dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b.first().is_some_and(u8::is_ascii_alphanumeric)
                && b.last().is_some_and(u8::is_ascii_alphanumeric)
        })
}

/// RFC 1123 label: a subdomain of one label, at most 63 characters.
fn dns_label(s: &str) -> bool {
    s.len() <= 63 && !s.contains('.') && dns_subdomain(s)
}

/// A Kubernetes qualified name: an optional DNS-subdomain prefix and `/`, then at most 63
/// letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit.
fn qualified_name(s: &str) -> bool {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if prefix.is_some_and(|p| !dns_subdomain(p)) {
        return false;
    }
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// A CEL identifier: a letter or `_`, then letters, digits and `_`.
fn cel_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kubernetes_rules() {
        assert!(dns_subdomain("gatekeeper-k8srequiredlabels"));
        assert!(dns_subdomain("a.b-c"));
        assert!(!dns_subdomain("Upper"));
        assert!(!dns_subdomain("-start"));
        assert!(!dns_subdomain(""));
        assert!(!dns_subdomain(&"a".repeat(254)));
        assert!(qualified_name("gatekeeper_internal_match_kinds"));
        assert!(qualified_name("example.com/x"));
        assert!(!qualified_name("_leading"));
        assert!(!qualified_name(&"a".repeat(64)));
        assert!(cel_identifier("anyObject"));
        assert!(!cel_identifier("1x"));
        assert!(dns_label("v1beta1"));
    }
}
