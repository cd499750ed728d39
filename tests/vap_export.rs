//! `portcullis vap` as a user runs it: a library CEL template and its constraint become a
//! ValidatingAdmissionPolicy and its binding on standard output; what cannot be expressed is
//! named on standard error with exit 1; nothing to export, or an invalid file, exits 2.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

mod common;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn vap(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "warn")
        .arg("vap")
        .args(args)
        .output()
        .expect("run")
}

fn documents(out: &Output) -> Vec<Value> {
    let text = String::from_utf8(out.stdout.clone()).expect("utf-8");
    serde_saphyr::from_multiple::<Value>(&text).expect("YAML documents")
}

#[test]
fn a_library_template_and_constraint_become_a_policy_and_a_binding() {
    let Some(library) = common::conformance_library() else {
        return;
    };
    let dir = library.join("general/requiredlabels");
    let out = vap(&[
        &dir.join("template.yaml"),
        &dir.join("samples/all-must-have-owner/constraint.yaml"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    let docs = documents(&out);
    assert_eq!(docs.len(), 2);
    let (policy, binding) = (&docs[0], &docs[1]);
    assert_eq!(policy["apiVersion"], "admissionregistration.k8s.io/v1");
    assert_eq!(policy["kind"], "ValidatingAdmissionPolicy");
    assert_eq!(policy["metadata"]["name"], "gatekeeper-k8srequiredlabels");
    assert_eq!(
        policy["spec"]["paramKind"]["apiVersion"],
        "constraints.gatekeeper.sh/v1beta1"
    );
    assert_eq!(policy["spec"]["paramKind"]["kind"], "K8sRequiredLabels");
    let variables: Vec<&str> = policy["spec"]["variables"]
        .as_array()
        .expect("variables")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(&variables[..2], ["anyObject", "params"]);
    assert_eq!(binding["kind"], "ValidatingAdmissionPolicyBinding");
    assert_eq!(
        binding["metadata"]["name"],
        "gatekeeper-k8srequiredlabels-all-must-have-owner"
    );
    assert_eq!(
        binding["spec"]["policyName"],
        "gatekeeper-k8srequiredlabels"
    );
    assert_eq!(binding["spec"]["paramRef"]["name"], "all-must-have-owner");
    assert_eq!(
        binding["spec"]["paramRef"]["parameterNotFoundAction"],
        "Allow"
    );
    assert_eq!(
        binding["spec"]["validationActions"],
        serde_json::json!(["Deny"])
    );
}

#[test]
fn rego_templates_are_named_with_the_reason_and_exit_1() {
    let Some(library) = common::conformance_library() else {
        return;
    };
    let cel = library.join("general/requiredlabels/template.yaml");
    let rego = library.join("general/allowedrepos");
    let out = vap(&[&cel, &rego]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("skipped: template k8sallowedrepos")
            && stderr.contains("has no K8sNativeValidation (CEL) code"),
        "{stderr}"
    );
    assert!(
        stderr.contains("skipped: constraint K8sAllowedRepos/repo-is-openpolicyagent")
            && stderr.contains("its template k8sallowedrepos cannot be expressed"),
        "{stderr}"
    );
    let docs = documents(&out);
    assert_eq!(docs.len(), 1, "the CEL template's policy alone");
    assert_eq!(docs[0]["metadata"]["name"], "gatekeeper-k8srequiredlabels");
}

#[test]
fn nothing_to_export_or_an_invalid_file_exits_2_with_nothing_printed() {
    let Some(library) = common::conformance_library() else {
        return;
    };
    let out = vap(&[&library.join("general/allowedrepos")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to export"));

    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sRequiredLabels\n\
         metadata: {name: typo}\nspec: {match: {kind: [{kinds: [Pod]}]}}\n",
    )
    .expect("write");
    let out = vap(&[&library.join("general/requiredlabels/template.yaml"), &bad]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.contains("bad.yaml") && stderr.contains("spec.match.kind"),
        "{stderr}"
    );
}

/// The README's example: the repository's CEL fixture, one deny and one warn constraint.
#[test]
fn the_readme_fixture_exports_a_policy_and_two_bindings() {
    let out = vap(&[Path::new("tests/fixtures/vap/")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = documents(&out);
    let names: Vec<(&str, &str)> = docs
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap_or(""),
                d["metadata"]["name"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("ValidatingAdmissionPolicy", "gatekeeper-pcrequiredowner"),
            (
                "ValidatingAdmissionPolicyBinding",
                "gatekeeper-pcrequiredowner-deployments-have-owners"
            ),
            (
                "ValidatingAdmissionPolicyBinding",
                "gatekeeper-pcrequiredowner-services-have-owners-warn"
            ),
        ]
    );
    assert_eq!(
        docs[1]["spec"]["validationActions"],
        serde_json::json!(["Deny"])
    );
    assert_eq!(
        docs[2]["spec"]["validationActions"],
        serde_json::json!(["Warn"])
    );
    assert_eq!(
        docs[2]["spec"]["matchResources"]["namespaceSelector"]["matchLabels"]["team-managed"],
        "true"
    );
}
