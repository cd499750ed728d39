//! Unknown fields in a constraint, found the way the API server's strict field validation
//! finds them.
//!
//! kubectl applies with `fieldValidation=Strict`, so the API server refuses a constraint
//! with a field its CRD does not declare (`spec.match.kind` for `kinds`, a misspelt
//! parameter) with `strict decoding error: unknown field "spec.match.kind"`. File mode has
//! no API server; without this check a misspelt `kinds` would leave the match empty (every
//! kind) and a misspelt parameter would be silently ignored, so the constraint would
//! enforce something other than what its author wrote.
//!
//! The shape checked is the constraint CRD Gatekeeper generates from a template: Gatekeeper's
//! `spec.match` schema, `enforcementAction`, `scopedEnforcementActions`, `spec.parameters`
//! from the template's `openAPIV3Schema`, `status` open, and `metadata` as Kubernetes'
//! ObjectMeta. Parameters stay open where Gatekeeper's CRD keeps them open: a template
//! without a schema, a schema node marked `x-kubernetes-preserve-unknown-fields`, and
//! templates with `legacySchema` (the default of `v1beta1` and `v1alpha1` templates), whose
//! whole schema Gatekeeper marks so.

use std::sync::LazyLock;

use serde_json::{json, Map, Value};

use super::template::ConstraintTemplate;
use super::PolicyError;

/// At most this many unknown fields are named in one error (a careless file can have
/// thousands; the first few say what is wrong).
const MAX_REPORTED: usize = 20;

/// A `LabelSelector` as Gatekeeper's match schema declares it.
fn label_selector() -> Value {
    json!({
        "type": "object",
        "properties": {
            "matchExpressions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "key": {"type": "string"},
                        "operator": {"type": "string"},
                        "values": {
                            "type": "array",
                            "items": {"type": "string"},
                            "x-kubernetes-list-type": "atomic"
                        }
                    },
                    "required": ["key", "operator"]
                },
                "x-kubernetes-list-type": "atomic"
            },
            "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}
        },
        "x-kubernetes-map-type": "atomic"
    })
}

/// The fields of Kubernetes' ObjectMeta.
fn object_meta() -> Value {
    let string = json!({"type": "string"});
    let string_map = json!({"type": "object", "additionalProperties": {"type": "string"}});
    json!({
        "type": "object",
        "properties": {
            "name": string, "generateName": string, "namespace": string, "selfLink": string,
            "uid": string, "resourceVersion": string, "generation": {"type": "integer"},
            "creationTimestamp": {}, "deletionTimestamp": {},
            "deletionGracePeriodSeconds": {"type": "integer"},
            "labels": string_map, "annotations": string_map,
            "ownerReferences": {"type": "array", "items": {
                "type": "object",
                "properties": {
                    "apiVersion": string, "kind": string, "name": string, "uid": string,
                    "controller": {"type": "boolean"}, "blockOwnerDeletion": {"type": "boolean"}
                }
            }},
            "finalizers": {"type": "array", "items": string},
            "managedFields": {"type": "array", "items": {
                "type": "object", "x-kubernetes-preserve-unknown-fields": true
            }}
        }
    })
}

/// Gatekeeper's `spec.match` schema (the `match.gatekeeper.sh` definition it embeds in
/// every constraint CRD), with its patterns and enums: what the API server checks.
pub fn match_schema() -> Value {
    let glob = json!({"type": "string", "pattern": "^\\*?[-:a-z0-9]*\\*?$"});
    let globs = json!({"type": "array", "items": glob});
    let strings = json!({"type": "array", "items": {"type": "string"}});
    json!({
        "type": "object",
        "properties": {
            "kinds": {"type": "array", "items": {
                "type": "object",
                "properties": {"apiGroups": strings, "kinds": strings}
            }},
            "scope": {"type": "string"},
            "namespaces": globs,
            "excludedNamespaces": globs,
            "labelSelector": label_selector(),
            "namespaceSelector": label_selector(),
            "name": glob,
            "source": {"type": "string", "enum": ["All", "Generated", "Original"]}
        }
    })
}

/// The constraint CRD's schema with `spec.parameters` left open (checked against the
/// template's own schema in [`check_constraint`]).
static CONSTRAINT: LazyLock<Value> = LazyLock::new(|| {
    json!({
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": object_meta(),
            "spec": {
                "type": "object",
                "properties": {
                    "match": match_schema(),
                    "enforcementAction": {"type": "string"},
                    "scopedEnforcementActions": {"type": "array", "items": {
                        "type": "object",
                        "properties": {
                            "action": {"type": "string"},
                            "enforcementPoints": {"type": "array", "items": {
                                "type": "object",
                                "properties": {"name": {"type": "string"}}
                            }}
                        }
                    }},
                    "parameters": {"x-kubernetes-preserve-unknown-fields": true}
                }
            },
            "status": {"x-kubernetes-preserve-unknown-fields": true}
        }
    })
});

