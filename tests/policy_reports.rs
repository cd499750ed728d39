//! Audit results as wgpolicyk8s.io/v1alpha2 policy reports: written by a cluster audit
//! over the fake API server (one PolicyReport per namespace with violations, a
//! ClusterPolicyReport for cluster-scoped objects), replaced in place when the violations
//! change, left alone when they do not, deleted when a namespace is clean, bounded in size,
//! and never touching a report portcullis does not manage; and printed by the offline
//! `portcullis audit --output policyreport`, every object checked strictly against the
//! fields of the wgpolicyk8s.io v1alpha2 CRD schema.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::cluster::*;
use common::eventually;
use common::fake_apiserver::{FakeApiServer, Kind};
use portcullis::audit::periodic::{self, SweepOptions};
use portcullis::audit::policy_report::{MANAGED_BY, OMITTED_ANNOTATION, REPORT_NAME};
use portcullis::metrics::Metrics;
use portcullis::snapshot::SnapshotStore;
use portcullis::sources::cluster::{ClusterHandle, ClusterOptions, ClusterSource};
use serde_json::{json, Value};

/// The wgpolicyk8s.io v1alpha2 PolicyReport / ClusterPolicyReport openAPI schema, as facts:
/// the fields it declares, their types, enums and required fields (both kinds share it).
/// Anything else in a report would be pruned by the API server, so it fails the check.
mod schema {
    use serde_json::{json, Value};

    fn string() -> Value {
        json!({"type": "string"})
    }

    fn object_reference() -> Value {
        json!({"type": "object", "properties": {
            "apiVersion": string(), "fieldPath": string(), "kind": string(), "name": string(),
            "namespace": string(), "resourceVersion": string(), "uid": string()}})
    }

    fn label_selector() -> Value {
        json!({"type": "object", "properties": {
            "matchExpressions": {"type": "array", "items": {"type": "object",
                "required": ["key", "operator"],
                "properties": {"key": string(), "operator": string(),
                               "values": {"type": "array", "items": string()}}}},
            "matchLabels": {"type": "object", "additionalProperties": string()}}})
    }

    /// The report's schema.
    pub fn report() -> Value {
        let count = json!({"type": "integer"});
        json!({"type": "object", "properties": {
            "apiVersion": string(),
            "kind": string(),
            "metadata": {"type": "object"},
            "scope": object_reference(),
            "scopeSelector": label_selector(),
            "summary": {"type": "object", "properties": {
                "pass": count, "fail": count, "warn": count, "error": count, "skip": count}},
            "results": {"type": "array", "items": {"type": "object", "required": ["policy"],
                "properties": {
                    "category": string(),
                    "message": string(),
                    "policy": string(),
                    "properties": {"type": "object", "additionalProperties": string()},
                    "resourceSelector": label_selector(),
                    "resources": {"type": "array", "items": object_reference()},
                    "result": {"type": "string", "enum": ["pass", "fail", "warn", "error", "skip"]},
                    "rule": string(),
                    "scored": {"type": "boolean"},
                    "severity": {"type": "string",
                                 "enum": ["critical", "high", "low", "medium", "info"]},
                    "source": string(),
                    "timestamp": {"type": "object", "required": ["nanos", "seconds"],
                        "properties": {"nanos": {"type": "integer", "format": "int32"},
                                       "seconds": {"type": "integer", "format": "int64"}}},
                }}},
        }})
    }

