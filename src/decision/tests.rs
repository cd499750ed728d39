//! Decisions from whole policy sets: message format, actions, exemptions, dry-run.

use serde_json::json;

use super::*;
use crate::policy::{BuildOptions, PolicySnapshot};

fn snapshot(extra: &str) -> PolicySnapshot {
    let lib = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/library");
    let mut docs = crate::manifests::read_path(&lib).expect("library");
    docs.extend(crate::manifests::parse_documents(extra, "test.yaml").expect("test policies"));
    PolicySnapshot::build(&docs, &BuildOptions::default()).expect("builds")
}

fn constraint(kind: &str, name: &str, action: &str, params: serde_json::Value) -> String {
    let doc = json!({
        "apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": kind,
        "metadata": {"name": name},
        "spec": {"enforcementAction": action,
                 "match": {"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}]},
                 "parameters": params}
    });
    format!("---\n{doc}\n")
}

fn pod(ns: &str, image: &str, labels: serde_json::Value) -> Review {
    Review::from_object(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": ns, "labels": labels},
        "spec": {"containers": [{"name": "app", "image": image}]}
    }))
}

fn repos(action: &str, name: &str) -> String {
    constraint(
        "K8sAllowedRepos",
        name,
        action,
        json!({"repos": ["good.example/"]}),
    )
}

fn owner(action: &str) -> String {
    constraint(
        "K8sRequiredLabels",
        "owner",
        action,
        json!({"labels": [{"key": "owner"}]}),
    )
}

#[test]
fn every_deny_violation_is_one_line_prefixed_with_its_constraint() {
    let snap = snapshot(&(repos("deny", "repos-a") + &repos("deny", "repos-b") + &owner("deny")));
    let v = validate(
        &snap,
        &pod("ns", "bad.example/x:1", json!({})),
        ServerEnforcement::Deny,
    );
    assert!(!v.decision.allowed);
    assert_eq!(v.decision.code, 403);
    let msg = v.decision.message.expect("message");
    let lines: Vec<&str> = msg.lines().collect();
    assert_eq!(lines.len(), 3, "{msg}");
    assert!(lines[0].starts_with("[repos-a] "), "{msg}");
    assert!(lines[1].starts_with("[repos-b] "), "{msg}");
    assert!(lines[2].starts_with("[owner] "), "{msg}");
}

#[test]
fn warn_goes_to_warnings_and_dryrun_is_silent() {
    let snap = snapshot(&(repos("dryrun", "repos") + &owner("warn")));
    let v = validate(
        &snap,
        &pod("ns", "bad.example/x:1", json!({})),
        ServerEnforcement::Deny,
    );
    assert!(v.decision.allowed);
    assert_eq!(v.decision.warnings.len(), 1);
    assert!(v.decision.warnings[0].starts_with("[owner] "));
    assert!(!v.would_deny);
    // The dry-run violation is still reported for logs and metrics.
    assert!(v.evaluation.hits.iter().any(|h| h.action == Action::Dryrun));
}

#[test]
fn server_dryrun_admits_what_policy_denies() {
    let snap = snapshot(&repos("deny", "repos"));
    let v = validate(
        &snap,
        &pod("ns", "bad.example/x:1", json!({})),
        ServerEnforcement::Dryrun,
    );
    assert!(v.decision.allowed);
    assert!(v.would_deny);
    assert!(v.decision.message.is_none());
}

#[test]
fn scoped_actions_apply_per_enforcement_point() {
    let scoped = r#"
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sAllowedRepos
metadata: {name: scoped-repos}
spec:
  enforcementAction: scoped
  scopedEnforcementActions:
  - action: warn
    enforcementPoints: [{name: validation.gatekeeper.sh}]
  - action: deny
    enforcementPoints: [{name: audit.gatekeeper.sh}]
  match: {kinds: [{apiGroups: [""], kinds: ["Pod"]}]}
  parameters: {repos: ["good.example/"]}
"#;
    let snap = snapshot(scoped);
    let review = pod("ns", "bad.example/x:1", json!({}));
    let v = validate(&snap, &review, ServerEnforcement::Deny);
    assert!(v.decision.allowed, "validation point only warns");
    assert_eq!(v.decision.warnings.len(), 1);
    let audit = crate::evaluate::validate(&snap, &review, crate::policy::enforcement::AUDIT_POINT);
    assert!(audit.denies());
    let gator = crate::evaluate::validate(&snap, &review, crate::policy::enforcement::GATOR_POINT);
    assert!(gator.hits.is_empty(), "no action named for gator");
}

