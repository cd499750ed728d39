//! `Assign`: set the value at a location outside `metadata`, creating what is missing.
//!
//! The value is either a constant (`parameters.assign.value`) or the object's own name or
//! namespace (`parameters.assign.fromMetadata.field`). A location ending in `[key: value]`
//! replaces or appends a whole list element, which must carry the same key value.
//! `parameters.assignIf` (`in` / `notIn`) is the value test of Gatekeeper before v3.7; it
//! was removed upstream because it lets mutators oscillate, so portcullis keeps it only
//! for old policies and relies on its convergence bound to report such loops.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::path::{Node, Path};
use super::walk::Setter;
use super::Context;

/// Where an assigned value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueSource {
    /// A constant.
    Value(Value),
    /// The object's `metadata.name`.
    Name,
    /// The object's `metadata.namespace`.
    Namespace,
}

impl ValueSource {
    /// Read `parameters.assign`: exactly one of `value`, `fromMetadata`, `externalData`.
    pub fn parse(params: &Value) -> Result<Self, String> {
        let Some(assign) = params.get("assign").filter(|v| v.is_object()) else {
            return Err("spec.parameters.assign is required".to_string());
        };
        let value = assign.get("value");
        let from_meta = assign.get("fromMetadata").filter(|v| !v.is_null());
        let external = assign.get("externalData").filter(|v| !v.is_null());
        let set = [value.is_some(), from_meta.is_some(), external.is_some()];
        match set.iter().filter(|b| **b).count() {
            0 => {
                return Err(
                    "spec.parameters.assign must set one of value, fromMetadata or externalData"
                        .to_string(),
                )
            }
            1 => {}
            _ => {
                return Err(
                    "spec.parameters.assign must set only one of value, fromMetadata \
                     or externalData"
                        .to_string(),
                )
            }
        }
        if external.is_some() {
            return Err(
                "spec.parameters.assign.externalData is not supported: portcullis \
                 never calls external providers on the admission path"
                    .to_string(),
            );
        }
        if let Some(fm) = from_meta {
            return match fm.get("field").and_then(Value::as_str) {
                Some("name") => Ok(ValueSource::Name),
                Some("namespace") => Ok(ValueSource::Namespace),
                other => Err(format!(
                    "spec.parameters.assign.fromMetadata.field {:?} is not recognized \
                     (name, namespace)",
                    other.unwrap_or("")
                )),
            };
        }
        Ok(ValueSource::Value(value.cloned().unwrap_or(Value::Null)))
    }

    /// The value to assign to this object. A constant is borrowed, not copied: the setter
    /// is built for every mutator on every pass, and most passes assign nothing.
    pub fn resolve(&self, ctx: &Context) -> Cow<'_, Value> {
        match self {
            ValueSource::Value(v) => Cow::Borrowed(v),
            ValueSource::Name => Cow::Owned(Value::String(ctx.name.clone())),
            ValueSource::Namespace => Cow::Owned(Value::String(ctx.namespace.clone())),
        }
    }
}

/// The parsed parameters of an Assign.
#[derive(Debug, Clone, PartialEq)]
pub struct AssignSpec {
    /// The value to set.
    pub source: ValueSource,
    /// `assignIf.in`: mutate only when the current value is one of these.
    pub only_if_in: Option<Vec<Value>>,
    /// `assignIf.notIn`: never mutate when the current value is one of these.
    pub not_in: Vec<Value>,
}

impl AssignSpec {
    /// Validate the parameters against the location.
    pub fn parse(params: &Value, location: &Path) -> Result<Self, String> {
        if location.has_metadata_root() {
            return Err(
                "Assign can't change metadata: use AssignMetadata for labels and annotations"
                    .to_string(),
            );
        }
        super::common::check_key_not_changed(location)?;
        let source = ValueSource::parse(params)?;
        let last = location.nodes.last();
        if let Some(Node::List { key, value }) = last {
            let Some(want) = value else {
                return Err("can't assign to a globbed list element".to_string());
            };
            let ValueSource::Value(v) = &source else {
                return Err("cannot assign a metadata field to a list element".to_string());
            };
            let Some(obj) = v.as_object() else {
                return Err(format!(
                    "only objects can be assigned to keyed list elements, got {v}"
                ));
            };
            if !obj.get(key).is_some_and(|k| want.matches(k)) {
                return Err(format!(
                    "assigned object must have {key}: {} like its location, got {}",
                    want.to_json(),
                    obj.get(key).cloned().unwrap_or(Value::Null)
                ));
            }
        }
        let (only_if_in, not_in) = match params.get("assignIf") {
            None | Some(Value::Null) => (None, Vec::new()),
            Some(Value::Object(m)) => {
                if last.is_some_and(Node::is_list) {
                    return Err(
                        "assignIf cannot test a location ending in a list selector".to_string()
                    );
                }
                let list = |k: &str| match m.get(k) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::Array(a)) => Ok(Some(a.clone())),
                    Some(_) => Err(format!("spec.parameters.assignIf.{k} must be a list")),
                };
                (
                    list("in")?.filter(|a| !a.is_empty()),
                    list("notIn")?.unwrap_or_default(),
                )
            }
            Some(_) => return Err("spec.parameters.assignIf must be an object".to_string()),
        };
        Ok(AssignSpec {
            source,
            only_if_in,
            not_in,
        })
    }

    /// The setter for one object.
    pub fn setter(&self, ctx: &Context) -> AssignSetter<'_> {
        AssignSetter {
            spec: self,
            value: self.source.resolve(ctx),
        }
    }
}

/// Sets a resolved value, after the `assignIf` test.
pub struct AssignSetter<'a> {
    spec: &'a AssignSpec,
    value: Cow<'a, Value>,
}

impl AssignSetter<'_> {
    /// The value test: a missing value never satisfies `in` and never violates `notIn`.
    fn value_ok(&self, current: Option<&Value>) -> bool {
        if let Some(allowed) = &self.spec.only_if_in {
            match current {
                Some(c) if allowed.contains(c) => {}
                _ => return false,
            }
        }
        !current.is_some_and(|c| self.spec.not_in.contains(c))
    }
}

impl Setter for AssignSetter<'_> {
    fn set(&self, obj: &mut Map<String, Value>, key: &str, commit: bool) -> Result<bool, String> {
        let current = obj.get(key);
        if !self.value_ok(current) || current == Some(self.value.as_ref()) {
            return Ok(false);
        }
        if commit {
            obj.insert(key.to_string(), self.value.as_ref().clone());
        }
        Ok(true)
    }

    fn list_element(&self) -> Option<&Value> {
        Some(self.value.as_ref())
    }

    fn weight(&self) -> usize {
        super::walk::json_len(&self.value)
    }
}
