//! Policy impact preview, whole flows: reviews recorded by a webhook over real HTTPS
//! (redacted before they reach disk), replayed by the `portcullis replay` binary against a
//! tighter candidate policy set, and a shadow policy set judging live traffic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

mod common;
#[allow(dead_code)] // the chart helpers this file does not need
mod helm;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use common::{eventually, metric_value, pod, post_review, review, Proto};
use portcullis::decision::ServerEnforcement;
use portcullis::impact::recorder::{RecordOptions, Recorder};
use portcullis::impact::replay::JudgeOptions;
use portcullis::impact::shadow::Shadow;
use portcullis::impact::Tap;
use portcullis::metrics::Metrics;
use portcullis::server::{self, AppState, ConnectionLimits};
use portcullis::snapshot::{BuildOptions, SnapshotStore};
use portcullis::sources::file::FileSource;
use serde_json::{json, Value};

/// A password and a token as a Secret carries them: plaintext in `stringData`, base64 in
/// `data`, and both inside kubectl's last-applied annotation.
const PASSWORD: &str = "correct-horse-battery-staple";
const TOKEN: &str = "tok-8a7d6c5b4e3f2a1b";
const OLD_PASSWORD: &str = "previous-passw0rd-value";

/// The repository's allowed-repos policy set (four trusted registries).
fn current_policies() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    common::copy_allowed_repos(dir.path());
    dir
}

/// The same set with only `registry.k8s.io/` trusted.
fn tighter_policies() -> tempfile::TempDir {
    let dir = current_policies();
    let path = dir.path().join("allowed-repos.yaml");
    let text = std::fs::read_to_string(&path).expect("constraint");
    let tightened: String = text
        .lines()
        .filter(|l| {
            ![
                "ghcr.io/example-org/",
                "docker.io/library/",
                "registry.example.com/",
            ]
            .iter()
            .any(|r| l.contains(r))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(
        tightened, text,
        "the candidate differs from the current set"
    );
    assert!(tightened.contains("registry.k8s.io/"));
    std::fs::write(&path, tightened).expect("write candidate");
    dir
}

fn load(dir: &Path) -> portcullis::snapshot::PolicySnapshot {
    FileSource::new(dir, BuildOptions::default())
        .load()
        .expect("policy set loads")
}

struct Server {
    base: String,
    client: reqwest::Client,
    metrics: Arc<Metrics>,
    lifecycle: server::Lifecycle,
    _certs: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.lifecycle.advance(server::Stage::Closing);
    }
}

/// Serve `policies` over HTTPS with `tap` receiving every judged review.
fn serve(policies: &Path, metrics: Arc<Metrics>, tap: Tap) -> Server {
    let store = Arc::new(SnapshotStore::with(load(policies)));
    let (certs, ca_pem, tls, _) = common::self_signed();
    let mut state = AppState::new(store, metrics.clone()).with_limits(common::test_limits());
    state.enforcement = ServerEnforcement::Deny;
    state.tap = Arc::new(tap);
    let lifecycle = state.lifecycle.clone();
    let base = common::serve_state(state, tls, ConnectionLimits::default());
    Server {
        base,
        client: common::client(&ca_pem, Proto::Http2),
        metrics,
        lifecycle,
        _certs: certs,
    }
}

impl Server {
    async fn post(&self, path: &str, body: &Value) -> Value {
        post_review(
            &self.client,
            &format!("{}{path}", self.base),
            body,
            Proto::Http2,
        )
        .await
    }

    async fn wait_for(&self, series: &str, want: f64) -> bool {
        eventually(Duration::from_secs(20), || {
            let text = self.metrics.encode();
            async move { metric_value(&text, series) >= want }
        })
        .await
    }
}

fn secret(name: &str, password: &str, token: Option<&str>) -> Value {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut data = json!({"password": b64(password)});
    if let Some(t) = token {
        data["token"] = json!(b64(t));
    }
    let applied = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                         "stringData": {"password": password}});
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": "prod", "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": applied.to_string()}},
        "type": "Opaque",
        "data": data,
        "stringData": {"password": password},
    })
}