#[test]
fn config_exempts_namespaces_per_process() {
    let config = r#"
---
apiVersion: config.gatekeeper.sh/v1alpha1
kind: Config
metadata: {name: config, namespace: gatekeeper-system}
spec:
  match:
  - excludedNamespaces: ["kube-*"]
    processes: ["webhook"]
  - excludedNamespaces: ["batch"]
    processes: ["mutation-webhook"]
"#;
    let snap = snapshot(&(repos("deny", "repos") + config));
    let sys = validate(
        &snap,
        &pod("kube-system", "bad.example/x", json!({})),
        ServerEnforcement::Deny,
    );
    assert!(sys.decision.allowed && sys.exempt);
    let batch = validate(
        &snap,
        &pod("batch", "bad.example/x", json!({})),
        ServerEnforcement::Deny,
    );
    assert!(
        !batch.decision.allowed,
        "batch is exempt from mutation only"
    );
}

#[test]
fn delete_and_connect_requests_are_not_mutated() {
    let muts = r#"
---
apiVersion: mutations.gatekeeper.sh/v1
kind: AssignMetadata
metadata: {name: team}
spec:
  location: metadata.labels.team
  parameters: {assign: {value: core}}
"#;
    let snap = snapshot(muts);
    let mut review = pod("ns", "good.example/x", json!({}));
    let (d, outcome) = mutate(&snap, &review).expect("mutates");
    assert!(d.patch.as_ref().is_some_and(|p| !p.0.is_empty()));
    assert_eq!(outcome.expect("outcome").applied.len(), 1);
    review.operation = crate::review::Operation::Delete;
    let (d, outcome) = mutate(&snap, &review).expect("no-op");
    assert!(d.patch.is_none() && outcome.is_none());
}

#[test]
fn documents_are_judged_with_namespace_labels_from_the_snapshot() {
    let opt_in = r#"
---
apiVersion: v1
kind: Namespace
metadata: {name: strict, labels: {policy: strict}}
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sAllowedRepos
metadata: {name: strict-repos}
spec:
  match:
    kinds: [{apiGroups: [""], kinds: ["Pod"]}]
    namespaceSelector: {matchLabels: {policy: strict}}
  parameters: {repos: ["good.example/"]}
"#;
    let snap = snapshot(opt_in);
    let bad = |ns| pod(ns, "bad.example/x", json!({}));
    assert!(
        !validate(&snap, &bad("strict"), ServerEnforcement::Deny)
            .decision
            .allowed
    );
    assert!(
        validate(&snap, &bad("other"), ServerEnforcement::Deny)
            .decision
            .allowed
    );
}

#[test]
fn a_policy_that_fails_to_evaluate_denies_with_500() {
    let broken = r#"
---
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: k8sconflict}
spec:
  crd: {spec: {names: {kind: K8sConflict}}}
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: |
      package k8sconflict
      pick = 1 { true }
      pick = 2 { true }
      violation[{"msg": "x"}] { pick == 3 }
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sConflict
metadata: {name: conflict}
"#;
    let snap = snapshot(broken);
    let v = validate(
        &snap,
        &pod("ns", "good.example/x", json!({})),
        ServerEnforcement::Deny,
    );
    assert_eq!(v.evaluation.failures.len(), 1, "{:?}", v.evaluation);
    assert!(!v.decision.allowed);
    assert_eq!(v.decision.code, 500);
    assert!(v
        .decision
        .message
        .unwrap_or_default()
        .starts_with("[conflict] policy evaluation failed"));
}
