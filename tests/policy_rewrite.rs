//! Careless edits under load: a policy file rewritten in place (truncate, then write in
//! pieces, as `cp`, `>` and many tools do) while untrusted Pods keep arriving over HTTPS.
//! Not one of them may be admitted, and the server keeps answering throughout.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

mod common;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::Proto;
use portcullis::decision::ServerEnforcement;
use portcullis::metrics::Metrics;
use portcullis::snapshot::{BuildOptions, SnapshotStore};
use portcullis::sources::file::{FileSource, Reload};

/// Rewrite `path` in place with `content`: truncate, then write it in `pieces` chunks with a
/// pause between them, as a slow writer would.
fn rewrite_in_place(path: &std::path::Path, content: &[u8], pieces: usize, pause: Duration) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .expect("open for rewrite");
    let chunk = content.len().div_ceil(pieces.max(1)).max(1);
    for part in content.chunks(chunk) {
        std::thread::sleep(pause);
        f.write_all(part).expect("write");
        f.flush().expect("flush");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_place_rewrites_under_load_admit_no_untrusted_pod() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    std::fs::copy(
        root.join("library/k8sallowedrepos.yaml"),
        dir.path().join("template.yaml"),
    )
    .expect("template");
    let constraint_path = dir.path().join("constraint.yaml");
    let constraint = std::fs::read(root.join("examples/allowed-repos.yaml")).expect("constraint");
    std::fs::write(&constraint_path, &constraint).expect("write");

    let metrics = Arc::new(Metrics::new());
    let store = Arc::new(SnapshotStore::default());
    // The server's own defaults for settling and holding removals.
    let source = FileSource::new(dir.path(), BuildOptions::default());
    assert_eq!(source.reload(&store, &metrics), Reload::Published);
    source
        .clone()
        .spawn_watch(store.clone(), metrics.clone(), Duration::from_millis(100));
    let https = common::serve_store(store.clone(), metrics.clone(), ServerEnforcement::Deny);

    let allowed = Arc::new(AtomicUsize::new(0));
    let judged = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for worker in 0..3 {
        let c = common::client(&https.ca_pem, Proto::Http2);
        let url = format!("{}/validate", https.base);
        let (allowed, judged, stop) = (allowed.clone(), judged.clone(), stop.clone());
        load.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let pod = common::pod(
                    "default",
                    &format!("p{worker}-{i}"),
                    "docker.io/evil/miner:1.0",
                );
                let body = common::review(
                    "admission.k8s.io/v1",
                    &format!("u{worker}-{i}"),
                    "CREATE",
                    pod,
                );
                let out = common::post_review(&c, &url, &body, Proto::Http2).await;
                if out["response"]["allowed"] == true {
                    allowed.fetch_add(1, Ordering::Relaxed);
                }
                judged.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        }));
    }

    // Twenty rewrites: some in one write, some in slow pieces; a few write a different
    // (equally strict) version, so reloads really happen.
    let writer = {
        let (path, constraint) = (constraint_path.clone(), constraint.clone());
        tokio::task::spawn_blocking(move || {
            let stricter = String::from_utf8_lossy(&constraint)
                .replace("      - \"docker.io/library/\"\n", "");
            for round in 0..20 {
                let content = if round % 3 == 2 {
                    stricter.as_bytes().to_vec()
                } else {
                    constraint.clone()
                };
                let (pieces, pause) = if round % 2 == 0 {
                    (1, Duration::ZERO)
                } else {
                    (8, Duration::from_millis(20))
                };
                rewrite_in_place(&path, &content, pieces, pause);
                std::thread::sleep(Duration::from_millis(150));
            }
        })
    };
    writer.await.expect("writer");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.await.expect("load worker");
    }
    let judged = judged.load(Ordering::Relaxed);
    assert!(judged > 100, "the load kept flowing: {judged} reviews");
    assert_eq!(
        allowed.load(Ordering::Relaxed),
        0,
        "untrusted Pods admitted during rewrites, out of {judged}"
    );
    assert_eq!(
        store.load().constraints.len(),
        1,
        "the constraint still serves"
    );
    drop(https);
}
