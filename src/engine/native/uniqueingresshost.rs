//! `K8sUniqueIngressHost`: no two Ingresses may serve the same host, so one team cannot
//! take over (or accidentally shadow) another team's hostname. Referential: the other
//! Ingresses come from `data.inventory` ([`EvalInput::inventory`], the document the Rego
//! engine sees), which the caller fills from the cluster (or a suite's or audit's objects).
//!
//! Follows the library's Rego exactly:
//! - only requests for kind `Ingress` whose group matches `^(extensions|networking.k8s.io)$`
//!   count (the request's kind, not the object's; the unescaped dots match any character,
//!   as they do in the Rego);
//! - every `spec.rules[].host` of the object is looked up among the Ingresses of *every*
//!   namespace of the inventory, under any apiVersion matching
//!   `^(extensions|networking.k8s.io)/.+$` (so an Ingress stored as `extensions/v1beta1`
//!   and one as `networking.k8s.io/v1` conflict); cluster-scoped inventory is not read;
//! - an inventory Ingress with the object's own namespace and name is the object itself
//!   (whatever its apiVersion) and never conflicts; one without a namespace or name, or an
//!   object without them, always can;
//! - hosts compare as values: a rule without `host` has none, but a `null` host equals
//!   another `null` one; one violation per conflicting host:
//!   `ingress host conflicts with an existing ingress <host>`.
//!
//! Without an inventory (`Null`), nothing conflicts. The hosts of the inventory's Ingresses
//! are collected once per inventory into [`IngressHosts`], sorted in OPA's order (which
//! equates values as Rego's `==` does) with their owners, and each of the object's hosts is
//! looked up by binary search: a review costs O(object hosts · log), and an audit of N
//! Ingresses O(N log N), where comparing every host with every other made both quadratic.
//! Rules that do not read the inventory pay nothing.

use std::sync::Arc;

use serde_json::Value;

use super::{field, judged_object, opa_cmp, rego_iter, request_kind, Opa, Violations};
use crate::deadline::{DeadlineExceeded, Pacer};
use crate::engine::{BoundProgram, EngineError, EvalInput, Violation};

/// A bound `K8sUniqueIngressHost` constraint (it has no parameters).
#[derive(Debug)]
struct UniqueIngressHost;

/// Bind a `K8sUniqueIngressHost` constraint; parameters are ignored, as in the Rego.
pub(crate) fn bind(_parameters: &Value) -> Result<Arc<dyn BoundProgram>, EngineError> {
    Ok(Arc::new(UniqueIngressHost))
}

/// Match `s` against `pattern` from its start, character by character, where `.` in the
/// pattern stands for any character but a newline (the regex meaning the Rego gives it).
/// Returns the rest of `s` after the match.
fn loose_prefix<'a>(s: &'a str, pattern: &str) -> Option<&'a str> {
    let mut chars = s.chars();
    for p in pattern.chars() {
        let c = chars.next()?;
        if c != p && !(p == '.' && c != '\n') {
            return None;
        }
    }
    Some(chars.as_str())
}

/// The API groups the library names, spelled as its regex reads them.
const GROUPS: [&str; 2] = ["extensions", "networking.k8s.io"];

/// `^(extensions|networking.k8s.io)$` on the request's group.
fn is_ingress_group(group: &str) -> bool {
    GROUPS.iter().any(|g| loose_prefix(group, g) == Some(""))
}

/// `^(extensions|networking.k8s.io)/.+$` on an inventory apiVersion.
fn is_ingress_api_version(api_version: &str) -> bool {
    GROUPS.iter().any(|g| {
        loose_prefix(api_version, g)
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|version| !version.is_empty() && !version.contains('\n'))
    })
}

/// `value.metadata.<key>`, when present (even `null`).
fn metadata<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    field(value, "metadata").and_then(|m| field(m, key))
}

/// Rego's `==` between two defined values (numbers by value).
fn same(a: &Value, b: &Value) -> bool {
    opa_cmp(a, b).is_eq()
}

