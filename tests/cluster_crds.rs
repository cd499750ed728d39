//! Cluster mode managing constraint CRDs, on the fake API server: a template brings its CRD
//! (created, Established, then `status.created`), a constraint of the new kind is enforced
//! over HTTPS, a schema change updates the CRD, deleting the template takes the CRD and its
//! constraints; a CRD someone else owns is left alone; two replicas managing at once
//! converge; status entries of Pods that are gone are garbage collected.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

mod common;

use std::time::Duration;

use common::cluster::*;
use common::fake_apiserver::{gatekeeper_kinds, FakeApiServer, Kind};
use common::{eventually, pod};
use portcullis::metrics::Metrics;
use portcullis::snapshot::SnapshotStore;
use portcullis::sources::cluster::status_gc::{self, GcError, GcOptions};
use portcullis::sources::cluster::ClusterSource;
use serde_json::{json, Value};

const CRD_GROUP: &str = "apiextensions.k8s.io";
const CRDS: &str = "customresourcedefinitions";
const LABELS_CRD: &str = "k8srequiredlabels.constraints.gatekeeper.sh";

/// A fake cluster that serves CRDs (and no constraint kind yet).
async fn crd_cluster() -> FakeApiServer {
    let mut kinds = gatekeeper_kinds();
    kinds.push(Kind::crd());
    kinds.push(Kind::new("", "v1", "Pod", "pods", true));
    FakeApiServer::start(kinds).await
}

fn crd(fake: &FakeApiServer, name: &str) -> Option<Value> {
    fake.objects(CRD_GROUP, CRDS)
        .into_iter()
        .find(|c| c["metadata"]["name"] == name)
}

fn template_status(fake: &FakeApiServer, name: &str) -> Value {
    let t = json!({"apiVersion": "templates.gatekeeper.sh/v1", "kind": "ConstraintTemplate",
                   "metadata": {"name": name}});
    fake.get(&t)
        .map(|t| t["status"].clone())
        .unwrap_or(Value::Null)
}

fn managing(fake: FakeApiServer) -> Cluster {
    start_with(fake, |o| o.manage_crds = true)
}

