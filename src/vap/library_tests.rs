//! The exporter on every CEL template of Gatekeeper's library and the constraints of its
//! suites: every object is one the API server accepts (strict schema and creation checks),
//! and every suite case is decided by the exported policy as portcullis's webhook decides it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use serde_json::Value;

use super::emulation::{self, Verdict};
use super::{export, structure, ExportOptions};
use crate::decision::{self, ServerEnforcement};
use crate::policy::Document;
use crate::review::Review;
use crate::snapshot::{BuildOptions, PolicySnapshot};

/// Disagreements expected between the exported policy and the webhook, by
/// `<template dir>/<test>/<case>`, with the reason. None are known.
const KNOWN_DISAGREEMENTS: &[(&str, &str)] = &[];

/// One suite test of a CEL template: the template, the constraint and the cases.
struct SuiteTest {
    name: String,
    template: Value,
    constraint: Value,
    /// (case name, object document, inventory documents)
    cases: Vec<(String, Value, Vec<Value>)>,
}

fn read_one(path: &Path) -> Value {
    let mut docs = crate::manifests::read_values(path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(docs.len(), 1, "{}: one document", path.display());
    docs.remove(0)
}

fn is_cel(template: &Value) -> bool {
    template["spec"]["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t["code"].as_array().into_iter().flatten())
        .any(|c| c["engine"] == "K8sNativeValidation")
}

/// The suite directories of the library whose template has CEL code, with their tests.
fn cel_suites() -> Option<Vec<(PathBuf, Vec<SuiteTest>)>> {
    let library = crate::test_data::library()?;
    let mut suites = Vec::new();
    let mut stack = vec![library];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == "suite.yaml") {
                let base = path.parent().expect("suite dir").to_path_buf();
                let suite = read_one(&path);
                let mut tests = Vec::new();
                for t in suite["tests"].as_array().into_iter().flatten() {
                    if t["skip"] == true {
                        continue;
                    }
                    let template = read_one(&base.join(t["template"].as_str().expect("template")));
                    if !is_cel(&template) {
                        continue;
                    }
                    let constraint =
                        read_one(&base.join(t["constraint"].as_str().expect("constraint")));
                    let mut cases = Vec::new();
                    for c in t["cases"].as_array().into_iter().flatten() {
                        if c["skip"] == true {
                            continue;
                        }
                        let object = read_one(&base.join(c["object"].as_str().expect("object")));
                        let mut inventory = Vec::new();
                        for inv in c["inventory"].as_array().into_iter().flatten() {
                            let file = base.join(inv.as_str().expect("inventory path"));
                            inventory.extend(
                                crate::manifests::read_values(&file)
                                    .unwrap_or_else(|e| panic!("{e}")),
                            );
                        }
                        let name = c["name"].as_str().unwrap_or("").to_string();
                        cases.push((name, object, inventory));
                    }
                    tests.push(SuiteTest {
                        name: t["name"].as_str().unwrap_or("").to_string(),
                        template,
                        constraint,
                        cases,
                    });
                }
                if !tests.is_empty() {
                    suites.push((base, tests));
                }
            }
        }
    }
    suites.sort_by(|a, b| a.0.cmp(&b.0));
    Some(suites)
}

fn doc(location: &str, value: &Value) -> Document {
    Document {
        location: location.to_string(),
        value: value.clone(),
    }
}

/// Deserialize into the Kubernetes type and serialize back: a field the API does not know
/// (or misspelled) is dropped on the way and shows as a difference.
fn strict<T: serde::de::DeserializeOwned + serde::Serialize>(object: &Value) -> Result<(), String> {
    let typed: T = serde_json::from_value(object.clone()).map_err(|e| e.to_string())?;
    let back = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
    if &back == object {
        Ok(())
    } else {
        Err(format!(
            "not kept by the Kubernetes type:\n  written: {object}\n  read back: {back}"
        ))
    }
}

#[test]
fn every_library_cel_template_exports_objects_the_api_server_accepts() {
    let Some(suites) = cel_suites() else {
        return;
    };
    assert!(
        suites.len() >= 16,
        "expected the library's 16 CEL templates, found {}",
        suites.len()
    );
    let mut policies = std::collections::BTreeSet::new();
    let mut bindings = 0;
    for (dir, tests) in &suites {
        for t in tests {
            let docs = vec![
                doc("template.yaml", &t.template),
                doc(&t.name, &t.constraint),
            ];
            let at = format!("{}/{}", dir.display(), t.name);
            let exported =
                export(&docs, &ExportOptions::default()).unwrap_or_else(|e| panic!("{at}: {e}"));
            assert!(
                exported.skipped.is_empty(),
                "{at}: skipped {:?}",
                exported.skipped
            );
            let [policy, binding] = exported.objects.as_slice() else {
                panic!("{at}: expected a policy and a binding");
            };
            assert_eq!(policy["kind"], "ValidatingAdmissionPolicy");
            strict::<ValidatingAdmissionPolicy>(policy).unwrap_or_else(|e| panic!("{at}: {e}"));
            let problems = structure::policy_problems(policy);
            assert!(problems.is_empty(), "{at}: {problems:?}");
            assert_eq!(binding["kind"], "ValidatingAdmissionPolicyBinding");
            strict::<ValidatingAdmissionPolicyBinding>(binding)
                .unwrap_or_else(|e| panic!("{at}: {e}"));
            let problems = structure::binding_problems(binding);
            assert!(problems.is_empty(), "{at}: {problems:?}");
            assert!(
                binding["spec"].get("paramRef").is_none()
                    || policy["spec"].get("paramKind").is_some(),
                "{at}: paramRef without the policy's paramKind"
            );
            assert_eq!(binding["spec"]["policyName"], policy["metadata"]["name"]);
            policies.insert(policy["metadata"]["name"].to_string());
            bindings += 1;
        }
    }
    eprintln!(
        "{} policies and {bindings} bindings pass the API server's checks",
        policies.len()
    );
    assert_eq!(policies.len(), suites.len());
}

