//! Object-by-object builds: refusals, last good versions, reuse of unchanged work.

use serde_json::{json, Value};

use super::*;
use crate::policy::refusal::{Cause, ObjectKind};

fn doc(location: &str, value: Value) -> Document {
    Document {
        location: location.into(),
        value,
    }
}

/// A Rego template denying objects without label `name` of kind `Kind`; `code` replaces
/// the rule body when given (to break it).
fn template(kind: &str, code: Option<&str>) -> Document {
    let pkg = kind.to_lowercase();
    let rego = code.map(str::to_string).unwrap_or_else(|| {
        format!(
            "package {pkg}\nviolation[{{\"msg\": msg}}] {{\n  not input.review.object.metadata.labels[input.parameters.label]\n  msg := sprintf(\"missing %v\", [input.parameters.label])\n}}\n"
        )
    });
    doc(
        &format!("{pkg}.yaml#0"),
        json!({"apiVersion": "templates.gatekeeper.sh/v1", "kind": "ConstraintTemplate",
               "metadata": {"name": pkg},
               "spec": {"crd": {"spec": {"names": {"kind": kind},
                         "validation": {"openAPIV3Schema": {"type": "object",
                             "properties": {"label": {"type": "string"}}}}}},
                        "targets": [{"target": "admission.k8s.gatekeeper.sh", "rego": rego}]}}),
    )
}

fn constraint(kind: &str, name: &str, label: Value) -> Document {
    doc(
        &format!("{name}.yaml#0"),
        json!({"apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": kind,
               "metadata": {"name": name},
               "spec": {"parameters": {"label": label}}}),
    )
}

fn assign(name: &str, location: &str) -> Document {
    doc(
        &format!("{name}.yaml#0"),
        json!({"apiVersion": "mutations.gatekeeper.sh/v1", "kind": "Assign",
               "metadata": {"name": name},
               "spec": {"applyTo": [{"groups": [""], "versions": ["v1"], "kinds": ["Pod"]}],
                        "location": location,
                        "parameters": {"assign": {"value": "x"}}}}),
    )
}

const BROKEN: &str = "package broken\nviolation[{\"msg\": msg}] {\n  msg := \n";

fn build(docs: &[Document], previous: Option<&PolicySnapshot>) -> PolicySnapshot {
    PolicySnapshot::build_from(docs, &BuildOptions::default(), previous)
}

fn label_of(s: &PolicySnapshot, name: &str) -> Value {
    s.constraints
        .iter()
        .find(|c| c.constraint.name == name)
        .map(|c| c.constraint.parameters["label"].clone())
        .unwrap_or(Value::Null)
}

#[test]
fn a_broken_template_keeps_its_last_good_version_and_the_rest_updates() {
    let v1 = [
        template("K8sA", None),
        template("K8sB", None),
        constraint("K8sA", "a", json!("team")),
        constraint("K8sB", "b", json!("team")),
    ];
    let first = build(&v1, None);
    assert!(first.refused.is_empty(), "{:?}", first.refused);
    let v2 = [
        template("K8sA", Some(BROKEN)),
        template("K8sB", None),
        constraint("K8sA", "a", json!("owner")),
        constraint("K8sB", "b", json!("owner")),
    ];
    let second = build(&v2, Some(&first));
    assert_eq!(second.refused.len(), 1, "{:?}", second.refused);
    let r = &second.refused[0];
    assert_eq!(
        (r.kind, r.object.as_str(), r.kept),
        (ObjectKind::Template, "ConstraintTemplate/k8sa", true)
    );
    assert_eq!(r.cause, Cause::Compile, "{r}");
    assert!(
        Arc::ptr_eq(
            &first.templates["K8sA"].program,
            &second.templates["K8sA"].program
        ),
        "the last good program serves"
    );
    assert_eq!(
        label_of(&second, "a"),
        "owner",
        "binds to the last good version"
    );
    assert_eq!(
        label_of(&second, "b"),
        "owner",
        "the good template's update"
    );
    assert!(
        Arc::ptr_eq(
            &first.templates["K8sB"].program,
            &second.templates["K8sB"].program
        ),
        "an unchanged template is not compiled again"
    );
    let states = second.object_states();
    assert!(states.contains(&(ObjectKind::Template, 2, 1)), "{states:?}");
}

#[test]
fn constraints_of_a_refused_new_template_are_refused_naming_it() {
    let s = build(
        &[
            template("K8sNew", Some(BROKEN)),
            constraint("K8sNew", "n", json!("x")),
            constraint("K8sNone", "o", json!("x")),
        ],
        None,
    );
    let reasons: Vec<(Cause, String)> = s
        .refused
        .iter()
        .filter(|r| r.kind == ObjectKind::Constraint)
        .map(|r| (r.cause, r.reason()))
        .collect();
    assert_eq!(reasons.len(), 2);
    assert_eq!(reasons[0].0, Cause::MissingTemplate);
    assert!(
        reasons[0].1.contains("ConstraintTemplate k8snew") && reasons[0].1.contains("refused"),
        "{}",
        reasons[0].1
    );
    assert!(
        reasons[1]
            .1
            .contains("no ConstraintTemplate defines kind K8sNone"),
        "{}",
        reasons[1].1
    );
}

