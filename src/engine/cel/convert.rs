//! Conversions between JSON documents and CEL values.
//!
//! Objects arrive as `serde_json::Value`; CEL programs read `cel` values. The conversion
//! builds the crate's own map, list and scalar types directly (no detour through
//! `cel::Value`), once per request for the review and once per constraint for parameters.
//! JSON integers become CEL `int` as in Kubernetes (only integers above `i64::MAX` become
//! `uint`), so `port.hostPort < variables.params.min` compares like with like.

use std::collections::HashMap;

use cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt,
};
use cel::common::value::Val;
use serde_json::Value;

/// A boxed CEL `null`.
pub(super) fn null() -> Box<dyn Val> {
    Box::new(CelNull)
}

/// Convert a JSON document into an owned CEL value.
pub(super) fn json_to_val(json: &Value) -> Box<dyn Val> {
    match json {
        Value::Null => null(),
        Value::Bool(b) => Box::new(CelBool::from(*b)),
        Value::Number(n) => number_to_val(n),
        Value::String(s) => Box::new(CelString::from(s.clone())),
        Value::Array(items) => {
            let list: Vec<Box<dyn Val>> = items.iter().map(json_to_val).collect();
            Box::new(CelList::from(list))
        }
        Value::Object(map) => {
            let mut out: HashMap<CelMapKey<'static>, Box<dyn Val>> =
                HashMap::with_capacity(map.len());
            for (k, v) in map {
                out.insert(CelMapKey::from(k.clone()), json_to_val(v));
            }
            Box::new(CelMap::from(out))
        }
    }
}

/// The admission request as CEL sees it under `request`: every field but the objects, which
/// are bound separately as `object` and `oldObject`.
pub(super) fn request_to_val(request: &Value) -> Box<dyn Val> {
    match request.as_object() {
        Some(map) => {
            let mut out: HashMap<CelMapKey<'static>, Box<dyn Val>> =
                HashMap::with_capacity(map.len());
            for (k, v) in map {
                if k != "object" && k != "oldObject" {
                    out.insert(CelMapKey::from(k.clone()), json_to_val(v));
                }
            }
            Box::new(CelMap::from(out))
        }
        None => json_to_val(request),
    }
}

fn number_to_val(n: &serde_json::Number) -> Box<dyn Val> {
    if let Some(i) = n.as_i64() {
        Box::new(CelInt::from(i))
    } else if let Some(u) = n.as_u64() {
        Box::new(CelUInt::from(u))
    } else {
        Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN)))
    }
}
