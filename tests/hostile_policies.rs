//! Policies written to hurt: CEL chained 10,000 deep, 100,000 nested parentheses, a Rego
//! literal nested 40 deep. Each is refused when it loads, with its reason, quickly, while the
//! rest of the set serves over HTTPS (with `--allow-partial-load` at startup, and on reload as
//! objects refused one by one while the rest of the change applies).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Proto;
use portcullis::decision::ServerEnforcement;
use portcullis::metrics::Metrics;
use portcullis::snapshot::{BuildOptions, SnapshotStore};
use portcullis::sources::file::{FilePolicy, FileSource, Reload};

fn cel_template(kind: &str, expression: &str) -> String {
    let lower = kind.to_lowercase();
    format!(
        "apiVersion: templates.gatekeeper.sh/v1\nkind: ConstraintTemplate\nmetadata: {{name: {lower}}}\n\
         spec:\n  crd:\n    spec:\n      names: {{kind: {kind}}}\n  targets:\n    - target: admission.k8s.gatekeeper.sh\n\
         \x20     code:\n        - engine: K8sNativeValidation\n          source:\n            validations:\n\
         \x20             - expression: {expression:?}\n                message: deep\n"
    )
}

fn rego_template(kind: &str, body: &str) -> String {
    let lower = kind.to_lowercase();
    let rego: String = body.lines().map(|l| format!("        {l}\n")).collect();
    format!(
        "apiVersion: templates.gatekeeper.sh/v1\nkind: ConstraintTemplate\nmetadata: {{name: {lower}}}\n\
         spec:\n  crd:\n    spec:\n      names: {{kind: {kind}}}\n  targets:\n    - target: admission.k8s.gatekeeper.sh\n\
         \x20     rego: |\n{rego}"
    )
}

fn constraint(kind: &str) -> String {
    format!(
        "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: {kind}\nmetadata: {{name: {}}}\n\
         spec:\n  match:\n    kinds: [{{apiGroups: [\"\"], kinds: [\"Pod\"]}}]\n",
        kind.to_lowercase()
    )
}

/// The hostile templates, each with a constraint of its kind.
fn hostile() -> Vec<(String, String)> {
    let chain = vec!["1"; 10_000].join(" + ");
    let parens = format!("{}1{} == 1", "(".repeat(100_000), ")".repeat(100_000));
    let nested = format!(
        "package k8sdeeprego\nviolation[{{\"msg\": \"x\"}}] {{\n  x := {}1{}\n  x == input.review.object\n}}",
        "[".repeat(40),
        "]".repeat(40)
    );
    vec![
        (
            "K8sDeepChain".into(),
            cel_template("K8sDeepChain", &format!("{chain} > 0")),
        ),
        (
            "K8sDeepParens".into(),
            cel_template("K8sDeepParens", &parens),
        ),
        ("K8sDeepRego".into(), rego_template("K8sDeepRego", &nested)),
    ]
}

async fn untrusted_is_denied(https: &common::Https) {
    let c = common::client(&https.ca_pem, Proto::Http2);
    let body = common::review(
        "admission.k8s.io/v1",
        "deep-1",
        "CREATE",
        common::pod("default", "p", "docker.io/evil/miner:1.0"),
    );
    let out =
        common::post_review(&c, &format!("{}/validate", https.base), &body, Proto::Http2).await;
    assert_eq!(out["response"]["allowed"], false, "{out}");
    let msg = out["response"]["status"]["message"].as_str().unwrap_or("");
    assert!(msg.contains("[trusted-registries]"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_templates_are_refused_at_startup_and_the_rest_serves() {
    let dir = tempfile::tempdir().expect("tempdir");
    common::copy_allowed_repos(dir.path());
    for (kind, template) in hostile() {
        let lower = kind.to_lowercase();
        std::fs::write(dir.path().join(format!("{lower}-template.yaml")), template).expect("write");
        std::fs::write(dir.path().join(format!("{lower}.yaml")), constraint(&kind)).expect("write");
    }
    let metrics = Arc::new(Metrics::new());
    let store = Arc::new(SnapshotStore::default());
    let source = FileSource::new(dir.path(), BuildOptions::default()).with_policy(FilePolicy {
        allow_partial_load: true,
        ..FilePolicy::default()
    });
    let started = Instant::now();
    let loaded = tokio::task::spawn_blocking({
        let (source, store, metrics) = (source.clone(), store.clone(), metrics.clone());
        move || source.reload(&store, &metrics)
    })
    .await
    .expect("load");
    let took = started.elapsed();
    assert_eq!(loaded, Reload::Partial);
    assert!(
        took < Duration::from_secs(10),
        "refusals are quick: {took:?}"
    );
    let snap = store.load();
    assert_eq!(snap.constraints.len(), 1, "only the good constraint serves");
    assert!(snap.templates.contains_key("K8sAllowedRepos"));
    for (kind, _) in hostile() {
        assert!(!snap.templates.contains_key(&kind), "{kind} refused");
    }
    // Without partial loads the same directory keeps the server unready.
    let strict = SnapshotStore::default();
    let plain = FileSource::new(dir.path(), BuildOptions::default());
    let outcome = tokio::task::spawn_blocking(move || plain.reload(&strict, &Metrics::new()))
        .await
        .expect("load");
    assert_eq!(outcome, Reload::NotReady);

    let https = common::serve_store(store, metrics, ServerEnforcement::Deny);
    untrusted_is_denied(&https).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_template_added_later_is_refused_and_the_rest_serves() {
    let dir = tempfile::tempdir().expect("tempdir");
    common::copy_allowed_repos(dir.path());
    let metrics = Arc::new(Metrics::new());
    let store = Arc::new(SnapshotStore::default());
    let source = FileSource::new(dir.path(), BuildOptions::default());
    assert_eq!(source.reload(&store, &metrics), Reload::Published);
    let https = common::serve_store(store.clone(), metrics.clone(), ServerEnforcement::Deny);
    for (kind, template) in hostile() {
        let path = dir.path().join("added.yaml");
        std::fs::write(&path, format!("{template}---\n{}", constraint(&kind))).expect("write");
        let (s, st, m) = (source.clone(), store.clone(), metrics.clone());
        let outcome = tokio::task::spawn_blocking(move || s.reload(&st, &m))
            .await
            .expect("reload");
        assert_eq!(outcome, Reload::Partial, "{kind}");
        let snap = store.load();
        assert!(!snap.templates.contains_key(&kind), "{kind} refused");
        assert!(
            snap.refused
                .iter()
                .any(|r| r.object.ends_with(&format!("/{}", kind.to_lowercase()))),
            "{kind}: {:?}",
            snap.refused
        );
        untrusted_is_denied(&https).await;
        std::fs::remove_file(&path).expect("rm");
    }
    assert!(
        common::metric_value(&metrics.encode(), "portcullis_policy_reload_errors_total") >= 3.0
    );
}