fn replay(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .env("RUST_LOG", "warn")
        .arg("replay")
        .args(args)
        .output()
        .expect("run replay");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_traffic_replays_against_a_tighter_policy_set() {
    let current = current_policies();
    let candidate = tighter_policies();
    let records = tempfile::tempdir().expect("tempdir");
    let record_dir = records.path().join("records");
    let metrics = Arc::new(Metrics::new());
    let recorder = Recorder::start(
        RecordOptions {
            dir: record_dir.clone(),
            sample: 1.0,
            max_bytes: 1 << 20,
            queue: 64,
        },
        metrics.clone(),
    )
    .expect("recorder");
    let srv = serve(
        current.path(),
        metrics,
        Tap {
            recorder: Some(recorder),
            shadow: None,
        },
    );

    let api = "admission.k8s.io/v1";
    let pods = [
        (
            "uid-kept",
            "prod",
            "kept",
            "registry.k8s.io/pause:3.9",
            true,
        ),
        (
            "uid-nginx",
            "dev",
            "nginx",
            "docker.io/library/nginx:1.27",
            true,
        ),
        ("uid-app", "prod", "app", "ghcr.io/example-org/app:2", true),
        (
            "uid-miner",
            "dev",
            "miner",
            "docker.io/evil/miner:1.0",
            false,
        ),
    ];
    for (uid, ns, name, image, allowed) in pods {
        let out = srv
            .post(
                "/validate",
                &review(api, uid, "CREATE", pod(ns, name, image)),
            )
            .await;
        assert_eq!(out["response"]["allowed"], allowed, "{name}: {out}");
    }
    // The same untrusted-but-current Pod at /mutate: mutation never denies, so its replay
    // must not either.
    let out = srv
        .post(
            "/mutate",
            &review(
                api,
                "uid-nginx",
                "CREATE",
                pod("dev", "nginx", "docker.io/library/nginx:1.27"),
            ),
        )
        .await;
    assert_eq!(out["response"]["allowed"], true, "{out}");
    let mut update = review(
        api,
        "uid-secret-update",
        "UPDATE",
        secret("db", PASSWORD, Some(TOKEN)),
    );
    update["request"]["oldObject"] = secret("db", OLD_PASSWORD, None);
    for body in [
        review(
            api,
            "uid-secret",
            "CREATE",
            secret("db", PASSWORD, Some(TOKEN)),
        ),
        update,
        review(
            api,
            "uid-secret-delete",
            "DELETE",
            secret("db", PASSWORD, None),
        ),
    ] {
        let out = srv.post("/validate", &body).await;
        assert_eq!(out["response"]["allowed"], true, "{out}");
    }
    assert!(
        srv.wait_for("portcullis_records_written_total", 8.0).await,
        "{}",
        srv.metrics.encode()
    );

    // Not one byte of any secret value, in plaintext or base64, in any record file.
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut files: Vec<_> = std::fs::read_dir(&record_dir)
        .expect("record dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let mut lines = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).expect("read record file");
        for secret in [PASSWORD, TOKEN, OLD_PASSWORD] {
            for form in [secret.to_string(), b64(secret)] {
                assert!(
                    !bytes.windows(form.len()).any(|w| w == form.as_bytes()),
                    "{form} found in {}",
                    file.display()
                );
            }
        }
        let text = String::from_utf8(bytes).expect("utf8");
        lines.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).expect("record")),
        );
    }
    assert_eq!(
        lines.len(),
        8,
        "every review recorded at sample 1: {lines:?}"
    );
    let by_uid = |uid: &str, endpoint: &str| {
        lines
            .iter()
            .find(|r| r["request"]["uid"] == uid && r["endpoint"] == endpoint)
            .unwrap_or_else(|| panic!("no {endpoint} record of {uid}"))
            .clone()
    };
    let secret_record = by_uid("uid-secret-update", "validate");
    assert_eq!(
        secret_record["request"]["object"]["data"]["password"],
        "<redacted>"
    );
    assert_eq!(
        secret_record["request"]["oldObject"]["stringData"]["password"],
        "<redacted>"
    );
    assert_eq!(secret_record["request"]["object"]["metadata"]["name"], "db");
    let miner = by_uid("uid-miner", "validate");
    assert_eq!(miner["decision"]["allowed"], false);
    assert_eq!(miner["decision"]["code"], 403);
    assert!(miner["decision"]["message"]
        .as_str()
        .unwrap_or("")
        .starts_with("[trusted-registries] "));
    assert_eq!(by_uid("uid-nginx", "mutate")["decision"]["allowed"], true);

    // Replay against the tighter set: exactly the two Pods from registries it drops.
    let dir = record_dir.to_str().expect("utf8 path");
    let cand = candidate.path().to_str().expect("utf8 path");
    let (code, out, err) = replay(&["--policies", cand, "--output", "json", dir]);
    assert_eq!(code, 1, "newly denied reviews exit 1: {out} {err}");
    let report: Value = serde_json::from_str(&out).expect("json report");
    assert_eq!(report["records"], 8, "{report}");
    assert_eq!(report["judged"], 8);
    assert_eq!(report["unreadable"], 0);
    let denied = &report["changes"]["newly_denied"];
    assert_eq!(denied["reviews"], 2, "{report}");
    let group = &denied["by_constraint"]["trusted-registries"];
    assert_eq!(group["reviews"], 2);
    let mut names: Vec<&str> = group["examples"]
        .as_array()
        .expect("examples")
        .iter()
        .map(|e| e["name"].as_str().expect("name"))
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["app", "nginx"]);
    assert_eq!(
        denied["by_constraint"].as_object().expect("map").len(),
        1,
        "{report}"
    );
    assert_eq!(denied["by_namespace"]["dev"]["reviews"], 1);
    assert_eq!(denied["by_namespace"]["prod"]["reviews"], 1);
    for other in ["newly_allowed", "warnings_changed", "patch_changed"] {
        assert_eq!(report["changes"][other]["reviews"], 0, "{other}: {report}");
    }
    // The miner is denied by both, with messages quoting each set's repository list.
    assert_eq!(
        report["changes"]["denial_changed"]["reviews"], 1,
        "{report}"
    );

    // With the current set as the explicit baseline: the same two.
    let cur = current.path().to_str().expect("utf8 path");
    let (code, out, _) = replay(&[
        "--policies",
        cand,
        "--baseline",
        cur,
        "--output",
        "json",
        dir,
    ]);
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&out).expect("json report");
    assert_eq!(report["changes"]["newly_denied"]["reviews"], 2, "{report}");

    // Text and JUnit reports; the current set against its own records changes nothing.
    let (code, out, _) = replay(&["--policies", cand, dir]);
    assert_eq!(code, 1);
    assert!(out.contains("newly denied: 2 reviews"), "{out}");
    assert!(out.contains("    trusted-registries: 2"), "{out}");
    let (code, out, _) = replay(&["--policies", cand, "--output", "junit", dir]);
    assert_eq!(code, 1);
    assert!(out.contains("failures=\"1\""), "{out}");
    let (code, out, err) = replay(&["--policies", cur, dir]);
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.contains("8 judged, 8 unchanged, 0 unreadable"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_set_counts_a_would_be_denial_while_the_real_answer_allows() {
    let current = current_policies();
    let candidate = tighter_policies();
    let metrics = Arc::new(Metrics::new());
    let shadow = Shadow::new(
        Arc::new(SnapshotStore::with(load(candidate.path()))),
        2,
        metrics.clone(),
        JudgeOptions::default(),
    );
    let srv = serve(
        current.path(),
        metrics,
        Tap {
            recorder: None,
            shadow: Some(shadow),
        },
    );
    let api = "admission.k8s.io/v1";
    let out = srv
        .post(
            "/validate",
            &review(
                api,
                "u-1",
                "CREATE",
                pod("dev", "web", "docker.io/library/nginx:1"),
            ),
        )
        .await;
    assert_eq!(
        out["response"]["allowed"], true,
        "the real answer allows: {out}"
    );
    assert!(out["response"].get("warnings").is_none(), "{out}");
    let series = "portcullis_shadow_disagreements_total{constraint=\"trusted-registries\",outcome=\"would_deny\"}";
    assert!(srv.wait_for(series, 1.0).await, "{}", srv.metrics.encode());
    // A Pod both sets allow is judged and agrees.
    let out = srv
        .post(
            "/validate",
            &review(
                api,
                "u-2",
                "CREATE",
                pod("dev", "ok", "registry.k8s.io/pause:3.9"),
            ),
        )
        .await;
    assert_eq!(out["response"]["allowed"], true);
    assert!(
        srv.wait_for("portcullis_shadow_evaluations_total", 2.0)
            .await
    );
    let text = srv.metrics.encode();
    assert_eq!(metric_value(&text, series), 1.0, "{text}");
}

#[test]
fn replay_refuses_a_broken_policy_set_and_unreadable_records() {
    let records = tempfile::tempdir().expect("tempdir");
    let file = records.path().join("r.ndjson");
    std::fs::write(&file, "not a record\n").expect("write");
    let policies = current_policies();
    let broken = tempfile::tempdir().expect("tempdir");
    std::fs::write(broken.path().join("bad.yaml"), "kind: [").expect("write");
    let f = file.to_str().expect("utf8");
    let (code, _, err) = replay(&["--policies", broken.path().to_str().expect("utf8"), f]);
    assert_eq!(code, 2, "{err}");
    let (code, out, err) = replay(&["--policies", policies.path().to_str().expect("utf8"), f]);
    assert_eq!(code, 2, "no record could be read: {out} {err}");
    assert!(out.contains("r.ndjson:1: "), "{out}");
    let (code, _, err) = replay(&[
        "--policies",
        policies.path().to_str().expect("utf8"),
        "/nonexistent/records",
    ]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn chart_records_to_a_size_limited_emptydir_with_flags_serve_accepts() {
    use clap::Parser as _;
    if !helm::helm_available() {
        return;
    }
    let off = helm::render(&[]);
    assert!(!helm::args(&off).iter().any(|a| a.starts_with("--record")));
    let docs = helm::render(&[
        "record.enabled=true",
        "record.maxBytes=50Mi",
        "record.sizeLimit=64Mi",
    ]);
    let args = helm::args(&docs);
    for want in [
        "--record=/records",
        "--record-sample=0.01",
        "--record-max-bytes=50Mi",
    ] {
        assert!(args.contains(&want), "{want} in {args:?}");
    }
    let mounts = helm::container(&docs)["volumeMounts"]
        .as_array()
        .expect("mounts");
    assert!(mounts.iter().any(|m| m["name"] == "records"
        && m["mountPath"] == "/records"
        && m.get("readOnly").is_none()));
    let volumes = helm::webhook_deployment(&docs)["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .expect("volumes");
    let records = volumes
        .iter()
        .find(|v| v["name"] == "records")
        .expect("records volume");
    assert_eq!(records["emptyDir"]["sizeLimit"], "64Mi");
    // The rendered arguments are ones `serve` accepts.
    let parsed = portcullis::cli::Cli::try_parse_from(
        std::iter::once("portcullis").chain(args.iter().copied()),
    );
    let cli = parsed.unwrap_or_else(|e| panic!("serve refuses the chart's args: {e}"));
    let portcullis::cli::Command::Serve(serve) = cli.command else {
        panic!("not serve");
    };
    assert_eq!(serve.record.as_deref(), Some(Path::new("/records")));
    assert_eq!(serve.record_max_bytes, 50 << 20);
    assert!((serve.record_sample - 0.01).abs() < 1e-12);
}
