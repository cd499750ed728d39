//! The cluster state's bookkeeping: relists, change flags, documents, labels, inventory.

use serde_json::json;

use super::*;

const NONE: Changes = Changes {
    policy: false,
    namespaces: false,
    inventory: false,
};
const POLICY: Changes = Changes {
    policy: true,
    ..NONE
};
const NAMESPACES: Changes = Changes {
    namespaces: true,
    ..NONE
};
const INVENTORY: Changes = Changes {
    inventory: true,
    ..NONE
};

fn ns(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
}

fn ingress(ns: &str, name: &str, host: &str) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
           "metadata": {"name": name, "namespace": ns},
           "spec": {"rules": [{"host": host}]}})
}

fn ingress_target() -> Slot {
    Slot::Sync(SyncTarget {
        group: "networking.k8s.io".into(),
        version: "v1".into(),
        kind: "Ingress".into(),
    })
}

#[test]
fn a_relist_replaces_the_slot_and_marks_it_synced() {
    let mut s = ClusterState::default();
    assert!(!s.all_synced([&Slot::Namespaces]));
    s.relist_begin(&Slot::Namespaces);
    s.relist_item(&Slot::Namespaces, ns("a", json!({"team": "x"})));
    s.relist_item(&Slot::Namespaces, ns("b", json!({})));
    s.relist_done(&Slot::Namespaces);
    assert!(s.all_synced([&Slot::Namespaces]));
    assert_eq!(
        s.take_changes(),
        NAMESPACES,
        "namespaces change the view only"
    );
    assert_eq!(s.namespace_labels()["a"]["team"], "x");

    // A relist after a reconnect drops what was deleted meanwhile.
    s.relist_begin(&Slot::Namespaces);
    s.relist_item(&Slot::Namespaces, ns("a", json!({"team": "x"})));
    s.relist_done(&Slot::Namespaces);
    assert_eq!(s.namespace_labels().len(), 1);
    assert_eq!(s.take_changes(), NAMESPACES);

    // The same list again changes nothing.
    s.relist_begin(&Slot::Namespaces);
    s.relist_item(&Slot::Namespaces, ns("a", json!({"team": "x"})));
    s.relist_done(&Slot::Namespaces);
    assert_eq!(s.take_changes(), NONE);
}

#[test]
fn policy_objects_mark_the_policy_dirty_and_unchanged_applies_do_not() {
    let mut s = ClusterState::default();
    let t = json!({"apiVersion": "templates.gatekeeper.sh/v1", "kind": "ConstraintTemplate",
                   "metadata": {"name": "k8sfoo"},
                   "spec": {"crd": {"spec": {"names": {"kind": "K8sFoo"}}}}});
    s.apply(&Slot::Templates, t.clone());
    assert_eq!(s.take_changes(), POLICY);
    s.apply(&Slot::Templates, t.clone());
    assert_eq!(s.take_changes(), NONE, "same object, nothing to rebuild");
    assert_eq!(
        s.template_kinds().into_iter().collect::<Vec<_>>(),
        ["K8sFoo"]
    );
    assert_eq!(s.documents().len(), 1);
    assert_eq!(
        s.documents()[0].location,
        "cluster:ConstraintTemplate//k8sfoo"
    );
    s.delete(&Slot::Templates, &t);
    assert_eq!(s.take_changes(), POLICY);
    assert!(s.template_kinds().is_empty());
}

#[test]
fn only_the_config_named_config_counts() {
    let mut s = ClusterState::default();
    let config = |name: &str| {
        json!({"apiVersion": "config.gatekeeper.sh/v1alpha1", "kind": "Config",
               "metadata": {"name": name, "namespace": "portcullis-system"},
               "spec": {"sync": {"syncOnly": [
                   {"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"},
                   {"version": "v1", "kind": "Namespace"},
                   {"group": "broken"}]},
                   "match": [{"excludedNamespaces": ["kube-*"], "processes": ["sync"]}]}})
    };
    s.apply(&Slot::Config, config("other"));
    assert!(s.sync_targets().is_empty());
    assert!(s.documents().is_empty());
    s.apply(&Slot::Config, config("config"));
    let kinds: Vec<String> = s.sync_targets().into_iter().map(|t| t.kind).collect();
    assert_eq!(
        kinds,
        ["Namespace", "Ingress"],
        "entries without version or kind are skipped"
    );
    assert_eq!(s.documents().len(), 1);
}

#[test]
fn inventory_has_gatekeepers_shape_and_honours_sync_exemptions() {
    let mut s = ClusterState::default();
    assert!(s.inventory().is_none(), "nothing synced");
    s.apply(
        &Slot::Config,
        json!({"apiVersion": "config.gatekeeper.sh/v1alpha1", "kind": "Config",
               "metadata": {"name": "config", "namespace": "portcullis-system"},
               "spec": {"match": [{"excludedNamespaces": ["kube-*"], "processes": ["sync"]}]}}),
    );
    s.apply(&ingress_target(), ingress("shop", "web", "a.example.com"));
    s.apply(
        &ingress_target(),
        ingress("kube-system", "hidden", "b.example.com"),
    );
    let inv = s.inventory().expect("synced objects");
    assert_eq!(
        inv["namespace"]["shop"]["networking.k8s.io/v1"]["Ingress"]["web"]["spec"]["rules"][0]
            ["host"],
        "a.example.com"
    );
    assert!(
        inv["namespace"].get("kube-system").is_none(),
        "exempt from sync"
    );
}

#[test]
fn forgetting_a_slot_removes_its_objects_and_its_sync() {
    let mut s = ClusterState::default();
    s.relist_begin(&ingress_target());
    s.relist_item(&ingress_target(), ingress("shop", "web", "a.example.com"));
    s.relist_done(&ingress_target());
    s.take_changes();
    s.forget(&ingress_target());
    assert!(!s.all_synced([&ingress_target()]));
    assert_eq!(s.take_changes(), INVENTORY);
    assert!(s.inventory().is_none());
}

#[test]
fn an_absent_resource_counts_as_synced_and_empty() {
    let mut s = ClusterState::default();
    let slot = Slot::Mutators("AssignImage");
    s.absent(&slot);
    assert!(s.all_synced([&slot]));
    assert_eq!(s.take_changes(), POLICY);
    s.absent(&slot);
    assert_eq!(s.take_changes(), NONE, "reported once");
}