    /// Every way `value` strays from `schema`, with its path.
    pub fn check(value: &Value, schema: &Value, path: &str, out: &mut Vec<String>) {
        let ty = schema["type"].as_str().unwrap_or("");
        let ok = match ty {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "integer" => match schema["format"].as_str() {
                Some("int32") => value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
                _ => value.is_i64() || value.is_u64(),
            },
            _ => true,
        };
        if !ok {
            out.push(format!("{path}: {value} is not {ty}"));
            return;
        }
        if let Some(allowed) = schema["enum"].as_array() {
            if !allowed.contains(value) {
                out.push(format!("{path}: {value} not in {allowed:?}"));
            }
        }
        for req in schema["required"].as_array().into_iter().flatten() {
            if value.get(req.as_str().unwrap_or("")).is_none() {
                out.push(format!("{path}: missing required {req}"));
            }
        }
        if let (Some(map), Some(props)) = (value.as_object(), schema["properties"].as_object()) {
            for (k, v) in map {
                match props.get(k) {
                    Some(s) => check(v, s, &format!("{path}.{k}"), out),
                    None => out.push(format!("{path}.{k}: not a field of the schema")),
                }
            }
        }
        if let (Some(map), Some(each)) = (value.as_object(), schema.get("additionalProperties")) {
            for (k, v) in map {
                check(v, each, &format!("{path}.{k}"), out);
            }
        }
        if let (Some(items), Some(s)) = (value.as_array(), schema.get("items")) {
            for (i, v) in items.iter().enumerate() {
                check(v, s, &format!("{path}[{i}]"), out);
            }
        }
    }
}

/// Fails with every deviation of `report` from the CRD schema.
fn assert_schema(report: &Value) {
    let mut problems = Vec::new();
    schema::check(report, &schema::report(), "", &mut problems);
    assert!(problems.is_empty(), "{problems:#?}\n{report:#}");
    assert_eq!(report["apiVersion"], "wgpolicyk8s.io/v1alpha2");
}

#[test]
fn the_schema_check_rejects_what_the_crd_does_not_declare() {
    let mut problems = Vec::new();
    let bad = json!({"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
        "summary": {"fail": "1"}, "status": {},
        "results": [{"result": "failed", "timestamp": {"seconds": 1, "nanos": 5_000_000_000i64}}]});
    schema::check(&bad, &schema::report(), "", &mut problems);
    let text = problems.join("\n");
    for expected in [
        ".status: not a field",
        ".summary.fail: \"1\" is not integer",
        "missing required \"policy\"",
        "not in",
        "nanos: 5000000000 is not integer",
    ] {
        assert!(text.contains(expected), "{expected}: {text}");
    }
}

fn report_kinds() -> [Kind; 2] {
    [
        Kind::new(
            "wgpolicyk8s.io",
            "v1alpha2",
            "PolicyReport",
            "policyreports",
            true,
        ),
        Kind::new(
            "wgpolicyk8s.io",
            "v1alpha2",
            "ClusterPolicyReport",
            "clusterpolicyreports",
            false,
        ),
    ]
}

fn unlabelled_pod(ns: &str, name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
           "spec": {"containers": [{"name": "app", "image": "nginx"}]}})
}

/// A cluster with the report CRDs, Pods, and constraints requiring an `owner` label on
/// Pods and on Namespaces.
async fn cluster() -> FakeApiServer {
    let fake = labels_cluster().await;
    fake.serve_kind(Kind::new("", "v1", "Pod", "pods", true));
    for kind in report_kinds() {
        fake.serve_kind(kind);
    }
    fake.apply(required_labels("pods-need-owner", "owner", None));
    let mut ns_rule = required_labels("namespaces-need-owner", "owner", None);
    ns_rule["spec"]["match"]["kinds"] = json!([{"apiGroups": [""], "kinds": ["Namespace"]}]);
    fake.apply(ns_rule);
    fake.apply(namespace("apps", json!({"owner": "team-a"})));
    fake.apply(namespace("web", json!({"owner": "team-b"})));
    fake.apply(namespace("orphans", json!({})));
    fake
}

struct Auditor {
    store: Arc<SnapshotStore>,
    _source: ClusterHandle,
}

