//! `data.inventory`: the cluster objects referential templates read, in Gatekeeper's shape.
//!
//! Gatekeeper exposes synced objects as
//! `data.inventory.cluster[<apiVersion>][<kind>][<name>]` for cluster-scoped objects and
//! `data.inventory.namespace[<namespace>][<apiVersion>][<kind>][<name>]` for namespaced
//! ones. Library templates such as `k8suniqueingresshost` walk exactly these paths, so
//! `portcullis verify` (a suite's `inventory`) and cluster mode (Config `spec.sync`) build
//! the document with this one function.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::review::str_at;

/// Objects of one scope by apiVersion, kind and name.
type ByGvkName = BTreeMap<String, BTreeMap<String, Map<String, Value>>>;

/// The inventory document of `objects`:
/// `{cluster: {apiVersion: {kind: {name: obj}}}, namespace: {ns: {apiVersion: {kind: {name: obj}}}}}`.
/// An object's scope is read from its own `metadata.namespace`.
pub fn inventory_of(objects: impl IntoIterator<Item = Value>) -> Value {
    let mut cluster = ByGvkName::new();
    let mut namespaced: BTreeMap<String, ByGvkName> = BTreeMap::new();
    for obj in objects {
        let api = str_at(&obj, &["apiVersion"]).to_string();
        let kind = str_at(&obj, &["kind"]).to_string();
        let name = str_at(&obj, &["metadata", "name"]).to_string();
        let ns = str_at(&obj, &["metadata", "namespace"]).to_string();
        let root = if ns.is_empty() {
            &mut cluster
        } else {
            namespaced.entry(ns).or_default()
        };
        root.entry(api)
            .or_default()
            .entry(kind)
            .or_default()
            .insert(name, obj);
    }
    let mut doc = Map::new();
    doc.insert(
        "cluster".into(),
        serde_json::to_value(cluster).unwrap_or_default(),
    );
    doc.insert(
        "namespace".into(),
        serde_json::to_value(namespaced).unwrap_or_default(),
    );
    Value::Object(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_land_under_their_scope_group_version_and_kind() {
        let inv = inventory_of([
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                   "metadata": {"name": "web", "namespace": "shop"}}),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
        ]);
        assert_eq!(
            inv["namespace"]["shop"]["networking.k8s.io/v1"]["Ingress"]["web"]["metadata"]["name"],
            "web"
        );
        assert_eq!(
            inv["cluster"]["v1"]["Namespace"]["shop"]["kind"],
            "Namespace"
        );
    }
}
