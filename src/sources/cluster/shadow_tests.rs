use serde_json::json;

use super::*;
use crate::impact::replay::{judge, JudgeOptions};
use crate::impact::Endpoint;
use crate::review::Review;
use crate::snapshot::BuildOptions;

/// A template whose constraints deny Pods named `bad` (or, `strict`, every Pod).
fn template(name: &str, kind: &str, strict: bool, shadow: bool) -> Document {
    let package = kind.to_lowercase();
    let rule = if strict {
        "true"
    } else {
        "input.review.object.metadata.name == \"bad\""
    };
    let mut value = json!({
        "apiVersion": "templates.gatekeeper.sh/v1", "kind": "ConstraintTemplate",
        "metadata": {"name": name, "uid": format!("uid-{name}")},
        "spec": {"crd": {"spec": {"names": {"kind": kind}}},
                 "targets": [{"target": "admission.k8s.gatekeeper.sh",
                              "rego": format!("package {package}\nviolation[{{\"msg\": \"no\"}}] {{ {rule} }}\n")}]}});
    if shadow {
        value["metadata"]["labels"] = json!({SHADOW_LABEL: "true"});
    }
    Document {
        location: format!("cluster:ConstraintTemplate//{name}"),
        value,
    }
}

fn constraint(kind: &str, name: &str, shadow: bool) -> Document {
    let mut value = json!({
        "apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": kind,
        "metadata": {"name": name},
        "spec": {"match": {"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}]}}});
    if shadow {
        value["metadata"]["labels"] = json!({SHADOW_LABEL: "true", "team": "a"});
    }
    Document {
        location: format!("cluster:{kind}//{name}"),
        value,
    }
}

fn build(docs: &[Document], previous: Option<&PolicySnapshot>) -> PolicySnapshot {
    PolicySnapshot::build_from(docs, &BuildOptions::default(), previous)
}

/// The names of the constraints that deny a Pod named `name`.
fn deniers(snap: &PolicySnapshot, name: &str) -> Vec<String> {
    let review = Review::from_object(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "dev"}}));
    let decision = judge(snap, Endpoint::Validate, &review, &JudgeOptions::default());
    let mut names: Vec<String> = decision
        .message
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix('[')?.split_once(']'))
        .map(|(n, _)| n.to_string())
        .collect();
    names.sort();
    names
}

fn locations(docs: &[Document]) -> Vec<&str> {
    docs.iter().map(|d| d.location.as_str()).collect()
}

