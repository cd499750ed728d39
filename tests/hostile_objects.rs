//! Objects a tenant can send to make one admission expensive, over real HTTPS with the
//! repository's library and example mutators and the default deadline:
//! - a Pod of 100,000 empty containers (400 KB) sent to `/mutate` used to be answered with
//!   a 30 MB patch after seconds and nearly a GiB of memory; it is now refused by the
//!   mutation limits within the deadline and answered by the failure policy;
//! - a Pod of 60,000 distinctly named containers with an untrusted image (2.4 MB) sent to
//!   `/validate` took 15–18 s in a Native rule that deduplicated violations by scanning;
//!   it is now denied in well under the deadline.

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

const ALLOWED_REPOS: &str = r#"
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sAllowedRepos
metadata: {name: trusted-registry-only}
spec:
  match:
    kinds: [{apiGroups: [""], kinds: ["Pod"]}]
  parameters:
    repos: ["registry.example.com/"]
"#;

/// The deadline of the test servers: the default.
fn deadline() -> Duration {
    AdmissionLimits::default().eval_timeout
}

/// A server over the library templates, the example mutators and [`ALLOWED_REPOS`], with
/// the default limits except a body limit that admits the payloads and `mutate_policy`.
fn serve(mutate_policy: FailurePolicy) -> (Https, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    common::copy_dir(&common::library_dir(), dir.path());
    let examples =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/examples/mutations");
    common::copy_dir(&examples, dir.path());
    std::fs::write(dir.path().join("allowed-repos.yaml"), ALLOWED_REPOS).expect("write");
    let metrics = Arc::new(Metrics::new());
    let store = Arc::new(SnapshotStore::default());
    let source = FileSource::new(dir.path(), BuildOptions::default());
    assert_eq!(source.reload(&store, &metrics), Reload::Published);
    let limits = AdmissionLimits {
        max_body: 8 * 1024 * 1024,
        mutate_failure_policy: mutate_policy,
        ..AdmissionLimits::default()
    };
    let https = common::serve_store_with(
        store,
        metrics,
        ServerEnforcement::Deny,
        limits,
        ConnectionLimits::default(),
    );
    (https, dir)
}

fn pod_review(uid: &str, containers: Vec<Value>) -> Value {
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": containers}
    });
    common::review("admission.k8s.io/v1", uid, "CREATE", pod)
}

/// Post and return the parsed answer (checked by `post_review` as the API server would:
/// 200, echoed apiVersion, kind and uid), its size in bytes and the time it took.
async fn timed_post(client: &reqwest::Client, url: &str, body: &Value) -> (Value, usize, Duration) {
    let started = Instant::now();
    let out = common::post_review(client, url, body, Proto::Http2).await;
    let took = started.elapsed();
    let size = serde_json::to_vec(&out).map_or(0, |b| b.len());
    (out, size, took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_of_100k_empty_containers_gets_the_failure_policy_answer_not_a_huge_patch() {
    let containers: Vec<Value> = (0..100_000).map(|_| json!({})).collect();
    let body = pod_review("empty-100k", containers);
    for policy in [FailurePolicy::Ignore, FailurePolicy::Fail] {
        let (https, _dir) = serve(policy);
        let c = common::client(&https.ca_pem, Proto::Http2);
        let url = format!("{}/mutate", https.base);
        let (out, size, took) = timed_post(&c, &url, &body).await;
        println!("/mutate 100k empty containers ({policy:?}): {size} bytes in {took:?}");
        let resp = &out["response"];
        assert!(resp.get("patch").is_none(), "no patch at all: {size} bytes");
        assert!(size < 4096, "a short answer, not a patch: {size} bytes");
        assert!(took < deadline(), "answered within the deadline: {took:?}");
        let text = match policy {
            FailurePolicy::Ignore => {
                assert_eq!(resp["allowed"], true, "{out}");
                resp["warnings"][0].as_str().unwrap_or("").to_string()
            }
            FailurePolicy::Fail => {
                assert_eq!(resp["allowed"], false, "{out}");
                assert_eq!(resp["status"]["code"], 500, "{out}");
                resp["status"]["message"].as_str().unwrap_or("").to_string()
            }
        };
        assert!(
            text.contains("max_patch_operations"),
            "names the limit: {text}"
        );
        assert!(text.contains("Assign/"), "names the mutator: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_of_60k_distinct_untrusted_containers_is_denied_well_under_the_deadline() {
    let containers: Vec<Value> = (0..60_000)
        .map(|i| json!({"name": format!("c{i}"), "image": "docker.io/evil/miner:1.0"}))
        .collect();
    let body = pod_review("distinct-60k", containers);
    let (https, _dir) = serve(FailurePolicy::Ignore);
    let c = common::client(&https.ca_pem, Proto::Http2);
    let url = format!("{}/validate", https.base);
    let (out, size, took) = timed_post(&c, &url, &body).await;
    println!("/validate 60k distinct containers: {size} bytes in {took:?}");
    let resp = &out["response"];
    assert_eq!(resp["allowed"], false, "denied");
    assert_eq!(
        resp["status"]["code"], 403,
        "denied by policy, not by the deadline"
    );
    let msg = resp["status"]["message"].as_str().unwrap_or("");
    assert!(msg.contains("has an invalid image repo"), "{msg}");
    assert!(!msg.contains("deadline"), "{msg}");
    assert!(
        took < deadline() / 2,
        "well under the {:?} deadline: {took:?}",
        deadline()
    );
}