/// The `host` of each of an Ingress's rules that has one.
fn hosts(ingress: &Value) -> impl Iterator<Item = &Value> {
    rego_iter(field(ingress, "spec").and_then(|s| field(s, "rules")))
        .filter_map(|rule| field(rule, "host"))
}

/// Every Ingress of the inventory's namespaced part, under an Ingress apiVersion.
fn inventory_ingresses(inventory: &Value) -> impl Iterator<Item = &Value> {
    rego_iter(field(inventory, "namespace"))
        .filter_map(Value::as_object)
        .flat_map(|by_api| by_api.iter())
        .filter(|(api, _)| is_ingress_api_version(api))
        .flat_map(|(_, by_kind)| rego_iter(field(by_kind, "Ingress")))
}

/// One host served by one inventory Ingress, with that Ingress's namespace and name (as
/// present, for the "is it the object itself" test).
#[derive(Debug)]
struct Served {
    host: Value,
    namespace: Option<Value>,
    name: Option<Value>,
}

impl Served {
    /// Whether the Ingress serving this host is the reviewed object itself: same namespace
    /// and name, both present on both sides.
    fn is(&self, object: &Value) -> bool {
        let same_field = |mine: &Option<Value>, key: &str| match (mine, metadata(object, key)) {
            (Some(a), Some(b)) => same(a, b),
            _ => false,
        };
        same_field(&self.namespace, "namespace") && same_field(&self.name, "name")
    }
}

/// Every host the inventory's Ingresses serve, with who serves it, sorted in OPA's order
/// of host then owner, each (host, owner) once. Built once per inventory (the snapshot's in
/// cluster mode, the audit run's offline: see [`crate::engine::Inventory`]) and shared by
/// every evaluation, so judging N Ingresses against an inventory of N costs
/// O(N log N) in all, not N².
#[derive(Debug, Default)]
pub(crate) struct IngressHosts {
    served: Vec<Served>,
}

impl IngressHosts {
    /// Collect and sort; paced, since the inventory can be large.
    pub(crate) fn build(inventory: &Value, pacer: &Pacer) -> Result<Self, DeadlineExceeded> {
        let mut served = Vec::new();
        for other in inventory_ingresses(inventory) {
            pacer.tick()?;
            let (namespace, name) = (
                metadata(other, "namespace").cloned(),
                metadata(other, "name").cloned(),
            );
            for host in hosts(other) {
                pacer.tick()?;
                served.push(Served {
                    host: host.clone(),
                    namespace: namespace.clone(),
                    name: name.clone(),
                });
            }
        }
        let owner_cmp = |a: &Option<Value>, b: &Option<Value>| match (a, b) {
            (Some(a), Some(b)) => opa_cmp(a, b),
            (a, b) => a.is_some().cmp(&b.is_some()),
        };
        let order = |a: &Served, b: &Served| {
            opa_cmp(&a.host, &b.host)
                .then_with(|| owner_cmp(&a.namespace, &b.namespace))
                .then_with(|| owner_cmp(&a.name, &b.name))
        };
        served.sort_by(order);
        served.dedup_by(|a, b| order(a, b).is_eq());
        Ok(IngressHosts { served })
    }

    /// Whether an Ingress other than `object` serves `host`: the Rego's
    /// `not identical(other, input.review)` on every pair with an equal host. After the
    /// dedup, the equal-host range holds each owner once, so the scan stops at the first
    /// owner that is not the object (at most the object's own entries come before it).
    fn taken_by_another(&self, host: &Value, object: &Value) -> bool {
        let start = self
            .served
            .partition_point(|s| opa_cmp(&s.host, host).is_lt());
        self.served
            .get(start..)
            .unwrap_or_default()
            .iter()
            .take_while(|s| same(&s.host, host))
            .any(|s| !s.is(object))
    }
}

