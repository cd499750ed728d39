//! Every fuzz target of `fuzz/` over its seed corpus, over every input a fuzzer found
//! (`fuzz/regressions/<target>/`), and over a few hundred deterministic variants of each
//! seed (truncations, byte flips, repeated nesting tokens), so that `cargo test` keeps what
//! fuzzing found fixed without needing libFuzzer or a nightly compiler.
//!
//! Each input runs on a thread with the server's evaluation stack (8 MiB): an input that
//! overflows it aborts this test binary, which is the failure it should be.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

use std::path::{Path, PathBuf};

use portcullis::fuzzing::TARGETS;

/// Stack of the server's evaluation threads.
const STACK: usize = 8 * 1024 * 1024;

/// Variants made from each seed.
const VARIANTS: u64 = 400;

/// The targets to run: all, or those named in `PORTCULLIS_FUZZ_TARGETS` (comma-separated),
/// to reproduce one target's failure on its own.
fn selected() -> Vec<(&'static str, portcullis::fuzzing::Target)> {
    let only = std::env::var("PORTCULLIS_FUZZ_TARGETS").unwrap_or_default();
    TARGETS
        .iter()
        .filter(|(name, _)| only.is_empty() || only.split(',').any(|o| o.trim() == *name))
        .copied()
        .collect()
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn inputs(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter_map(|p| std::fs::read(&p).ok().map(|b| (p, b)))
        .collect();
    out.sort();
    out
}

/// A small deterministic generator, so a failing variant is reproducible from its index.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Tokens that make parsers and walkers nest or repeat.
const NESTERS: &[&[u8]] = &[
    b"(", b"[", b"{", b"!", b"-", b"+1", b".a", b"[_]", b"\\", b"\"",
];

fn variant(seed: &[u8], n: u64) -> Vec<u8> {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ n.wrapping_mul(0x2545_F491_4F6C_DD1D));
    let mut out = seed.to_vec();
    match n % 5 {
        0 => out.truncate(rng.below(seed.len() + 1)),
        1 => {
            for _ in 0..=rng.below(4) {
                let i = rng.below(out.len());
                if let Some(b) = out.get_mut(i) {
                    *b ^= 1 << rng.below(8);
                }
            }
        }
        2 => {
            let token = NESTERS[rng.below(NESTERS.len())];
            let at = rng.below(out.len() + 1);
            let times = 1 + rng.below(2_000);
            let insert: Vec<u8> = token
                .iter()
                .copied()
                .cycle()
                .take(token.len() * times)
                .collect();
            out.splice(at..at, insert);
        }
        3 => {
            let a = rng.below(out.len());
            let b = (a + rng.below(64)).min(out.len());
            let slice = out[a..b].to_vec();
            for _ in 0..rng.below(50) {
                out.splice(b..b, slice.iter().copied());
            }
        }
        _ => {
            let a = rng.below(out.len());
            let b = (a + rng.below(16)).min(out.len());
            out.drain(a..b);
        }
    }
    out
}

fn run_on_stack(target: fn(&[u8]), input: Vec<u8>, what: String) {
    let handle = std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || target(&input))
        .expect("spawn");
    if handle.join().is_err() {
        panic!("fuzz input panicked: {what}");
    }
}

#[test]
fn every_target_has_seeds_and_survives_them_and_their_variants() {
    let root = fuzz_dir();
    assert!(
        root.join("Cargo.toml").is_file(),
        "fuzz crate missing at {}",
        root.display()
    );
    for (name, target) in selected() {
        let seeds = inputs(&root.join("seeds").join(name));
        assert!(!seeds.is_empty(), "fuzz/seeds/{name} has no seeds");
        for (path, bytes) in &seeds {
            run_on_stack(target, bytes.clone(), path.display().to_string());
            for n in 0..VARIANTS {
                run_on_stack(
                    target,
                    variant(bytes, n),
                    format!("{} variant {n}", path.display()),
                );
            }
        }
    }
}

#[test]
fn every_regression_input_stays_fixed() {
    let root = fuzz_dir().join("regressions");
    for (name, target) in selected() {
        for (path, bytes) in inputs(&root.join(name)) {
            run_on_stack(target, bytes, path.display().to_string());
        }
    }
}

#[test]
fn the_mutation_target_runs_real_mutators() {
    assert!(
        portcullis::fuzzing::mutator_count() >= 4,
        "the example mutators load for the mutation target"
    );
}

#[test]
fn the_engine_seeds_compile_and_evaluate() {
    // A seed that fails to compile would leave its target fuzzing only the error paths.
    let root = fuzz_dir().join("seeds");
    for (path, bytes) in inputs(&root.join("cel_compile")) {
        let outcome = portcullis::fuzzing::cel_outcome(&bytes);
        assert!(outcome.is_ok(), "{}: {outcome:?}", path.display());
    }
    for (path, bytes) in inputs(&root.join("rego_compile")) {
        let outcome = portcullis::fuzzing::rego_outcome(&bytes);
        assert!(outcome.is_ok(), "{}: {outcome:?}", path.display());
    }
}
