//! Rego templates as Gatekeeper loads them: one calling a function that exists nowhere is
//! refused when the policy directory loads, with the template, the function and the line,
//! while a template written with OPA's deprecated builtins (`re_match`, `any`, `cast_set`,
//! `set_diff`, `net.cidr_overlap`) loads and decides over HTTPS beside the library's.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

mod common;

use std::sync::Arc;

use common::Proto;
use portcullis::decision::ServerEnforcement;
use portcullis::metrics::Metrics;
use portcullis::snapshot::{BuildOptions, SnapshotStore};
use portcullis::sources::file::{FilePolicy, FileSource, Reload};

fn rego_template(kind: &str, body: &str) -> String {
    let lower = kind.to_lowercase();
    let rego: String = body.lines().map(|l| format!("        {l}\n")).collect();
    format!(
        "apiVersion: templates.gatekeeper.sh/v1\nkind: ConstraintTemplate\nmetadata: {{name: {lower}}}\n\
         spec:\n  crd:\n    spec:\n      names: {{kind: {kind}}}\n  targets:\n    - target: admission.k8s.gatekeeper.sh\n\
         \x20     rego: |\n{rego}"
    )
}

fn constraint(kind: &str, parameters: &str) -> String {
    format!(
        "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: {kind}\nmetadata: {{name: {}}}\n\
         spec:\n  match:\n    kinds: [{{apiGroups: [\"\"], kinds: [\"Pod\"]}}]\n  parameters: {parameters}\n",
        kind.to_lowercase()
    )
}

/// Line 6 of the Rego calls `re_matches`, which is neither an OPA builtin nor defined.
const MISSPELT: &str = r#"package k8smisspelt

violation[{"msg": msg}] {
  container := input.review.object.spec.containers[_]
  image := container.image
  re_matches("^docker.io/", image)
  msg := sprintf("image %v", [image])
}"#;

const DEPRECATED: &str = r#"package k8sdeprecatedbuiltins

violation[{"msg": msg}] {
  images := [c.image | c := input.review.object.spec.containers[_]]
  any([re_match(input.parameters.pattern, i) | i := images[_]])
  missing := set_diff(cast_set(input.parameters.labels), {k | input.review.object.metadata.labels[k]})
  count(missing) > 0
  net.cidr_overlap("10.0.0.0/8", "10.1.2.3")
  msg := sprintf("image matches %v and labels %v are missing", [input.parameters.pattern, missing])
}"#;

fn write_set(dir: &std::path::Path) {
    common::copy_allowed_repos(dir);
    let files = [
        (
            "misspelt-template.yaml",
            rego_template("K8sMisspelt", MISSPELT),
        ),
        ("misspelt.yaml", constraint("K8sMisspelt", "{}")),
        (
            "deprecated-template.yaml",
            rego_template("K8sDeprecatedBuiltins", DEPRECATED),
        ),
        (
            "deprecated.yaml",
            constraint(
                "K8sDeprecatedBuiltins",
                r#"{"pattern": "miner", "labels": ["team", "owner"]}"#,
            ),
        ),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text).expect("write");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_function_is_refused_at_load_and_deprecated_builtins_serve() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_set(dir.path());

    // Without partial loads the directory is refused, and the error says which template,
    // which function and which line.
    let err = match FileSource::new(dir.path(), BuildOptions::default()).load() {
        Ok(_) => panic!("the misspelt template must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("k8smisspelt"), "{err}");
    assert!(err.contains("unknown function re_matches"), "{err}");
    assert!(err.contains("k8smisspelt.rego:6:"), "{err}");
    assert!(!err.contains("k8sdeprecatedbuiltins"), "{err}");

    // With them, everything else serves.
    let metrics = Arc::new(Metrics::new());
    let store = Arc::new(SnapshotStore::default());
    let source = FileSource::new(dir.path(), BuildOptions::default()).with_policy(FilePolicy {
        allow_partial_load: true,
        ..FilePolicy::default()
    });
    let loaded = tokio::task::spawn_blocking({
        let (source, store, metrics) = (source.clone(), store.clone(), metrics.clone());
        move || source.reload(&store, &metrics)
    })
    .await
    .expect("load");
    assert_eq!(
        loaded,
        Reload::Partial,
        "published with the misspelt template refused"
    );
    let snap = store.load();
    assert!(!snap.templates.contains_key("K8sMisspelt"));
    assert!(snap.templates.contains_key("K8sDeprecatedBuiltins"));
    assert!(snap.templates.contains_key("K8sAllowedRepos"));
    assert_eq!(
        snap.constraints.len(),
        2,
        "the misspelt template's constraint waits"
    );
    drop(snap);

    let https = common::serve_store(store, metrics, ServerEnforcement::Deny);
    let c = common::client(&https.ca_pem, Proto::Http2);
    let url = format!("{}/validate", https.base);
    let mut pod = common::pod("default", "p", "docker.io/evil/miner:1.0");
    pod["metadata"]["labels"] = serde_json::json!({"team": "a"});
    let body = common::review("admission.k8s.io/v1", "dep-1", "CREATE", pod);
    let out = common::post_review(&c, &url, &body, Proto::Http2).await;
    assert_eq!(out["response"]["allowed"], false, "{out}");
    let msg = out["response"]["status"]["message"].as_str().unwrap_or("");
    assert!(msg.contains("[trusted-registries]"), "{msg}");
    assert!(
        msg.contains(r#"image matches miner and labels {"owner"} are missing"#),
        "{msg}"
    );
    // A pod with both labels and a trusted image passes both.
    let mut pod = common::pod("default", "q", "registry.k8s.io/pause:3.9");
    pod["metadata"]["labels"] = serde_json::json!({"team": "a", "owner": "b"});
    let body = common::review("admission.k8s.io/v1", "dep-2", "CREATE", pod);
    let out = common::post_review(&c, &url, &body, Proto::Http2).await;
    assert_eq!(out["response"]["allowed"], true, "{out}");
}
