//! Every constraint CRD generated for a template of Gatekeeper's library passes the checks
//! the API server applies to a `apiextensions.k8s.io/v1` CustomResourceDefinition: it is
//! a `CustomResourceDefinition` with no field Kubernetes does not know (typed round trip
//! through k8s-openapi), its names and versions are valid, and each version's schema is
//! structural (every node typed except under `x-kubernetes-int-or-string` /
//! `x-kubernetes-preserve-unknown-fields`, no `additionalProperties` beside `properties`,
//! `metadata` restricted to `name` / `generateName`, nothing the v1 API forbids).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;

use super::constraint_crd;

/// JSON equality with numbers compared by value (k8s-openapi keeps bounds as floats).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// An RFC 1035 label, as the API server requires of plural, singular, lower-cased kind,
/// short names, categories and version names.
fn dns1035_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1] != b'-'
}

/// An RFC 1123 subdomain with at least one dot, as a CRD group must be.
fn group_ok(s: &str) -> bool {
    s.len() <= 253
        && s.contains('.')
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

const TYPES: [&str; 6] = ["array", "boolean", "integer", "number", "object", "string"];

/// Keywords the v1 API refuses in a schema.
const FORBIDDEN: [&str; 7] = [
    "$ref",
    "$schema",
    "definitions",
    "id",
    "patternProperties",
    "additionalItems",
    "dependencies",
];

/// Does `value` have the JSON type `ty`?
fn has_type(value: &Value, ty: &str) -> bool {
    match ty {
        "array" => value.is_array(),
        "boolean" => value.is_boolean(),
        "integer" => value.as_i64().is_some() || value.as_u64().is_some(),
        "number" => value.is_number(),
        "object" => value.is_object(),
        "string" => value.is_string(),
        _ => false,
    }
}

/// The structural-schema errors of one node and its children.
fn check_schema(node: &Value, path: &str, in_junctor: bool, errors: &mut Vec<String>) {
    let Some(map) = node.as_object() else {
        errors.push(format!("{path}: a schema must be an object"));
        return;
    };
    let flag = |k: &str| map.get(k).and_then(Value::as_bool);
    let int_or_string = flag("x-kubernetes-int-or-string") == Some(true);
    let preserve = flag("x-kubernetes-preserve-unknown-fields") == Some(true);
    if flag("x-kubernetes-preserve-unknown-fields") == Some(false) {
        errors.push(format!(
            "{path}: x-kubernetes-preserve-unknown-fields must be true or absent"
        ));
    }
    for k in FORBIDDEN {
        if map.contains_key(k) {
            errors.push(format!("{path}: {k} is forbidden"));
        }
    }
    if map.get("uniqueItems") == Some(&Value::Bool(true)) {
        errors.push(format!("{path}: uniqueItems cannot be true"));
    }
    let ty = map.get("type");
    match ty {
        None if in_junctor => {}
        None if int_or_string || preserve => {}
        None => errors.push(format!("{path}: type is required (structural schema)")),
        Some(Value::String(t)) if TYPES.contains(&t.as_str()) => {
            if int_or_string {
                errors.push(format!("{path}: x-kubernetes-int-or-string forbids a type"));
            }
        }
        Some(t) => errors.push(format!("{path}: type {t} is not a valid type")),
    }
    if in_junctor {
        for k in [
            "type",
            "default",
            "additionalProperties",
            "nullable",
            "description",
        ] {
            if map.contains_key(k) {
                errors.push(format!(
                    "{path}: {k} is forbidden inside allOf/anyOf/oneOf/not"
                ));
            }
        }
    }
    let ty = ty.and_then(Value::as_str).unwrap_or("");
    if ty == "array" && !map.get("items").is_some_and(Value::is_object) {
        errors.push(format!("{path}: an array needs one items schema"));
    }
    if map.contains_key("properties") && map.contains_key("additionalProperties") {
        errors.push(format!(
            "{path}: properties and additionalProperties are mutually exclusive"
        ));
    }
    if map.get("additionalProperties") == Some(&Value::Bool(false)) {
        errors.push(format!("{path}: additionalProperties cannot be false"));
    }
    if let Some(default) = map.get("default") {
        if !ty.is_empty() && !has_type(default, ty) {
            errors.push(format!("{path}: default {default} is not of type {ty}"));
        }
        if let Some(options) = map.get("enum").and_then(Value::as_array) {
            if !options.contains(default) {
                errors.push(format!("{path}: default {default} is not in its enum"));
            }
        }
    }
    if let Some(required) = map.get("required") {
        if !required
            .as_array()
            .is_some_and(|r| r.iter().all(Value::is_string))
        {
            errors.push(format!("{path}: required must list field names"));
        }
    }
    if let Some(props) = map.get("properties") {
        match props.as_object() {
            Some(props) => {
                for (k, v) in props {
                    check_schema(v, &format!("{path}.properties.{k}"), in_junctor, errors);
                }
            }
            None => errors.push(format!("{path}: properties must be a map")),
        }
    }
    if let Some(items) = map.get("items") {
        check_schema(items, &format!("{path}.items"), in_junctor, errors);
    }
    if let Some(extra) = map.get("additionalProperties").filter(|v| v.is_object()) {
        check_schema(
            extra,
            &format!("{path}.additionalProperties"),
            in_junctor,
            errors,
        );
    }
    for junctor in ["allOf", "anyOf", "oneOf"] {
        if let Some(list) = map.get(junctor).and_then(Value::as_array) {
            for (i, s) in list.iter().enumerate() {
                check_schema(s, &format!("{path}.{junctor}[{i}]"), true, errors);
            }
        }
    }
    if let Some(not) = map.get("not") {
        check_schema(not, &format!("{path}.not"), true, errors);
    }
}

/// The root schema's `metadata` may only restrict `name` and `generateName` (as strings).
fn check_metadata(root: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(meta) = root.pointer("/properties/metadata") else {
        return;
    };
    let Some(map) = meta.as_object() else {
        errors.push(format!("{path}.metadata: must be a schema"));
        return;
    };
    for k in map.keys() {
        if !["type", "properties"].contains(&k.as_str()) {
            errors.push(format!(
                "{path}.metadata: only name and generateName may be restricted, not {k}"
            ));
        }
    }
    if map.get("type").and_then(Value::as_str) != Some("object") {
        errors.push(format!("{path}.metadata: type must be object"));
    }
    for (k, v) in map
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if !["name", "generateName"].contains(&k.as_str()) {
            errors.push(format!(
                "{path}.metadata.{k}: only name and generateName may be restricted"
            ));
        }
        if v.get("type").and_then(Value::as_str) != Some("string") || v.get("default").is_some() {
            errors.push(format!(
                "{path}.metadata.{k}: must be a string without default"
            ));
        }
    }
}

