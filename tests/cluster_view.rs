//! Cluster mode end to end, the cluster view: namespace labels for `namespaceSelector`,
//! synced objects as `data.inventory`, and the `serve --source cluster` binary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

mod common;

use common::cluster::*;
use common::{eventually, pod, post_review, review, Proto};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_labels_switch_namespace_selector_opt_in() {
    let fake = labels_cluster().await;
    fake.apply(namespace("prod", json!({"env": "prod"})));
    fake.apply(required_labels(
        "opt-in",
        "team",
        Some(json!({"matchLabels": {"policy": "enforced"}})),
    ));
    let c = start(fake);
    c.wait_ready().await;
    let p = pod("prod", "p", "registry.k8s.io/pause:3.9");
    assert!(c.judge(&p).await.0, "prod has not opted in");

    c.fake.apply(namespace(
        "prod",
        json!({"env": "prod", "policy": "enforced"}),
    ));
    assert!(
        c.becomes(false, &p).await,
        "labelling the namespace opts in"
    );
    c.fake.apply(namespace("prod", json!({"env": "prod"})));
    assert!(c.becomes(true, &p).await, "removing the label opts out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synced_ingresses_feed_the_inventory_of_referential_templates() {
    let fake = unique_hosts_cluster(true).await;
    let existing = ingress("shop", "web", "shop.example.com");
    fake.apply(existing.clone());
    let c = start(fake);
    c.wait_ready().await;

    let duplicate = ingress("other", "copy", "shop.example.com");
    let (allowed, message) = c.judge(&duplicate).await;
    assert!(!allowed, "the synced Ingress already has the host");
    assert!(message.contains("shop.example.com"), "{message}");
    assert!(c.judge(&ingress("other", "new", "new.example.com")).await.0);

    c.fake.delete(&existing);
    assert!(c.becomes(true, &duplicate).await, "the host is free again");
    c.fake.apply(ingress("blog", "b", "shop.example.com"));
    assert!(c.becomes(false, &duplicate).await, "a new Ingress takes it");
}

/// The binary as deployed: `serve --source cluster` with the client configured from a
/// kubeconfig (whose context namespace is where Config is read).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_source_cluster_binary_follows_the_kubeconfig_cluster() {
    let fake = labels_cluster().await;
    fake.apply(required_labels("need-team", "team", None));
    fake.apply(json!({
        "apiVersion": "config.gatekeeper.sh/v1alpha1", "kind": "Config",
        "metadata": {"name": "config", "namespace": "policy-home"},
        "spec": {"match": [{"excludedNamespaces": ["exempt"], "processes": ["webhook"]}]}}));
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\n\
             clusters: [{{name: fake, cluster: {{server: \"{}\"}}}}]\n\
             users: [{{name: fake, user: {{}}}}]\n\
             contexts: [{{name: fake, context: {{cluster: fake, user: fake, namespace: policy-home}}}}]\n",
            fake.url
        ),
    )
    .expect("write kubeconfig");
    let (port, metrics_port) = common::free_ports();
    let cert_dir = dir.path().join("certs");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .env("KUBECONFIG", &kubeconfig)
        .env_remove("POD_NAMESPACE")
        .env("RUST_LOG", "error")
        .args(["serve", "--source", "cluster"])
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
        .arg("--cert-dir")
        .arg(&cert_dir)
        .spawn()
        .expect("spawn portcullis");
    let ca_path = cert_dir.join("ca.crt");
    let has_ca = eventually(SETTLE, || async { ca_path.exists() }).await;
    let outcome = async move {
        assert!(has_ca, "serve makes its CA");
        let ca = std::fs::read_to_string(&ca_path).expect("ca.crt");
        let client = common::client(&ca, Proto::Http1);
        let base = format!("https://localhost:{port}");
        let ready = eventually(SETTLE, || async {
            let r = client.get(format!("{base}/readyz")).send().await;
            r.is_ok_and(|r| r.status() == 200)
        })
        .await;
        assert!(ready, "ready once the cluster's objects are listed");
        let url = format!("{base}/validate");
        let judge = |ns: &str| {
            let body = review(
                "admission.k8s.io/v1",
                "uid-b",
                "CREATE",
                pod(ns, "p", "registry.k8s.io/pause:3.9"),
            );
            let (client, url) = (client.clone(), url.clone());
            async move { post_review(&client, &url, &body, Proto::Http1).await }
        };
        let out = judge("dev").await;
        assert_eq!(out["response"]["allowed"], false, "{out}");
        let out = judge("exempt").await;
        assert_eq!(
            out["response"]["allowed"], true,
            "Config from the context's namespace exempts it: {out}"
        );
    };
    // Stop the child whatever the assertions say.
    let result = tokio::spawn(outcome).await;
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kind_dropped_from_sync_only_leaves_the_inventory() {
    let fake = unique_hosts_cluster(false).await;
    fake.apply(ingress("shop", "web", "shop.example.com"));
    let config = |sync_only: serde_json::Value| {
        json!({"apiVersion": "config.gatekeeper.sh/v1alpha1", "kind": "Config",
               "metadata": {"name": "config", "namespace": "portcullis-system"},
               "spec": {"sync": {"syncOnly": sync_only}}})
    };
    let c = start(fake);
    c.wait_ready().await;
    let duplicate = ingress("other", "copy", "shop.example.com");
    assert!(c.judge(&duplicate).await.0, "nothing synced yet");

    c.fake.apply(config(
        json!([{"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"}]),
    ));
    assert!(c.becomes(false, &duplicate).await, "Config starts the sync");
    c.fake.apply(config(json!([])));
    assert!(c.becomes(true, &duplicate).await, "and stops it");
}
