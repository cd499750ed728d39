use super::manager::includes;
use super::*;
use crate::snapshot::BuildOptions;

const REGO: &str = "package k8sexample\nviolation[{\"msg\": \"x\"}] { false }\n";

fn template(name: &str, kind: &str, uid: &str, rego: &str, schema: Value) -> Document {
    Document {
        location: format!("cluster:ConstraintTemplate//{name}"),
        value: json!({
            "apiVersion": "templates.gatekeeper.sh/v1", "kind": "ConstraintTemplate",
            "metadata": {"name": name, "uid": uid},
            "spec": {"crd": {"spec": {"names": {"kind": kind},
                                      "validation": {"openAPIV3Schema": schema}}},
                     "targets": [{"target": "admission.k8s.gatekeeper.sh", "rego": rego}]}}),
    }
}

fn good(uid: &str, schema: Value) -> Document {
    template("k8sexample", "K8sExample", uid, REGO, schema)
}

fn build(docs: &[Document], previous: Option<&PolicySnapshot>) -> PolicySnapshot {
    PolicySnapshot::build_from(docs, &BuildOptions::default(), previous)
}

/// The CRD as the API server would answer it: with a uid, a resourceVersion, defaulted
/// fields and empty ones left out, and Established.
fn served(crd: &Value) -> Value {
    let mut c = crd.clone();
    c["metadata"]["uid"] = json!("crd-uid");
    c["metadata"]["resourceVersion"] = json!("7");
    if let Some(spec) = c["spec"].as_object_mut() {
        spec.remove("preserveUnknownFields");
    }
    c["status"] = json!({"conditions": [{"type": "Established", "status": "True"}]});
    c
}

fn object_schema() -> Value {
    json!({"type": "object", "properties": {"n": {"type": "integer"}}})
}

#[test]
fn a_template_wants_its_crd_marked_as_ours_and_owned_by_it() {
    let docs = [good("t-uid", object_schema())];
    let snap = build(&docs, None);
    let desired = DesiredBuilder::default().desired(&docs, &snap);
    let crd = desired.crds["k8sexample.constraints.gatekeeper.sh"]
        .clone()
        .expect("a CRD to make");
    assert!(is_owned(&crd));
    assert_eq!(crd["metadata"]["labels"]["gatekeeper.sh/constraint"], "yes");
    let owner = &crd["metadata"]["ownerReferences"][0];
    assert_eq!(
        (
            owner["kind"].as_str(),
            owner["uid"].as_str(),
            owner["controller"].as_bool()
        ),
        (Some("ConstraintTemplate"), Some("t-uid"), Some(true))
    );
    // The generator `portcullis crd` uses, with only the ownership marks added.
    let mut plain = crd.clone();
    plain["metadata"]["labels"]
        .as_object_mut()
        .expect("labels")
        .remove(MANAGED_BY.0);
    plain["metadata"]
        .as_object_mut()
        .expect("metadata")
        .remove("ownerReferences");
    assert_eq!(plain, constraint_crd(&docs[0].value).expect("crd"));

    let view = CrdView::of([]);
    assert_eq!(plan(&desired, &view), vec![Action::Create(crd.clone())]);
    // Once served as asked (with the server's defaulting), nothing more to do.
    let view = CrdView::of([served(&crd)]);
    assert_eq!(plan(&desired, &view), vec![]);
    assert!(view.established("k8sexample.constraints.gatekeeper.sh"));
}

#[test]
fn a_schema_change_updates_the_crd_in_place() {
    let docs = [good("t-uid", object_schema())];
    let snap = build(&docs, None);
    let mut builder = DesiredBuilder::default();
    let before = builder.desired(&docs, &snap).crds["k8sexample.constraints.gatekeeper.sh"]
        .clone()
        .expect("crd");
    let mut current = served(&before);
    current["metadata"]["labels"]["added-by-someone"] = json!("x");
    let changed = [good(
        "t-uid",
        json!({"type": "object", "properties": {"n": {"type": "string"}}}),
    )];
    let snap = build(&changed, Some(&snap));
    let desired = builder.desired(&changed, &snap);
    let actions = plan(&desired, &CrdView::of([current.clone()]));
    let [Action::Update(updated)] = actions.as_slice() else {
        panic!("one update expected: {actions:?}");
    };
    assert_eq!(
        updated["metadata"]["resourceVersion"], "7",
        "optimistic concurrency"
    );
    assert_eq!(updated["metadata"]["labels"]["added-by-someone"], "x");
    let n = "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/parameters/properties/n/type";
    assert_eq!(updated.pointer(n), Some(&json!("string")));
    assert!(updated.get("status").is_none());
}