/// Every check the API server would make of this CRD that the test can make without one.
fn crd_errors(crd: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    match serde_json::from_value::<CustomResourceDefinition>(crd.clone()) {
        Ok(typed) => match serde_json::to_value(&typed) {
            Ok(back) if same(&back, crd) => {}
            Ok(back) => errors.push(format!(
                "fields Kubernetes does not know, or of the wrong type: {}",
                difference(crd, &back)
            )),
            Err(e) => errors.push(format!("cannot serialize: {e}")),
        },
        Err(e) => errors.push(format!("not a CustomResourceDefinition: {e}")),
    }
    if crd["apiVersion"] != "apiextensions.k8s.io/v1" || crd["kind"] != "CustomResourceDefinition" {
        errors.push("not an apiextensions.k8s.io/v1 CustomResourceDefinition".into());
    }
    let spec = &crd["spec"];
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    let (group, names) = (s(&spec["group"]), &spec["names"]);
    let (plural, singular) = (s(&names["plural"]), s(&names["singular"]));
    let (kind, list_kind) = (s(&names["kind"]), s(&names["listKind"]));
    if crd["metadata"]["name"] != Value::String(format!("{plural}.{group}")) {
        errors.push("metadata.name must be <plural>.<group>".into());
    }
    if !group_ok(&group) {
        errors.push(format!("group {group:?} is not a DNS subdomain with a dot"));
    }
    for (what, name) in [
        ("plural", plural.clone()),
        ("singular", singular),
        ("kind", kind.to_lowercase()),
        ("listKind", list_kind.to_lowercase()),
    ] {
        if !dns1035_label(&name) {
            errors.push(format!(
                "names.{what} {name:?} is not a lower-case DNS label"
            ));
        }
    }
    if plural != plural.to_lowercase() {
        errors.push("names.plural must be lower case".into());
    }
    if kind.is_empty() || kind == list_kind {
        errors.push("names.kind must be set and differ from listKind".into());
    }
    for field in ["shortNames", "categories"] {
        for v in names[field].as_array().into_iter().flatten() {
            if !v.as_str().is_some_and(dns1035_label) {
                errors.push(format!("names.{field}: {v} is not a lower-case DNS label"));
            }
        }
    }
    if !["Cluster", "Namespaced"].contains(&spec["scope"].as_str().unwrap_or("")) {
        errors.push("scope must be Cluster or Namespaced".into());
    }
    if spec["preserveUnknownFields"] == true {
        errors.push("preserveUnknownFields must be false in v1".into());
    }
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    let storage = versions.iter().filter(|v| v["storage"] == true).count();
    if storage != 1 {
        errors.push(format!("exactly one storage version, not {storage}"));
    }
    if !versions.iter().any(|v| v["served"] == true) {
        errors.push("no version is served".into());
    }
    let mut seen = std::collections::BTreeSet::new();
    for v in &versions {
        let name = s(&v["name"]);
        if !dns1035_label(&name) || !seen.insert(name.clone()) {
            errors.push(format!("version name {name:?} invalid or repeated"));
        }
        let path = format!("versions[{name}].schema.openAPIV3Schema");
        let Some(root) = v.pointer("/schema/openAPIV3Schema") else {
            errors.push(format!("{path}: a v1 CRD version needs a schema"));
            continue;
        };
        if root["type"] != "object" {
            errors.push(format!("{path}: the root must be of type object"));
        }
        check_schema(root, &path, false, &mut errors);
        check_metadata(root, &path, &mut errors);
        for c in v["additionalPrinterColumns"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let ty = c["type"].as_str().unwrap_or("");
            if !["integer", "number", "string", "boolean", "date"].contains(&ty)
                || s(&c["name"]).is_empty()
                || !s(&c["jsonPath"]).starts_with('.')
            {
                errors.push(format!("versions[{name}]: bad printer column {c}"));
            }
        }
        if let Some(sub) = v.get("subresources") {
            if sub
                .as_object()
                .is_some_and(|m| m.keys().any(|k| k != "status" && k != "scale"))
            {
                errors.push(format!("versions[{name}]: unknown subresource"));
            }
        }
    }
    errors
}

