//! Peak memory of mutating a hostile object with the repository's example mutators.
//!
//! Ignored by default: peak RSS (`VmHWM`) is per process, so the figure only means
//! something when this test runs alone:
//!
//! ```text
//! cargo test --lib mutation::memory_tests -- --ignored --nocapture --test-threads=1
//! ```

use base64::Engine as _;
use serde_json::{json, Value};

use super::{Mutator, MutatorSet};
use crate::review::Review;

/// `VmHWM` (peak resident set) of this process in KiB, 0 where /proc is unavailable.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// Every mutator of `policies/examples/mutations`.
pub(super) fn example_mutators() -> Vec<Mutator> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/examples/mutations");
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for doc in crate::manifests::parse_documents(&text, &path.display().to_string())
            .unwrap_or_else(|e| panic!("{e}"))
        {
            out.push(Mutator::parse(&doc.value).unwrap_or_else(|e| panic!("{e}")));
        }
    }
    out
}

/// Mutate a Pod of `n` empty containers with the example mutators and print the answer,
/// the time and the rise of the peak RSS.
fn measure(n: usize) {
    let set = MutatorSet::new(example_mutators()).unwrap_or_else(|e| panic!("{e}"));
    let containers: Vec<Value> = (0..n).map(|_| json!({})).collect();
    let review = Review::from_object(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": containers}
    }));
    let before = peak_rss_kib();
    let start = std::time::Instant::now();
    let result = set.mutate_with(&review, &|m, r| m.applies_to(r));
    let answer = match &result {
        Ok(o) => {
            // What the server does with it: serialise, then base64 into the response.
            let bytes = serde_json::to_vec(&o.patch).unwrap_or_default();
            let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
            format!(
                "patch of {} operations, {} bytes ({} in base64)",
                o.patch.0.len(),
                bytes.len(),
                encoded.len()
            )
        }
        Err(e) => format!("error: {e}"),
    };
    let elapsed = start.elapsed();
    drop(result);
    let after = peak_rss_kib();
    println!(
        "{n} empty containers: {answer}; {elapsed:?}; peak RSS {} MiB -> {} MiB (+{} MiB)",
        before / 1024,
        after / 1024,
        after.saturating_sub(before) / 1024
    );
}

#[test]
#[ignore = "measures the process's peak RSS: run one at a time, cargo test --release --lib mutation::memory_tests::NAME -- --ignored --nocapture"]
fn peak_rss_of_100k_empty_containers() {
    measure(100_000);
}

#[test]
#[ignore = "measures the process's peak RSS: run one at a time, cargo test --release --lib mutation::memory_tests::NAME -- --ignored --nocapture"]
fn peak_rss_of_1m_empty_containers() {
    measure(1_000_000);
}

/// The largest patch the limits let through: 3,300 containers, about 9,900 operations.
#[test]
#[ignore = "measures the process's peak RSS: run one at a time, cargo test --release --lib mutation::memory_tests::NAME -- --ignored --nocapture"]
fn peak_rss_of_the_largest_accepted_patch() {
    measure(3_300);
}
