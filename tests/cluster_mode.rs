//! Cluster mode end to end: Gatekeeper objects created, changed and deleted in a fake
//! Kubernetes API server reach the webhook, which is asked over real HTTPS.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::fake_apiserver::{gatekeeper_kinds, FakeApiServer, Kind};
use common::{eventually, metric_value, pod, post_review, review, Https, Proto};
use portcullis::decision::ServerEnforcement;
use portcullis::metrics::Metrics;
use portcullis::policy::SnapshotStore;
use portcullis::sources::cluster::{ClusterHandle, ClusterOptions, ClusterSource};
use serde_json::{json, Value};

/// How long a change may take to reach the webhook (debounce, build, publish).
const SETTLE: Duration = Duration::from_secs(15);

/// A fake cluster and a portcullis in cluster mode watching it.
struct Cluster {
    fake: FakeApiServer,
    https: Https,
    metrics: Arc<Metrics>,
    client: reqwest::Client,
    _source: ClusterHandle,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.https.handle.shutdown();
    }
}

/// Start portcullis against `fake` (already holding whatever the test wants listed first).
fn start(fake: FakeApiServer) -> Cluster {
    let metrics = Arc::new(Metrics::new());
    let store = Arc::new(SnapshotStore::default());
    let options = ClusterOptions {
        namespace: Some("portcullis-system".into()),
        debounce: Duration::from_millis(50),
        ..ClusterOptions::default()
    };
    let source = ClusterSource::new(fake.client(), options).spawn(store.clone(), metrics.clone());
    let https = common::serve_store(store, metrics.clone(), ServerEnforcement::Deny);
    let client = common::client(&https.ca_pem, Proto::Http1);
    Cluster {
        fake,
        https,
        metrics,
        client,
        _source: source,
    }
}

impl Cluster {
    async fn ready(&self) -> bool {
        let url = format!("{}/readyz", self.https.base);
        matches!(self.client.get(&url).send().await, Ok(r) if r.status() == 200)
    }

    async fn wait_ready(&self) {
        assert!(eventually(SETTLE, || self.ready()).await, "never ready");
    }

    /// The webhook's answer for a CREATE of `object`: (allowed, message).
    async fn judge(&self, object: &Value) -> (bool, String) {
        let body = review("admission.k8s.io/v1", "uid-1", "CREATE", object.clone());
        let url = format!("{}/validate", self.https.base);
        let out = post_review(&self.client, &url, &body, Proto::Http1).await;
        let message = out["response"]["status"]["message"].as_str().unwrap_or("");
        (out["response"]["allowed"] == true, message.to_string())
    }

    /// Wait until the webhook answers `allowed` for `object`.
    async fn becomes(&self, allowed: bool, object: &Value) -> bool {
        eventually(SETTLE, || async { self.judge(object).await.0 == allowed }).await
    }

    fn reload_errors(&self) -> f64 {
        metric_value(
            &self.metrics.encode(),
            "portcullis_policy_reload_errors_total",
        )
    }
}

/// The single document of a YAML file.
fn yaml_file(path: &Path) -> Value {
    let mut docs = portcullis::manifests::read_path(path).expect("readable policy file");
    assert_eq!(docs.len(), 1, "{}", path.display());
    docs.remove(0).value
}

fn library_template(name: &str) -> Value {
    yaml_file(&common::library_dir().join(format!("{name}.yaml")))
}