#[test]
fn a_refused_template_keeps_the_crd_of_its_last_good_version() {
    let docs = [good("t-uid", object_schema())];
    let snap = build(&docs, None);
    let mut builder = DesiredBuilder::default();
    let first = builder.desired(&docs, &snap);
    let broken = [template(
        "k8sexample",
        "K8sExample",
        "t-uid",
        "package k8sexample\nviolation[{\"msg\": m}] {\n m := \n",
        json!({"type": "object", "properties": {"n": {"type": "string"}}}),
    )];
    let snap = build(&broken, Some(&snap));
    assert!(!snap.refused.is_empty());
    let second = builder.desired(&broken, &snap);
    assert_eq!(first, second, "the last good version's CRD, unchanged");
    // Refused from the start (a restart meets a broken template): no CRD is made, and the
    // existing one is not deleted, since the template is still there.
    let fresh = build(&broken, None);
    let desired = DesiredBuilder::default().desired(&broken, &fresh);
    assert_eq!(desired.crds["k8sexample.constraints.gatekeeper.sh"], None);
    let existing = served(
        first.crds["k8sexample.constraints.gatekeeper.sh"]
            .as_ref()
            .expect("crd"),
    );
    assert_eq!(plan(&desired, &CrdView::of([existing])), vec![]);
}

#[test]
fn only_our_crds_of_templates_that_are_gone_are_deleted() {
    let docs = [good("t-uid", object_schema())];
    let snap = build(&docs, None);
    let mut builder = DesiredBuilder::default();
    let ours = served(
        builder.desired(&docs, &snap).crds["k8sexample.constraints.gatekeeper.sh"]
            .as_ref()
            .expect("crd"),
    );
    let mut foreign = ours.clone();
    foreign["metadata"]["name"] = json!("k8sother.constraints.gatekeeper.sh");
    foreign["metadata"]["labels"]
        .as_object_mut()
        .expect("labels")
        .remove(MANAGED_BY.0);
    let view = CrdView::of([ours, foreign.clone()]);
    let gone = build(&[], Some(&snap));
    let desired = builder.desired(&[], &gone);
    assert_eq!(
        plan(&desired, &view),
        vec![Action::Delete {
            name: "k8sexample.constraints.gatekeeper.sh".into(),
            uid: "crd-uid".into()
        }]
    );
    // Before the first build nothing is deleted: the template list may be incomplete.
    assert_eq!(plan(&Desired::default(), &view), vec![]);
    // A foreign CRD where ours would go is reported and left.
    let other = [template(
        "k8sother",
        "K8sOther",
        "o-uid",
        REGO.replace("k8sexample", "k8sother").as_str(),
        object_schema(),
    )];
    let snap = build(&other, None);
    let desired = DesiredBuilder::default().desired(&other, &snap);
    assert_eq!(
        plan(&desired, &CrdView::of([foreign])),
        vec![Action::Foreign("k8sother.constraints.gatekeeper.sh".into())]
    );
}

#[test]
fn inclusion_ignores_what_the_server_leaves_out_or_adds() {
    assert!(includes(&json!({"a": 1, "b": 2}), &json!({"a": 1})));
    assert!(includes(
        &json!({}),
        &json!({"f": false, "s": "", "l": [], "m": {}})
    ));
    assert!(!includes(&json!({}), &json!({"f": true})));
    assert!(!includes(&json!({"a": [1, 2]}), &json!({"a": [1]})));
    assert!(includes(
        &json!({"a": [{"x": 1, "y": 2}]}),
        &json!({"a": [{"x": 1}]})
    ));
    assert!(!includes(&json!({"a": "deny"}), &json!({"a": "warn"})));
}