impl BoundProgram for UniqueIngressHost {
    fn evaluate(&self, input: &EvalInput<'_>) -> Result<Vec<Violation>, EngineError> {
        let request = &input.review.request;
        if request_kind(request, "kind") != Some("Ingress")
            || !request_kind(request, "group").is_some_and(is_ingress_group)
        {
            return Ok(Vec::new());
        }
        let object = judged_object(input.review);
        if hosts(object).next().is_none() {
            return Ok(Vec::new());
        }
        let pacer = input.deadline.pacer();
        let own;
        let taken = match input.shared_inventory {
            Some(shared) => shared.ingress_hosts(&pacer)?,
            None => {
                own = IngressHosts::build(input.inventory, &pacer)?;
                &own
            }
        };
        let mut out = Violations::new();
        for host in hosts(object) {
            pacer.tick()?;
            if taken.taken_by_another(host, object) {
                out.push(Violation::new(format!(
                    "ingress host conflicts with an existing ingress <{}>",
                    Opa(host)
                )));
            }
        }
        Ok(out.into_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::inventory_of;
    use crate::review::Review;
    use serde_json::json;

    fn ingress(api: &str, ns: Option<&str>, name: &str, hosts: &[&str]) -> Value {
        let rules: Vec<Value> = hosts.iter().map(|h| json!({"host": h})).collect();
        let mut o = json!({"apiVersion": api, "kind": "Ingress",
                           "metadata": {"name": name}, "spec": {"rules": rules}});
        if let Some(ns) = ns {
            o["metadata"]["namespace"] = json!(ns);
        }
        o
    }

    fn v1(ns: &str, name: &str, hosts: &[&str]) -> Value {
        ingress("networking.k8s.io/v1", Some(ns), name, hosts)
    }

    fn run(object: Value, inventory: &Value) -> Vec<String> {
        let rule = bind(&Value::Null).expect("no parameters to reject");
        let review = Review::from_object(object);
        rule.evaluate(&EvalInput::new(&review, inventory))
            .expect("the rule never fails")
            .into_iter()
            .map(|v| v.msg)
            .collect()
    }

    #[test]
    fn conflicts_across_namespaces_and_api_versions() {
        let inv = inventory_of([
            v1("shop", "storefront", &["shop.example.com"]),
            ingress(
                "extensions/v1beta1",
                Some("legacy"),
                "old",
                &["old.example.com"],
            ),
        ]);
        let new = v1(
            "sandbox",
            "copy",
            &["shop.example.com", "old.example.com", "new.example.com"],
        );
        let mut got = run(new, &inv);
        got.sort();
        assert_eq!(
            got,
            vec![
                "ingress host conflicts with an existing ingress <old.example.com>",
                "ingress host conflicts with an existing ingress <shop.example.com>",
            ]
        );
    }

    #[test]
    fn the_object_itself_never_conflicts() {
        let inv = inventory_of([
            v1("shop", "storefront", &["shop.example.com"]),
            ingress(
                "extensions/v1beta1",
                Some("shop"),
                "storefront",
                &["shop.example.com"],
            ),
        ]);
        assert!(run(v1("shop", "storefront", &["shop.example.com"]), &inv).is_empty());
        // Without a namespace on the object, its own inventory entry is not recognised.
        let bare = ingress(
            "networking.k8s.io/v1",
            None,
            "storefront",
            &["shop.example.com"],
        );
        assert_eq!(run(bare, &inv).len(), 1);
    }

    #[test]
    fn nothing_conflicts_without_inventory_or_outside_ingress_groups() {
        let new = v1("a", "x", &["h"]);
        assert!(run(new.clone(), &Value::Null).is_empty());
        let inv = json!({"cluster": {"networking.k8s.io/v1": {"Ingress": {"y": v1("b", "y", &["h"])}}},
                         "namespace": {"b": {"example.com/v1": {"Ingress": {"y": v1("b", "y", &["h"])}}}}});
        assert!(run(new.clone(), &inv).is_empty());
        let mut other_group = new;
        other_group["apiVersion"] = json!("example.com/v1");
        assert!(run(other_group, &inventory_of([v1("b", "y", &["h"])])).is_empty());
    }

    #[test]
    fn regex_dots_match_any_character() {
        assert!(is_ingress_group("networking.k8s.io"));
        assert!(is_ingress_group("networkingXk8s-io"));
        assert!(is_ingress_group("extensions"));
        assert!(!is_ingress_group("networking\nk8s.io"));
        assert!(!is_ingress_group("extensions2"));
        assert!(!is_ingress_group(""));
        assert!(is_ingress_api_version("extensions/v1beta1"));
        assert!(is_ingress_api_version("networking_k8s_io/v1"));
        assert!(is_ingress_api_version("networking.k8s.io/a/b"));
        assert!(!is_ingress_api_version("networking.k8s.io/"));
        assert!(!is_ingress_api_version("networking.k8s.io"));
        assert!(!is_ingress_api_version("extensions/v1\n"));
        assert!(!is_ingress_api_version("v1"));
    }

    /// Inventories that stress the Rego's iteration: odd shapes at each level.
    fn inventories() -> Vec<Value> {
        let other = v1("b", "other", &["h1.example.com"]);
        vec![
            Value::Null,
            json!({}),
            json!({"namespace": {}}),
            inventory_of([other.clone()]),
            inventory_of([
                ingress("extensions/v1beta1", Some("a"), "self", &["h2.example.com"]),
                ingress(
                    "networking.k8s.io/v1beta1",
                    Some("c"),
                    "x",
                    &["h2.example.com"],
                ),
            ]),
            inventory_of([ingress(
                "networking.k8s.io/v1",
                None,
                "clusterwide",
                &["h1.example.com"],
            )]),
            inventory_of([ingress(
                "networking.k8s.io/v1",
                Some("a"),
                "self",
                &["h1.example.com"],
            )]),
            inventory_of([
                json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                                 "metadata": {"namespace": "z", "name": "n"},
                                 "spec": {"rules": [{"host": null}, {"http": {}}, {"host": 7.0}]}}),
            ]),
            json!({"namespace": [{"networking.k8s.io/v1": {"Ingress": [other.clone()]}}]}),
            json!({"namespace": {"b": [{"Ingress": {"o": other.clone()}}]}}),
            json!({"namespace": {"b": {"networking.k8s.io/v1": {"Ingress": "x", "Pod": {"o": other.clone()}}}}}),
            json!({"namespace": {"b": {"networkingXk8sYio/v9": {"Ingress": {"o": other.clone()}}}}}),
            json!({"namespace": {"b": {"extensions/": {"Ingress": {"o": other.clone()}}}}}),
            json!({"namespace": {"b": {"networking.k8s.io/v1": {"Ingress": {"o": {"spec": {"rules": {"r": {"host": "h1.example.com"}}}}}}}}}),
            json!({"namespace": {"b": {"networking.k8s.io/v1": {"Ingress": {"o": {"metadata": {"namespace": "a"}, "spec": {"rules": [{"host": "h1.example.com"}]}}}}}}}),
            json!({"namespace": {"b": {"networking.k8s.io/v1": {"Ingress": {"o": {
                "metadata": {"namespace": null, "name": "self"},
                "spec": {"rules": [{"host": false}, {"host": "h1.example.com"}]}}}}}}}),
            json!({"namespace": "x"}),
            json!([1, 2]),
        ]
    }