async fn auditor(fake: &FakeApiServer) -> Auditor {
    let store = Arc::new(SnapshotStore::default());
    let options = ClusterOptions {
        namespace: Some("portcullis-system".into()),
        debounce: Duration::from_millis(50),
        ..ClusterOptions::default()
    };
    let source =
        ClusterSource::new(fake.client(), options).spawn(store.clone(), Arc::new(Metrics::new()));
    assert!(eventually(SETTLE, || async { store.is_loaded() }).await);
    Auditor {
        store,
        _source: source,
    }
}

impl Auditor {
    async fn sweep(&self, fake: &FakeApiServer, limit: usize) {
        let options = SweepOptions {
            policy_report_limit: Some(limit),
            write_policy_reports: true,
            ..SweepOptions::default()
        };
        periodic::sweep_once(&fake.client(), self.store.load_full(), &options)
            .await
            .expect("sweep");
    }
}

fn reports(fake: &FakeApiServer) -> Vec<Value> {
    fake.objects("wgpolicyk8s.io", "policyreports")
}

fn report_in<'a>(reports: &'a [Value], ns: &str) -> Option<&'a Value> {
    reports
        .iter()
        .find(|r| r["metadata"]["namespace"] == ns && r["metadata"]["name"] == REPORT_NAME)
}

fn policy_report(ns: &str) -> Value {
    json!({"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
           "metadata": {"name": REPORT_NAME, "namespace": ns}})
}