const PARAMS: &str =
    "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/parameters/properties";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_brings_its_crd_and_takes_it_away_with_its_constraints() {
    let fake = crd_cluster().await;
    fake.hold_establish();
    let c = managing(fake);
    c.wait_ready().await;
    let template = library_template("k8srequiredlabels");
    let stored = c.fake.apply(template.clone());
    let template_uid = stored["metadata"]["uid"].clone();

    // The CRD appears, marked as portcullis's and owned by the template.
    assert!(
        eventually(SETTLE, || async { crd(&c.fake, LABELS_CRD).is_some() }).await,
        "no CRD created"
    );
    let made = crd(&c.fake, LABELS_CRD).unwrap();
    assert_eq!(
        made["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "portcullis"
    );
    let owner = &made["metadata"]["ownerReferences"][0];
    assert_eq!(
        (&owner["kind"], &owner["uid"], &owner["controller"]),
        (&json!("ConstraintTemplate"), &template_uid, &json!(true))
    );
    assert_eq!(made["spec"]["names"]["kind"], "K8sRequiredLabels");

    // Compiled, but its CRD is not Established: created stays false.
    assert!(
        eventually(SETTLE, || async {
            template_status(&c.fake, "k8srequiredlabels")["byPod"][0]["id"] == POD
        })
        .await,
        "template status never written"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = template_status(&c.fake, "k8srequiredlabels");
    assert_eq!(status["created"], false, "{status}");
    c.fake.establish_crds();
    assert!(
        eventually(SETTLE, || async {
            template_status(&c.fake, "k8srequiredlabels")["created"] == true
        })
        .await,
        "created never turned true: {}",
        template_status(&c.fake, "k8srequiredlabels")
    );

    // A constraint of the new kind, applied after the CRD appeared, is enforced.
    c.fake.apply(required_labels("need-team", "team", None));
    let unlabelled = pod("dev", "p", "registry.k8s.io/pause:3.9");
    assert!(
        c.becomes(false, &unlabelled).await,
        "constraint not enforced"
    );
    let (_, message) = c.judge(&unlabelled).await;
    assert!(message.contains("team"), "{message}");

    // A schema change updates the CRD in place.
    let mut changed = template.clone();
    changed["spec"]["crd"]["spec"]["validation"]["openAPIV3Schema"]["properties"]["owner"] =
        json!({"type": "string"});
    c.fake.apply(changed);
    assert!(
        eventually(SETTLE, || async {
            crd(&c.fake, LABELS_CRD)
                .and_then(|c| c.pointer(&format!("{PARAMS}/owner/type")).cloned())
                == Some(json!("string"))
        })
        .await,
        "CRD not updated to the new schema"
    );
    assert_eq!(
        crd(&c.fake, LABELS_CRD).unwrap()["metadata"]["uid"],
        made["metadata"]["uid"],
        "updated, not re-created"
    );
    assert!(
        !c.judge(&unlabelled).await.0,
        "still enforced after the update"
    );

    // The template goes: its CRD and its constraints go, and nothing is enforced.
    c.fake.delete(&template);
    assert!(
        eventually(SETTLE, || async { crd(&c.fake, LABELS_CRD).is_none() }).await,
        "CRD not deleted with its template"
    );
    assert!(c
        .fake
        .objects("constraints.gatekeeper.sh", "k8srequiredlabels")
        .is_empty());
    assert!(!c
        .fake
        .serves("constraints.gatekeeper.sh", "K8sRequiredLabels"));
    assert!(c.becomes(true, &unlabelled).await, "still denied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crd_someone_else_owns_is_left_alone() {
    let fake = crd_cluster().await;
    // Gatekeeper's controller made this one: its own shape, no portcullis label.
    let template = library_template("k8srequiredlabels");
    let mut theirs = portcullis::policy::crd::constraint_crd(&template).unwrap();
    theirs["metadata"]["ownerReferences"] = json!([{"apiVersion": "templates.gatekeeper.sh/v1beta1",
        "kind": "ConstraintTemplate", "name": "k8srequiredlabels", "uid": "gatekeeper-seen-uid",
        "controller": true, "blockOwnerDeletion": true}]);
    theirs["metadata"]["annotations"] = json!({"made-by": "gatekeeper"});
    fake.apply(theirs);
    // As established by the API server, before portcullis starts.
    let theirs = crd(&fake, LABELS_CRD).unwrap();
    let c = managing(fake);
    c.wait_ready().await;
    let mut changed = template.clone();
    changed["spec"]["crd"]["spec"]["validation"]["openAPIV3Schema"]["properties"]["owner"] =
        json!({"type": "string"});
    c.fake.apply(changed);
    // Its CRD is Established, so the template is created; the CRD is not rewritten.
    assert!(
        eventually(SETTLE, || async {
            template_status(&c.fake, "k8srequiredlabels")["created"] == true
        })
        .await,
        "template not created on a foreign Established CRD"
    );
    // A template of our own, after it: once its CRD is made, the foreign one has been
    // considered (one pass covers every template).
    c.fake.apply(library_template("k8sallowedrepos"));
    assert!(
        eventually(SETTLE, || async {
            crd(&c.fake, "k8sallowedrepos.constraints.gatekeeper.sh").is_some()
        })
        .await
    );
    let now = crd(&c.fake, LABELS_CRD).unwrap();
    assert_eq!(
        now["metadata"]["resourceVersion"], theirs["metadata"]["resourceVersion"],
        "a foreign CRD was written: {now}"
    );
    // Nor is it deleted when the template goes.
    c.fake.delete(&template);
    c.fake.delete(&library_template("k8sallowedrepos"));
    assert!(
        eventually(SETTLE, || async {
            crd(&c.fake, "k8sallowedrepos.constraints.gatekeeper.sh").is_none()
        })
        .await
    );
    assert!(
        crd(&c.fake, LABELS_CRD).is_some(),
        "a foreign CRD was deleted"
    );
}

/// Portcullis replicas on one fake API server, each managing CRDs.
struct Replica {
    _source: portcullis::sources::cluster::ClusterHandle,
}

fn replica(fake: &FakeApiServer, id: &str) -> Replica {
    let mut options = test_options();
    options.manage_crds = true;
    options.status_id = Some(id.into());
    let source = ClusterSource::new(fake.client(), options).spawn(
        std::sync::Arc::new(SnapshotStore::default()),
        std::sync::Arc::new(Metrics::new()),
    );
    Replica { _source: source }
}

const TEMPLATES: [&str; 4] = [
    "k8srequiredlabels",
    "k8sallowedrepos",
    "k8scontainerlimits",
    "k8sblockloadbalancer",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_managing_at_once_converge() {
    let fake = crd_cluster().await;
    for t in TEMPLATES {
        fake.apply(library_template(t));
    }
    let _a = replica(&fake, "replica-a");
    let _b = replica(&fake, "replica-b");
    let all_made = || async {
        TEMPLATES.iter().all(|t| {
            crd(&fake, &format!("{t}.constraints.gatekeeper.sh"))
                .is_some_and(|c| c["status"]["conditions"].is_array())
        })
    };
    assert!(eventually(SETTLE, all_made).await, "not every CRD made");
    // Both report every template created.
    let both_created = || async {
        TEMPLATES.iter().all(|t| {
            let s = template_status(&fake, t);
            s["created"] == true && s["byPod"].as_array().is_some_and(|l| l.len() == 2)
        })
    };
    assert!(
        eventually(SETTLE, both_created).await,
        "{}",
        template_status(&fake, TEMPLATES[0])
    );
    // A schema change while both run: one update wins, the other re-reads and agrees.
    let mut changed = library_template(TEMPLATES[0]);
    changed["spec"]["crd"]["spec"]["validation"]["openAPIV3Schema"]["properties"]["owner"] =
        json!({"type": "string"});
    fake.apply(changed);
    assert!(
        eventually(SETTLE, || async {
            crd(&fake, LABELS_CRD).and_then(|c| c.pointer(&format!("{PARAMS}/owner/type")).cloned())
                == Some(json!("string"))
        })
        .await
    );
    // Settled: no write goes on (no replica keeps rewriting what the other wrote).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let versions = || {
        fake.objects(CRD_GROUP, CRDS)
            .iter()
            .map(|c| c["metadata"]["resourceVersion"].clone())
            .collect::<Vec<_>>()
    };
    let before = versions();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(before, versions(), "CRDs still being rewritten");
    assert_eq!(fake.objects(CRD_GROUP, CRDS).len(), TEMPLATES.len());
}

fn pod_object(ns: &str, name: &str, app: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": ns, "labels": {"app": app}}})
}

fn by_pod_ids(object: &Value) -> Vec<String> {
    object["status"]["byPod"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["id"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_entries_of_pods_that_are_gone_are_removed() {
    let fake = crd_cluster().await;
    fake.serve_kind(Kind::constraint("K8sRequiredLabels"));
    let template = fake.apply(library_template("k8srequiredlabels"));
    let constraint = fake.apply(required_labels("need-team", "team", None));
    let config = fake.apply(
        json!({"apiVersion": "config.gatekeeper.sh/v1alpha1", "kind": "Config",
        "metadata": {"name": "config", "namespace": "portcullis-system"}, "spec": {}}),
    );
    let assign = fake.apply(
        json!({"apiVersion": "mutations.gatekeeper.sh/v1", "kind": "Assign",
        "metadata": {"name": "default-pull-policy"},
        "spec": {"applyTo": [{"groups": [""], "versions": ["v1"], "kinds": ["Pod"]}],
                 "location": "spec.containers[name: *].imagePullPolicy",
                 "parameters": {"assign": {"value": "Always"}}}}),
    );
    fake.apply(pod_object("portcullis-system", "web-1", "portcullis"));
    fake.apply(pod_object("portcullis-system", "audit-1", "portcullis"));
    // Status as two live replicas and one gone wrote it.
    let client = fake.client();
    for (object, plural, group, version) in [
        (
            &template,
            "constrainttemplates",
            "templates.gatekeeper.sh",
            "v1",
        ),
        (
            &constraint,
            "k8srequiredlabels",
            "constraints.gatekeeper.sh",
            "v1beta1",
        ),
        (&assign, "assign", "mutations.gatekeeper.sh", "v1"),
    ] {
        write_status(&client, object, group, version, plural, None).await;
    }
    write_status(
        &client,
        &config,
        "config.gatekeeper.sh",
        "v1alpha1",
        "configs",
        Some("portcullis-system"),
    )
    .await;
    let options = GcOptions {
        namespace: "portcullis-system".into(),
        pod: "web-1".into(),
        selector: None,
        interval: Duration::from_secs(60),
    };
    let removed = status_gc::sweep(&client, &options).await.unwrap();
    assert_eq!(removed, 4, "one gone entry on each of four objects");
    for object in [&template, &constraint, &assign, &config] {
        let now = fake.get(object).unwrap();
        assert_eq!(by_pod_ids(&now), ["audit-1", "web-1"], "{now}");
    }
    // Idempotent.
    assert_eq!(status_gc::sweep(&client, &options).await.unwrap(), 0);
    // A Pod list that does not hold this replica (wrong namespace) removes nothing.
    let elsewhere = GcOptions {
        namespace: "other".into(),
        ..options
    };
    assert!(matches!(
        status_gc::sweep(&client, &elsewhere).await,
        Err(GcError::NotListed(_))
    ));
    fake.delete(&pod_object("portcullis-system", "audit-1", "portcullis"));
    let options = GcOptions {
        namespace: "portcullis-system".into(),
        pod: "web-1".into(),
        selector: None,
        interval: Duration::from_secs(60),
    };
    assert_eq!(status_gc::sweep(&client, &options).await.unwrap(), 4);
    assert_eq!(by_pod_ids(&fake.get(&template).unwrap()), ["web-1"]);
}

/// Give `object` a status with entries of `web-1`, `audit-1` and the gone `web-0`.
async fn write_status(
    client: &kube::Client,
    object: &Value,
    group: &str,
    version: &str,
    plural: &str,
    namespace: Option<&str>,
) {
    use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
    let kind = object["kind"].as_str().unwrap();
    let resource =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    let name = object["metadata"]["name"].as_str().unwrap();
    let mut current = api.get_status(name).await.unwrap();
    current.data["status"] = json!({"byPod": [
        {"id": "audit-1", "operations": ["audit"]},
        {"id": "web-0", "operations": ["webhook"]},
        {"id": "web-1", "operations": ["webhook"]}]});
    api.replace_status(name, &PostParams::default(), &current)
        .await
        .unwrap();
}

/// Two CRD managers given the same templates at the same moment: every CRD is written once
/// (the loser of each race re-reads and finds nothing to do), and a schema change is
/// written once more, not fought over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_managers_racing_write_each_crd_once() {
    use portcullis::sources::cluster::crds::{self, Desired};
    let fake = crd_cluster().await;
    let desired_of = |schema_extra: Option<Value>| {
        let crds = TEMPLATES
            .iter()
            .map(|t| {
                let mut doc = fake.apply(library_template(t));
                if let Some(extra) = &schema_extra {
                    doc["spec"]["crd"]["spec"]["validation"]["openAPIV3Schema"]["properties"]
                        ["extra"] = extra.clone();
                }
                let crd = crds::owned_crd(&doc).unwrap();
                (crds::crd_name(t), Some(crd))
            })
            .collect();
        Desired {
            crds,
            complete: true,
        }
    };
    let first = desired_of(None);
    let (tx, rx) = tokio::sync::watch::channel(first);
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let (view, observer) = crds::spawn_observer(fake.client());
        tasks.push(observer);
        tasks.push(crds::spawn_manager(fake.client(), rx.clone(), view));
    }
    let generations = || {
        TEMPLATES
            .iter()
            .map(|t| {
                crd(&fake, &crds::crd_name(t))
                    .map(|c| c["metadata"]["generation"].as_i64().unwrap_or(0))
                    .unwrap_or(0)
            })
            .collect::<Vec<_>>()
    };
    // Created (generation 1), then Established by the server (2).
    assert!(
        eventually(SETTLE, || async { generations().iter().all(|g| *g == 2) }).await,
        "{:?}",
        generations()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        generations(),
        vec![2; TEMPLATES.len()],
        "rewritten after creation"
    );
    tx.send_replace(desired_of(Some(json!({"type": "string"}))));
    assert!(
        eventually(SETTLE, || async { generations().iter().all(|g| *g == 3) }).await,
        "{:?}",
        generations()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        generations(),
        vec![3; TEMPLATES.len()],
        "updated more than once"
    );
    for t in TEMPLATES {
        let c = crd(&fake, &crds::crd_name(t)).unwrap();
        assert_eq!(
            c.pointer(&format!("{PARAMS}/extra/type")),
            Some(&json!("string"))
        );
    }
    tasks.iter().for_each(tokio::task::JoinHandle::abort);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_writes_crds_and_every_replica_reports_them() {
    let fake = crd_cluster().await;
    let (lead, follows) = tokio::sync::watch::channel(false);
    let c = start_with(fake, |o| {
        o.manage_crds = true;
        o.leadership = Some(portcullis::leader::Leadership::following(follows));
    });
    c.wait_ready().await;
    c.fake.apply(library_template("k8srequiredlabels"));
    // Not leading: the template compiles and serves, but no CRD is written.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(crd(&c.fake, LABELS_CRD).is_none(), "a follower wrote a CRD");
    lead.send_replace(true);
    assert!(
        eventually(SETTLE, || async { crd(&c.fake, LABELS_CRD).is_some() }).await,
        "the leader wrote no CRD"
    );
    // The observer runs on every replica: the template reports created once Established.
    assert!(
        eventually(SETTLE, || async {
            template_status(&c.fake, "k8srequiredlabels")["created"] == json!(true)
        })
        .await,
        "{}",
        template_status(&c.fake, "k8srequiredlabels")
    );
}