    /// Reviewed objects: the plain case, odd rules and hosts, missing identity.
    fn objects() -> Vec<Value> {
        let mut odd_rules = v1("a", "self", &[]);
        odd_rules["spec"]["rules"] =
            json!([{"host": null}, {"host": 7}, "h1.example.com", {"host": ["h1.example.com"]}]);
        let mut map_rules = v1("a", "self", &[]);
        map_rules["spec"]["rules"] = json!({"first": {"host": "h1.example.com"}});
        let mut null_namespace = v1("a", "self", &[]);
        null_namespace["metadata"]["namespace"] = Value::Null;
        null_namespace["spec"]["rules"] = json!([{"host": false}, {"host": "h1.example.com"}]);
        let mut no_name = v1("a", "self", &["h1.example.com"]);
        no_name["metadata"] = json!({"namespace": "a"});
        vec![
            v1(
                "a",
                "self",
                &[
                    "h1.example.com",
                    "h2.example.com",
                    "h1.example.com",
                    "h3.example.com",
                ],
            ),
            v1("b", "other", &["h1.example.com"]),
            ingress("extensions/v1beta1", Some("a"), "self", &["h2.example.com"]),
            ingress("networking.k8s.io/v1", None, "self", &["h1.example.com"]),
            ingress("example.com/v1", Some("a"), "self", &["h1.example.com"]),
            odd_rules,
            map_rules,
            null_namespace,
            no_name,
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "spec": "x"}),
            Value::Null,
        ]
    }

    fn edge_cases() -> Vec<(Value, Review, Value)> {
        let mut cases = Vec::new();
        for inventory in inventories() {
            for object in objects() {
                cases.push((Value::Null, Review::from_object(object), inventory.clone()));
            }
        }
        let inv = inventory_of([v1("b", "other", &["h1.example.com"])]);
        for kind in [
            json!({"group": "networking.k8s.io", "version": "v1", "kind": "Ingress"}),
            json!({"group": "extensions", "kind": "Ingress"}),
            json!({"group": "networkingak8sbio", "kind": "Ingress"}),
            json!({"group": "", "kind": "Ingress"}),
            json!({"group": null, "kind": "Ingress"}),
            json!({"kind": "Ingress"}),
            json!({"group": "networking.k8s.io", "kind": "IngressClass"}),
        ] {
            let mut review = Review::from_object(v1("a", "self", &["h1.example.com"]));
            review.request["kind"] = kind;
            cases.push((json!({"ignored": 1}), review, inv.clone()));
        }
        cases
    }

    #[test]
    fn agrees_with_library_rego() {
        super::super::rego_diff::check_reviews(
            "uniqueingresshost",
            "k8suniqueingresshost",
            &edge_cases(),
        );
    }

    #[test]
    fn conformance_suite() {
        super::super::conformance::check("uniqueingresshost", "k8suniqueingresshost");
    }

    /// The index shared through a snapshot's or audit's [`crate::engine::Inventory`] gives
    /// the same answers as one built per review, and is built once.
    #[test]
    fn the_shared_index_agrees_with_a_per_review_one_and_is_built_once() {
        let rule = bind(&Value::Null).expect("binds");
        let mut compared = 0;
        for (_, review, inventory) in edge_cases() {
            let shared = crate::engine::Inventory::new(inventory.clone());
            let alone = rule.evaluate(&EvalInput::new(&review, &inventory));
            let first = rule.evaluate(&EvalInput::with_inventory(&review, &shared));
            let again = rule.evaluate(&EvalInput::with_inventory(&review, &shared));
            assert_eq!(format!("{alone:?}"), format!("{first:?}"));
            assert_eq!(format!("{first:?}"), format!("{again:?}"));
            compared += 1;
        }
        assert!(compared > 20);
        let shared = crate::engine::Inventory::new(inventory_of([
            v1("a", "x", &["h", "h", "h"]),
            v1("b", "y", &["h"]),
        ]));
        let pacer = crate::deadline::Deadline::NONE.pacer();
        let once = shared
            .ingress_hosts(&pacer)
            .map(|i| i as *const IngressHosts);
        let twice = shared
            .ingress_hosts(&pacer)
            .map(|i| i as *const IngressHosts);
        assert_eq!(once.ok(), twice.ok());
        let index = shared.ingress_hosts(&pacer).expect("built");
        assert_eq!(index.served.len(), 2, "each (host, owner) once: {index:?}");
        let x = v1("a", "x", &["h"]);
        assert!(index.taken_by_another(&json!("h"), &x), "b/y serves it too");
        let z = v1("c", "z", &["h"]);
        assert!(index.taken_by_another(&json!("h"), &z));
        assert!(!index.taken_by_another(&json!("g"), &z));
    }
}
