//! The constraint CRD a ConstraintTemplate defines, shaped as Gatekeeper's template
//! controller shapes it, so that `kubectl apply` of a constraint works on a cluster without
//! Gatekeeper and GitOps users can commit the CRDs (`portcullis crd`).
//!
//! Shape (from Gatekeeper's constraint framework): `<lower-cased kind>.constraints.gatekeeper.sh`,
//! cluster-scoped, kind and short names from `spec.crd.spec.names`, plural and singular the
//! lower-cased kind, categories `constraint` and `constraints`, the template's labels plus
//! `gatekeeper.sh/constraint: "yes"`; versions `v1beta1` (stored) and `v1alpha1`, both
//! served, each with a status subresource and the `enforcement-action` and
//! `total-violations` columns. The schema: `metadata.name` at most 63 characters,
//! `spec.match` (Gatekeeper's match schema), `spec.enforcementAction` (a string, default
//! `deny`), `spec.scopedEnforcementActions`, `spec.parameters` (the template's
//! `openAPIV3Schema`, marked `x-kubernetes-preserve-unknown-fields` at every level when the
//! template has `legacySchema`), and `status` open.

use serde_json::{json, Map, Value};

use super::fields::match_schema;
use super::{ConstraintTemplate, PolicyError};

/// The API group of constraints.
const GROUP: &str = super::constraint::CONSTRAINTS_GROUP;

/// The CRD for the template document `doc` (a ConstraintTemplate of any served version).
pub fn constraint_crd(doc: &Value) -> Result<Value, PolicyError> {
    let template = ConstraintTemplate::from_value(doc)?;
    let lower = template.kind.to_lowercase();
    let mut names = json!({
        "kind": template.kind,
        "listKind": format!("{}List", template.kind),
        "plural": lower,
        "singular": lower,
        "categories": ["constraint", "constraints"],
    });
    if let Some(short) = doc
        .pointer("/spec/crd/spec/names/shortNames")
        .and_then(Value::as_array)
        .filter(|s| !s.is_empty())
    {
        if let Some(names) = names.as_object_mut() {
            names.insert("shortNames".into(), Value::Array(short.clone()));
        }
    }
    let mut labels: Map<String, Value> = doc
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    labels.insert("gatekeeper.sh/constraint".into(), json!("yes"));
    let schema = constraint_schema(&template);
    let version = |name: &str, storage: bool| {
        json!({
            "name": name,
            "served": true,
            "storage": storage,
            "schema": {"openAPIV3Schema": schema},
            "subresources": {"status": {}},
            "additionalPrinterColumns": [
                {"name": "enforcement-action", "type": "string",
                 "description": "Type of enforcement action",
                 "jsonPath": ".spec.enforcementAction"},
                {"name": "total-violations", "type": "integer",
                 "description": "Total number of violations",
                 "jsonPath": ".status.totalViolations"}
            ]
        })
    };
    Ok(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{lower}.{GROUP}"), "labels": labels},
        "spec": {
            "group": GROUP,
            "names": names,
            "scope": "Cluster",
            "preserveUnknownFields": false,
            "conversion": {"strategy": "None"},
            "versions": [version("v1beta1", true), version("v1alpha1", false)]
        }
    }))
}

/// The schema of a constraint of `template`.
fn constraint_schema(template: &ConstraintTemplate) -> Value {
    let mut spec = json!({
        "match": match_schema(),
        "enforcementAction": {"type": "string", "default": "deny"},
        "scopedEnforcementActions": {"type": "array", "items": {
            "type": "object",
            "properties": {
                "action": {"type": "string"},
                "enforcementPoints": {"type": "array", "items": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}}
                }}
            }
        }}
    });
    let parameters = match (&template.schema, template.legacy_schema) {
        (Some(schema), false) => Some(schema.clone()),
        (Some(schema), true) => Some(preserve_unknown_fields(schema.clone())),
        // legacySchema without a schema: anything goes.
        (None, true) => Some(json!({"x-kubernetes-preserve-unknown-fields": true})),
        (None, false) => None,
    };
    if let (Some(parameters), Some(spec)) = (parameters, spec.as_object_mut()) {
        spec.insert("parameters".into(), parameters);
    }
    json!({
        "type": "object",
        "properties": {
            "metadata": {"type": "object", "properties": {
                "name": {"type": "string", "maxLength": 63}
            }},
            "spec": {"type": "object", "properties": spec},
            "status": {"x-kubernetes-preserve-unknown-fields": true}
        }
    })
}

