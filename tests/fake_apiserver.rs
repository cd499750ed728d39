//! The fake API server's writes behave as kube clients expect of the real one: the other
//! cluster-mode tests (CRD management, leases, certificates, events, reports) stand on it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::fake_apiserver::{FakeApiServer, Kind};
use kube::api::{ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::Api;
use serde_json::json;

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

fn dynamic(value: serde_json::Value) -> DynamicObject {
    serde_json::from_value(value).unwrap()
}

fn code(error: kube::Error) -> (u16, String) {
    match error {
        kube::Error::Api(status) => (status.code, status.reason),
        other => panic!("expected an API error, got {other}"),
    }
}

#[tokio::test]
async fn writes_answer_as_the_api_server_does() {
    let fake = FakeApiServer::start(vec![Kind::new(
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        true,
    )])
    .await;
    let ar = resource("coordination.k8s.io", "v1", "Lease", "leases");
    let leases: Api<DynamicObject> = Api::namespaced_with(fake.client(), "ns", &ar);
    let lease = dynamic(
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "leader"}, "spec": {"holderIdentity": "a"}}),
    );

    let created = leases.create(&PostParams::default(), &lease).await.unwrap();
    let rv = created.metadata.resource_version.clone().unwrap();
    assert_eq!(created.metadata.namespace.as_deref(), Some("ns"));
    assert_eq!(
        code(
            leases
                .create(&PostParams::default(), &lease)
                .await
                .unwrap_err()
        ),
        (409, "AlreadyExists".into())
    );

    // Optimistic concurrency: a replace with the current version wins, a stale one loses.
    let mut mine = created.clone();
    mine.data["spec"]["holderIdentity"] = json!("b");
    let replaced = leases
        .replace("leader", &PostParams::default(), &mine)
        .await
        .unwrap();
    assert_eq!(replaced.data["spec"]["holderIdentity"], "b");
    assert_ne!(
        replaced.metadata.resource_version.as_deref(),
        Some(rv.as_str())
    );
    assert_eq!(
        code(
            leases
                .replace("leader", &PostParams::default(), &mine)
                .await
                .unwrap_err()
        ),
        (409, "Conflict".into())
    );

    let patch = json!({"spec": {"leaseDurationSeconds": 15}});
    let patched = leases
        .patch("leader", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(patched.data["spec"]["holderIdentity"], "b");
    assert_eq!(patched.data["spec"]["leaseDurationSeconds"], 15);
    let applied = leases
        .patch(
            "other",
            &PatchParams::apply("test"),
            &Patch::Apply(
                json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": "other"}, "spec": {"holderIdentity": "c"}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(applied.data["spec"]["holderIdentity"], "c");

    leases
        .delete("leader", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(
        code(leases.get("leader").await.unwrap_err()),
        (404, "NotFound".into())
    );
    assert!(leases.get("other").await.is_ok());
}

#[tokio::test]
async fn a_crd_serves_its_kinds_until_deleted() {
    let fake = FakeApiServer::start(vec![Kind::crd()]).await;
    fake.hold_establish();
    let crds: Api<DynamicObject> = Api::all_with(
        fake.client(),
        &resource(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
        ),
    );
    let version = |name: &str, storage: bool| {
        json!({"name": name, "served": true, "storage": storage,
            "schema": {"openAPIV3Schema": {"type": "object"}}})
    };
    let crd = dynamic(json!({"apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "k8srequiredlabels.constraints.gatekeeper.sh"},
        "spec": {"group": "constraints.gatekeeper.sh", "scope": "Cluster",
            "names": {"kind": "K8sRequiredLabels", "plural": "k8srequiredlabels"},
            "versions": [version("v1beta1", true), version("v1alpha1", false)]}}));
    crds.create(&PostParams::default(), &crd).await.unwrap();
    assert!(fake.serves("constraints.gatekeeper.sh", "K8sRequiredLabels"));
    let established = |crd: &DynamicObject| {
        crd.data["status"]["conditions"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["type"] == "Established"))
    };
    let name = "k8srequiredlabels.constraints.gatekeeper.sh";
    assert!(!established(&crds.get(name).await.unwrap()));
    fake.establish_crds();
    assert!(established(&crds.get(name).await.unwrap()));

    // One object, read in either served version.
    let ar = |v| {
        resource(
            "constraints.gatekeeper.sh",
            v,
            "K8sRequiredLabels",
            "k8srequiredlabels",
        )
    };
    let beta: Api<DynamicObject> = Api::all_with(fake.client(), &ar("v1beta1"));
    let alpha: Api<DynamicObject> = Api::all_with(fake.client(), &ar("v1alpha1"));
    let constraint = dynamic(json!({"apiVersion": "constraints.gatekeeper.sh/v1beta1",
        "kind": "K8sRequiredLabels", "metadata": {"name": "owner"}}));
    beta.create(&PostParams::default(), &constraint)
        .await
        .unwrap();
    let read = alpha.get("owner").await.unwrap();
    assert_eq!(
        read.types.unwrap().api_version,
        "constraints.gatekeeper.sh/v1alpha1"
    );

    crds.delete(name, &DeleteParams::default()).await.unwrap();
    assert!(!fake.serves("constraints.gatekeeper.sh", "K8sRequiredLabels"));
    assert!(fake
        .objects("constraints.gatekeeper.sh", "k8srequiredlabels")
        .is_empty());
    assert_eq!(code(beta.get("owner").await.unwrap_err()).0, 404);
}