#[test]
fn shadow_objects_leave_the_real_set_and_overlay_the_enforced_ones() {
    let config = Document {
        location: "cluster:Config/config".into(),
        value: json!({"apiVersion": "config.gatekeeper.sh/v1alpha1", "kind": "Config",
            "metadata": {"name": "config", "namespace": "gk", "labels": {SHADOW_LABEL: "true"}}}),
    };
    let mutator = Document {
        location: "cluster:Assign//set-x".into(),
        value: json!({"apiVersion": "mutations.gatekeeper.sh/v1", "kind": "Assign",
            "metadata": {"name": "set-x", "labels": {SHADOW_LABEL: "true"}},
            "spec": {"applyTo": [{"groups": [""], "versions": ["v1"], "kinds": ["Pod"]}],
                     "location": "spec.dnsPolicy", "parameters": {"assign": {"value": "Default"}}}}),
    };
    let docs = vec![
        template("k8sname", "K8sName", false, false),
        template("k8sname-next", "K8sName", true, true),
        template("k8sname-other", "K8sName", true, true),
        template("k8snew", "K8sNew", true, true),
        // A label other than "true" does not make an object shadow.
        {
            let mut c = constraint("K8sName", "enforced", false);
            c.value["metadata"]["labels"] = json!({SHADOW_LABEL: "false"});
            c
        },
        constraint("K8sName", "tried", true),
        constraint("K8sNew", "new", true),
        mutator,
        config,
    ];
    let split = split(docs);
    assert_eq!(
        locations(&split.enforced),
        [
            "cluster:ConstraintTemplate//k8sname",
            "cluster:K8sName//enforced",
            "cluster:Config/config"
        ]
    );
    assert_eq!(split.shadow.len(), 6);
    // The enforced template of the kind is replaced by its shadow version, named as the
    // template it replaces; the second shadow version is refused.
    let set_names: Vec<(&str, &str)> = split
        .set
        .iter()
        .map(|d| (d.location.as_str(), name_of(&d.value)))
        .collect();
    assert_eq!(
        set_names,
        [
            ("cluster:K8sName//enforced", "enforced"),
            ("cluster:Config/config", "config"),
            ("cluster:ConstraintTemplate//k8sname-next", "k8sname"),
            ("cluster:ConstraintTemplate//k8snew", "k8snew"),
            ("cluster:K8sName//tried", "tried"),
            ("cluster:K8sNew//new", "new"),
            ("cluster:Assign//set-x", "set-x"),
        ]
    );
    assert_eq!(split.refused.len(), 1);
    let dup = &split.refused[0];
    assert_eq!(dup.location, "cluster:ConstraintTemplate//k8sname-other");
    assert_eq!(dup.cause, Cause::Duplicate);
    assert!(
        dup.reason().contains("ConstraintTemplate k8sname-next"),
        "{}",
        dup.reason()
    );
    assert_eq!(
        locations(&split.new_kind_templates()),
        ["cluster:ConstraintTemplate//k8snew"]
    );

    // The real set judges with the enforced objects alone; the shadow set with the new
    // version of the template for every constraint of its kind, and the new kind.
    let real = build(&split.enforced, None);
    assert!(real.refused.is_empty(), "{:?}", real.refused);
    assert_eq!(deniers(&real, "good"), Vec::<String>::new());
    assert_eq!(deniers(&real, "bad"), ["enforced"]);
    let previous = previous(&split.set, &real, None);
    let shadow = split.finish(build(&split.set, Some(&previous)), &real);
    assert_eq!(deniers(&shadow, "good"), ["enforced", "new", "tried"]);
    assert_eq!(shadow.mutators.len(), 1);
    assert_eq!(split.loaded(&shadow), 5, "{:?}", shadow.refused);
    let refused = split.shadow_refusals(&real, &shadow);
    assert_eq!(refused.len(), 1);
    assert_eq!(
        refused[0].location,
        "cluster:ConstraintTemplate//k8sname-other"
    );
}

#[test]
fn no_shadow_object_makes_no_shadow_set() {
    let docs = vec![
        template("k8sname", "K8sName", false, false),
        constraint("K8sName", "enforced", false),
    ];
    let split = split(docs);
    assert_eq!(split.enforced.len(), 2);
    assert!(split.shadow.is_empty() && split.set.is_empty() && split.refused.is_empty());
}

#[test]
fn enforced_objects_are_compiled_once_for_both_sets() {
    let docs = vec![
        template("k8sname", "K8sName", false, false),
        template("k8sother", "K8sOther", false, false),
        template("k8sname-next", "K8sName", true, true),
        constraint("K8sName", "a", false),
        constraint("K8sOther", "b", false),
    ];
    let split = split(docs);
    let real = build(&split.enforced, None);
    let shadow = split.finish(
        build(&split.set, Some(&previous(&split.set, &real, None))),
        &real,
    );
    let program = |s: &PolicySnapshot, kind: &str| s.templates[kind].program.clone();
    assert!(Arc::ptr_eq(
        &program(&real, "K8sOther"),
        &program(&shadow, "K8sOther")
    ));
    assert!(!Arc::ptr_eq(
        &program(&real, "K8sName"),
        &program(&shadow, "K8sName")
    ));
    let bound = |s: &PolicySnapshot, name: &str| {
        s.constraints
            .iter()
            .find(|c| c.constraint.name == name)
            .map(|c| c.program.clone())
            .expect("the constraint")
    };
    // Kept bound where its template is the same; bound to the new version where not.
    assert!(Arc::ptr_eq(&bound(&real, "b"), &bound(&shadow, "b")));
    assert!(!Arc::ptr_eq(&bound(&real, "a"), &bound(&shadow, "a")));
    assert_eq!(deniers(&shadow, "good"), ["a"]);

    // The next build reuses the last shadow set's version of the shadow template.
    let again = split.finish(
        build(
            &split.set,
            Some(&previous(&split.set, &real, Some(&shadow))),
        ),
        &real,
    );
    assert!(Arc::ptr_eq(
        &program(&shadow, "K8sName"),
        &program(&again, "K8sName")
    ));
}

