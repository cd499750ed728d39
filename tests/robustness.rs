//! No input may panic the decision path: every field of a realistic review is replaced in
//! turn by values of every JSON type, and the result is decoded, validated and mutated
//! against the benchmark's 20 constraints and 5 mutators plus the example policies.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

mod common;

use portcullis::decision::{self, ServerEnforcement};
use portcullis::snapshot::{BuildOptions, PolicySnapshot};
use serde_json::{json, Value};

fn snapshot() -> PolicySnapshot {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let docs =
        portcullis::manifests::read_paths(&[root.join("policies"), root.join("bench/policies")])
            .expect("policies parse");
    // The example and benchmark sets share namespaces; keep the first of each name.
    let mut seen = std::collections::HashSet::new();
    let docs: Vec<_> = docs
        .into_iter()
        .filter(|d| {
            d.value["kind"] != "Namespace"
                || seen.insert(
                    d.value["metadata"]["name"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                )
        })
        .collect();
    PolicySnapshot::build(&docs, &BuildOptions::default()).expect("policies build")
}

/// Every JSON pointer below `v`.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(child, p, out);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(child, p, out);
            }
        }
        _ => {}
    }
}

/// The benchmark's realistic review and every JSON pointer inside it.
fn review_and_paths() -> (Value, Vec<String>) {
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/bench/review-pod.json"
    ))
    .expect("review");
    let original: Value = serde_json::from_slice(&body).expect("json");
    let mut paths = Vec::new();
    pointers(&original, String::new(), &mut paths);
    (original, paths)
}

#[test]
fn perturbed_reviews_never_panic() {
    let snap = snapshot();
    let (original, paths) = review_and_paths();
    let replacements = [
        Value::Null,
        json!(0),
        json!(-1.5e300),
        json!(""),
        json!("*"),
        json!([]),
        json!([null, 1, "x", {}]),
        json!({}),
        json!({"name": 1, "image": null}),
        json!(true),
    ];
    let mut decoded = 0;
    for p in &paths {
        for r in &replacements {
            let mut doc = original.clone();
            if let Some(slot) = doc.pointer_mut(p) {
                *slot = r.clone();
            }
            let bytes = serde_json::to_vec(&doc).expect("serialize");
            let Ok(d) = portcullis::admission::decode(&bytes) else {
                continue;
            };
            decoded += 1;
            let _ = decision::validate(&snap, &d.review, ServerEnforcement::Deny);
            let _ = decision::mutate(&snap, &d.review);
        }
    }
    assert!(
        paths.len() > 100,
        "the review is realistic: {} paths",
        paths.len()
    );
    assert!(
        decoded > paths.len(),
        "most perturbations still decode: {decoded}"
    );
}

/// Gatekeeper's whole library (Rego and CEL) with its sample constraints; fails when the
/// corpus is missing unless `PORTCULLIS_SKIP_CONFORMANCE=1`.
fn library_snapshot() -> Option<PolicySnapshot> {
    let lib = common::conformance_library()?;
    let (docs, _) = portcullis::manifests::read_path_lenient(&lib);
    let wanted: Vec<_> = docs
        .into_iter()
        .filter(|d| {
            d.location.ends_with("template.yaml#0") || d.location.contains("constraint.yaml#")
        })
        .collect();
    let (snap, _) = PolicySnapshot::build_lenient(&wanted, &BuildOptions::default());
    Some(snap)
}

#[test]
fn perturbed_reviews_never_panic_the_rego_and_cel_library() {
    let Some(snap) = library_snapshot() else {
        return;
    };
    assert!(snap.constraints.len() > 40, "{}", snap.constraints.len());
    let (original, paths) = review_and_paths();
    for p in paths.iter().filter(|p| p.starts_with("/request/object")) {
        for r in [Value::Null, json!(7), json!({"x": []})] {
            let mut doc = original.clone();
            if let Some(slot) = doc.pointer_mut(p) {
                *slot = r;
            }
            let bytes = serde_json::to_vec(&doc).expect("serialize");
            if let Ok(d) = portcullis::admission::decode(&bytes) {
                let _ = decision::validate(&snap, &d.review, ServerEnforcement::Deny);
            }
        }
    }
}