/// Mark every object level (and every level without a type) of a schema as keeping unknown
/// fields, and give an array without an item schema one that keeps everything: what
/// `legacySchema` means.
fn preserve_unknown_fields(mut schema: Value) -> Value {
    // Iterative, so a deeply nested schema cannot exhaust the stack.
    let mut stack: Vec<&mut Value> = vec![&mut schema];
    while let Some(node) = stack.pop() {
        let Some(map) = node.as_object_mut() else {
            continue;
        };
        let ty = map
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        match ty.as_str() {
            "" | "object" => {
                map.insert("x-kubernetes-preserve-unknown-fields".into(), json!(true));
            }
            "array" if !map.get("items").is_some_and(Value::is_object) => {
                map.insert(
                    "items".into(),
                    json!({"x-kubernetes-preserve-unknown-fields": true}),
                );
            }
            _ => {}
        }
        for (key, child) in map.iter_mut() {
            match key.as_str() {
                "properties" => {
                    if let Some(props) = child.as_object_mut() {
                        stack.extend(props.values_mut());
                    }
                }
                "items" | "additionalProperties" => stack.push(child),
                _ => {}
            }
        }
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(api_version: &str, validation: Value) -> Value {
        json!({
            "apiVersion": api_version, "kind": "ConstraintTemplate",
            "metadata": {"name": "k8srequiredlabels", "labels": {"team": "platform"}},
            "spec": {"crd": {"spec": {"names": {"kind": "K8sRequiredLabels", "shortNames": ["rl"]},
                                      "validation": validation}},
                     "targets": [{"target": "admission.k8s.gatekeeper.sh",
                                  "rego": "package k8srequiredlabels\nviolation[{\"msg\": \"x\"}] { false }"}]}
        })
    }

    #[test]
    fn names_versions_and_schema_follow_gatekeeper() {
        let doc = template(
            "templates.gatekeeper.sh/v1",
            json!({"openAPIV3Schema": {"type": "object", "properties": {
                "labels": {"type": "array", "items": {"type": "string"}}}}}),
        );
        let crd = constraint_crd(&doc).expect("crd");
        assert_eq!(
            crd["metadata"]["name"],
            "k8srequiredlabels.constraints.gatekeeper.sh"
        );
        assert_eq!(crd["metadata"]["labels"]["gatekeeper.sh/constraint"], "yes");
        assert_eq!(crd["metadata"]["labels"]["team"], "platform");
        let spec = &crd["spec"];
        assert_eq!(spec["scope"], "Cluster");
        assert_eq!(spec["names"]["listKind"], "K8sRequiredLabelsList");
        assert_eq!(spec["names"]["shortNames"], json!(["rl"]));
        assert_eq!(
            spec["names"]["categories"],
            json!(["constraint", "constraints"])
        );
        let versions: Vec<(&str, bool)> = spec["versions"]
            .as_array()
            .expect("versions")
            .iter()
            .map(|v| (v["name"].as_str().unwrap_or(""), v["storage"] == true))
            .collect();
        assert_eq!(versions, vec![("v1beta1", true), ("v1alpha1", false)]);
        let schema = &spec["versions"][0]["schema"]["openAPIV3Schema"];
        let params = &schema["properties"]["spec"]["properties"]["parameters"];
        assert_eq!(params["properties"]["labels"]["items"]["type"], "string");
        assert!(params.get("x-kubernetes-preserve-unknown-fields").is_none());
        assert_eq!(
            schema["properties"]["spec"]["properties"]["enforcementAction"]["default"],
            "deny"
        );
        assert_eq!(
            schema["properties"]["spec"]["properties"]["match"]["properties"]["source"]["enum"],
            json!(["All", "Generated", "Original"])
        );
        assert_eq!(spec["versions"][1]["subresources"], json!({"status": {}}));
    }

    #[test]
    fn legacy_schema_keeps_unknown_fields_at_every_level() {
        let doc = template(
            "templates.gatekeeper.sh/v1beta1",
            json!({"openAPIV3Schema": {"properties": {
                "labels": {"type": "array", "items": {"type": "object",
                    "properties": {"key": {"type": "string"}}}},
                "free": {"type": "array"}}}}),
        );
        let crd = constraint_crd(&doc).expect("crd");
        let params = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
            ["properties"]["parameters"];
        assert_eq!(params["x-kubernetes-preserve-unknown-fields"], true);
        let item = &params["properties"]["labels"]["items"];
        assert_eq!(item["x-kubernetes-preserve-unknown-fields"], true);
        assert!(item["properties"]["key"]
            .get("x-kubernetes-preserve-unknown-fields")
            .is_none());
        assert_eq!(
            params["properties"]["free"]["items"],
            json!({"x-kubernetes-preserve-unknown-fields": true})
        );
        // A v1 template without a schema has no parameters property at all.
        let bare =
            constraint_crd(&template("templates.gatekeeper.sh/v1", Value::Null)).expect("crd");
        let spec_props = &bare["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
            ["spec"]["properties"];
        assert!(spec_props.get("parameters").is_none());
    }

    #[test]
    fn a_broken_template_is_refused() {
        let mut doc = template("templates.gatekeeper.sh/v1", Value::Null);
        doc["metadata"]["name"] = json!("wrong");
        assert!(constraint_crd(&doc).is_err());
    }
}

#[cfg(test)]
#[path = "crd_structural_tests.rs"]
mod structural_tests;
