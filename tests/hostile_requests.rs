//! Requests and policies that try to make one admission expensive, over real HTTPS: an
//! evaluation that would run for seconds is cut off at the deadline and answered by the
//! failure policy while health checks stay fast; bodies too complex for the memory budget
//! are refused before decoding; kinds chosen by the sender do not grow the metrics; and
//! errors do not echo what was sent.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis::decision::{FailurePolicy, ServerEnforcement};
use portcullis::metrics::Metrics;
use portcullis::server::{AdmissionLimits, ConnectionLimits};
use portcullis::snapshot::{BuildOptions, SnapshotStore};
use portcullis::sources::file::{FileSource, Reload};
use serde_json::{json, Value};

use common::{Https, Proto};

/// A template whose Rego walks containers × items × items: seconds of work on a few
/// thousand parameter items.
const EXPENSIVE: &str = r#"
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: k8sexpensive}
spec:
  crd:
    spec:
      names: {kind: K8sExpensive}
  targets:
    - target: admission.k8s.gatekeeper.sh
      rego: |
        package k8sexpensive
        violation[{"msg": msg}] {
          c := input.review.object.spec.containers[_]
          a := input.parameters.items[_]
          b := input.parameters.items[_]
          concat("/", [c.name, a, b]) == "never"
          msg := "unreachable"
        }
"#;

fn expensive_constraint(items: usize) -> String {
    let items: Vec<String> = (0..items).map(|i| format!("\"item-{i}\"")).collect();
    format!(
        "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sExpensive\nmetadata: {{name: slow-one}}\n\
         spec:\n  match:\n    kinds: [{{apiGroups: [\"\"], kinds: [\"Pod\"]}}]\n  parameters:\n    items: [{}]\n",
        items.join(", ")
    )
}

fn serve_dir(
    files: &[(&str, String)],
    limits: AdmissionLimits,
) -> (Https, Arc<Metrics>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    let metrics = Arc::new(Metrics::new());
    let store = Arc::new(SnapshotStore::default());
    let source = FileSource::new(dir.path(), BuildOptions::default());
    assert_eq!(source.reload(&store, &metrics), Reload::Published);
    let https = common::serve_store_with(
        store,
        metrics.clone(),
        ServerEnforcement::Deny,
        limits,
        ConnectionLimits::default(),
    );
    (https, metrics, dir)
}

