//! Validation of constraint parameters against a template's `openAPIV3Schema`
//! (the structural-schema subset Kubernetes CRDs use).
//!
//! Gatekeeper turns each template's schema into a CRD, so the API server checks
//! `spec.parameters` before Gatekeeper ever sees them. File mode has no API server, so this
//! module repeats the checks that matter: `type`, `properties`, `items`,
//! `additionalProperties`, `required`, `enum`, `nullable`, `pattern`, the numeric, length and
//! count bounds, `x-kubernetes-int-or-string`, `x-kubernetes-preserve-unknown-fields` and
//! `allOf`/`anyOf`/`oneOf`/`not`. Properties the schema does not list are accepted, because
//! the API server prunes them instead of rejecting the object; refusing them would break
//! policies that work on Gatekeeper. Runs at load time only, so clarity beats speed here.

use regex::Regex;
use serde_json::{Map, Number, Value};

/// Check `value` against `schema`; the error names the offending field path, e.g.
/// `repos[1]: expected string, got number`. A schema without `type` accepts any type.
pub fn validate(schema: &Value, value: &Value) -> Result<(), String> {
    check(schema, value, "")
}

fn fail(path: &str, msg: impl std::fmt::Display) -> Result<(), String> {
    if path.is_empty() {
        Err(msg.to_string())
    } else {
        Err(format!("{path}: {msg}"))
    }
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// YAML and JSON may spell a whole number as `3.0`; Kubernetes accepts that as an integer.
fn is_integer(n: &Number) -> bool {
    n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
}

/// Numeric-aware JSON equality, so `enum: [1]` accepts `1.0`.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn flag(schema: &Map<String, Value>, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn bound(schema: &Map<String, Value>, key: &str) -> Option<f64> {
    schema.get(key).and_then(Value::as_f64)
}

fn count(schema: &Map<String, Value>, key: &str) -> Option<u64> {
    schema.get(key).and_then(Value::as_u64)
}

fn check(schema: &Value, value: &Value, path: &str) -> Result<(), String> {
    // `true`, `{}` and anything that is not a schema object accept every value.
    let Some(s) = schema.as_object() else {
        return Ok(());
    };
    if value.is_null() && (flag(s, "nullable") || !s.contains_key("type")) {
        return Ok(());
    }
    if flag(s, "x-kubernetes-int-or-string") {
        let ok =
            matches!(value, Value::String(_)) || matches!(value, Value::Number(n) if is_integer(n));
        if !ok {
            return fail(
                path,
                format!("expected integer or string, got {}", kind_of(value)),
            );
        }
    } else if let Some(ty) = s.get("type").and_then(Value::as_str) {
        let ok = match (ty, value) {
            ("object", Value::Object(_))
            | ("array", Value::Array(_))
            | ("string", Value::String(_))
            | ("boolean", Value::Bool(_))
            | ("number", Value::Number(_)) => true,
            ("integer", Value::Number(n)) => is_integer(n),
            ("object" | "array" | "string" | "boolean" | "number" | "integer", _) => false,
            // A type Kubernetes does not know: the CRD itself would be refused; be lenient.
            _ => true,
        };
        if !ok {
            return fail(path, format!("expected {ty}, got {}", kind_of(value)));
        }
    }
    if let Some(options) = s.get("enum").and_then(Value::as_array) {
        if !options.iter().any(|o| same(o, value)) {
            let listed: Vec<String> = options.iter().map(Value::to_string).collect();
            return fail(
                path,
                format!("{value} is not one of [{}]", listed.join(", ")),
            );
        }
    }
    match value {
        Value::String(text) => check_string(s, text, path)?,
        Value::Number(n) => check_number(s, n, path)?,
        Value::Array(items) => check_array(s, items, path)?,
        Value::Object(fields) => check_object(s, fields, path)?,
        Value::Null | Value::Bool(_) => {}
    }
    check_combinators(s, value, path)
}

fn check_string(s: &Map<String, Value>, text: &str, path: &str) -> Result<(), String> {
    sizes(
        s,
        text.chars().count(),
        ("minLength", "maxLength", "characters"),
        path,
    )?;
    if let Some(pattern) = s.get("pattern").and_then(Value::as_str) {
        match Regex::new(pattern) {
            Err(e) => return fail(path, format!("schema pattern {pattern:?} is invalid: {e}")),
            Ok(re) if !re.is_match(text) => {
                return fail(path, format!("{text:?} does not match pattern {pattern:?}"))
            }
            Ok(_) => {}
        }
    }
    Ok(())
}

