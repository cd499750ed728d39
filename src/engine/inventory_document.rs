//! `data.inventory` and namespace labels built from a set of objects (audited manifests, a
//! gator suite's inventory), in the document shape the engines read, so referential
//! templates see the same inventory whoever built it.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::matching::Labels;
use crate::review::{label_map, str_at};

/// Objects of one scope by apiVersion, kind and name (the innermost map: name to object).
type ByGvkName = BTreeMap<String, BTreeMap<String, Map<String, Value>>>;

/// Gatekeeper's inventory document built from objects:
/// `{cluster: {apiVersion: {kind: {name: obj}}}, namespace: {ns: {apiVersion: {kind: {name: obj}}}}}`.
/// Objects that are not JSON objects are left out; a later object with the same apiVersion,
/// kind, namespace and name replaces an earlier one, as a later `kubectl apply` would.
pub fn inventory_of<I>(objects: I) -> Value
where
    I: IntoIterator<Item = Value>,
{
    let mut cluster = ByGvkName::new();
    let mut namespaced: BTreeMap<String, ByGvkName> = BTreeMap::new();
    for obj in objects {
        if !obj.is_object() {
            continue;
        }
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
    doc.insert("cluster".into(), to_object(cluster));
    doc.insert(
        "namespace".into(),
        Value::Object(
            namespaced
                .into_iter()
                .map(|(ns, objs)| (ns, to_object(objs)))
                .collect(),
        ),
    );
    Value::Object(doc)
}

fn to_object(tree: ByGvkName) -> Value {
    Value::Object(
        tree.into_iter()
            .map(|(api, kinds)| {
                let kinds = kinds
                    .into_iter()
                    .map(|(kind, names)| (kind, Value::Object(names)))
                    .collect();
                (api, Value::Object(kinds))
            })
            .collect(),
    )
}

/// Labels of the Namespace objects among `objects`, by namespace name, for
/// `namespaceSelector`.
pub fn namespace_labels<'a, I>(objects: I) -> BTreeMap<String, Labels>
where
    I: IntoIterator<Item = &'a Value>,
{
    objects
        .into_iter()
        .filter(|o| o.get("kind").and_then(Value::as_str) == Some("Namespace"))
        .filter_map(|o| {
            let name = o.pointer("/metadata/name")?.as_str()?;
            Some((name.to_string(), label_map(o)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_land_under_scope_api_version_kind_and_name() {
        let inv = inventory_of(vec![
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}),
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                   "metadata": {"name": "web", "namespace": "a"}}),
            json!("not an object"),
        ]);
        assert_eq!(
            inv["cluster"]["v1"]["Namespace"]["a"]["metadata"]["name"],
            "a"
        );
        assert_eq!(
            inv["namespace"]["a"]["networking.k8s.io/v1"]["Ingress"]["web"]["kind"],
            "Ingress"
        );
    }

    #[test]
    fn a_later_object_of_the_same_identity_replaces_the_earlier() {
        let inv = inventory_of(vec![
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "c", "namespace": "a"}, "data": {"v": "1"}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "c", "namespace": "a"}, "data": {"v": "2"}}),
        ]);
        assert_eq!(
            inv["namespace"]["a"]["v1"]["ConfigMap"]["c"]["data"]["v"],
            "2"
        );
    }

    #[test]
    fn namespace_labels_come_from_namespace_objects_only() {
        let objs = [
            json!({"kind": "Namespace", "metadata": {"name": "prod", "labels": {"tier": "1"}}}),
            json!({"kind": "Pod", "metadata": {"name": "p", "labels": {"tier": "2"}}}),
        ];
        let labels = namespace_labels(&objs);
        assert_eq!(labels.len(), 1);
        assert_eq!(labels["prod"].get("tier").map(String::as_str), Some("1"));
    }
}
