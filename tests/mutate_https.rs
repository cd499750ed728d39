//! `/mutate` over real HTTPS: patches are base64 JSON Patch, applied by the client they give
//! the expected object, and a second pass over the result yields no patch.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

mod common;

use base64::Engine as _;
use common::{pod, post_review, review, start, Proto};
use portcullis::decision::ServerEnforcement;
use serde_json::{json, Value};

const NAMESPACES: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shipping, labels: {logging.example.com/ship: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: quiet}
"#;

fn mutation_policies() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/examples/mutations");
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("examples")
        .map(|e| {
            let p = e.expect("entry").path();
            let name = format!(
                "mut-{}",
                p.file_name().and_then(|n| n.to_str()).unwrap_or("x")
            );
            (name, std::fs::read_to_string(&p).expect("read"))
        })
        .collect();
    out.push(("namespaces.yaml".into(), NAMESPACES.into()));
    out
}

/// Decode and apply the response's patch to `object`.
fn apply(object: &Value, response: &Value) -> Value {
    let mut doc = object.clone();
    if let Some(p) = response["response"]["patch"].as_str() {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(p)
            .expect("base64");
        let patch: json_patch::Patch = serde_json::from_slice(&raw).expect("RFC 6902 patch");
        assert!(
            !patch.0.iter().any(|op| matches!(op, json_patch::PatchOperation::Replace(r) if r.path.as_str().is_empty())),
            "never a whole-object replace"
        );
        json_patch::patch(&mut doc, &patch).expect("patch applies");
    }
    doc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecar_labels_and_reinvocation_over_both_versions_and_protocols() {
    let files = mutation_policies();
    let extra: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let srv = start(&extra, ServerEnforcement::Deny).await;
    for proto in [Proto::Http1, Proto::Http2] {
        let c = common::client(&srv.ca_pem, proto);
        let url = format!("{}/mutate", srv.base);
        for api in ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"] {
            let original = pod("shipping", "web", "registry.k8s.io/pause:3.9");
            let out = post_review(
                &c,
                &url,
                &review(api, "m-1", "CREATE", original.clone()),
                proto,
            )
            .await;
            assert_eq!(out["response"]["allowed"], true);
            let mutated = apply(&original, &out);
            let names: Vec<&str> = mutated["spec"]["containers"]
                .as_array()
                .expect("containers")
                .iter()
                .filter_map(|c| c["name"].as_str())
                .collect();
            assert_eq!(names, ["app", "log-shipper"], "sidecar appended once");
            assert!(mutated["spec"]["volumes"]
                .as_array()
                .expect("volumes")
                .iter()
                .any(|v| v["name"] == "log-shipper-buffer"));
            assert_eq!(
                mutated["metadata"]["labels"]["app.kubernetes.io/managed-by"],
                "portcullis"
            );
            assert_eq!(
                mutated["metadata"]["labels"]["owner"], "team-a",
                "user labels kept"
            );

            // Reinvocation: the mutated object needs no further change.
            let again = post_review(
                &c,
                &url,
                &review(api, "m-2", "CREATE", mutated.clone()),
                proto,
            )
            .await;
            assert!(
                again["response"].get("patch").is_none(),
                "second pass must be a no-op: {again}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opt_in_escape_hatch_and_user_containers_are_respected() {
    let files = mutation_policies();
    let extra: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let srv = start(&extra, ServerEnforcement::Deny).await;
    let c = common::client(&srv.ca_pem, Proto::Http2);
    let url = format!("{}/mutate", srv.base);
    let count_shippers = |v: &Value| {
        v["spec"]["containers"]
            .as_array()
            .map(|a| a.iter().filter(|c| c["name"] == "log-shipper").count())
            .unwrap_or(0)
    };

    // Namespace not opted in: labels yes, sidecar no.
    let quiet = pod("quiet", "web", "registry.k8s.io/pause:3.9");
    let out = post_review(
        &c,
        &url,
        &review("admission.k8s.io/v1", "q", "CREATE", quiet.clone()),
        Proto::Http2,
    )
    .await;
    assert_eq!(count_shippers(&apply(&quiet, &out)), 0);

    // Escape hatch: the Pod opts out with a label.
    let mut opted_out = pod("shipping", "web", "registry.k8s.io/pause:3.9");
    opted_out["metadata"]["labels"]["sidecar.example.com/inject"] = json!("disabled");
    let out = post_review(
        &c,
        &url,
        &review("admission.k8s.io/v1", "o", "CREATE", opted_out.clone()),
        Proto::Http2,
    )
    .await;
    assert_eq!(count_shippers(&apply(&opted_out, &out)), 0);

    // A user-defined container of the same name is never replaced.
    let mut own = pod("shipping", "web", "registry.k8s.io/pause:3.9");
    own["spec"]["containers"]
        .as_array_mut()
        .expect("containers")
        .push(json!({"name": "log-shipper", "image": "registry.k8s.io/my-shipper:2"}));
    let out = post_review(
        &c,
        &url,
        &review("admission.k8s.io/v1", "u", "CREATE", own.clone()),
        Proto::Http2,
    )
    .await;
    let mutated = apply(&own, &out);
    assert_eq!(count_shippers(&mutated), 1);
    let shipper = mutated["spec"]["containers"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == "log-shipper"))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(shipper["image"], "registry.k8s.io/my-shipper:2");

    // DELETE is never mutated.
    let out = post_review(
        &c,
        &url,
        &review(
            "admission.k8s.io/v1",
            "d",
            "DELETE",
            pod("shipping", "web", "x"),
        ),
        Proto::Http2,
    )
    .await;
    assert!(out["response"].get("patch").is_none());
}
