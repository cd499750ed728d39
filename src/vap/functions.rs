//! Functions portcullis's CEL offers that the API server's CEL may lack.
//!
//! portcullis's environment is the CEL standard library, the strings extension, cel-go's
//! lists extension and Kubernetes' list and regex libraries. The API server has the
//! strings extension at version 2 (no `reverse` on strings) and adds the lists extension
//! only in Kubernetes 1.34. An expression calling one of these would be refused when the
//! policy is created on an older API server, so the exporter refuses it first, naming the
//! function and the release that has it.

use serde_json::Value;

/// Functions the API server lacks before a release: (name, major, minor).
const INTRODUCED: [(&str, u32, u32); 7] = [
    ("slice", 1, 34),
    ("flatten", 1, 34),
    ("distinct", 1, 34),
    ("sort", 1, 34),
    ("sortBy", 1, 34),
    ("lists.range", 1, 34),
    // A list's `reverse` comes with the lists extension; a string's never does (the API
    // server's strings extension stops at version 2).
    ("reverse", 1, 34),
];

/// The oldest release with ValidatingAdmissionPolicy v1, the version the exporter writes.
pub const DEFAULT_KUBERNETES: (u32, u32) = (1, 30);

/// Parse `MAJOR.MINOR` (`1.30`, also `v1.30` or `1.30.2`).
pub fn parse_version(s: &str) -> Result<(u32, u32), String> {
    let t = s.trim().trim_start_matches('v');
    let mut parts = t.split('.');
    let number = |p: Option<&str>| p.and_then(|x| x.parse::<u32>().ok());
    match (number(parts.next()), number(parts.next())) {
        (Some(major), Some(minor)) => Ok((major, minor)),
        _ => Err(format!("{s:?} is not a Kubernetes version (e.g. 1.30)")),
    }
}

/// Refuse a policy spec whose expressions call a function the API server of release
/// `kubernetes` lacks.
pub fn check_spec(spec: &Value, kubernetes: (u32, u32)) -> Result<(), String> {
    let mut expressions: Vec<(String, &str)> = Vec::new();
    for field in ["matchConditions", "variables"] {
        for (i, entry) in list(spec, field).iter().enumerate() {
            if let Some(e) = entry.get("expression").and_then(Value::as_str) {
                expressions.push((format!("{field}[{i}]"), e));
            }
        }
    }
    for (i, v) in list(spec, "validations").iter().enumerate() {
        for field in ["expression", "messageExpression"] {
            if let Some(e) = v.get(field).and_then(Value::as_str) {
                expressions.push((format!("validations[{i}].{field}"), e));
            }
        }
    }
    for (place, expression) in expressions {
        let called = crate::engine::cel::called_functions(expression)
            .map_err(|e| format!("{place} does not parse: {e}"))?;
        for (name, major, minor) in INTRODUCED {
            if called.contains(name) && kubernetes < (major, minor) {
                return Err(format!(
                    "{place} calls {name}(), which the API server's CEL has only from Kubernetes \
                     {major}.{minor} (target {}.{}; see --kubernetes-version)",
                    kubernetes.0, kubernetes.1
                ));
            }
        }
    }
    Ok(())
}

fn list<'a>(spec: &'a Value, field: &str) -> &'a [Value] {
    spec.get(field)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_parse() {
        assert_eq!(parse_version("1.30"), Ok((1, 30)));
        assert_eq!(parse_version("v1.34.2"), Ok((1, 34)));
        assert!(parse_version("one").is_err());
        assert!(parse_version("1").is_err());
    }

    #[test]
    fn list_extension_functions_need_1_34() {
        let spec = json!({"validations": [
            {"expression": "true", "messageExpression": "object.spec.ports.map(p, p.name).sort().join(',')"}
        ]});
        let err = check_spec(&spec, (1, 30)).expect_err("sort needs 1.34");
        assert!(
            err.contains("validations[0].messageExpression calls sort()"),
            "{err}"
        );
        assert!(check_spec(&spec, (1, 34)).is_ok());
        let plain = json!({"variables": [{"name": "x", "expression": "object.metadata.name.lowerAscii()"}]});
        assert!(check_spec(&plain, (1, 30)).is_ok());
    }
}
