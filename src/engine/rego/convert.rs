//! Conversions between JSON documents and regorus values, and reading `violation` back.
//!
//! The review is converted once per request, but that one conversion used to cost more than
//! evaluating a simple template: `regorus::Value::from(serde_json::Value)` takes the JSON by
//! value (so the caller deep-copied the whole request first) and then runs it through serde's
//! deserializer. Walking the borrowed JSON directly needs no copy. (Sharing one string among
//! equal object keys was tried too: hashing the keys cost more than the allocations saved.)

use std::collections::BTreeMap;

use regorus::Value as RValue;
use serde_json::Value;

use super::{EvalInput, Violation};

/// The review converted to a Rego value once per request and shared by every constraint
/// that reads it: converting a large Pod costs far more than evaluating most rules.
#[derive(Debug)]
pub struct RegoInput {
    /// `input.review`: the AdmissionRequest document.
    pub(super) review: RValue,
    /// `data.inventory`, converted only when a referential template asks for it.
    inventory: std::cell::OnceCell<RValue>,
}

impl RegoInput {
    pub(super) fn of<'i>(input: &'i EvalInput<'_>) -> &'i RegoInput {
        input.rego_review.get_or_init(|| RegoInput {
            review: to_rego(&input.review.request),
            inventory: std::cell::OnceCell::new(),
        })
    }

    pub(super) fn inventory(&self, inventory: &Value) -> &RValue {
        self.inventory.get_or_init(|| to_rego(inventory))
    }
}

/// A JSON document as a Rego value, equal to what `regorus::Value::from(v.clone())` gives:
/// integers that fit 64 bits stay integers, other numbers become floats (JSON numbers here
/// never exceed f64, since serde_json's `arbitrary_precision` is off), objects are frozen
/// sorted maps and strings reference-counted, so later clones are cheap.
pub(crate) fn to_rego(v: &Value) -> RValue {
    match v {
        Value::Null => RValue::Null,
        Value::Bool(b) => RValue::Bool(*b),
        Value::Number(n) => number(n),
        Value::String(s) => RValue::from(s.as_str()),
        Value::Array(items) => RValue::from(items.iter().map(to_rego).collect::<Vec<_>>()),
        Value::Object(map) => {
            let entries: BTreeMap<RValue, RValue> = map
                .iter()
                .map(|(k, v)| (RValue::from(k.as_str()), to_rego(v)))
                .collect();
            RValue::from(entries)
        }
    }
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

/// A JSON number as a regorus number: integers that fit 64 bits stay integers, the rest
/// become floats. Shared with the compiled path, so both read numbers alike.
pub(crate) fn number(n: &serde_json::Number) -> RValue {
    if let Some(u) = n.as_u64() {
        RValue::from(u)
    } else if let Some(i) = n.as_i64() {
        RValue::from(i)
    } else {
        // Every serde_json number without arbitrary precision is u64, i64 or a finite
        // f64, so this arm always has a float.
        n.as_f64().map_or(RValue::Null, RValue::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The reference conversion this module replaces.
    fn by_serde(v: &Value) -> RValue {
        RValue::from(v.clone())
    }

    #[test]
    fn same_value_as_the_serde_conversion() {
        let doc = json!({
            "uid": "u-1",
            "object": {
                "spec": {"containers": [
                    {"name": "a", "image": "nginx", "resources": {"limits": {"cpu": "1"}}},
                    {"name": "b", "image": "x", "ports": [{"containerPort": 80}]},
                ]},
                "n": [0, -3, 18446744073709551615u64, -9223372036854775808i64, 2.5, 1e300, -0.0],
                "z": null, "t": true, "f": false, "e": {}, "a": [], "s": "",
            },
            "b": 1, "a": 2,
        });
        let ours = to_rego(&doc);
        assert_eq!(ours, by_serde(&doc));
        assert_eq!(to_json(&ours), doc);
        for scalar in [json!(null), json!(7), json!(-7), json!(0.125), json!("x")] {
            assert_eq!(to_rego(&scalar), by_serde(&scalar));
        }
    }

    #[test]
    fn violations_are_read_sorted() {
        let set = to_rego(&json!([
            {"msg": "b", "details": {"k": 1}},
            {"msg": "a"},
            {"msg": 3},
        ]));
        let got = violations(&set);
        let msgs: Vec<&str> = got.iter().map(|v| v.msg.as_str()).collect();
        assert_eq!(msgs, ["3", "a", "b"]);
        assert_eq!(got[2].details, Some(json!({"k": 1})));
        assert!(violations(&RValue::Undefined).is_empty());
    }
}