/// The shared `minX`/`maxX` size check of strings, arrays and objects.
fn sizes(
    s: &Map<String, Value>,
    len: usize,
    keys: (&str, &str, &str),
    path: &str,
) -> Result<(), String> {
    let (min_key, max_key, noun) = keys;
    let len = len as u64;
    if let Some(min) = count(s, min_key).filter(|m| len < *m) {
        return fail(path, format!("must have at least {min} {noun}, got {len}"));
    }
    if let Some(max) = count(s, max_key).filter(|m| len > *m) {
        return fail(path, format!("must have at most {max} {noun}, got {len}"));
    }
    Ok(())
}

fn check_number(s: &Map<String, Value>, n: &Number, path: &str) -> Result<(), String> {
    let Some(x) = n.as_f64() else {
        return Ok(());
    };
    if let Some(min) = bound(s, "minimum") {
        if flag(s, "exclusiveMinimum") && x <= min {
            return fail(path, format!("must be greater than {min}, got {n}"));
        }
        if x < min {
            return fail(path, format!("must be at least {min}, got {n}"));
        }
    }
    if let Some(max) = bound(s, "maximum") {
        if flag(s, "exclusiveMaximum") && x >= max {
            return fail(path, format!("must be less than {max}, got {n}"));
        }
        if x > max {
            return fail(path, format!("must be at most {max}, got {n}"));
        }
    }
    if let Some(step) = bound(s, "multipleOf").filter(|m| *m > 0.0) {
        if (x / step).fract() != 0.0 {
            return fail(path, format!("must be a multiple of {step}, got {n}"));
        }
    }
    Ok(())
}

fn check_array(s: &Map<String, Value>, items: &[Value], path: &str) -> Result<(), String> {
    sizes(s, items.len(), ("minItems", "maxItems", "items"), path)?;
    if let Some(item_schema) = s.get("items") {
        for (i, item) in items.iter().enumerate() {
            check(item_schema, item, &format!("{path}[{i}]"))?;
        }
    }
    Ok(())
}

fn check_object(
    s: &Map<String, Value>,
    fields: &Map<String, Value>,
    path: &str,
) -> Result<(), String> {
    if let Some(required) = s.get("required").and_then(Value::as_array) {
        for key in required.iter().filter_map(Value::as_str) {
            if !fields.contains_key(key) {
                return fail(path, format!("missing required field {key:?}"));
            }
        }
    }
    sizes(
        s,
        fields.len(),
        ("minProperties", "maxProperties", "properties"),
        path,
    )?;
    let properties = s.get("properties").and_then(Value::as_object);
    // `additionalProperties: false` is refused by the API server in CRDs, and `true` means
    // anything; only a schema there constrains the unlisted fields.
    let extra = s.get("additionalProperties").filter(|v| v.is_object());
    for (key, field) in fields {
        match (properties.and_then(|p| p.get(key)), extra) {
            (Some(field_schema), _) | (None, Some(field_schema)) => {
                check(field_schema, field, &child(path, key))?
            }
            // Unknown fields are pruned by the API server, not rejected.
            (None, None) => {}
        }
    }
    Ok(())
}

fn check_combinators(s: &Map<String, Value>, value: &Value, path: &str) -> Result<(), String> {
    let branches = |key: &str| s.get(key).and_then(Value::as_array).map(Vec::as_slice);
    if let Some(all) = branches("allOf") {
        for branch in all {
            check(branch, value, path)?;
        }
    }
    if let Some(any) = branches("anyOf") {
        let mut first_error = None;
        for branch in any {
            match check(branch, value, path) {
                Ok(()) => {
                    first_error = None;
                    break;
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(format!("{e} (and no other anyOf branch matches)"));
        }
    }
    if let Some(one) = branches("oneOf") {
        let passing = one.iter().filter(|b| check(b, value, path).is_ok()).count();
        if passing != 1 {
            return fail(
                path,
                format!("must match exactly one oneOf branch, matches {passing}"),
            );
        }
    }
    if let Some(not) = s.get("not") {
        if check(not, value, path).is_ok() {
            return fail(path, "must not match the `not` schema");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