fn names(report: &Value) -> Vec<String> {
    let mut out: Vec<String> = report["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r["resources"][0]["name"].as_str().unwrap_or("").to_string())
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reports_are_written_updated_in_place_and_removed_when_clean() {
    let fake = cluster().await;
    fake.apply(unlabelled_pod("apps", "a1"));
    fake.apply(unlabelled_pod("web", "w1"));
    // Another tool's report of the same name, and a clean namespace with a stale report
    // of ours left from before.
    let mut foreign = policy_report("web");
    foreign["metadata"]["name"] = json!("kyverno-report");
    fake.apply(foreign.clone());
    let mut same_name_not_ours = policy_report("quiet");
    same_name_not_ours["summary"] = json!({"fail": 7});
    fake.apply(same_name_not_ours.clone());
    let mut stale = policy_report("was-dirty");
    stale["metadata"]["labels"] = json!({MANAGED_BY.0: MANAGED_BY.1});
    fake.apply(stale.clone());

    let auditor = auditor(&fake).await;
    auditor.sweep(&fake, 100).await;

    let all = reports(&fake);
    let apps = report_in(&all, "apps").expect("a report for apps");
    let web = report_in(&all, "web").expect("a report for web");
    for r in [apps, web] {
        assert_schema(r);
        assert_eq!(r["metadata"]["labels"][MANAGED_BY.0], MANAGED_BY.1);
        assert_eq!(r["summary"]["fail"], 1);
    }
    assert_eq!(names(apps), ["a1"]);
    let result = &apps["results"][0];
    assert_eq!(result["policy"], "pods-need-owner");
    assert_eq!(result["rule"], "K8sRequiredLabels");
    assert_eq!(result["result"], "fail");
    assert_eq!(result["source"], "portcullis");
    let pod = fake.get(&unlabelled_pod("apps", "a1")).expect("pod");
    assert_eq!(result["resources"][0]["uid"], pod["metadata"]["uid"]);
    assert!(
        report_in(&all, "was-dirty").is_none(),
        "a clean namespace's report goes"
    );
    assert_eq!(
        fake.get(&same_name_not_ours).expect("kept")["summary"]["fail"],
        7,
        "a report without our label is never touched"
    );
    assert!(fake.get(&foreign).is_some());

    // The namespace without an owner is a cluster-scoped violation.
    let cluster_reports = fake.objects("wgpolicyk8s.io", "clusterpolicyreports");
    assert_eq!(cluster_reports.len(), 1, "{cluster_reports:#?}");
    let cpr = &cluster_reports[0];
    assert_schema(cpr);
    assert_eq!(cpr["kind"], "ClusterPolicyReport");
    assert_eq!(names(cpr), ["orphans"]);
    assert_eq!(cpr["results"][0]["policy"], "namespaces-need-owner");
    assert!(cpr["results"][0]["resources"][0].get("namespace").is_none());

    // Nothing changed: nothing written.
    let rv = |r: &Value| r["metadata"]["resourceVersion"].clone();
    let writes = fake.writes("wgpolicyk8s.io", "policyreports");
    auditor.sweep(&fake, 100).await;
    assert_eq!(fake.writes("wgpolicyk8s.io", "policyreports"), writes);
    let again = reports(&fake);
    assert_eq!(rv(report_in(&again, "apps").expect("apps")), rv(apps));

    // A new violation: the same object, replaced in place.
    fake.apply(unlabelled_pod("apps", "a2"));
    auditor.sweep(&fake, 100).await;
    let after = reports(&fake);
    let apps2 = report_in(&after, "apps").expect("still there");
    assert_eq!(
        apps2["metadata"]["uid"], apps["metadata"]["uid"],
        "same object"
    );
    assert_ne!(rv(apps2), rv(apps), "a new resourceVersion");
    assert_eq!(names(apps2), ["a1", "a2"]);
    assert_eq!(apps2["summary"]["fail"], 2);
    assert_schema(apps2);
    // web did not change.
    assert_eq!(rv(report_in(&after, "web").expect("web")), rv(web));

    // apps becomes clean, and so does the cluster scope.
    fake.delete(&unlabelled_pod("apps", "a1"));
    fake.delete(&unlabelled_pod("apps", "a2"));
    fake.apply(namespace("orphans", json!({"owner": "team-c"})));
    let gone = eventually(SETTLE, || async {
        auditor.sweep(&fake, 100).await;
        report_in(&reports(&fake), "apps").is_none()
            && fake
                .objects("wgpolicyk8s.io", "clusterpolicyreports")
                .is_empty()
    })
    .await;
    assert!(gone, "{:#?}", reports(&fake));
    assert!(report_in(&reports(&fake), "web").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_report_lists_at_most_its_limit_and_counts_everything() {
    let fake = cluster().await;
    for i in 0..12 {
        fake.apply(unlabelled_pod("apps", &format!("p{i:02}")));
    }
    let auditor = auditor(&fake).await;
    auditor.sweep(&fake, 5).await;
    let all = reports(&fake);
    let apps = report_in(&all, "apps").expect("report");
    assert_schema(apps);
    assert_eq!(apps["results"].as_array().map(Vec::len), Some(5));
    assert_eq!(apps["summary"]["fail"], 12);
    assert_eq!(apps["metadata"]["annotations"][OMITTED_ANNOTATION], "7");
    // Back under the limit, the note goes.
    for i in 0..10 {
        fake.delete(&unlabelled_pod("apps", &format!("p{i:02}")));
    }
    let under = eventually(SETTLE, || async {
        auditor.sweep(&fake, 5).await;
        let all = reports(&fake);
        report_in(&all, "apps").is_some_and(|r| r["summary"]["fail"] == 2)
    })
    .await;
    assert!(under);
    let all = reports(&fake);
    let apps2 = report_in(&all, "apps").expect("report");
    assert!(apps2["metadata"]["annotations"]
        .get(OMITTED_ANNOTATION)
        .is_none());
    assert_eq!(apps2["metadata"]["uid"], apps["metadata"]["uid"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_the_crds_the_audit_still_runs() {
    let fake = labels_cluster().await;
    fake.serve_kind(Kind::new("", "v1", "Pod", "pods", true));
    fake.apply(required_labels("pods-need-owner", "owner", None));
    fake.apply(unlabelled_pod("apps", "a1"));
    let auditor = auditor(&fake).await;
    let options = SweepOptions {
        policy_report_limit: Some(10),
        write_policy_reports: true,
        ..SweepOptions::default()
    };
    let report = periodic::sweep_once(&fake.client(), auditor.store.load_full(), &options)
        .await
        .expect("the sweep succeeds without the report CRDs");
    assert!(report.denies());
}

/// Split a stream of YAML documents.
fn documents(text: &str) -> Vec<Value> {
    portcullis::manifests::parse_documents(text, "stdout")
        .expect("YAML documents")
        .into_iter()
        .map(|d| d.value)
        .collect()
}

#[test]
fn offline_audit_prints_the_same_reports() {
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "warn")
        .args([
            "audit",
            "--policies",
            "tests/fixtures/audit/policies",
            "tests/fixtures/audit/manifests",
            "--output",
            "policyreport",
        ])
        .output()
        .expect("portcullis runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "deny violations fail the audit: {text}"
    );
    let docs = documents(&text);
    assert!(!docs.is_empty(), "{text}");
    let mut fails = 0;
    let mut warns = 0;
    for doc in &docs {
        assert_schema(doc);
        assert_eq!(
            doc["kind"], "PolicyReport",
            "only namespaced objects violate here"
        );
        assert_eq!(doc["metadata"]["name"], REPORT_NAME);
        assert_eq!(doc["metadata"]["labels"][MANAGED_BY.0], MANAGED_BY.1);
        let ns = doc["metadata"]["namespace"].as_str().expect("namespace");
        for r in doc["results"].as_array().expect("results") {
            assert_eq!(
                r["resources"][0]["namespace"], ns,
                "results of its namespace"
            );
            match r["result"].as_str() {
                Some("fail") => fails += 1,
                Some("warn") => warns += 1,
                other => panic!("unexpected result {other:?}"),
            }
        }
        let summary = &doc["summary"];
        let listed = doc["results"].as_array().map(Vec::len).unwrap_or(0) as u64;
        let counted = ["fail", "warn", "error"]
            .iter()
            .map(|k| summary[k].as_u64().unwrap_or(0))
            .sum::<u64>();
        assert_eq!(listed, counted);
    }
    // The fixture's violations: 2 deny and 1 dryrun fail, 2 warn.
    assert_eq!((fails, warns), (3, 2), "{text}");
}

/// The binary as the chart's audit Deployment runs it with the values on: its sweeps write
/// policy reports and AuditViolation Events to the server's namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_binary_writes_reports_and_audit_events() {
    let fake = cluster().await;
    fake.serve_kind(Kind::new("", "v1", "Event", "events", true));
    fake.apply(unlabelled_pod("apps", "a1"));
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    fake.write_kubeconfig(&kubeconfig, "portcullis-system");
    let (port, metrics_port) = common::free_ports();
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .env("KUBECONFIG", &kubeconfig)
        .env_remove("POD_NAMESPACE")
        .env_remove("POD_NAME")
        .env("RUST_LOG", "error")
        .args(["serve", "--source", "cluster", "--audit-interval", "1"])
        // The fake serves no Lease: audit on this one replica without an election.
        .arg("--leader-elect=false")
        .args(["--policy-reports", "--emit-audit-events"])
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
                report_in(&reports(&fake), "apps").is_some()
                    && !fake
                        .objects("wgpolicyk8s.io", "clusterpolicyreports")
                        .is_empty()
            })
            .await;
            assert!(written, "{:#?}", reports(&fake));
            let all = reports(&fake);
            let apps = report_in(&all, "apps").expect("apps");
            assert_schema(apps);
            assert_eq!(names(apps), ["a1"]);
            let events = eventually(SETTLE, || async {
                let evs = fake.objects("", "events");
                evs.len() == 2 && evs.iter().all(|e| e["reason"] == "AuditViolation")
            })
            .await;
            let evs = fake.objects("", "events");
            assert!(events, "{evs:#?}");
            assert!(evs
                .iter()
                .all(|e| e["metadata"]["namespace"] == "portcullis-system"));
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
