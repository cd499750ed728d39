//! `ModifySet`: treat a list of plain values as a set and merge values into it or prune
//! values out of it, leaving every other element and the existing order alone.
//!
//! Used where Assign would clobber what users wrote, e.g. adding a capability to
//! `securityContext.capabilities.add` or dropping one from an args list.

use serde_json::{Map, Value};

use super::path::Path;
use super::walk::Setter;

/// `parameters.operation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    /// Append each missing value, in the order given (the default).
    Merge,
    /// Remove every element equal to one of the values.
    Prune,
}

/// The parsed parameters of a ModifySet.
#[derive(Debug, Clone, PartialEq)]
pub struct ModifySetSpec {
    /// Merge or prune.
    pub op: SetOp,
    /// `parameters.values.fromList`.
    pub values: Vec<Value>,
}

impl ModifySetSpec {
    /// Validate the parameters against the location, which must end at a plain field.
    pub fn parse(params: &Value, location: &Path) -> Result<Self, String> {
        if location.has_metadata_root() {
            return Err("ModifySet can't change metadata".to_string());
        }
        if location.nodes.last().is_some_and(|n| n.is_list()) {
            return Err(
                "the final node of a ModifySet location cannot be a keyed list selector"
                    .to_string(),
            );
        }
        let op = match params.get("operation") {
            None | Some(Value::Null) => SetOp::Merge,
            Some(Value::String(s)) if s == "merge" => SetOp::Merge,
            Some(Value::String(s)) if s == "prune" => SetOp::Prune,
            Some(other) => {
                return Err(format!(
                    "spec.parameters.operation must be merge or prune, got {other}"
                ))
            }
        };
        let values = match params.get("values").and_then(|v| v.get("fromList")) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(_) => return Err("spec.parameters.values.fromList must be a list".to_string()),
        };
        if params
            .get("values")
            .is_some_and(|v| !v.is_null() && !v.is_object())
        {
            return Err("spec.parameters.values must be an object".to_string());
        }
        Ok(ModifySetSpec { op, values })
    }
}

impl Setter for ModifySetSpec {
    fn set(&self, obj: &mut Map<String, Value>, key: &str, commit: bool) -> Result<bool, String> {
        let Some(current) = obj.get_mut(key) else {
            // A missing list becomes the values themselves when merging, as upstream.
            if self.op == SetOp::Merge {
                if commit {
                    obj.insert(key.to_string(), Value::Array(self.values.clone()));
                }
                return Ok(true);
            }
            return Ok(false);
        };
        let Value::Array(items) = current else {
            return Err(format!(
                "{key:?} holds {current}, not a list of values: it cannot be treated as a set"
            ));
        };
        // Both tests look at the list as it was: a value pushed earlier in the same merge
        // cannot change whether the merge as a whole changes something.
        match self.op {
            SetOp::Merge => {
                let changed = self.values.iter().any(|v| !items.contains(v));
                if changed && commit {
                    for v in &self.values {
                        if !items.contains(v) {
                            items.push(v.clone());
                        }
                    }
                }
                Ok(changed)
            }
            SetOp::Prune => {
                let changed = items.iter().any(|e| self.values.contains(e));
                if changed && commit {
                    items.retain(|e| !self.values.contains(e));
                }
                Ok(changed)
            }
        }
    }

    fn list_element(&self) -> Option<&Value> {
        None
    }

    /// A merge writes at most every value (pruning writes nothing new, but the list it
    /// leaves is still counted as if it did).
    fn weight(&self) -> usize {
        self.values
            .iter()
            .map(|v| super::walk::json_len(v) + 1)
            .sum()
    }
}
