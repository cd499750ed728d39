//! Verify runs over the project's own suites (`tests/suites/`) and, when the conformance
//! corpus is present, over Gatekeeper's whole library with the Rego engine alone.

use std::path::{Path, PathBuf};

use super::*;
use crate::engine::EngineKind;

fn rego_only() -> VerifyOptions {
    VerifyOptions {
        engine: EngineChoice::Only(EngineKind::Rego),
        ..VerifyOptions::default()
    }
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The library of the conformance corpus ([`crate::test_data`]).
fn library() -> Option<PathBuf> {
    crate::test_data::library()
}

#[test]
fn gatekeeper_library_with_rego() {
    let Some(dir) = library() else {
        return;
    };
    let report = run(&[dir], &rego_only()).expect("library suites are found");
    print!("{report}");
    assert_eq!(report.cases.len(), 270, "{report}");
    assert!(report.passed() >= 268, "{report}");
}

#[test]
fn own_suites_pass() {
    let dir = manifest_dir().join("tests/suites");
    let report = run(&[dir], &rego_only()).expect("own suites are found");
    print!("{report}");
    assert!(report.cases.len() >= 10, "{report}");
    assert!(report.success(), "{report}");
}

#[test]
fn run_filter_selects_tests() {
    let dir = manifest_dir().join("tests/suites");
    let opts = VerifyOptions {
        run: Regex::new("^inventory").ok(),
        verbose: true,
        ..rego_only()
    };
    let report = run(&[dir], &opts).expect("own suites are found");
    assert!(!report.cases.is_empty());
    assert!(report.cases.iter().all(|c| c.test.starts_with("inventory")));
    let text = report.to_string();
    assert!(text.contains("PASS "), "{text}");
    assert!(text.ends_with(&format!("{} passed, 0 failed\n", report.cases.len())));

    // The full `test/case` name verify prints selects exactly that case.
    let opts = VerifyOptions {
        run: Regex::new("^admission-reviews/delete-protected$").ok(),
        ..rego_only()
    };
    let report = run(&[manifest_dir().join("tests/suites")], &opts).expect("found");
    assert_eq!(report.cases.len(), 1, "{report}");
    assert_eq!(report.cases[0].case, "delete-protected");
}

#[test]
fn failures_are_reported_with_reasons() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write(d, "suite.yaml", "kind: Suite\napiVersion: test.gatekeeper.sh/v1alpha1\ntests:\n- name: t\n  template: missing.yaml\n  constraint: c.yaml\n  cases:\n  - name: a\n    object: o.yaml\n    assertions: [{violations: no}]\n  - name: b\n    object: o.yaml\n    assertions: [{violations: no}]\n");
    write(d, "sub/suite.yaml", "tests: [ this is not a suite");
    let report = run(&[d.to_path_buf()], &rego_only()).expect("suites are found");
    assert_eq!(report.failed(), 3, "{report}");
    let text = report.to_string();
    assert!(text.contains("missing.yaml"), "{text}");
    assert!(text.contains("unreadable suite"), "{text}");
    assert!(text.ends_with("0 passed, 3 failed\n"), "{text}");
}

#[test]
fn missing_path_is_an_error() {
    let err = run(&[PathBuf::from("/nonexistent/suites")], &rego_only());
    assert!(matches!(err, Err(VerifyError::Io { .. })));
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, text).expect("write");
}
