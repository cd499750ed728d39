//! Shadow-labelled policy objects in cluster mode, on the fake API server and over HTTPS:
//! a constraint labelled `policy.portcullis.io/shadow: "true"` is not enforced but its
//! would-be denials are counted; a new version of an enforced template, under another name,
//! runs in shadow beside it without touching its CRD; the label moves an object between
//! the two sets; with no shadow object, nothing is shadow-judged at all.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::cluster::*;
use common::fake_apiserver::{gatekeeper_kinds, FakeApiServer, Kind};
use common::{eventually, metric_value, pod};
use portcullis::impact::replay::JudgeOptions;
use portcullis::impact::shadow::Shadow;
use portcullis::impact::Tap;
use portcullis::snapshot::SnapshotStore;
use portcullis::sources::cluster::shadow::SHADOW_LABEL;
use serde_json::{json, Value};

const CRD_GROUP: &str = "apiextensions.k8s.io";
const CRDS: &str = "customresourcedefinitions";
const LABELS_CRD: &str = "k8srequiredlabels.constraints.gatekeeper.sh";

/// Portcullis in cluster mode with its shadow set judged by a shadow evaluator, as `serve
/// --source cluster` runs it.
fn shadowed(fake: FakeApiServer, manage_crds: bool) -> Cluster {
    let shadow_store = Arc::new(SnapshotStore::default());
    let for_source = shadow_store.clone();
    start_with_tap(
        fake,
        |o| {
            o.shadow_store = Some(for_source);
            o.manage_crds = manage_crds;
        },
        |metrics| Tap {
            recorder: None,
            shadow: Some(
                Shadow::new(shadow_store, 2, metrics.clone(), JudgeOptions::default())
                    .idle_when_empty(),
            ),
        },
    )
}

fn shadow_label(mut object: Value) -> Value {
    object["metadata"]["labels"] = json!({SHADOW_LABEL: "true"});
    object
}

fn metric(c: &Cluster, series: &str) -> f64 {
    metric_value(&c.metrics.encode(), series)
}

async fn metric_reaches(c: &Cluster, series: &str, at_least: f64) -> bool {
    eventually(SETTLE, || async { metric(c, series) >= at_least }).await
}

fn would_deny(constraint: &str) -> String {
    format!(
        "portcullis_shadow_disagreements_total{{constraint=\"{constraint}\",outcome=\"would_deny\"}}"
    )
}

const EVALUATIONS: &str = "portcullis_shadow_evaluations_total";
const LOADED: &str = "portcullis_shadow_policy_objects";

fn labelled_pod(name: &str, labels: Value) -> Value {
    let mut p = pod("dev", name, "registry.k8s.io/pause:3.9");
    p["metadata"]["labels"] = labels;
    p
}

