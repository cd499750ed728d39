//! The serve binary through a rolling update: unready while its policy directory is broken
//! at startup, ready once fixed; on SIGTERM, unready at once but still serving new
//! connections for the shutdown delay, then gone.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Proto;

struct Server {
    child: Child,
    base: String,
    ca: String,
    _certs: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(policies: &Path, extra: &[&str]) -> Server {
    let (port, metrics_port) = common::free_ports();
    let certs = tempfile::tempdir().expect("tempdir");
    let child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .env("RUST_LOG", "warn")
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
        .arg("--policies")
        .arg(policies)
        .arg("--cert-dir")
        .arg(certs.path())
        .args(["--poll-seconds", "1", "--policy-settle", "100ms"])
        .args(extra)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let ca_path = certs.path().join("ca.crt");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ca_path.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let ca = std::fs::read_to_string(&ca_path).expect("ca.crt");
    Server {
        child,
        base: format!("https://localhost:{port}"),
        ca,
        _certs: certs,
    }
}

async fn status(c: &reqwest::Client, url: &str) -> Option<u16> {
    c.get(url).send().await.ok().map(|r| r.status().as_u16())
}

async fn wait_ready(c: &reqwest::Client, server: &Server) {
    let ready = common::eventually(Duration::from_secs(30), || {
        let (c, url) = (c.clone(), format!("{}/readyz", server.base));
        async move { status(&c, &url).await == Some(200) }
    })
    .await;
    assert!(ready, "ready within 30 s");
}

/// SIGTERM, as the kubelet sends.
fn terminate(server: &Server) {
    let ok = Command::new("kill")
        .arg(server.child.id().to_string())
        .status()
        .expect("kill");
    assert!(ok.success());
}

async fn wait_exit(server: &mut Server, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(code) = server.child.try_wait().expect("wait") {
            return code;
        }
        assert!(Instant::now() < deadline, "did not exit within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn copy_repo_policies(to: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    common::copy_dir(&root.join("library"), to);
    std::fs::copy(
        root.join("examples/allowed-repos.yaml"),
        to.join("allowed-repos.yaml"),
    )
    .expect("copy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_policy_directory_keeps_the_server_unready_until_fixed() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_repo_policies(dir.path());
    std::fs::write(dir.path().join("broken.yaml"), "kind: [unclosed").expect("write");
    let server = start(dir.path(), &[]);
    let c = common::client(&server.ca, Proto::Http1);
    let live = common::eventually(Duration::from_secs(30), || {
        let (c, url) = (c.clone(), format!("{}/healthz", server.base));
        async move { status(&c, &url).await == Some(200) }
    })
    .await;
    assert!(live, "the process serves /healthz while unready");
    for _ in 0..10 {
        assert_eq!(
            status(&c, &format!("{}/readyz", server.base)).await,
            Some(503)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    std::fs::remove_file(dir.path().join("broken.yaml")).expect("fix");
    let ready = common::eventually(Duration::from_secs(20), || {
        let (c, url) = (c.clone(), format!("{}/readyz", server.base));
        async move { status(&c, &url).await == Some(200) }
    })
    .await;
    assert!(ready, "ready once the directory is fixed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_unready_then_closes() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_repo_policies(dir.path());
    let mut server = start(
        dir.path(),
        &["--shutdown-delay", "2s", "--shutdown-grace", "2s"],
    );
    let c = common::client(&server.ca, Proto::Http1);
    wait_ready(&c, &server).await;
    let killed = Instant::now();
    terminate(&server);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        status(&c, &format!("{}/readyz", server.base)).await,
        Some(503),
        "unready at once"
    );
    // New connections are still served during the delay.
    let review = common::review(
        "admission.k8s.io/v1",
        "during-drain",
        "CREATE",
        common::pod("default", "p", "docker.io/evil/miner:1.0"),
    );
    while killed.elapsed() < Duration::from_millis(1500) {
        let fresh = common::client(&server.ca, Proto::Http2);
        let out = common::post_review(
            &fresh,
            &format!("{}/validate", server.base),
            &review,
            Proto::Http2,
        )
        .await;
        assert_eq!(out["response"]["allowed"], false);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let code = wait_exit(&mut server, Duration::from_secs(15)).await;
    assert!(code.success(), "{code:?}");
    let took = killed.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(8),
        "exit after the delay, within delay + grace: {took:?}"
    );
    assert_eq!(
        status(&c, &format!("{}/healthz", server.base)).await,
        None,
        "gone"
    );
}

/// Half a request head held open while the server shuts down must not keep it running for
/// the whole grace period: a connection with no request in flight is closed a few seconds
/// after the server starts closing, whatever the header timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_headers_do_not_hold_shutdown_to_the_grace_period() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().expect("tempdir");
    copy_repo_policies(dir.path());
    let mut server = start(
        dir.path(),
        &[
            "--shutdown-delay",
            "1s",
            "--shutdown-grace",
            "30s",
            "--header-read-timeout",
            "60s",
        ],
    );
    let c = common::client(&server.ca, Proto::Http1);
    wait_ready(&c, &server).await;
    let mut held = common::raw_tls(&server.base, &server.ca).await;
    held.write_all(b"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-")
        .await
        .expect("write");
    held.flush().await.expect("flush");
    let killed = Instant::now();
    terminate(&server);
    let closed = common::read_until_closed(&mut held, Duration::from_secs(25)).await;
    assert!(
        closed.is_ok(),
        "the half-sent request's connection is closed"
    );
    let code = wait_exit(&mut server, Duration::from_secs(25)).await;
    assert!(code.success(), "{code:?}");
    let took = killed.elapsed();
    assert!(
        took < Duration::from_secs(12),
        "exit within the delay and a connection's close grace, not the 30 s grace: {took:?}"
    );
}
