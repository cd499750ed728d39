//! `serve --source cluster --generate-vap` on the fake API server: the cluster's CEL
//! template and constraints become the ValidatingAdmissionPolicy and bindings `portcullis
//! vap` prints, labelled as portcullis's; a constraint deleted takes its binding; objects
//! not labelled as portcullis's are left alone; a refused edit of the template keeps the
//! policy of its last good version, as the webhook keeps enforcing it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

mod common;

use std::path::Path;

use common::cluster::*;
use common::eventually;
use common::fake_apiserver::{gatekeeper_kinds, FakeApiServer, Kind};
use serde_json::{json, Value};

const GROUP: &str = "admissionregistration.k8s.io";

fn fixture() -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vap");
    let mut docs = Vec::new();
    for file in ["template.yaml", "constraints.yaml"] {
        docs.extend(portcullis::manifests::read_values(&dir.join(file)).expect("fixture"));
    }
    docs
}

fn named(fake: &FakeApiServer, plural: &str, name: &str) -> Option<Value> {
    fake.objects(GROUP, plural)
        .into_iter()
        .find(|o| o["metadata"]["name"] == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cel_templates_and_constraints_are_kept_as_validating_admission_policies() {
    let mut kinds = gatekeeper_kinds();
    kinds.push(Kind::constraint("PcRequiredOwner"));
    kinds.push(Kind::new(
        GROUP,
        "v1",
        "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies",
        false,
    ));
    kinds.push(Kind::new(
        GROUP,
        "v1",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        false,
    ));
    let fake = FakeApiServer::start(kinds).await;
    // Someone else's binding of a name the export would not use, and one of ours that no
    // constraint asks for any more.
    fake.apply(json!({"apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": "hand-made"},
        "spec": {"policyName": "x", "validationActions": ["Deny"]}}));
    fake.apply(json!({"apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": "gatekeeper-pcrequiredowner-gone",
                     "labels": {"app.kubernetes.io/managed-by": "portcullis"}},
        "spec": {"policyName": "gatekeeper-pcrequiredowner", "validationActions": ["Deny"]}}));
    let docs = fixture();
    for doc in &docs {
        fake.apply(doc.clone());
    }
    let c = start_with(fake, |o| o.generate_vap = true);
    c.wait_ready().await;

    // What `portcullis vap` prints for the same objects, written as it prints it.
    let documents: Vec<portcullis::policy::Document> = docs
        .iter()
        .map(|d| portcullis::policy::Document {
            location: "fixture".into(),
            value: d.clone(),
        })
        .collect();
    let export = portcullis::vap::export(&documents, &Default::default()).expect("exports");
    assert_eq!(export.objects.len(), 3, "a policy and two bindings");
    let plural = |o: &Value| {
        if o["kind"] == "ValidatingAdmissionPolicy" {
            "validatingadmissionpolicies"
        } else {
            "validatingadmissionpolicybindings"
        }
    };
    for object in &export.objects {
        let name = object["metadata"]["name"].as_str().unwrap();
        assert!(
            eventually(SETTLE, || async {
                named(&c.fake, plural(object), name).is_some()
            })
            .await,
            "{name} not written"
        );
        let written = named(&c.fake, plural(object), name).unwrap();
        assert_eq!(written["spec"], object["spec"], "{name}");
        assert_eq!(
            written["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "portcullis"
        );
    }
    assert!(
        eventually(SETTLE, || async {
            named(
                &c.fake,
                "validatingadmissionpolicybindings",
                "gatekeeper-pcrequiredowner-gone",
            )
            .is_none()
        })
        .await,
        "a stale binding of ours stays"
    );
    assert!(named(&c.fake, "validatingadmissionpolicybindings", "hand-made").is_some());

    // A constraint deleted takes its binding; the policy stays for the other one.
    let gone = docs
        .iter()
        .find(|d| d["metadata"]["name"] == "services-have-owners-warn")
        .unwrap();
    c.fake.delete(gone);
    let bindings = |fake: &FakeApiServer| fake.objects(GROUP, "validatingadmissionpolicybindings");
    assert!(
        eventually(SETTLE, || async {
            !bindings(&c.fake)
                .iter()
                .any(|b| b["spec"]["paramRef"]["name"] == "services-have-owners-warn")
        })
        .await,
        "the deleted constraint's binding stays"
    );
    assert!(named(
        &c.fake,
        "validatingadmissionpolicies",
        "gatekeeper-pcrequiredowner"
    )
    .is_some());
    assert_eq!(bindings(&c.fake).len(), 2, "{:?}", bindings(&c.fake));

    // A refused edit of the template (a CEL expression that does not compile): the webhook
    // keeps its last good version, and so does the generated policy.
    let policy = |fake: &FakeApiServer| {
        named(
            fake,
            "validatingadmissionpolicies",
            "gatekeeper-pcrequiredowner",
        )
        .expect("the generated policy")
    };
    let good = policy(&c.fake)["spec"].clone();
    let mut broken = docs
        .iter()
        .find(|d| d["kind"] == "ConstraintTemplate")
        .unwrap()
        .clone();
    broken["spec"]["targets"][0]["code"][0]["source"]["validations"][0]["expression"] =
        json!("variables.params.label in (");
    let errors = c.reload_errors();
    c.fake.apply(broken);
    assert!(
        eventually(SETTLE, || async { c.reload_errors() > errors }).await,
        "the broken template was not refused"
    );
    // Give the writer a pass after the refusal: the policy must still be the good one.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(policy(&c.fake)["spec"], good);
    assert_eq!(bindings(&c.fake).len(), 2, "{:?}", bindings(&c.fake));
}
