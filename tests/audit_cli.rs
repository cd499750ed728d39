//! `portcullis audit` as a CI job runs it, over tests/fixtures/audit: a referential template
//! finds conflicts among the audited manifests, scoped and dryrun constraints report with
//! their audit-point action, namespace labels come from the audited Namespaces, `--limit`
//! caps the listed violations, and the exit code says whether anything denies.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const POLICIES: &str = "tests/fixtures/audit/policies";
const MANIFESTS: &str = "tests/fixtures/audit/manifests";

fn audit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "warn")
        .args(["audit", "--policies", POLICIES])
        .args(args)
        .output()
        .expect("portcullis runs")
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn constraint<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["constraints"]
        .as_array()
        .expect("constraints")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("{name} not reported"))
}

#[test]
fn text_report_lists_each_constraint_and_fails_on_deny() {
    let out = audit(&[MANIFESTS]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("PcUniqueIngressHost unique-ingress-host (deny): 2 violations"));
    assert!(text.contains(
        "deny   Ingress shop/storefront: ingress host shop.example.com is also served by ingress sandbox/storefront-copy"
    ), "{text}");
    assert!(text.contains("warn   Pod sandbox/experiment"), "{text}");
    assert!(text.contains(
        "8 objects audited (0 exempt), 3 constraints: 2 deny, 2 warn, 1 dryrun violations, 0 evaluation errors"
    ), "{text}");
}

#[test]
fn json_report_has_gatekeeper_status_fields_and_honours_the_limit() {
    let out = audit(&[
        "--output",
        "json",
        "--constraint-violations-limit",
        "1",
        MANIFESTS,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    let hosts = constraint(&report, "unique-ingress-host");
    assert_eq!(hosts["enforcementAction"], "deny");
    assert_eq!(hosts["totalViolations"], 2);
    let listed = hosts["violations"].as_array().expect("violations");
    assert_eq!(listed.len(), 1, "a limit of 1 lists one");
    let v = &listed[0];
    assert_eq!(v["kind"], "Ingress");
    assert_eq!(v["group"], "networking.k8s.io");
    assert_eq!(v["namespace"], "shop");
    assert_eq!(v["name"], "storefront");
    assert_eq!(v["enforcementAction"], "deny");
    assert!(v["message"]
        .as_str()
        .unwrap_or("")
        .contains("sandbox/storefront-copy"));

    let scoped = constraint(&report, "owner-scoped");
    assert_eq!(scoped["enforcementAction"], "scoped");
    assert_eq!(scoped["totalViolations"], 2);
    assert_eq!(scoped["violations"][0]["enforcementAction"], "warn");
    let dry = constraint(&report, "owner-prod-dryrun");
    assert_eq!(dry["totalViolations"], 1, "only the prod namespace");
    assert_eq!(dry["violations"][0]["name"], "cart");
    assert_eq!(report["summary"]["violations"]["deny"], 2);
    assert_eq!(report["summary"]["objects"], 8);
}

#[test]
fn warn_and_dryrun_alone_pass_and_labels_come_from_audited_namespaces() {
    let pods = format!("{MANIFESTS}/pods.yaml");
    let namespaces = format!("{MANIFESTS}/namespaces.yaml");
    let out = audit(&["--output", "json", &pods, &namespaces]);
    assert_eq!(out.status.code(), Some(0), "warn and dryrun never fail CI");
    let report = json(&out);
    assert_eq!(
        constraint(&report, "owner-prod-dryrun")["totalViolations"],
        1
    );
    assert_eq!(
        constraint(&report, "unique-ingress-host")["totalViolations"],
        0
    );

    // Without the Namespace objects, shop has no env=prod label to select it.
    let report = json(&audit(&["--output", "json", &pods]));
    assert_eq!(
        constraint(&report, "owner-prod-dryrun")["totalViolations"],
        0
    );
}

#[test]
fn manifests_read_from_standard_input() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["audit", "--policies", POLICIES, "--output", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let ingresses = std::fs::read(format!(
        "{}/{MANIFESTS}/ingresses.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&ingresses)
        .expect("write stdin");
    let out = child.wait_with_output().expect("finishes");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        constraint(&json(&out), "unique-ingress-host")["totalViolations"],
        2
    );
}

#[test]
fn unreadable_input_or_policies_exit_2() {
    let out = audit(&["tests/fixtures/audit/no-such-dir"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error: audit"));
    let out = audit(&[]);
    assert_eq!(out.status.code(), Some(2), "nothing to audit");
    let out = audit(&["--source", "cluster", MANIFESTS]);
    assert_eq!(out.status.code(), Some(2), "paths are for the file source");

    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("bad.yaml"),
        "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: Nope\nmetadata: {name: x}\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["audit", "--policies"])
        .arg(dir.path())
        .arg(MANIFESTS)
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(2),
        "a constraint without its template"
    );
}

#[test]
fn shipped_native_unique_host_rule_reads_the_audited_inventory() {
    let out = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "warn")
        .args([
            "audit",
            "--policies",
            "policies",
            "--output",
            "json",
            MANIFESTS,
        ])
        .output()
        .expect("portcullis runs");
    let report = json(&out);
    let hosts = constraint(&report, "unique-ingress-hosts");
    assert_eq!(hosts["totalViolations"], 2, "{hosts}");
    let mut names: Vec<&str> = hosts["violations"]
        .as_array()
        .expect("violations")
        .iter()
        .map(|v| {
            assert_eq!(
                v["message"],
                "ingress host conflicts with an existing ingress <shop.example.com>"
            );
            v["name"].as_str().unwrap_or("")
        })
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["storefront", "storefront-copy"]);
}
