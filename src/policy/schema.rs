//! Validation of constraint parameters against a template's `openAPIV3Schema`
//! (the structural-schema subset Kubernetes CRDs use).

use serde_json::Value;

/// Check `value` against `schema`; the error names the offending field path.
pub fn validate(schema: &Value, value: &Value) -> Result<(), String> {
    let _ = (schema, value);
    todo!("schema: validate")
}
