//! A `K8sNativeValidation` template as a ValidatingAdmissionPolicy, shaped as Gatekeeper
//! generates it: named `gatekeeper-<template name>`, `paramKind` the template's constraint
//! kind in `constraints.gatekeeper.sh/v1beta1`, `matchConstraints` every resource on CREATE
//! and UPDATE (what Gatekeeper's and portcullis's webhooks are sent), the template's own
//! match conditions followed by the ones for the constraint's `spec.match`
//! ([`super::conditions`]) and for Config's webhook exemptions, the variables
//! `anyObject` and `params` before the template's own, its validations and its
//! `failurePolicy` (`Fail` when absent).

use serde_json::{json, Map, Value};

use super::conditions;
use super::functions;
use crate::engine::cel::ENGINE_NAME;
use crate::policy::ConstraintTemplate;

/// Version of the constraints a policy reads as its parameters.
pub const PARAM_API_VERSION: &str = "constraints.gatekeeper.sh/v1beta1";

/// The policy name of a template (also the binding's `policyName`).
pub fn policy_name(template_name: &str) -> String {
    format!("gatekeeper-{template_name}")
}

/// The ValidatingAdmissionPolicy of `template`, or why it cannot be one.
/// `exempt_namespaces` are Config's namespaces exempt from the webhook;
/// `kubernetes` the oldest API server (major, minor) the policy must load on.
pub fn policy(
    template: &ConstraintTemplate,
    exempt_namespaces: &[String],
    kubernetes: (u32, u32),
) -> Result<Value, String> {
    let Some(block) = template.target.code_for(ENGINE_NAME) else {
        let target = &template.target;
        let other = if target.code_for("Native").is_some() {
            "its Native code runs only in the webhook"
        } else if target.rego.is_some() || target.code_for("Rego").is_some() {
            "its Rego code runs only in the webhook"
        } else {
            "it has no code for the admission target"
        };
        return Err(format!("has no {ENGINE_NAME} (CEL) code; {other}"));
    };
    let source = block
        .source
        .as_object()
        .ok_or_else(|| format!("its {ENGINE_NAME} source is not an object"))?;
    if source.get("generateVAP") == Some(&Value::Bool(false)) {
        return Err("opts out of ValidatingAdmissionPolicy generation (generateVAP: false)".into());
    }
    let list = |field: &str| -> Vec<Value> {
        source
            .get(field)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut match_conditions = Vec::new();
    for c in list("matchCondition")
        .into_iter()
        .chain(list("matchConditions"))
    {
        match_conditions.push(named(&c)?);
    }
    for (name, expression) in [
        (
            "gatekeeper_internal_match_excluded_namespaces",
            conditions::excluded_namespaces(),
        ),
        (
            "gatekeeper_internal_match_namespaces",
            conditions::namespaces(),
        ),
        ("gatekeeper_internal_match_name", conditions::name()),
        ("gatekeeper_internal_match_kinds", conditions::kinds()),
        ("gatekeeper_internal_match_scope", conditions::scope()),
    ] {
        match_conditions.push(json!({"name": name, "expression": expression}));
    }
    if !exempt_namespaces.is_empty() {
        match_conditions.push(json!({
            "name": "gatekeeper_internal_match_global_excluded_namespaces",
            "expression": conditions::exempt_namespaces(exempt_namespaces),
        }));
    }
    let mut variables = vec![
        json!({"name": "anyObject", "expression": conditions::ANY_OBJECT}),
        json!({"name": "params", "expression": conditions::PARAMS}),
    ];
    for v in list("variables") {
        variables.push(named(&v)?);
    }
    let mut validations = Vec::new();
    for v in list("validations") {
        validations.push(validation(&v)?);
    }
    if validations.is_empty() {
        return Err("has no validations (a ValidatingAdmissionPolicy needs one)".into());
    }
    let failure_policy = match source.get("failurePolicy") {
        None | Some(Value::Null) => "Fail",
        Some(Value::String(p)) if p == "Fail" || p == "Ignore" => p.as_str(),
        Some(other) => return Err(format!("has an unknown failurePolicy {other}")),
    };
    let spec = json!({
        "failurePolicy": failure_policy,
        "paramKind": {"apiVersion": PARAM_API_VERSION, "kind": template.kind},
        "matchConstraints": {
            "resourceRules": [{
                "apiGroups": ["*"],
                "apiVersions": ["*"],
                "resources": ["*"],
                "operations": ["CREATE", "UPDATE"]
            }]
        },
        "matchConditions": match_conditions,
        "variables": variables,
        "validations": validations,
    });
    functions::check_spec(&spec, kubernetes)?;
    // The whole spec must also compile on portcullis's own engine: what the webhook runs.
    crate::engine::cel::AdmissionPolicyProgram::compile(&spec)?;
    Ok(json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": policy_name(&template.name)},
        "spec": spec,
    }))
}

/// A `{name, expression}` entry, with nothing else carried over.
fn named(entry: &Value) -> Result<Value, String> {
    let name = entry.get("name").and_then(Value::as_str).unwrap_or("");
    let expression = entry
        .get("expression")
        .and_then(Value::as_str)
        .unwrap_or("");
    if name.is_empty() || expression.trim().is_empty() {
        return Err(format!(
            "has a variable or match condition without a name or expression: {entry}"
        ));
    }
    Ok(json!({"name": name, "expression": expression}))
}

/// A validation with its `expression` and, when set, `message` and `messageExpression`.
fn validation(entry: &Value) -> Result<Value, String> {
    let mut out = Map::new();
    for field in ["expression", "message", "messageExpression"] {
        if let Some(text) = entry
            .get(field)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            out.insert(field.into(), Value::String(text.to_string()));
        }
    }
    if !out.contains_key("expression") {
        return Err(format!("has a validation without an expression: {entry}"));
    }
    Ok(Value::Object(out))
}
