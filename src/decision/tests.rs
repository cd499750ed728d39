//! Decisions from whole policy sets: message format, actions, exemptions, dry-run.

use serde_json::json;

use super::*;
use crate::snapshot::{BuildOptions, PolicySnapshot};

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

#[test]
fn gatekeeper_own_objects_are_never_mutated() {
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
    let object = |api_version: &str, kind: &str| {
        Review::from_object(json!({
            "apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}
        }))
    };
    for group in UNMUTATED_GROUPS {
        let (d, outcome) =
            mutate(&snap, &object(&format!("{group}/v1"), "Anything")).expect("not mutated");
        assert!(
            d.allowed && d.patch.is_none() && outcome.is_none(),
            "{group}"
        );
    }
    // Other groups, including other gatekeeper.sh ones, are mutated as usual.
    for api_version in ["v1", "example.gatekeeper.sh/v1", "gatekeeper.sh/v1"] {
        let (d, _) = mutate(&snap, &object(api_version, "Thing")).expect("mutates");
        assert!(d.patch.is_some_and(|p| !p.0.is_empty()), "{api_version}");
    }
}

/// Fields Gatekeeper's match schema leaves as strings stay open: an unknown `scope` matches
/// every object, and a selector with an operator the API machinery refuses rejects the
/// requests that reach it under the constraint's own action (Gatekeeper's "autoreject"),
/// while requests the match excludes earlier pass.
#[test]
fn open_match_fields_behave_as_in_gatekeeper() {
    let policies = r#"
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sRequiredLabels
metadata: {name: typo-scope}
spec:
  match:
    kinds: [{apiGroups: [""], kinds: ["Pod"]}]
    scope: namespaced
  parameters: {labels: [{key: owner}]}
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sAllowedRepos
metadata: {name: bad-operator}
spec:
  enforcementAction: warn
  match:
    kinds: [{apiGroups: [""], kinds: ["Pod"]}]
    namespaces: ["team-*"]
    labelSelector:
      matchExpressions: [{key: tier, operator: Within, values: [web]}]
  parameters: {repos: ["good.example/"]}
"#;
    let snap = snapshot(policies);
    let v = validate(
        &snap,
        &pod("default", "good.example/x", json!({})),
        ServerEnforcement::Deny,
    );
    assert!(!v.decision.allowed, "unknown scope still matches");
    assert_eq!(v.decision.code, 403);
    let message = v.decision.message.unwrap_or_default();
    assert!(message.contains("[typo-scope]"), "{message}");
    assert!(
        v.decision.warnings.is_empty(),
        "namespaces excluded it first"
    );

    let v = validate(
        &snap,
        &pod("team-a", "good.example/x", json!({"owner": "me"})),
        ServerEnforcement::Deny,
    );
    assert!(v.decision.allowed, "warn action: {:?}", v.decision);
    assert_eq!(
        v.decision.warnings,
        vec![
            "[bad-operator] unable to match constraints: error matching the requested object: \
             p :failed to run Match criteria: \"Within\" is not a valid label selector operator"
                .to_string()
        ]
    );
}

#[test]
fn a_mutator_whose_selector_cannot_be_parsed_fails_the_mutation() {
    let muts = r#"
---
apiVersion: mutations.gatekeeper.sh/v1
kind: AssignMetadata
metadata: {name: team}
spec:
  match:
    namespaceSelector:
      matchExpressions: [{key: env, operator: Exists, values: [x]}]
  location: metadata.labels.team
  parameters: {assign: {value: core}}
"#;
    let snap = snapshot(muts);
    let error = mutate(&snap, &pod("ns", "good.example/x", json!({})))
        .expect_err("selector error fails the mutation");
    assert!(!error.is_exhaustion());
    let answer = mutation_failed(&error, FailurePolicy::Ignore);
    assert!(!answer.allowed && answer.code == 500, "{answer:?}");
    let message = answer.message.unwrap_or_default();
    assert!(
        message.contains("AssignMetadata/team") && message.contains("takes no values"),
        "{message}"
    );
}

/// ExpansionTemplates: a generated Pod's violations come back on the Deployment with the
/// template's prefix and action; `match.source: Original` keeps a constraint off generated
/// resources; a Deployment without the template source fails the review (500).
#[test]
fn workloads_are_judged_by_the_resources_they_generate() {
    let policies = r#"
---
apiVersion: expansion.gatekeeper.sh/v1beta1
kind: ExpansionTemplate
metadata: {name: expand-deployments}
spec:
  applyTo: [{groups: ["apps"], versions: ["v1"], kinds: ["Deployment"]}]
  templateSource: spec.template
  generatedGVK: {group: "", version: v1, kind: Pod}
  enforcementAction: warn
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sAllowedRepos
metadata: {name: repos}
spec:
  match: {kinds: [{apiGroups: [""], kinds: ["Pod"]}]}
  parameters: {repos: ["good.example/"]}
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sRequiredLabels
metadata: {name: owner-originals}
spec:
  match: {kinds: [{apiGroups: [""], kinds: ["Pod"]}], source: Original}
  parameters: {labels: [{key: owner}]}
"#;
    let snap = snapshot(policies);
    let deployment = |template: serde_json::Value| {
        Review::from_object(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": template
        }))
    };
    let v = validate(
        &snap,
        &deployment(json!({"template": {"spec": {"containers": [
            {"name": "app", "image": "bad.example/x:1"}]}}})),
        ServerEnforcement::Deny,
    );
    assert!(
        v.decision.allowed,
        "the template's warn action: {:?}",
        v.decision
    );
    assert_eq!(v.decision.warnings.len(), 1, "{:?}", v.decision.warnings);
    assert!(
        v.decision.warnings[0]
            .starts_with("[repos] [Implied by expand-deployments] container <app>"),
        "{:?}",
        v.decision.warnings
    );
    let v = validate(
        &snap,
        &deployment(json!({"replicas": 1})),
        ServerEnforcement::Deny,
    );
    assert!(!v.decision.allowed);
    assert_eq!(v.decision.code, 500);
    let message = v.decision.message.unwrap_or_default();
    assert!(
        message.contains("could not find source field \"spec.template\""),
        "{message}"
    );
}