/// `byPod[0]` of an object's status in the fake.
fn by_pod(fake: &FakeApiServer, object: &Value) -> Value {
    fake.get(object)
        .map(|o| o["status"]["byPod"][0].clone())
        .unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_constraint_is_counted_not_enforced_and_the_label_moves_it() {
    let fake = labels_cluster().await;
    let shadow = shadow_label(required_labels("need-team", "team", None));
    fake.apply(shadow.clone());
    let c = shadowed(fake, false);
    c.wait_ready().await;
    assert!(
        metric_reaches(&c, LOADED, 1.0).await,
        "shadow set never loaded"
    );

    // The real answer allows; the shadow constraint's denial is counted under its name.
    let unlabelled = labelled_pod("p", json!({}));
    let (allowed, message) = c.judge(&unlabelled).await;
    assert!(allowed, "a shadow constraint was enforced: {message}");
    assert!(
        metric_reaches(&c, &would_deny("need-team"), 1.0).await,
        "{}",
        c.metrics.encode()
    );
    // Its status says it is not enforced.
    assert!(
        eventually(SETTLE, || async {
            let entry = by_pod(&c.fake, &shadow);
            entry["id"] == POD && entry["enforced"] == false
        })
        .await,
        "{}",
        by_pod(&c.fake, &shadow)
    );

    // kubectl apply without the label: enforced.
    c.fake.apply(required_labels("need-team", "team", None));
    assert!(c.becomes(false, &unlabelled).await, "never enforced");
    assert!(eventually(SETTLE, || async { metric(&c, LOADED) == 0.0 }).await);
    assert!(
        eventually(SETTLE, || async {
            by_pod(&c.fake, &shadow)["enforced"] == true
        })
        .await,
        "{}",
        by_pod(&c.fake, &shadow)
    );
    // And the label back: shadow-only again.
    c.fake.apply(shadow.clone());
    assert!(c.becomes(true, &unlabelled).await, "still enforced");
    let before = metric(&c, &would_deny("need-team"));
    assert!(c.judge(&unlabelled).await.0);
    assert!(metric_reaches(&c, &would_deny("need-team"), before + 1.0).await);
}

/// A stricter version of the required-labels template: an `owner` label too, whatever the
/// parameters say.
fn stricter_labels_template(name: &str) -> Value {
    let mut t = library_template("k8srequiredlabels");
    t["metadata"]["name"] = json!(name);
    t["spec"]["targets"] = json!([{"target": "admission.k8s.gatekeeper.sh", "rego": r#"
package k8srequiredlabels

violation[{"msg": msg}] {
  key := input.parameters.labels[_].key
  not input.review.object.metadata.labels[key]
  msg := sprintf("next: missing label %v", [key])
}

violation[{"msg": "next: missing label owner"}] {
  not input.review.object.metadata.labels.owner
}
"#}]);
    shadow_label(t)
}

fn crd(fake: &FakeApiServer, name: &str) -> Option<Value> {
    fake.objects(CRD_GROUP, CRDS)
        .into_iter()
        .find(|c| c["metadata"]["name"] == name)
}

fn template_ref(name: &str) -> Value {
    json!({"apiVersion": "templates.gatekeeper.sh/v1", "kind": "ConstraintTemplate",
           "metadata": {"name": name}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_of_an_enforced_template_runs_in_shadow_beside_it() {
    let mut kinds = gatekeeper_kinds();
    kinds.push(Kind::crd());
    let fake = FakeApiServer::start(kinds).await;
    let c = shadowed(fake, true);
    c.wait_ready().await;
    c.fake.apply(library_template("k8srequiredlabels"));
    assert!(
        eventually(SETTLE, || async {
            c.fake
                .serves("constraints.gatekeeper.sh", "K8sRequiredLabels")
        })
        .await,
        "no CRD for the enforced template"
    );
    c.fake.apply(required_labels("need-team", "team", None));
    let unlabelled = labelled_pod("p", json!({}));
    assert!(c.becomes(false, &unlabelled).await, "not enforced");
    let enforced_crd = crd(&c.fake, LABELS_CRD).expect("the CRD");

    // The new version, under another name, with a second one and a template of a new kind.
    c.fake
        .apply(stricter_labels_template("k8srequiredlabels-next"));
    c.fake
        .apply(stricter_labels_template("k8srequiredlabels-zz-also"));
    c.fake
        .apply(shadow_label(library_template("k8sallowedrepos")));
    assert!(
        metric_reaches(&c, LOADED, 2.0).await,
        "{}",
        c.metrics.encode()
    );

    // The enforced template keeps deciding: a Pod with the team label is allowed, and the
    // shadow version's denial of it is counted for the enforced constraint.
    let team_only = labelled_pod("t", json!({"team": "a"}));
    assert!(c.judge(&team_only).await.0, "the shadow version decided");
    let (allowed, message) = c.judge(&unlabelled).await;
    assert!(!allowed && message.contains("need-team"), "{message}");
    assert!(!message.contains("next:"), "{message}");
    assert!(
        metric_reaches(&c, &would_deny("need-team"), 1.0).await,
        "{}",
        c.metrics.encode()
    );

    // The shadow version is ingested (its kind's CRD is there) and has no CRD of its own;
    // the second one of the kind is refused, saying why.
    assert!(
        eventually(SETTLE, || async {
            let status = c
                .fake
                .get(&template_ref("k8srequiredlabels-next"))
                .map(|t| t["status"].clone())
                .unwrap_or(Value::Null);
            status["created"] == true && status["byPod"][0]["errors"] == json!([])
        })
        .await,
        "{:?}",
        c.fake.get(&template_ref("k8srequiredlabels-next"))
    );
    assert!(
        eventually(SETTLE, || async {
            by_pod(&c.fake, &template_ref("k8srequiredlabels-zz-also"))["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("one shadow version"))
        })
        .await,
        "{}",
        by_pod(&c.fake, &template_ref("k8srequiredlabels-zz-also"))
    );
    // A shadow template of a new kind gets its CRD.
    assert!(
        eventually(SETTLE, || async {
            crd(&c.fake, "k8sallowedrepos.constraints.gatekeeper.sh").is_some()
        })
        .await,
        "no CRD for the shadow template of a new kind"
    );
    let now = crd(&c.fake, LABELS_CRD).expect("the enforced template's CRD");
    assert_eq!(
        now["metadata"]["resourceVersion"], enforced_crd["metadata"]["resourceVersion"],
        "the shadow version wrote the enforced template's CRD: {now}"
    );
    assert_eq!(
        now["metadata"]["ownerReferences"][0]["name"],
        "k8srequiredlabels"
    );
    for name in ["k8srequiredlabels-next", "k8srequiredlabels-zz-also"] {
        assert!(crd(&c.fake, &format!("{name}.constraints.gatekeeper.sh")).is_none());
    }

    // The shadow version goes: the CRD stays, and so do the constraints.
    c.fake.delete(&template_ref("k8srequiredlabels-next"));
    c.fake.delete(&template_ref("k8srequiredlabels-zz-also"));
    assert!(eventually(SETTLE, || async { metric(&c, LOADED) == 1.0 }).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        crd(&c.fake, LABELS_CRD).is_some(),
        "the enforced CRD was deleted"
    );
    assert!(!c.judge(&unlabelled).await.0, "no longer enforced");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_shadow_objects_nothing_is_shadow_judged() {
    let fake = labels_cluster().await;
    fake.apply(required_labels("need-team", "team", None));
    let c = shadowed(fake, false);
    c.wait_ready().await;
    let unlabelled = labelled_pod("p", json!({}));
    for _ in 0..5 {
        assert!(!c.judge(&unlabelled).await.0);
        assert!(c.judge(&labelled_pod("ok", json!({"team": "a"}))).await.0);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = c.metrics.encode();
    assert!(text.contains(&format!("{EVALUATIONS} 0\n")), "{text}");
    assert!(!text.contains("portcullis_shadow_dropped_total{"), "{text}");

    // A shadow object makes the evaluator work; once it is gone, it idles again.
    let shadow = shadow_label(required_labels("need-owner", "owner", None));
    c.fake.apply(shadow.clone());
    assert!(metric_reaches(&c, LOADED, 1.0).await);
    let team_only = labelled_pod("t", json!({"team": "a"}));
    assert!(
        eventually(SETTLE, || async {
            assert!(c.judge(&team_only).await.0);
            metric(&c, &would_deny("need-owner")) >= 1.0
        })
        .await,
        "{}",
        c.metrics.encode()
    );
    c.fake.delete(&shadow);
    assert!(eventually(SETTLE, || async { metric(&c, LOADED) == 0.0 }).await);
    // Let evaluations already handed over finish.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = metric(&c, EVALUATIONS);
    for _ in 0..5 {
        c.judge(&unlabelled).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(metric(&c, EVALUATIONS), before, "{}", c.metrics.encode());
}

#[test]
fn a_shadow_directory_is_refused_in_cluster_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["serve", "--source", "cluster", "--shadow-policies"])
        .arg(dir.path())
        .output()
        .expect("run portcullis");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--shadow-policies") && err.contains(SHADOW_LABEL),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_constraint_gets_no_generated_validating_admission_policy_binding() {
    const GROUP: &str = "admissionregistration.k8s.io";
    let mut kinds = gatekeeper_kinds();
    kinds.push(Kind::constraint("PcRequiredOwner"));
    for (kind, plural) in [
        ("ValidatingAdmissionPolicy", "validatingadmissionpolicies"),
        (
            "ValidatingAdmissionPolicyBinding",
            "validatingadmissionpolicybindings",
        ),
    ] {
        kinds.push(Kind::new(GROUP, "v1", kind, plural, false));
    }
    let fake = FakeApiServer::start(kinds).await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vap");
    let mut shadow = None;
    for file in ["template.yaml", "constraints.yaml"] {
        for doc in portcullis::manifests::read_values(&dir.join(file)).expect("fixture") {
            if doc["metadata"]["name"] == "services-have-owners-warn" {
                shadow = Some(shadow_label(doc));
                fake.apply(shadow.clone().unwrap());
            } else {
                fake.apply(doc);
            }
        }
    }
    let shadow = shadow.expect("the fixture's warn constraint");
    let c = start_with(fake, |o| o.generate_vap = true);
    c.wait_ready().await;
    let bound = |fake: &FakeApiServer, constraint: &str| {
        fake.objects(GROUP, "validatingadmissionpolicybindings")
            .iter()
            .any(|b| b["spec"]["paramRef"]["name"] == constraint)
    };
    assert!(
        eventually(SETTLE, || async {
            bound(&c.fake, "deployments-have-owners")
        })
        .await,
        "the enforced constraint's binding never written"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !bound(&c.fake, "services-have-owners-warn"),
        "a shadow constraint was bound"
    );
    // Enforced once the label goes.
    let mut enforced = shadow;
    enforced["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("labels");
    c.fake.apply(enforced);
    assert!(
        eventually(SETTLE, || async {
            bound(&c.fake, "services-have-owners-warn")
        })
        .await,
        "no binding once enforced"
    );
}
