//! Audit of a live cluster, over the fake API server: existing objects judged against the
//! cluster's constraints, counts and capped lists, constraint status written (and rewritten
//! by the loop as objects change), Config and `excludedNamespaces` exemptions, paged lists,
//! a referential template over synced Ingresses, and `audit --source cluster` as a binary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::cluster::*;
use common::fake_apiserver::{FakeApiServer, Kind};
use common::{eventually, metric_value, pod};
use portcullis::audit::periodic::{self, SweepOptions};
use portcullis::audit::AuditOptions;
use portcullis::metrics::Metrics;
use portcullis::policy::Action;
use portcullis::snapshot::{PolicySnapshot, SnapshotStore};
use portcullis::sources::cluster::{ClusterHandle, ClusterOptions, ClusterSource};
use serde_json::{json, Value};

const AUDITOR: &str = "portcullis-audit-0";

fn pods_kind() -> Kind {
    Kind::new("", "v1", "Pod", "pods", true)
}

/// A pod with (or without) the `team` label the constraints require.
fn team_pod(ns: &str, name: &str, team: bool) -> Value {
    let mut p = pod(ns, name, "registry.k8s.io/pause:3.9");
    if team {
        p["metadata"]["labels"]["team"] = json!("a");
    }
    p
}

/// The cluster's policy set, as cluster mode publishes it, and the source keeping it.
async fn cluster_snapshot(
    fake: &FakeApiServer,
) -> (Arc<SnapshotStore>, Arc<PolicySnapshot>, ClusterHandle) {
    let store = Arc::new(SnapshotStore::default());
    let options = ClusterOptions {
        namespace: Some("portcullis-system".into()),
        debounce: Duration::from_millis(50),
        ..ClusterOptions::default()
    };
    let handle =
        ClusterSource::new(fake.client(), options).spawn(store.clone(), Arc::new(Metrics::new()));
    let loaded = eventually(SETTLE, || async { store.is_loaded() }).await;
    assert!(loaded, "the cluster's policy set is listed");
    let snap = store.load_full();
    (store, snap, handle)
}

fn sweep_options(limit: usize, chunk_size: u32) -> SweepOptions {
    SweepOptions {
        report: AuditOptions { limit },
        chunk_size,
        write_status: true,
        pod: Some(AUDITOR.into()),
        ..SweepOptions::default()
    }
}

fn constraint_status(fake: &FakeApiServer, name: &str) -> Value {
    let c = required_labels(name, "team", None);
    fake.get(&c).expect("constraint exists")["status"].clone()
}

