//! The README's first command, as a user runs it: `portcullis serve` with the embedded
//! default policies and a self-signed certificate, answering over HTTPS, shutting down
//! cleanly on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{post_review, Proto};

/// The server, killed if the test fails before stopping it.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_defaults_answers_and_stops_on_sigterm() {
    let (port, metrics_port) = common::free_ports();
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("RUST_LOG", "warn")
            .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn"),
    );
    let child = &mut child.0;
    // The server announces its fresh CA directory and a curl to try.
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut cert_dir = None;
    let deadline = Instant::now() + Duration::from_secs(20);
    while cert_dir.is_none() && Instant::now() < deadline {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(rest) = line.split("self-signed CA and certificate in ").nth(1) {
                    cert_dir = Some(rest.trim().to_string());
                }
            }
            _ => break,
        }
    }
    let cert_dir = cert_dir.expect("serve prints where its CA is");
    let curl = lines.next().and_then(Result::ok).unwrap_or_default();
    assert!(curl.contains("curl --cacert"), "{curl}");
    std::thread::spawn(move || for _ in lines {});

    let ca = std::fs::read_to_string(format!("{cert_dir}/ca.crt")).expect("ca.crt");
    let c = common::client(&ca, Proto::Http2);
    let base = format!("https://localhost:{port}");
    let ready = common::eventually(Duration::from_secs(20), || {
        let (c, url) = (c.clone(), format!("{base}/readyz"));
        async move { c.get(&url).send().await.is_ok_and(|r| r.status() == 200) }
    })
    .await;
    assert!(ready, "readyz turns 200 once the default policies load");

    let fixture = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/reviews/pod-untrusted-registry.json"
    ))
    .expect("fixture");
    let body: serde_json::Value = serde_json::from_slice(&fixture).expect("json");
    let out = post_review(&c, &format!("{base}/validate"), &body, Proto::Http2).await;
    assert_eq!(out["response"]["allowed"], false, "{out}");
    assert!(out["response"]["status"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("[trusted-registries]"));

    // Idle, the server does nothing: watching its policy and certificate directories
    // costs no CPU (reading them once woke the watcher again, which read them again).
    let cpu = || {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).expect("stat");
        // Fields after the command name, which is in parentheses: utime and stime are the
        // 12th and 13th of those.
        let rest = stat.rsplit_once(')').expect("stat format").1;
        let fields: Vec<u64> = rest
            .split_whitespace()
            .skip(11)
            .take(2)
            .map(|f| f.parse().expect("clock ticks"))
            .collect();
        fields.iter().sum::<u64>()
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = cpu();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu() - before;
    // Clock ticks are usually 1/100 s: at most 0.3 s of CPU in 2 s of idling.
    assert!(
        used <= 30,
        "an idle server used {used} clock ticks of CPU in 2 s"
    );

    let status = Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(code) = child.try_wait().expect("wait") {
            assert!(code.success(), "clean exit on SIGTERM: {code:?}");
            break;
        }
        assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