#[test]
fn a_broken_shadow_version_is_refused_under_its_own_name_and_the_enforced_one_judges() {
    let mut broken = template("k8sname-next", "K8sName", true, true);
    broken.value["spec"]["targets"][0]["rego"] = json!("package k8sname\nviolation[{");
    let docs = vec![
        template("k8sname", "K8sName", false, false),
        broken,
        constraint("K8sName", "a", false),
    ];
    let split = split(docs);
    let real = build(&split.enforced, None);
    let shadow = split.finish(
        build(&split.set, Some(&previous(&split.set, &real, None))),
        &real,
    );
    let refused = split.shadow_refusals(&real, &shadow);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].object, "ConstraintTemplate/k8sname-next");
    assert_eq!(refused[0].cause, Cause::Compile);
    assert!(!refused[0].kept, "no version of its own serves");
    assert_eq!(split.loaded(&shadow), 0);
    let reports = super::super::status::shadow_reports(&split.shadow, Some(&shadow));
    let next = &reports[&(
        super::super::status::Resource::Template,
        "k8sname-next".to_string(),
    )];
    assert!(!next.serving && next.errors.len() == 1, "{next:?}");
    assert_eq!(deniers(&shadow, "good"), Vec::<String>::new());
    assert_eq!(deniers(&shadow, "bad"), ["a"]);
}

#[test]
fn a_shadow_template_of_a_new_kind_must_be_named_after_it() {
    let docs = vec![template("k8snew-next", "K8sNew", true, true)];
    let split = split(docs);
    let real = build(&split.enforced, None);
    let shadow = split.finish(
        build(&split.set, Some(&previous(&split.set, &real, None))),
        &real,
    );
    let refused = split.shadow_refusals(&real, &shadow);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].reason().contains("lower-cased kind"),
        "{}",
        refused[0].reason()
    );
    assert_eq!(split.loaded(&shadow), 0);
}

#[test]
fn shadow_objects_report_errors_and_are_not_enforced_and_only_new_kinds_get_a_crd() {
    use super::super::crds::DesiredBuilder;
    use super::super::status::{self, Resource};
    let docs = vec![
        template("k8sname", "K8sName", false, false),
        template("k8sname-next", "K8sName", true, true),
        template("k8sname-other", "K8sName", true, true),
        template("k8snew", "K8sNew", true, true),
        constraint("K8sName", "tried", true),
    ];
    let split = split(docs);
    let real = build(&split.enforced, None);
    let shadow = split.finish(
        build(&split.set, Some(&previous(&split.set, &real, None))),
        &real,
    );
    let reports = status::shadow_reports(&split.shadow, Some(&shadow));
    let get = |r: Resource, name: &str| reports[&(r, name.to_string())].clone();
    let tried = get(Resource::Constraint("K8sName".into()), "tried");
    assert!(!tried.serving && tried.errors.is_empty(), "{tried:?}");
    let next = get(Resource::Template, "k8sname-next");
    assert!(next.serving && next.errors.is_empty(), "{next:?}");
    assert_eq!(next.crd.as_deref(), Some("k8sname"));
    let other = get(Resource::Template, "k8sname-other");
    assert!(!other.serving, "{other:?}");
    assert!(
        other.errors[0].1.contains("one shadow version"),
        "{other:?}"
    );

    let new_kinds = split.new_kind_templates();
    let desired = DesiredBuilder::default().desired_of(&[
        (split.enforced.as_slice(), &real),
        (new_kinds.as_slice(), &shadow),
    ]);
    let names: Vec<&str> = desired.crds.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "k8sname.constraints.gatekeeper.sh",
            "k8snew.constraints.gatekeeper.sh"
        ]
    );
    let new = desired.crds["k8snew.constraints.gatekeeper.sh"]
        .as_ref()
        .expect("a CRD for the new kind");
    assert_eq!(new["spec"]["names"]["kind"], "K8sNew");
    let enforced = desired.crds["k8sname.constraints.gatekeeper.sh"]
        .as_ref()
        .expect("the enforced template's CRD");
    let owner = &enforced["metadata"]["ownerReferences"][0];
    assert_eq!(
        (&owner["name"], &owner["uid"]),
        (&json!("k8sname"), &json!("uid-k8sname"))
    );
}