fn pod_review(uid: &str) -> Value {
    let mut pod = common::pod("default", "p", "registry.example.com/app:1");
    pod["spec"]["containers"] = json!([{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]);
    common::review("admission.k8s.io/v1", uid, "CREATE", pod)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expensive_policy_is_cut_off_at_the_deadline_while_health_stays_fast() {
    let limits = AdmissionLimits {
        eval_timeout: Duration::from_millis(600),
        eval_workers: 2,
        validate_failure_policy: FailurePolicy::Fail,
        ..common::test_limits()
    };
    let (https, metrics, _dir) = serve_dir(
        &[
            ("template.yaml", EXPENSIVE.to_string()),
            ("constraint.yaml", expensive_constraint(3000)),
        ],
        limits,
    );
    let c = common::client(&https.ca_pem, Proto::Http2);
    let url = format!("{}/validate", https.base);
    let slow: Vec<_> = (0..2)
        .map(|i| {
            let (c, url) = (c.clone(), url.clone());
            tokio::spawn(async move {
                let started = Instant::now();
                let out =
                    common::post_review(&c, &url, &pod_review(&format!("slow-{i}")), Proto::Http2)
                        .await;
                (out, started.elapsed())
            })
        })
        .collect();
    // While the expensive reviews run, the health endpoint answers at once.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut worst = Duration::ZERO;
    for _ in 0..10 {
        let started = Instant::now();
        let r = c
            .get(format!("{}/healthz", https.base))
            .send()
            .await
            .expect("healthz");
        assert_eq!(r.status(), 200);
        worst = worst.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert!(
        worst < Duration::from_millis(250),
        "healthz took {worst:?} under load"
    );
    for job in slow {
        let (out, took) = job.await.expect("join");
        let resp = &out["response"];
        assert_eq!(resp["allowed"], false, "failure policy Fail denies: {out}");
        assert_eq!(resp["status"]["code"], 500);
        let msg = resp["status"]["message"].as_str().unwrap_or("");
        assert!(msg.contains("deadline"), "{msg}");
        assert!(
            took < Duration::from_secs(3),
            "answered near the deadline, took {took:?}"
        );
    }
    let text = metrics.encode();
    assert!(
        common::metric_value(
            &text,
            "portcullis_admission_deadline_exceeded_total{endpoint=\"validate\"}"
        ) >= 1.0,
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_policy_ignore_admits_with_a_warning() {
    let limits = AdmissionLimits {
        eval_timeout: Duration::from_millis(400),
        validate_failure_policy: FailurePolicy::Ignore,
        ..common::test_limits()
    };
    let (https, _metrics, _dir) = serve_dir(
        &[
            ("template.yaml", EXPENSIVE.to_string()),
            ("constraint.yaml", expensive_constraint(3000)),
        ],
        limits,
    );
    let c = common::client(&https.ca_pem, Proto::Http1);
    let out = common::post_review(
        &c,
        &format!("{}/validate", https.base),
        &pod_review("ignore-1"),
        Proto::Http1,
    )
    .await;
    assert_eq!(out["response"]["allowed"], true, "{out}");
    let warnings = out["response"]["warnings"].to_string();
    assert!(
        warnings.contains("deadline") && warnings.contains("Ignore"),
        "{warnings}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_too_complex_for_the_memory_budget_are_refused_before_decoding() {
    let limits = AdmissionLimits {
        max_inflight_bytes: 2 << 20,
        ..common::test_limits()
    };
    let (https, metrics, _dir) = serve_dir(&[], limits);
    // 60,000 empty containers: about 120 KB of body, some 12 MB of decoded tree.
    let mut pod = common::pod("default", "p", "x");
    pod["spec"]["containers"] = Value::Array(vec![json!({}); 60_000]);
    let body = common::review("admission.k8s.io/v1", "big", "CREATE", pod);
    let c = common::client(&https.ca_pem, Proto::Http1);
    let resp = c
        .post(format!("{}/validate", https.base))
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 413);
    let text = resp.text().await.expect("text");
    assert!(text.contains("too complex"), "{text}");
    assert!(
        metrics.encode().contains("reason=\"too_complex\""),
        "counted as shed"
    );
    // An ordinary review still passes.
    let out = common::post_review(
        &c,
        &format!("{}/validate", https.base),
        &pod_review("small"),
        Proto::Http1,
    )
    .await;
    assert_eq!(out["response"]["allowed"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_kinds_do_not_grow_the_metrics() {
    let (https, metrics, _dir) = serve_dir(&[], common::test_limits());
    let c = common::client(&https.ca_pem, Proto::Http2);
    let url = format!("{}/validate", https.base);
    for i in 0..200 {
        let obj = json!({"apiVersion": "example.com/v1", "kind": format!("Kind{i}"), "metadata": {"name": "x", "namespace": "default"}});
        common::post_review(
            &c,
            &url,
            &common::review("admission.k8s.io/v1", &format!("k{i}"), "CREATE", obj),
            Proto::Http2,
        )
        .await;
    }
    let pod = common::review(
        "admission.k8s.io/v1",
        "pod",
        "CREATE",
        common::pod("default", "p", "x"),
    );
    common::post_review(&c, &url, &pod, Proto::Http2).await;
    let text = metrics.encode();
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("portcullis_admission_requests_total{"))
        .collect();
    assert_eq!(series.len(), 2, "{series:?}");
    assert!(
        text.contains("kind=\"other\",decision=\"allowed\"} 200"),
        "{text}"
    );
    assert!(text.contains("kind=\"Pod\""), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_do_not_echo_what_was_sent() {
    let (https, _metrics, _dir) = serve_dir(&[], common::test_limits());
    let c = common::client(&https.ca_pem, Proto::Http1);
    let huge = "K".repeat(100_000);
    let body = json!({"apiVersion": "admission.k8s.io/v1", "kind": huge});
    let resp = c
        .post(format!("{}/validate", https.base))
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);
    let text = resp.text().await.expect("text");
    assert!(text.len() < 2_000, "answer of {} bytes", text.len());
    assert!(text.contains("kind must be AdmissionReview"), "{text}");
}
