//! Cluster-mode test harness: a fake API server and a portcullis in cluster mode watching
//! it, asked over real HTTPS, plus the policy objects the tests create in the fake.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::fake_apiserver::{gatekeeper_kinds, FakeApiServer, Kind};
use super::{eventually, metric_value, post_review, review, Https, Proto};
use portcullis::decision::ServerEnforcement;
use portcullis::metrics::Metrics;
use portcullis::snapshot::SnapshotStore;
use portcullis::sources::cluster::{ClusterHandle, ClusterOptions, ClusterSource};
use serde_json::{json, Value};

/// How long a change may take to reach the webhook (debounce, build, publish).
/// The replica id the tests' portcullis writes template status under.
pub const POD: &str = "portcullis-test-0";

pub const SETTLE: Duration = Duration::from_secs(15);

/// A fake cluster and a portcullis in cluster mode watching it.
pub struct Cluster {
    pub fake: FakeApiServer,
    pub https: Https,
    pub metrics: Arc<Metrics>,
    pub client: reqwest::Client,
    _source: ClusterHandle,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.https
            .lifecycle
            .advance(portcullis::server::Stage::Closing);
    }
}

/// Start portcullis against `fake` (already holding whatever the test wants listed first).
pub fn start(fake: FakeApiServer) -> Cluster {
    start_with(fake, |_| {})
}

/// The options [`start`] uses.
pub fn test_options() -> ClusterOptions {
    ClusterOptions {
        namespace: Some("portcullis-system".into()),
        debounce: Duration::from_millis(50),
        status_id: Some(POD.into()),
        ..ClusterOptions::default()
    }
}

/// [`start`] with the options changed by `change` first.
pub fn start_with(fake: FakeApiServer, change: impl FnOnce(&mut ClusterOptions)) -> Cluster {
    let metrics = Arc::new(Metrics::new());
    let store = Arc::new(SnapshotStore::default());
    let mut options = test_options();
    change(&mut options);
    let source = ClusterSource::new(fake.client(), options).spawn(store.clone(), metrics.clone());
    let https = super::serve_store(store, metrics.clone(), ServerEnforcement::Deny);
    let client = super::client(&https.ca_pem, Proto::Http1);
    Cluster {
        fake,
        https,
        metrics,
        client,
        _source: source,
    }
}

/// [`start_with`], the webhook handing each judged review to the tap `tap` makes (given
/// the metrics the server counts in).
pub fn start_with_tap(
    fake: FakeApiServer,
    change: impl FnOnce(&mut ClusterOptions),
    tap: impl FnOnce(&Arc<Metrics>) -> portcullis::impact::Tap,
) -> Cluster {
    let metrics = Arc::new(Metrics::new());
    let store = Arc::new(SnapshotStore::default());
    let mut options = test_options();
    change(&mut options);
    let source = ClusterSource::new(fake.client(), options).spawn(store.clone(), metrics.clone());
    let (cert_dir, ca_pem, tls, _) = super::self_signed();
    let mut state =
        portcullis::server::AppState::new(store, metrics.clone()).with_limits(super::test_limits());
    state.enforcement = ServerEnforcement::Deny;
    state.tap = Arc::new(tap(&metrics));
    let lifecycle = state.lifecycle.clone();
    let base = super::serve_state(state, tls, portcullis::server::ConnectionLimits::default());
    let https = Https {
        base,
        ca_pem,
        cert_dir,
        lifecycle,
    };
    let client = super::client(&https.ca_pem, Proto::Http1);
    Cluster {
        fake,
        https,
        metrics,
        client,
        _source: source,
    }
}

impl Cluster {
    pub async fn ready(&self) -> bool {
        let url = format!("{}/readyz", self.https.base);
        matches!(self.client.get(&url).send().await, Ok(r) if r.status() == 200)
    }

    pub async fn wait_ready(&self) {
        assert!(eventually(SETTLE, || self.ready()).await, "never ready");
    }

    /// The webhook's answer for a CREATE of `object`: (allowed, message).
    pub async fn judge(&self, object: &Value) -> (bool, String) {
        let body = review("admission.k8s.io/v1", "uid-1", "CREATE", object.clone());
        let url = format!("{}/validate", self.https.base);
        let out = post_review(&self.client, &url, &body, Proto::Http1).await;
        let message = out["response"]["status"]["message"].as_str().unwrap_or("");
        (out["response"]["allowed"] == true, message.to_string())
    }

    /// Wait until the webhook answers `allowed` for `object`.
    pub async fn becomes(&self, allowed: bool, object: &Value) -> bool {
        eventually(SETTLE, || async { self.judge(object).await.0 == allowed }).await
    }

    pub fn reload_errors(&self) -> f64 {
        metric_value(
            &self.metrics.encode(),
            "portcullis_policy_reload_errors_total",
        )
    }
}

/// The single document of a YAML file.
pub fn yaml_file(path: &Path) -> Value {
    let mut docs = portcullis::manifests::read_path(path).expect("readable policy file");
    assert_eq!(docs.len(), 1, "{}", path.display());
    docs.remove(0).value
}

pub fn library_template(name: &str) -> Value {
    yaml_file(&super::library_dir().join(format!("{name}.yaml")))
}

pub fn required_labels(name: &str, label: &str, namespace_selector: Option<Value>) -> Value {
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

pub fn namespace(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
}

/// A fake cluster with the required-labels template installed (its CRD too).
pub async fn labels_cluster() -> FakeApiServer {
    let fake = FakeApiServer::start(gatekeeper_kinds()).await;
    fake.serve_kind(Kind::constraint("K8sRequiredLabels"));
    fake.apply(library_template("k8srequiredlabels"));
    fake
}

/// The unique Ingress host template (it reads `data.inventory`), from the repository's own
/// library so the tests need no checkout of Gatekeeper's.
pub fn unique_ingress_host_template() -> Value {
    library_template("k8suniqueingresshost")
}

/// A fake cluster with the unique-host template, a constraint on Ingresses and, when
/// `sync_ingresses`, a Config that syncs Ingresses into the inventory.
pub async fn unique_hosts_cluster(sync_ingresses: bool) -> FakeApiServer {
    let fake = FakeApiServer::start(gatekeeper_kinds()).await;
    fake.serve_kind(Kind::constraint("K8sUniqueIngressHost"));
    fake.apply(unique_ingress_host_template());
    fake.apply(json!({
        "apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "K8sUniqueIngressHost",
        "metadata": {"name": "unique-hosts"},
        "spec": {"match": {"kinds": [{"apiGroups": ["networking.k8s.io"], "kinds": ["Ingress"]}]}}}));
    if sync_ingresses {
        fake.apply(json!({
            "apiVersion": "config.gatekeeper.sh/v1alpha1", "kind": "Config",
            "metadata": {"name": "config", "namespace": "portcullis-system"},
            "spec": {"sync": {"syncOnly": [{"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"}]}}}));
    }
    fake
}

pub fn ingress(ns: &str, name: &str, host: &str) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
           "metadata": {"name": name, "namespace": ns},
           "spec": {"rules": [{"host": host}]}})
}