#[test]
fn exported_policies_decide_library_cases_as_the_webhook_does() {
    let Some(suites) = cel_suites() else {
        return;
    };
    let (mut agree, mut known, mut cases_seen, mut denied) = (0, 0, 0, 0);
    let mut disagreements = Vec::new();
    for (dir, tests) in &suites {
        let dir_name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        for t in tests {
            let docs = vec![
                doc("template", &t.template),
                doc("constraint", &t.constraint),
            ];
            let exported = export(&docs, &ExportOptions::default()).expect("exports");
            let [policy, binding] = exported.objects.as_slice() else {
                panic!("{dir_name}/{}: expected a policy and a binding", t.name);
            };
            for (case, object, inventory) in &t.cases {
                cases_seen += 1;
                let id = format!("{dir_name}/{}/{case}", t.name);
                let review = Review::from_case_object(object.clone())
                    .unwrap_or_else(|e| panic!("{id}: {e}"));
                let namespaces: BTreeMap<String, Value> = inventory
                    .iter()
                    .filter(|o| o["kind"] == "Namespace" && o["apiVersion"] == "v1")
                    .filter_map(|o| Some((o["metadata"]["name"].as_str()?.to_string(), o.clone())))
                    .collect();
                let webhook = webhook_verdict(&docs, &namespaces, &review, &id);
                let vap = emulation::judge(policy, binding, &t.constraint, &review, &namespaces)
                    .unwrap_or_else(|e| panic!("{id}: {e}"));
                if webhook == vap {
                    agree += 1;
                    denied += usize::from(vap.denied);
                } else if KNOWN_DISAGREEMENTS.iter().any(|(k, _)| *k == id) {
                    known += 1;
                } else {
                    disagreements.push(format!("{id}: webhook {webhook:?}, policy {vap:?}"));
                }
            }
        }
    }
    eprintln!(
        "exported policies agree with the webhook on {agree} of {cases_seen} library cases \
         ({denied} denied by both; {known} known disagreements)"
    );
    assert!(cases_seen > 100, "only {cases_seen} cases found");
    assert!(
        denied > 30 && agree - denied > 30,
        "the cases must exercise both answers: {denied} denied of {agree}"
    );
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

/// What portcullis's webhook answers: the decision, the warnings and the violations'
/// messages (every action), in the same shape as the policy's verdict.
fn webhook_verdict(
    docs: &[Document],
    namespaces: &BTreeMap<String, Value>,
    review: &Review,
    id: &str,
) -> Verdict {
    let mut all = docs.to_vec();
    all.extend(namespaces.values().map(|n| doc("namespace", n)));
    let snapshot = PolicySnapshot::build(&all, &BuildOptions::default())
        .unwrap_or_else(|e| panic!("{id}: {e}"));
    let validation = decision::validate(&snapshot, review, ServerEnforcement::Deny);
    let mut messages: Vec<String> = validation
        .evaluation
        .hits
        .iter()
        .map(|h| h.msg.clone())
        .collect();
    messages.sort();
    Verdict {
        denied: !validation.decision.allowed,
        warned: !validation.decision.warnings.is_empty(),
        messages,
    }
}

#[test]
fn the_strict_schema_check_catches_unknown_and_misspelled_fields() {
    let policy = serde_json::json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": "p"},
        "spec": {"validations": [{"expression": "true"}]}
    });
    assert_eq!(strict::<ValidatingAdmissionPolicy>(&policy), Ok(()));
    let mut misspelled = policy.clone();
    misspelled["spec"]["validationz"] = serde_json::json!([]);
    assert!(strict::<ValidatingAdmissionPolicy>(&misspelled).is_err());
    let mut nested = policy.clone();
    nested["spec"]["validations"][0]["messageExpresion"] = serde_json::json!("'x'");
    assert!(strict::<ValidatingAdmissionPolicy>(&nested).is_err());
    let binding = serde_json::json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": "b"},
        "spec": {"policyName": "p", "validationActions": ["Deny"],
                 "paramRef": {"name": "c", "parameterNotFoundAction": "Allow"}}
    });
    assert_eq!(strict::<ValidatingAdmissionPolicyBinding>(&binding), Ok(()));
    let mut wrong = binding.clone();
    wrong["spec"]["paramRef"]["parameterNotFound"] = serde_json::json!("Allow");
    assert!(strict::<ValidatingAdmissionPolicyBinding>(&wrong).is_err());
}