/// Refuse a constraint document with fields its CRD (made from `template`) does not
/// declare, naming them all at once as the API server does. Parameters are checked only
/// where the template closes them (a schema without `legacySchema`).
pub fn check_constraint(doc: &Value, template: &ConstraintTemplate) -> Result<(), PolicyError> {
    let mut unknown = Vec::new();
    unknown_fields(&CONSTRAINT, doc, "", &mut unknown);
    if let (Some(schema), Some(parameters)) = (
        template.schema.as_ref().filter(|_| !template.legacy_schema),
        doc.pointer("/spec/parameters"),
    ) {
        unknown_fields(schema, parameters, "spec.parameters", &mut unknown);
    }
    refuse(unknown)
}

fn refuse(mut unknown: Vec<String>) -> Result<(), PolicyError> {
    unknown.sort();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(PolicyError::UnknownFields(unknown))
    }
}

/// Collect (up to [`MAX_REPORTED`]) the dotted paths of fields in `value` that `schema`
/// does not declare, as structural schemas define it: an object node's fields are its
/// `properties`, or anything under `additionalProperties` or
/// `x-kubernetes-preserve-unknown-fields`; array items are checked against `items`. A node
/// with neither `type` nor `properties` is not structural and is left unchecked (Gatekeeper
/// could not have made a CRD of it; the template's own load refuses what it must).
pub fn unknown_fields(schema: &Value, value: &Value, path: &str, out: &mut Vec<String>) {
    let Some(s) = schema.as_object() else {
        return;
    };
    match value {
        Value::Object(fields) => object_fields(s, fields, path, out),
        Value::Array(items) => {
            if let Some(item_schema) = s.get("items") {
                for item in items {
                    if out.len() >= MAX_REPORTED {
                        return;
                    }
                    unknown_fields(item_schema, item, path, out);
                }
            }
        }
        _ => {}
    }
}