async fn labels_cluster_with_pods() -> FakeApiServer {
    let fake = labels_cluster().await;
    fake.serve_kind(pods_kind());
    fake.apply(required_labels("need-team", "team", None));
    for i in 0..3 {
        fake.apply(team_pod("dev", &format!("bad-{i}"), false));
    }
    fake.apply(team_pod("dev", "good", true));
    fake
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn violations_are_counted_capped_and_written_to_constraint_status() {
    let fake = labels_cluster_with_pods().await;
    let (_store, snap, _source) = cluster_snapshot(&fake).await;
    let report = periodic::sweep_once(&fake.client(), snap, &sweep_options(2, 500))
        .await
        .expect("sweep");
    let c = report
        .constraint("K8sRequiredLabels", "need-team")
        .expect("listed");
    assert_eq!(c.total_violations, 3, "{:?}", c.violations);
    assert_eq!(c.violations.len(), 2, "capped at the limit");
    assert_eq!(report.total(Action::Deny), 3);

    let status = constraint_status(&fake, "need-team");
    assert_eq!(status["totalViolations"], 3, "{status}");
    let listed = status["violations"].as_array().expect("violations list");
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["kind"], "Pod");
    assert_eq!(listed[0]["version"], "v1");
    assert_eq!(listed[0]["group"], "");
    assert_eq!(listed[0]["namespace"], "dev");
    assert_eq!(listed[0]["enforcementAction"], "deny");
    assert!(listed[0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("team")));
    assert!(status["auditTimestamp"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    assert_eq!(status["byPod"][0]["id"], AUDITOR);
    assert_eq!(status["byPod"][0]["operations"], json!(["audit", "status"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_loop_rewrites_status_as_objects_change() {
    let fake = labels_cluster_with_pods().await;
    let (store, _snap, _source) = cluster_snapshot(&fake).await;
    let metrics = Arc::new(Metrics::new());
    let _loop = AbortOnDrop(periodic::spawn(
        fake.client(),
        store,
        metrics.clone(),
        Duration::from_millis(300),
        sweep_options(20, 500),
    ));
    let total = |n: i64| {
        let fake = &fake;
        move || async move { constraint_status(fake, "need-team")["totalViolations"] == n }
    };
    assert!(eventually(SETTLE, total(3)).await, "first sweep");
    let text = metrics.encode();
    assert!(
        text.contains("portcullis_audit_violations{enforcement_action=\"deny\"} 3"),
        "{text}"
    );
    assert!(metric_value(&text, "portcullis_audit_last_run_timestamp_seconds") > 0.0);

    fake.apply(team_pod("dev", "bad-0", true));
    fake.delete(&team_pod("dev", "bad-1", false));
    assert!(
        eventually(SETTLE, total(1)).await,
        "fixed and deleted pods drop out"
    );
    fake.apply(team_pod("prod", "new", false));
    assert!(
        eventually(SETTLE, total(2)).await,
        "a new violating pod is found"
    );
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_and_excluded_namespaces_are_not_audited() {
    let fake = labels_cluster_with_pods().await;
    let mut scoped = required_labels("need-team-scoped", "team", None);
    scoped["spec"]["match"]["excludedNamespaces"] = json!(["skipped"]);
    fake.apply(scoped);
    fake.apply(json!({
        "apiVersion": "config.gatekeeper.sh/v1alpha1", "kind": "Config",
        "metadata": {"name": "config", "namespace": "portcullis-system"},
        "spec": {"match": [{"excludedNamespaces": ["kube-*"], "processes": ["audit"]}]}}));
    fake.apply(team_pod("kube-system", "sys", false));
    fake.apply(team_pod("skipped", "s", false));
    let (_store, snap, _source) = cluster_snapshot(&fake).await;
    let report = periodic::sweep_once(&fake.client(), snap, &sweep_options(20, 500))
        .await
        .expect("sweep");
    assert_eq!(report.exempted, 1, "kube-system is exempt from audit");
    let all = report
        .constraint("K8sRequiredLabels", "need-team")
        .expect("listed");
    assert_eq!(all.total_violations, 4, "dev's three and skipped's one");
    let scoped = report
        .constraint("K8sRequiredLabels", "need-team-scoped")
        .expect("listed");
    assert_eq!(scoped.total_violations, 3, "excludedNamespaces honoured");
    assert!(scoped.violations.iter().all(|v| v.namespace == "dev"));
}

/// A constraint without `match.kinds` matches every kind, so the sweep lists every listable
/// resource discovery reports, in every group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_constraint_without_kinds_audits_every_listable_resource() {
    let fake = labels_cluster_with_pods().await;
    fake.apply(namespace("dev", json!({})));
    fake.apply(ingress("dev", "web", "web.example.com"));
    let mut everything = required_labels("everything-needs-team", "team", None);
    everything["spec"]["match"] = json!({});
    fake.apply(everything);
    let (_store, snap, _source) = cluster_snapshot(&fake).await;
    let report = periodic::sweep_once(&fake.client(), snap, &sweep_options(100, 500))
        .await
        .expect("sweep");
    let c = report
        .constraint("K8sRequiredLabels", "everything-needs-team")
        .expect("listed");
    let kinds: std::collections::BTreeSet<&str> =
        c.violations.iter().map(|v| v.kind.as_str()).collect();
    for kind in [
        "Pod",
        "Namespace",
        "Ingress",
        "ConstraintTemplate",
        "K8sRequiredLabels",
    ] {
        assert!(kinds.contains(kind), "{kind} audited: {kinds:?}");
    }
    let pods_only = report
        .constraint("K8sRequiredLabels", "need-team")
        .expect("listed");
    assert_eq!(
        pods_only.total_violations, 3,
        "kinds still narrow the others"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_are_paged() {
    let fake = labels_cluster_with_pods().await;
    for i in 0..6 {
        fake.apply(team_pod("bulk", &format!("p-{i}"), false));
    }
    let (_store, snap, _source) = cluster_snapshot(&fake).await;
    let before = fake.continued_lists();
    let report = periodic::sweep_once(&fake.client(), snap, &sweep_options(20, 2))
        .await
        .expect("sweep");
    let c = report
        .constraint("K8sRequiredLabels", "need-team")
        .expect("listed");
    assert_eq!(c.total_violations, 9, "every page was read");
    // 10 pods in pages of 2: four continued requests.
    assert!(fake.continued_lists() - before >= 4, "paged lists");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_ingress_hosts_conflict_among_existing_ingresses() {
    let fake = unique_hosts_cluster(true).await;
    fake.apply(ingress("shop", "web", "shop.example.com"));
    fake.apply(ingress("other", "copy", "shop.example.com"));
    fake.apply(ingress("blog", "b", "blog.example.com"));
    let (_store, snap, _source) = cluster_snapshot(&fake).await;
    let report = periodic::sweep_once(&fake.client(), snap, &sweep_options(20, 500))
        .await
        .expect("sweep");
    let c = report
        .constraint("K8sUniqueIngressHost", "unique-hosts")
        .expect("listed");
    assert_eq!(
        c.total_violations, 2,
        "each of the pair: {:?}",
        c.violations
    );
    let mut names: Vec<&str> = c.violations.iter().map(|v| v.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["copy", "web"]);
    assert!(c.violations[0].message.contains("shop.example.com"));
}

/// The binary: `audit --source cluster` with the client from a kubeconfig file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_source_cluster_binary_reports_and_writes_status() {
    let fake = labels_cluster_with_pods().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    fake.write_kubeconfig(&kubeconfig, "portcullis-system");
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .env("KUBECONFIG", &kubeconfig)
            .env_remove("POD_NAMESPACE")
            .env_remove("POD_NAME")
            .env("RUST_LOG", "error")
            .args(["audit", "--source", "cluster", "--output", "json"])
            .args(["--limit", "1", "--chunk-size", "2", "--write-status"])
            .args(["--pod-name", "cli-audit"])
            .output()
            .expect("run portcullis audit")
    });
    let out = run.await.expect("audit process");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "deny violations exit 1: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(&stdout).expect("JSON report");
    assert_eq!(report["summary"]["violations"]["deny"], 3);
    assert_eq!(report["constraints"][0]["totalViolations"], 3);
    assert_eq!(
        report["constraints"][0]["violations"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let status = constraint_status(&fake, "need-team");
    assert_eq!(status["totalViolations"], 3, "{status}");
    assert_eq!(status["byPod"][0]["id"], "cli-audit");
}

/// The binary as the chart's audit Deployment runs it: `serve --source cluster` with a
/// short `--audit-interval`, writing status under its Pod name and exporting the metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_binary_audit_loop_writes_status_and_metrics() {
    let fake = labels_cluster_with_pods().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    fake.write_kubeconfig(&kubeconfig, "portcullis-system");
    let (port, metrics_port) = common::free_ports();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .env("KUBECONFIG", &kubeconfig)
        .env_remove("POD_NAMESPACE")
        .env("POD_NAME", "serve-audit-0")
        .env("RUST_LOG", "error")
        .args(["serve", "--source", "cluster", "--audit-interval", "1"])
        // As in the audit Deployment: alone, without leader election.
        .arg("--leader-elect=false")
        .args(["--constraint-violations-limit", "2"])
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
        .arg("--cert-dir")
        .arg(dir.path().join("certs"))
        .spawn()
        .expect("spawn portcullis");
    let fake = Arc::new(fake);
    let checks = {
        let fake = fake.clone();
        async move {
            let written = eventually(SETTLE, || async {
                let s = constraint_status(&fake, "need-team");
                s["totalViolations"] == 3 && s["byPod"][0]["id"] == "serve-audit-0"
            })
            .await;
            assert!(written, "{}", constraint_status(&fake, "need-team"));
            let listed = constraint_status(&fake, "need-team")["violations"].clone();
            assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
            let url = format!("http://127.0.0.1:{metrics_port}/metrics");
            let exported = eventually(SETTLE, || async {
                let Ok(r) = reqwest::get(&url).await else {
                    return false;
                };
                r.text().await.is_ok_and(|t| {
                    t.contains("portcullis_audit_violations{enforcement_action=\"deny\"} 3")
                })
            })
            .await;
            assert!(exported, "audit metrics exported");
            fake.apply(team_pod("dev", "bad-2", true));
            let updated = eventually(SETTLE, || async {
                constraint_status(&fake, "need-team")["totalViolations"] == 2
            })
            .await;
            assert!(updated, "the next sweep sees the fixed pod");
        }
    };
    // Stop the child whatever the assertions say.
    let result = tokio::spawn(checks).await;
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}