/// Where two JSON values first differ (for a readable failure).
fn difference(a: &Value, b: &Value) -> String {
    let mut stack = vec![(String::new(), a, b)];
    while let Some((path, a, b)) = stack.pop() {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                for k in x.keys().chain(y.keys()) {
                    match (x.get(k), y.get(k)) {
                        (Some(v), Some(w)) => stack.push((format!("{path}.{k}"), v, w)),
                        _ => return format!("{path}.{k}"),
                    }
                }
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                for (i, (v, w)) in x.iter().zip(y).enumerate() {
                    stack.push((format!("{path}[{i}]"), v, w));
                }
            }
            _ if !same(a, b) => return path,
            _ => {}
        }
    }
    String::from("(none)")
}

#[test]
fn every_library_template_makes_a_crd_the_api_server_accepts() {
    let Some(library) = crate::test_data::library() else {
        return;
    };
    let mut templates = Vec::new();
    let mut stack = vec![library.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable library directory") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == "template.yaml") {
                templates.push(path);
            }
        }
    }
    templates.sort();
    assert!(
        templates.len() >= 40,
        "library templates: {}",
        templates.len()
    );
    let mut failures = Vec::new();
    for path in &templates {
        let text = std::fs::read_to_string(path).expect("readable template");
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text).expect("template YAML");
        for d in docs.iter().filter(|d| !d.is_null()) {
            match constraint_crd(d) {
                Ok(crd) => {
                    let errors = crd_errors(&crd);
                    if !errors.is_empty() {
                        failures.push(format!("{}: {errors:?}", path.display()));
                    }
                }
                Err(e) => failures.push(format!("{}: refused: {e}", path.display())),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_checks_catch_what_the_api_server_refuses() {
    let base = serde_json::json!({
        "apiVersion": "templates.gatekeeper.sh/v1", "kind": "ConstraintTemplate",
        "metadata": {"name": "k8sexample"},
        "spec": {"crd": {"spec": {"names": {"kind": "K8sExample"},
            "validation": {"openAPIV3Schema": {"type": "object", "properties": {
                "n": {"type": "integer"}}}}}},
            "targets": [{"target": "admission.k8s.gatekeeper.sh",
                "rego": "package k8sexample\nviolation[{\"msg\": \"x\"}] { false }"}]}
    });
    let crd = constraint_crd(&base).expect("crd");
    assert_eq!(crd_errors(&crd), Vec::<String>::new());
    let params = "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/parameters";
    let broken = |f: &dyn Fn(&mut Value)| {
        let mut c = crd.clone();
        f(&mut c);
        crd_errors(&c)
    };
    let untyped = broken(&|c| {
        c.pointer_mut(params).expect("params")["properties"]["n"] = serde_json::json!({})
    });
    assert!(
        untyped.iter().any(|e| e.contains("type is required")),
        "{untyped:?}"
    );
    let both = broken(&|c| {
        c.pointer_mut(params).expect("params")["additionalProperties"] =
            serde_json::json!({"type": "string"});
    });
    assert!(
        both.iter().any(|e| e.contains("mutually exclusive")),
        "{both:?}"
    );
    let unknown = broken(&|c| c["spec"]["versions"][0]["unknownField"] = serde_json::json!(1));
    assert!(
        unknown.iter().any(|e| e.contains("does not know")),
        "{unknown:?}"
    );
    let storage = broken(&|c| c["spec"]["versions"][1]["storage"] = serde_json::json!(true));
    assert!(storage.iter().any(|e| e.contains("storage")), "{storage:?}");
    let meta = broken(&|c| {
        c["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["metadata"]
            ["properties"]["labels"] = serde_json::json!({"type": "object"});
    });
    assert!(meta.iter().any(|e| e.contains("metadata")), "{meta:?}");
    let plural = broken(&|c| c["spec"]["names"]["plural"] = serde_json::json!("K8sExample"));
    assert!(plural.iter().any(|e| e.contains("plural")), "{plural:?}");
    let group = broken(&|c| c["spec"]["group"] = serde_json::json!("other.example.com"));
    assert!(
        group.iter().any(|e| e.contains("metadata.name")),
        "{group:?}"
    );
}
