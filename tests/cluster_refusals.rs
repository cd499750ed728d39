//! Cluster mode, one bad object at a time: a broken constraint or a pair of conflicting
//! mutators is refused on its own, the reason is written to the object's status in
//! Gatekeeper's shape (`status.byPod[].errors`), and everything else keeps serving.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

mod common;

use common::cluster::*;
use common::fake_apiserver::{gatekeeper_kinds, FakeApiServer};
use common::{eventually, metric_value, pod, post_review, review, Proto};
use serde_json::{json, Value};

/// This replica's `byPod` entry of an object, or Null.
fn entry(c: &Cluster, object: &Value) -> Value {
    let stored = c.fake.get(object).unwrap_or(Value::Null);
    stored["status"]["byPod"]
        .as_array()
        .and_then(|l| l.iter().find(|e| e["id"] == POD).cloned())
        .unwrap_or(Value::Null)
}

fn first_error(entry: &Value) -> String {
    entry["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_constraint_gets_its_status_error_and_the_others_keep_serving() {
    let fake = labels_cluster().await;
    fake.apply(required_labels("need-team", "team", None));
    let c = start(fake);
    c.wait_ready().await;
    let p = pod("dev", "p", "registry.k8s.io/pause:3.9");
    assert!(!c.judge(&p).await.0, "need-team denies");

    // A new constraint whose parameters fail its template's schema.
    let mut bad = required_labels("bad-params", "x", None);
    bad["spec"]["parameters"]["labels"] = json!(7);
    c.fake.apply(bad.clone());
    let reported = eventually(SETTLE, || async {
        let e = entry(&c, &bad);
        e["enforced"] == false && first_error(&e).contains("spec.parameters")
    })
    .await;
    assert!(reported, "broken constraint status: {}", entry(&c, &bad));
    let good = required_labels("need-team", "team", None);
    let e = entry(&c, &good);
    assert_eq!(
        (e["enforced"].clone(), e["errors"].clone()),
        (json!(true), json!([])),
        "{e}"
    );
    assert!(e["constraintUID"].is_string(), "{e}");
    assert!(!c.judge(&p).await.0, "need-team still denies");

    // A good constraint broken by an update keeps its last good version, enforced.
    let mut broken_update = required_labels("need-team", "team", None);
    broken_update["spec"]["parameters"]["labels"] = json!("team");
    c.fake.apply(broken_update.clone());
    let reported = eventually(SETTLE, || async {
        let e = entry(&c, &broken_update);
        e["enforced"] == true && first_error(&e).contains("spec.parameters")
    })
    .await;
    assert!(reported, "updated constraint status: {}", entry(&c, &good));
    assert!(!c.judge(&p).await.0, "its last good version still denies");
    let text = c.metrics.encode();
    assert_eq!(
        metric_value(
            &text,
            "portcullis_policy_objects{kind=\"constraint\",state=\"refused\"}"
        ),
        2.0,
        "{text}"
    );
    assert_eq!(
        metric_value(
            &text,
            "portcullis_policy_objects{kind=\"constraint\",state=\"loaded\"}"
        ),
        1.0,
        "{text}"
    );

    // Fixed: the error clears and the new version serves.
    c.fake.apply(required_labels("need-team", "owner", None));
    assert!(c.becomes(true, &p).await, "the Pod has owner");
    let cleared = eventually(SETTLE, || async { entry(&c, &good)["errors"] == json!([]) }).await;
    assert!(cleared, "{}", entry(&c, &good));
}

fn assign(name: &str, location: &str) -> Value {
    json!({"apiVersion": "mutations.gatekeeper.sh/v1", "kind": "Assign",
           "metadata": {"name": name},
           "spec": {"applyTo": [{"groups": [""], "versions": ["v1"], "kinds": ["Pod"]}],
                    "location": location,
                    "parameters": {"assign": {"value": "x"}}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_mutators_are_reported_and_not_applied_and_the_others_run() {
    let c = start(FakeApiServer::start(gatekeeper_kinds()).await);
    c.wait_ready().await;
    let keyed = assign("keyed", "spec.containers[name: app].imagePullPolicy");
    let object = assign("object", "spec.containers.imagePullPolicy");
    c.fake.apply(keyed.clone());
    c.fake.apply(object.clone());
    c.fake.apply(json!({
        "apiVersion": "mutations.gatekeeper.sh/v1", "kind": "AssignMetadata",
        "metadata": {"name": "team-label"},
        "spec": {"match": {"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}]},
                 "location": "metadata.labels.team",
                 "parameters": {"assign": {"value": "platform"}}}}));
    let conflict = |m: &Value| {
        let e = entry(&c, m);
        e["enforced"] == false
            && e["errors"][0]["type"] == "ErrConflictingSchema"
            && first_error(&e).contains("Assign/keyed")
            && first_error(&e).contains("Assign/object")
    };
    let reported = eventually(SETTLE, || async { conflict(&keyed) && conflict(&object) }).await;
    assert!(
        reported,
        "conflict status: {} / {}",
        entry(&c, &keyed),
        entry(&c, &object)
    );

    let body = review(
        "admission.k8s.io/v1",
        "uid-m",
        "CREATE",
        pod("dev", "p", "registry.k8s.io/pause:3.9"),
    );
    let url = format!("{}/mutate", c.https.base);
    let out = post_review(&c.client, &url, &body, Proto::Http1).await;
    let patch = out["response"]["patch"].as_str().unwrap_or_default();
    let patch = base64_decode(patch);
    assert!(patch.contains("/metadata/labels/team"), "{patch}");
    assert!(
        !patch.contains("imagePullPolicy"),
        "conflicting mutators are not applied: {patch}"
    );
    let text = c.metrics.encode();
    assert_eq!(
        metric_value(
            &text,
            "portcullis_policy_refusals_total{kind=\"mutator\",reason=\"conflict\"}"
        ),
        2.0,
        "{text}"
    );

    // One side of the conflict removed: the other applies again.
    c.fake.delete(&object);
    let applied = eventually(SETTLE, || async {
        let out = post_review(&c.client, &url, &body, Proto::Http1).await;
        base64_decode(out["response"]["patch"].as_str().unwrap_or_default())
            .contains("imagePullPolicy")
    })
    .await;
    assert!(applied, "Assign/keyed runs once the conflict is gone");
    let cleared = eventually(SETTLE, || async {
        let e = entry(&c, &keyed);
        e["enforced"] == true && e["errors"] == json!([])
    })
    .await;
    assert!(cleared, "{}", entry(&c, &keyed));
}

fn base64_decode(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_config_keeps_its_last_good_exemptions_and_reports_why() {
    let fake = labels_cluster().await;
    fake.apply(required_labels("need-team", "team", None));
    let config = |matches: Value| {
        json!({"apiVersion": "config.gatekeeper.sh/v1alpha1", "kind": "Config",
               "metadata": {"name": "config", "namespace": "portcullis-system"},
               "spec": {"match": matches}})
    };
    fake.apply(config(
        json!([{"excludedNamespaces": ["dev"], "processes": ["webhook"]}]),
    ));
    let c = start(fake);
    c.wait_ready().await;
    let p = pod("dev", "p", "registry.k8s.io/pause:3.9");
    assert!(c.judge(&p).await.0, "dev is exempt");

    let broken = config(json!("dev"));
    c.fake.apply(broken.clone());
    let reported = eventually(SETTLE, || async {
        first_error(&entry(&c, &broken)).starts_with("spec.match")
    })
    .await;
    assert!(reported, "Config status: {}", entry(&c, &broken));
    assert!(c.judge(&p).await.0, "the last good exemptions still apply");
    assert!(
        !c.judge(&pod("prod", "p", "registry.k8s.io/pause:3.9"))
            .await
            .0,
        "need-team still denies elsewhere"
    );
}