fn required_labels(name: &str, label: &str, namespace_selector: Option<Value>) -> Value {
    let mut c = json!({
        "apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "K8sRequiredLabels",
        "metadata": {"name": name},
        "spec": {"match": {"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}]},
                 "parameters": {"labels": [{"key": label}]}}});
    if let Some(sel) = namespace_selector {
        c["spec"]["match"]["namespaceSelector"] = sel;
    }
    c
}

fn namespace(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
}

/// A fake cluster with the required-labels template installed (its CRD too).
async fn labels_cluster() -> FakeApiServer {
    let fake = FakeApiServer::start(gatekeeper_kinds()).await;
    fake.serve_kind(Kind::constraint("K8sRequiredLabels"));
    fake.apply(library_template("k8srequiredlabels"));
    fake
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constraints_follow_create_update_and_delete_in_the_cluster() {
    let c = start(labels_cluster().await);
    c.wait_ready().await;
    let p = pod("dev", "p", "registry.k8s.io/pause:3.9");
    assert!(c.judge(&p).await.0, "no constraint yet");

    c.fake.apply(required_labels("need-team", "team", None));
    assert!(c.becomes(false, &p).await, "a new constraint denies");
    let (_, message) = c.judge(&p).await;
    assert!(message.contains("[need-team]"), "{message}");

    c.fake.apply(required_labels("need-team", "owner", None));
    assert!(
        c.becomes(true, &p).await,
        "new parameters: the Pod has owner"
    );

    c.fake.apply(required_labels("need-team", "team", None));
    assert!(c.becomes(false, &p).await);
    c.fake.delete(&required_labels("need-team", "team", None));
    assert!(
        c.becomes(true, &p).await,
        "a deleted constraint no longer denies"
    );
    assert_eq!(c.reload_errors(), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_until_every_initial_list_has_synced() {
    let fake = labels_cluster().await;
    fake.apply(required_labels("need-team", "team", None));
    fake.hold_lists();
    let c = start(fake);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(!c.ready().await, "lists are held: not ready");
    c.fake.open_lists();
    c.wait_ready().await;
    let p = pod("dev", "p", "registry.k8s.io/pause:3.9");
    assert!(
        !c.judge(&p).await.0,
        "ready means the constraints listed at start are already enforced"
    );
}

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

/// Gatekeeper's library template for unique Ingress hosts (it reads `data.inventory`).
fn unique_ingress_host_template() -> Value {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/conformance/gatekeeper-library/library/general/uniqueingresshost");
    yaml_file(&dir.join("template.yaml"))
}

fn ingress(ns: &str, name: &str, host: &str) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
           "metadata": {"name": name, "namespace": ns},
           "spec": {"rules": [{"host": host}]}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synced_ingresses_feed_the_inventory_of_referential_templates() {
    let fake = FakeApiServer::start(gatekeeper_kinds()).await;
    fake.serve_kind(Kind::constraint("K8sUniqueIngressHost"));
    fake.apply(unique_ingress_host_template());
    fake.apply(json!({
        "apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "K8sUniqueIngressHost",
        "metadata": {"name": "unique-hosts"},
        "spec": {"match": {"kinds": [{"apiGroups": ["networking.k8s.io"], "kinds": ["Ingress"]}]}}}));
    fake.apply(json!({
        "apiVersion": "config.gatekeeper.sh/v1alpha1", "kind": "Config",
        "metadata": {"name": "config", "namespace": "portcullis-system"},
        "spec": {"sync": {"syncOnly": [{"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"}]}}}));
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_template_is_rejected_while_the_last_good_set_keeps_serving() {
    let fake = labels_cluster().await;
    fake.apply(required_labels("need-team", "team", None));
    let c = start(fake);
    c.wait_ready().await;
    let p = pod("dev", "p", "registry.k8s.io/pause:3.9");
    assert!(!c.judge(&p).await.0);
    assert_eq!(c.reload_errors(), 0.0);

    let broken = json!({
        "apiVersion": "templates.gatekeeper.sh/v1", "kind": "ConstraintTemplate",
        "metadata": {"name": "k8sbroken"},
        "spec": {"crd": {"spec": {"names": {"kind": "K8sBroken"}}},
                 "targets": [{"target": "admission.k8s.gatekeeper.sh",
                              "rego": "package k8sbroken\nviolation[{\"msg\": msg}] {\n  msg := \n"}]}});
    c.fake.apply(broken.clone());
    assert!(
        eventually(SETTLE, || async { c.reload_errors() >= 1.0 }).await,
        "the rejection is counted"
    );
    // Changes that arrive while the set is broken wait for it to be fixed.
    c.fake.apply(required_labels("need-team", "owner", None));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(!c.judge(&p).await.0, "the last good set keeps deciding");

    c.fake.delete(&broken);
    assert!(
        c.becomes(true, &p).await,
        "once fixed, the pending change loads"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_resume_after_the_stream_closes_and_relist_after_410_gone() {
    let fake = labels_cluster().await;
    fake.apply(required_labels("need-team", "team", None));
    let c = start(fake);
    c.wait_ready().await;
    let p = pod("dev", "p", "registry.k8s.io/pause:3.9");
    assert!(!c.judge(&p).await.0);

    // The server ends every watch: the watchers resume from their last resourceVersion.
    let before = c.fake.watches_started();
    c.fake.close_watches();
    c.fake.apply(required_labels("need-team", "owner", None));
    assert!(
        c.becomes(true, &p).await,
        "a change after the reconnect arrives"
    );
    assert!(c.fake.watches_started() > before, "watches were restarted");

    // History compacted past the watchers' resourceVersion: resuming gets 410 Gone and
    // the watchers relist. The change made while they cannot list arrives with the relist.
    c.fake.hold_lists();
    c.fake.apply(namespace("bump", json!({})));
    c.fake.compact();
    c.fake.close_watches();
    c.fake.apply(required_labels("need-team", "team", None));
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.fake.open_lists();
    assert!(c.becomes(false, &p).await, "the relist brings the change");
    assert!(c.fake.gone_sent() > 0, "a watch was answered 410 Gone");
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
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port")
    };
    let (port, metrics_port) = (free_port(), free_port());
    let cert_dir = dir.path().join("certs");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .env("KUBECONFIG", &kubeconfig)
        .env_remove("POD_NAMESPACE")
        .env("RUST_LOG", "warn")
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
