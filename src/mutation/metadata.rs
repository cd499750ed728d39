//! `AssignMetadata`: add one label or annotation, never touching a key already present.
//!
//! Gatekeeper restricts it to `metadata.labels.<key>` and `metadata.annotations.<key>`
//! with a string value (or the object's name/namespace), and applies it to every kind its
//! `match` selects: it has no `applyTo` because labels and annotations exist on all kinds.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::assign::ValueSource;
use super::path::{Node, Path};
use super::walk::{Condition, Setter, Tester};
use super::Context;

/// The parsed parameters of an AssignMetadata.
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataSpec {
    /// The value to set.
    pub source: ValueSource,
}

impl MetadataSpec {
    /// Validate the location and value; returns the spec and its MustNotExist tester.
    pub fn parse(params: &Value, location: &Path) -> Result<(Self, Tester), String> {
        let ok = match location.nodes.as_slice() {
            [Node::Object(m), Node::Object(section), Node::Object(_)] => {
                m == "metadata" && (section == "labels" || section == "annotations")
            }
            _ => false,
        };
        if !ok {
            return Err(format!(
                "invalid location {:?}: AssignMetadata may only set metadata.labels.<key> or \
                 metadata.annotations.<key>",
                location.to_string()
            ));
        }
        let source = ValueSource::parse(params)?;
        if let ValueSource::Value(v) = &source {
            if !v.is_string() {
                return Err(format!(
                    "spec.parameters.assign.value must be a string for AssignMetadata, got {v}"
                ));
            }
        }
        Ok((
            MetadataSpec { source },
            Tester::single(2, Condition::MustNotExist),
        ))
    }

    /// The setter for one object.
    pub fn setter(&self, ctx: &Context) -> MetadataSetter<'_> {
        MetadataSetter {
            value: self.source.resolve(ctx),
        }
    }
}

/// Sets the label or annotation (the tester has already ruled out an existing key).
pub struct MetadataSetter<'a> {
    value: Cow<'a, Value>,
}

impl Setter for MetadataSetter<'_> {
    fn set(&self, obj: &mut Map<String, Value>, key: &str, commit: bool) -> Result<bool, String> {
        if obj.contains_key(key) {
            return Ok(false);
        }
        if commit {
            obj.insert(key.to_string(), self.value.as_ref().clone());
        }
        Ok(true)
    }

    fn list_element(&self) -> Option<&Value> {
        None
    }

    fn weight(&self) -> usize {
        super::walk::json_len(&self.value)
    }
}