fn object_fields(
    s: &Map<String, Value>,
    fields: &Map<String, Value>,
    path: &str,
    out: &mut Vec<String>,
) {
    let preserve = s
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let structural = s.contains_key("type") || s.contains_key("properties");
    let properties = s.get("properties").and_then(Value::as_object);
    let additional = s.get("additionalProperties");
    for (key, field) in fields {
        if out.len() >= MAX_REPORTED {
            return;
        }
        let child = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        match (properties.and_then(|p| p.get(key)), additional) {
            (Some(field_schema), _) => unknown_fields(field_schema, field, &child, out),
            (None, Some(extra)) if extra.is_object() => unknown_fields(extra, field, &child, out),
            (None, Some(Value::Bool(true))) => {}
            (None, _) if preserve || !structural => {}
            (None, _) => out.push(child),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unknown(schema: &Value, value: &Value) -> Vec<String> {
        let mut out = Vec::new();
        unknown_fields(schema, value, "spec.parameters", &mut out);
        out
    }

    fn template(api_version: &str, validation: Value) -> ConstraintTemplate {
        let doc = json!({
            "apiVersion": api_version, "kind": "ConstraintTemplate",
            "metadata": {"name": "k8sthing"},
            "spec": {"crd": {"spec": {"names": {"kind": "K8sThing"}, "validation": validation}},
                     "targets": [{"target": "admission.k8s.gatekeeper.sh",
                                  "rego": "package k8sthing\nviolation[{\"msg\": \"x\"}] { false }"}]}
        });
        ConstraintTemplate::from_value(&doc).expect("template parses")
    }

    #[test]
    fn a_misspelt_match_field_is_refused_with_kubectls_wording() {
        let doc = json!({
            "apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "K8sThing",
            "metadata": {"name": "x", "labels": {"a": "b"}, "tag": 1},
            "spec": {"match": {"kind": [{"kinds": ["Pod"]}],
                               "labelSelector": {"matchLabel": {"a": "b"}}},
                     "enforcementActions": "deny",
                     "parameters": {"anything": {"goes": 1}}},
            "status": {"byPod": [{"whatever": true}]}
        });
        let error = check_constraint(&doc, &template("templates.gatekeeper.sh/v1", Value::Null))
            .expect_err("unknown fields");
        assert_eq!(
            error.to_string(),
            "strict decoding error: unknown field \"metadata.tag\", unknown field \
             \"spec.enforcementActions\", unknown field \"spec.match.kind\", unknown field \
             \"spec.match.labelSelector.matchLabel\""
        );
    }

    #[test]
    fn every_declared_field_is_accepted() {
        let doc = json!({
            "apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "K8sThing",
            "metadata": {"name": "x", "namespace": "", "annotations": {"a": "b"},
                         "finalizers": ["f"], "resourceVersion": "3", "generation": 2,
                         "creationTimestamp": "2024-01-01T00:00:00Z", "uid": "u",
                         "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
                         "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "y",
                                              "uid": "z", "controller": true}]},
            "spec": {"match": {"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}],
                               "scope": "Namespaced", "namespaces": ["a"],
                               "excludedNamespaces": ["b"], "name": "n", "source": "All",
                               "labelSelector": {"matchLabels": {"a": "b"},
                                   "matchExpressions": [{"key": "k", "operator": "In",
                                                         "values": ["v"]}]},
                               "namespaceSelector": {"matchLabels": {"a": "b"}}},
                     "enforcementAction": "scoped",
                     "scopedEnforcementActions": [{"action": "warn",
                         "enforcementPoints": [{"name": "audit.gatekeeper.sh"}]}]}
        });
        check_constraint(&doc, &template("templates.gatekeeper.sh/v1", Value::Null))
            .expect("every field is declared");
    }

    #[test]
    fn parameters_follow_the_templates_schema_and_its_legacy_flag() {
        let validation = json!({"openAPIV3Schema": {
            "type": "object",
            "properties": {
                "labels": {"type": "array", "items": {
                    "type": "object", "properties": {"key": {"type": "string"}}}},
                "extra": {"type": "object", "additionalProperties": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "loose": {"description": "no type"}
            }
        }});
        let params = json!({
            "labels": [{"key": "owner", "allowedRegex": "x"}],
            "extra": {"any": "thing"},
            "free": {"deep": {"er": 1}},
            "loose": {"whatever": 1},
            "lables": []
        });
        let check_parameters = |t: &ConstraintTemplate, p: &Value| {
            check_constraint(&json!({"kind": "K8sThing", "spec": {"parameters": p}}), t)
        };
        let strict = template("templates.gatekeeper.sh/v1", validation.clone());
        assert!(!strict.legacy_schema);
        let error = check_parameters(&strict, &params).expect_err("strict v1 template");
        assert_eq!(
            error.to_string(),
            "strict decoding error: unknown field \"spec.parameters.labels.allowedRegex\", \
             unknown field \"spec.parameters.lables\""
        );
        // v1beta1 and v1alpha1 templates default to legacySchema, which keeps every level open.
        for version in ["v1beta1", "v1alpha1"] {
            let legacy = template(
                &format!("templates.gatekeeper.sh/{version}"),
                validation.clone(),
            );
            assert!(legacy.legacy_schema, "{version}");
            check_parameters(&legacy, &params).expect("legacy schema keeps fields");
        }
        let mut explicit = validation.clone();
        explicit["legacySchema"] = json!(false);
        let strict_beta = template("templates.gatekeeper.sh/v1beta1", explicit);
        assert!(check_parameters(&strict_beta, &params).is_err());
        let mut explicit = validation;
        explicit["legacySchema"] = json!(true);
        let legacy_v1 = template("templates.gatekeeper.sh/v1", explicit);
        check_parameters(&legacy_v1, &params).expect("explicit legacySchema");
        // No schema at all: anything goes.
        let open = template("templates.gatekeeper.sh/v1", Value::Null);
        check_parameters(&open, &params).expect("no schema");
    }

    #[test]
    fn an_object_without_properties_keeps_nothing_unless_told() {
        let schema = json!({"type": "object"});
        assert_eq!(
            unknown(&schema, &json!({"a": 1})),
            vec!["spec.parameters.a".to_string()]
        );
        let open = json!({"type": "object", "additionalProperties": true});
        assert!(unknown(&open, &json!({"a": 1})).is_empty());
    }

    #[test]
    fn reports_are_capped() {
        let mut many = Map::new();
        for i in 0..1000 {
            many.insert(format!("f{i}"), json!(i));
        }
        let found = unknown(
            &json!({"type": "object", "properties": {}}),
            &Value::Object(many),
        );
        assert_eq!(found.len(), MAX_REPORTED);
    }
}