#[test]
fn a_refused_constraint_keeps_its_last_good_version() {
    let first = build(
        &[
            template("K8sA", None),
            constraint("K8sA", "a", json!("team")),
        ],
        None,
    );
    // A number where the schema wants a string.
    let docs = [template("K8sA", None), constraint("K8sA", "a", json!(7))];
    let second = build(&docs, Some(&first));
    assert_eq!(second.refused.len(), 1);
    assert!(second.refused[0].kept);
    assert!(
        second.refused[0].reason().starts_with("spec.parameters"),
        "{}",
        second.refused[0]
    );
    assert_eq!(label_of(&second, "a"), "team");
    // Without a previous set there is nothing to keep.
    let fresh = build(&docs, None);
    assert!(fresh.constraints.is_empty());
    assert!(!fresh.refused[0].kept);
    // Deleting the refused constraint removes it.
    let third = build(&[template("K8sA", None)], Some(&second));
    assert!(third.constraints.is_empty() && third.refused.is_empty());
}

#[test]
fn unchanged_constraints_are_not_bound_again() {
    let docs = [
        template("K8sA", None),
        constraint("K8sA", "a", json!("team")),
    ];
    let first = build(&docs, None);
    let second = build(&docs, Some(&first));
    assert!(Arc::ptr_eq(
        &first.constraints[0].program,
        &second.constraints[0].program
    ));
}

#[test]
fn conflicting_mutators_are_left_out_and_the_others_apply() {
    let docs = [
        assign("keyed", "spec.containers[name: a].image"),
        assign("object", "spec.containers.image"),
        assign("fine", "spec.priority"),
    ];
    let s = build(&docs, None);
    let ids: Vec<&str> = s.mutators.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["Assign/fine"]);
    let conflicts: Vec<&Refusal> = s
        .refused
        .iter()
        .filter(|r| r.cause == Cause::Conflict)
        .collect();
    assert_eq!(conflicts.len(), 2, "{:?}", s.refused);
    for r in conflicts {
        let reason = r.reason();
        assert!(
            reason.contains("Assign/keyed") && reason.contains("Assign/object"),
            "{reason}"
        );
        assert!(!r.kept);
    }
}

#[test]
fn a_broken_mutator_keeps_its_last_good_version() {
    let first = build(&[assign("m", "spec.priority")], None);
    let mut broken = assign("m", "spec.priority");
    broken.value["spec"]["location"] = json!("spec..bad[");
    let second = build(&[broken], Some(&first));
    assert_eq!(second.mutators.len(), 1);
    assert!(second.refused[0].kept, "{}", second.refused[0]);
    assert_eq!(second.refused[0].kind, ObjectKind::Mutator);
}

#[test]
fn a_broken_config_keeps_its_last_good_version() {
    let config = |m: Value| {
        doc(
            "config.yaml#0",
            json!({"apiVersion": "config.gatekeeper.sh/v1alpha1", "kind": "Config",
               "metadata": {"name": "config"}, "spec": {"match": m}}),
        )
    };
    let first = build(
        &[config(
            json!([{"excludedNamespaces": ["kube-system"], "processes": ["*"]}]),
        )],
        None,
    );
    assert!(first.config.is_exempt("webhook", "kube-system"));
    let second = build(&[config(json!("not a list"))], Some(&first));
    assert!(second.config.is_exempt("webhook", "kube-system"));
    assert_eq!(second.refused[0].kind, ObjectKind::Config);
    assert!(second.refused[0].kept);
}

#[test]
fn the_strict_build_still_reports_every_refusal() {
    let err = PolicySnapshot::build(
        &[
            template("K8sNew", Some(BROKEN)),
            constraint("K8sNew", "n", json!("x")),
        ],
        &BuildOptions::default(),
    )
    .expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains("ConstraintTemplate/k8snew") && text.contains("K8sNew/n"),
        "{text}"
    );
}

#[test]
fn a_second_mutator_of_the_same_identity_is_a_duplicate_even_after_a_broken_first() {
    let mut broken = assign("m", "spec.priority");
    broken.value["spec"]["location"] = json!("spec..bad[");
    let s = build(&[broken, assign("m", "spec.priority")], None);
    let causes: Vec<Cause> = s.refused.iter().map(|r| r.cause).collect();
    assert_eq!(causes, [Cause::Invalid, Cause::Duplicate]);
    assert!(s.mutators.is_empty());
}
