//! Conversions between serde_json documents and regorus values, and the reading of a
//! `violation` result into [`Violation`]s.

use regorus::Value as RValue;
use serde_json::Value;

use crate::engine::Violation;

/// A JSON document as a Rego value (numbers keep their precision; objects, arrays and
/// strings become reference-counted so later clones are cheap).
pub(super) fn to_rego(v: &Value) -> RValue {
    RValue::from(v.clone())
}

/// A Rego value back as JSON (sets become arrays, undefined becomes null).
pub(super) fn to_json(v: &RValue) -> Value {
    match v {
        RValue::Undefined => Value::Null,
        other => serde_json::to_value(other).unwrap_or(Value::Null),
    }
}

/// Read the value of `violation` (a set of `{msg, details}` objects, or undefined when no
/// rule body held) into violations, ordered by message for stable output.
pub(super) fn violations(result: &RValue) -> Vec<Violation> {
    let mut out: Vec<Violation> = match result {
        RValue::Set(set) => set.iter().map(one).collect(),
        RValue::Array(arr) => arr.iter().map(one).collect(),
        _ => Vec::new(),
    };
    out.sort_by(|a, b| a.msg.cmp(&b.msg));
    out
}

/// One element of `violation`. Gatekeeper requires `msg` to be a string; anything else is
/// shown in its JSON form rather than dropped, so the violation still counts.
fn one(item: &RValue) -> Violation {
    let msg = match &item["msg"] {
        RValue::String(s) => s.to_string(),
        RValue::Undefined => String::new(),
        other => to_json(other).to_string(),
    };
    let details = match &item["details"] {
        RValue::Undefined => None,
        d => Some(to_json(d)),
    };
    Violation { msg, details }
}
