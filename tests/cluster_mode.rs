//! Cluster mode end to end, policy lifecycle: Gatekeeper objects created, changed and
//! deleted in a fake Kubernetes API server reach the webhook, asked over real HTTPS;
//! readiness waits for the first lists; broken sets and broken watches are survived.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::cluster::*;
use common::fake_apiserver::{gatekeeper_kinds, FakeApiServer, Kind};
use common::{eventually, pod, post_review, review, Proto};
use portcullis::metrics::Metrics;
use portcullis::snapshot::SnapshotStore;
use portcullis::sources::cluster::{ClusterOptions, ClusterSource};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constraints_follow_create_update_and_delete_in_the_cluster() {
    let c = start(labels_cluster().await);
    c.wait_ready().await;
    let p = pod("dev", "p", "registry.k8s.io/pause:3.9");
    assert!(c.judge(&p).await.0, "no constraint yet");

    c.fake.apply(required_labels("need-team", "team", None));
    assert!(c.becomes(false, &p).await, "a new constraint denies");
    let (_, message) = c.judge(&p).await;
    assert!(message.contains("[need-team]"), "{message}");

    c.fake.apply(required_labels("need-team", "owner", None));
    assert!(
        c.becomes(true, &p).await,
        "new parameters: the Pod has owner"
    );

    c.fake.apply(required_labels("need-team", "team", None));
    assert!(c.becomes(false, &p).await);
    c.fake.delete(&required_labels("need-team", "team", None));
    assert!(
        c.becomes(true, &p).await,
        "a deleted constraint no longer denies"
    );
    assert_eq!(c.reload_errors(), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_until_every_initial_list_has_synced() {
    let fake = labels_cluster().await;
    fake.apply(required_labels("need-team", "team", None));
    fake.hold_lists();
    let c = start(fake);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(!c.ready().await, "lists are held: not ready");
    c.fake.open_lists();
    c.wait_ready().await;
    let p = pod("dev", "p", "registry.k8s.io/pause:3.9");
    assert!(
        !c.judge(&p).await.0,
        "ready means the constraints listed at start are already enforced"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_template_is_refused_alone_and_other_changes_still_apply() {
    let fake = labels_cluster().await;
    fake.apply(required_labels("need-team", "team", None));
    let c = start(fake);
    c.wait_ready().await;
    let p = pod("dev", "p", "registry.k8s.io/pause:3.9");
    assert!(!c.judge(&p).await.0);
    assert_eq!(c.reload_errors(), 0.0);

    let broken = json!({
        "apiVersion": "templates.gatekeeper.sh/v1", "kind": "ConstraintTemplate",
        "metadata": {"name": "k8sbroken"},
        "spec": {"crd": {"spec": {"names": {"kind": "K8sBroken"}}},
                 "targets": [{"target": "admission.k8s.gatekeeper.sh",
                              "rego": "package k8sbroken\nviolation[{\"msg\": msg}] {\n  msg := \n"}]}});
    c.fake.apply(broken.clone());
    assert!(
        eventually(SETTLE, || async { c.reload_errors() >= 1.0 }).await,
        "the rejection is counted"
    );
    // The reason is written to the template's status, as Gatekeeper does.
    let entry = |template: &Value| {
        let status = c.fake.get(template).map(|t| t["status"].clone());
        let status = status.unwrap_or(Value::Null);
        (status["created"].clone(), status["byPod"][0].clone())
    };
    let reported = eventually(SETTLE, || async {
        let (created, by_pod) = entry(&broken);
        created == false && by_pod["id"] == POD && by_pod["errors"][0]["message"].is_string()
    })
    .await;
    assert!(reported, "broken template status: {:?}", entry(&broken));
    let good = library_template("k8srequiredlabels");
    let created = eventually(SETTLE, || async {
        let (created, by_pod) = entry(&good);
        created == true && by_pod["errors"] == json!([]) && by_pod["templateUID"].is_string()
    })
    .await;
    assert!(created, "the serving template: {:?}", entry(&good));
    // Other changes still apply while the template is broken.
    c.fake.apply(required_labels("need-team", "owner", None));
    assert!(
        c.becomes(true, &p).await,
        "the constraint's new parameters: the Pod has owner"
    );
    c.fake.delete(&broken);
    c.fake.apply(required_labels("need-team", "team", None));
    assert!(c.becomes(false, &p).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_resume_after_the_stream_closes_and_relist_after_410_gone() {
    let fake = labels_cluster().await;
    fake.apply(required_labels("need-team", "team", None));
    let c = start(fake);
    c.wait_ready().await;
    let p = pod("dev", "p", "registry.k8s.io/pause:3.9");
    assert!(!c.judge(&p).await.0);

    // The server ends every watch: the watchers resume from their last resourceVersion.
    let before = c.fake.watches_started();
    c.fake.close_watches();
    c.fake.apply(required_labels("need-team", "owner", None));
    assert!(
        c.becomes(true, &p).await,
        "a change after the reconnect arrives"
    );
    assert!(c.fake.watches_started() > before, "watches were restarted");

    // History compacted past the watchers' resourceVersion: resuming gets 410 Gone and
    // the watchers relist. The change made while they cannot list arrives with the relist.
    c.fake.hold_lists();
    c.fake.apply(namespace("bump", json!({})));
    c.fake.compact();
    c.fake.close_watches();
    c.fake.apply(required_labels("need-team", "team", None));
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.fake.open_lists();
    assert!(c.becomes(false, &p).await, "the relist brings the change");
    assert!(c.fake.gone_sent() > 0, "a watch was answered 410 Gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_template_retires_its_constraints_and_recreating_restores_them() {
    let fake = labels_cluster().await;
    fake.apply(required_labels("need-team", "team", None));
    let c = start(fake);
    c.wait_ready().await;
    let p = pod("dev", "p", "registry.k8s.io/pause:3.9");
    assert!(!c.judge(&p).await.0);

    let template = library_template("k8srequiredlabels");
    c.fake.delete(&template);
    assert!(
        c.becomes(true, &p).await,
        "no template, no constraint of its kind"
    );
    c.fake.apply(template);
    assert!(
        c.becomes(false, &p).await,
        "the kind is watched again and its constraint listed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutators_in_the_cluster_patch_through_mutate() {
    let c = start(FakeApiServer::start(gatekeeper_kinds()).await);
    c.wait_ready().await;
    let p = pod("dev", "p", "registry.k8s.io/pause:3.9");
    let body = review("admission.k8s.io/v1", "uid-m", "CREATE", p);
    let url = format!("{}/mutate", c.https.base);
    let patched = || async {
        let out = post_review(&c.client, &url, &body, Proto::Http1).await;
        out["response"].get("patch").is_some()
    };
    assert!(!patched().await, "no mutator yet");
    c.fake.apply(json!({
        "apiVersion": "mutations.gatekeeper.sh/v1", "kind": "AssignMetadata",
        "metadata": {"name": "team-label"},
        "spec": {"match": {"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}]},
                 "location": "metadata.labels.team",
                 "parameters": {"assign": {"value": "platform"}}}}));
    assert!(
        eventually(SETTLE, patched).await,
        "the AssignMetadata patches Pods"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1beta1_template_loads_like_a_v1_one() {
    let fake = FakeApiServer::start(gatekeeper_kinds()).await;
    // The API server serves stored v1beta1 templates through v1 (same storage).
    fake.serve_kind(Kind::new(
        "templates.gatekeeper.sh",
        "v1beta1",
        "ConstraintTemplate",
        "constrainttemplates",
        false,
    ));
    fake.serve_kind(Kind::constraint("K8sRequiredLabels"));
    let mut template = library_template("k8srequiredlabels");
    template["apiVersion"] = json!("templates.gatekeeper.sh/v1beta1");
    fake.apply(template);
    fake.apply(required_labels("need-team", "team", None));
    let c = start(fake);
    c.wait_ready().await;
    assert!(
        !c.judge(&pod("dev", "p", "registry.k8s.io/pause:3.9"))
            .await
            .0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_each_keep_their_own_status_entry() {
    let fake = labels_cluster().await;
    let c = start(fake);
    c.wait_ready().await;
    let second = ClusterSource::new(
        c.fake.client(),
        ClusterOptions {
            status_id: Some("portcullis-test-1".into()),
            debounce: Duration::from_millis(50),
            ..ClusterOptions::default()
        },
    )
    .spawn(Arc::new(SnapshotStore::default()), Arc::new(Metrics::new()));
    let template = library_template("k8srequiredlabels");
    let ids = || {
        let t = c.fake.get(&template).unwrap_or(Value::Null);
        let by_pod = t["status"]["byPod"].as_array().cloned().unwrap_or_default();
        by_pod.iter().map(|e| e["id"].clone()).collect::<Vec<_>>()
    };
    let both = eventually(SETTLE, || async {
        ids() == [json!(POD), json!("portcullis-test-1")]
    })
    .await;
    assert!(both, "one entry per replica: {:?}", ids());
    drop(second);
}

/// An ExpansionTemplate created in the cluster makes Deployments judged by their Pods.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expansion_templates_in_the_cluster_judge_workloads_by_their_pods() {
    let fake = labels_cluster().await;
    fake.serve_kind(Kind::new(
        "expansion.gatekeeper.sh",
        "v1alpha1",
        "ExpansionTemplate",
        "expansiontemplate",
        false,
    ));
    let c = start(fake);
    c.wait_ready().await;
    c.fake.apply(required_labels("need-team", "team", None));
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "dev"},
        "spec": {"template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "x"}]}}}
    });
    assert!(c.judge(&deployment).await.0, "no expansion yet");
    c.fake.apply(json!({
        "apiVersion": "expansion.gatekeeper.sh/v1alpha1", "kind": "ExpansionTemplate",
        "metadata": {"name": "expand-deployments"},
        "spec": {"applyTo": [{"groups": ["apps"], "versions": ["v1"], "kinds": ["Deployment"]}],
                 "templateSource": "spec.template",
                 "generatedGVK": {"group": "", "version": "v1", "kind": "Pod"}}
    }));
    assert!(
        c.becomes(false, &deployment).await,
        "the Pod it makes lacks the label"
    );
    let (_, message) = c.judge(&deployment).await;
    assert!(
        message.contains("[need-team] [Implied by expand-deployments]"),
        "{message}"
    );
}
