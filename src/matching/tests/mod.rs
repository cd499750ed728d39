//! Tests of `Match::matches`, one group per `spec.match` field: kinds, scope, namespace
//! lists and names here; selectors, UPDATE/DELETE handling and validation in `selectors`.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::*;
use crate::review::{Gvk, Operation, Review};

fn m(spec: Value) -> Match {
    let parsed: Match = serde_json::from_value(spec).expect("test match parses");
    parsed.validate().expect("test match is valid");
    parsed
}

fn pod(ns: &str, name: &str, labels: Value) -> Review {
    Review::from_object(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels}
    }))
}

fn namespace(name: &str, labels: Value) -> Review {
    Review::from_object(json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "labels": labels}
    }))
}

fn cluster_role(name: &str) -> Review {
    Review::from_object(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": name}
    }))
}

fn lookup() -> BTreeMap<String, Labels> {
    let mut map = BTreeMap::new();
    let prod: Labels = [("env".to_string(), "prod".to_string())].into();
    map.insert("prod".to_string(), prod);
    map.insert("empty".to_string(), Labels::new());
    map
}

fn yes(spec: &Match, review: &Review) -> bool {
    spec.matches(review, &lookup())
}

/// Turn a review into an UPDATE with the given old object.
fn update(mut review: Review, old: Value) -> Review {
    review.operation = Operation::Update;
    review.request["operation"] = json!("UPDATE");
    review.request["oldObject"] = old;
    review
}

#[test]
fn empty_match_matches_everything() {
    let all = Match::default();
    assert!(yes(&all, &pod("prod", "a", json!({}))));
    assert!(yes(&all, &namespace("prod", json!({}))));
    assert!(yes(&all, &cluster_role("admin")));
    assert_eq!(all.validate(), Ok(()));
}

#[test]
fn kinds_match_group_and_kind_with_wildcards() {
    let pods = m(json!({"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}]}));
    assert!(yes(&pods, &pod("prod", "a", json!({}))));
    assert!(!yes(&pods, &cluster_role("admin")));
    let any_group = m(json!({"kinds": [{"apiGroups": ["*"], "kinds": ["ClusterRole"]}]}));
    assert!(yes(&any_group, &cluster_role("admin")));
    let any_kind =
        m(json!({"kinds": [{"apiGroups": ["rbac.authorization.k8s.io"], "kinds": ["*"]}]}));
    assert!(yes(&any_kind, &cluster_role("admin")));
    assert!(!yes(&any_kind, &pod("prod", "a", json!({}))));
    let wrong_group = m(json!({"kinds": [{"apiGroups": ["apps"], "kinds": ["Pod"]}]}));
    assert!(!yes(&wrong_group, &pod("prod", "a", json!({}))));
}

#[test]
fn kinds_entries_are_ored_and_empty_lists_match_all_as_in_gatekeeper() {
    let two = m(json!({"kinds": [
        {"apiGroups": ["apps"], "kinds": ["Deployment"]},
        {"apiGroups": [""], "kinds": ["Pod", "Service"]}
    ]}));
    assert!(yes(&two, &pod("prod", "a", json!({}))));
    let no_groups = m(json!({"kinds": [{"kinds": ["Pod"]}]}));
    assert!(yes(&no_groups, &pod("prod", "a", json!({}))));
    let no_kinds = m(json!({"kinds": [{"apiGroups": [""]}]}));
    assert!(yes(&no_kinds, &pod("prod", "a", json!({}))));
    assert!(!yes(&no_kinds, &cluster_role("admin")));
    let blank = m(json!({"kinds": [{"apiGroups": [], "kinds": []}]}));
    assert!(yes(&blank, &cluster_role("admin")));
}

#[test]
fn scope_separates_cluster_and_namespaced_objects() {
    let cluster = m(json!({"scope": "Cluster"}));
    let namespaced = m(json!({"scope": "Namespaced"}));
    let star = m(json!({"scope": "*"}));
    let p = pod("prod", "a", json!({}));
    let ns = namespace("prod", json!({}));
    let cr = cluster_role("admin");
    assert!(!yes(&cluster, &p) && yes(&cluster, &ns) && yes(&cluster, &cr));
    assert!(yes(&namespaced, &p) && !yes(&namespaced, &ns) && !yes(&namespaced, &cr));
    assert!(yes(&star, &p) && yes(&star, &ns) && yes(&star, &cr));
}

#[test]
fn namespace_object_stays_cluster_scoped_even_with_request_namespace() {
    // The API server sets request.namespace to a Namespace's own name.
    let mut ns = namespace("prod", json!({}));
    ns.namespace = "prod".to_string();
    assert!(!yes(&m(json!({"scope": "Namespaced"})), &ns));
    assert!(yes(&m(json!({"scope": "Cluster"})), &ns));
}

#[test]
fn namespaces_accept_exact_and_glob_patterns() {
    let spec = m(json!({"namespaces": ["prod", "team-*", "*-system"]}));
    assert!(yes(&spec, &pod("prod", "a", json!({}))));
    assert!(yes(&spec, &pod("team-blue", "a", json!({}))));
    assert!(yes(&spec, &pod("kube-system", "a", json!({}))));
    assert!(!yes(&spec, &pod("dev", "a", json!({}))));
    assert!(!yes(&spec, &pod("production", "a", json!({}))));
}

#[test]
fn excluded_namespaces_reject_exact_and_glob_patterns() {
    let spec = m(json!({"excludedNamespaces": ["kube-*", "gatekeeper-system"]}));
    assert!(!yes(&spec, &pod("kube-public", "a", json!({}))));
    assert!(!yes(&spec, &pod("gatekeeper-system", "a", json!({}))));
    assert!(yes(&spec, &pod("prod", "a", json!({}))));
    let both = m(json!({"namespaces": ["team-*"], "excludedNamespaces": ["team-ops"]}));
    assert!(yes(&both, &pod("team-dev", "a", json!({}))));
    assert!(!yes(&both, &pod("team-ops", "a", json!({}))));
}

#[test]
fn namespace_lists_judge_a_namespace_by_its_own_name() {
    let spec = m(json!({"namespaces": ["team-*"]}));
    assert!(yes(&spec, &namespace("team-a", json!({}))));
    assert!(!yes(&spec, &namespace("other", json!({}))));
    let excl = m(json!({"excludedNamespaces": ["kube-system"]}));
    assert!(!yes(&excl, &namespace("kube-system", json!({}))));
    assert!(yes(&excl, &namespace("prod", json!({}))));
}

#[test]
fn namespace_lists_ignore_cluster_scoped_objects() {
    assert!(yes(
        &m(json!({"namespaces": ["prod"]})),
        &cluster_role("admin")
    ));
    assert!(yes(
        &m(json!({"excludedNamespaces": ["*"]})),
        &cluster_role("admin")
    ));
    assert!(!yes(
        &m(json!({"excludedNamespaces": ["*"]})),
        &pod("prod", "a", json!({}))
    ));
}

#[test]
fn request_namespace_wins_over_missing_metadata_namespace() {
    let mut review = Review::from_object(json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}
    }));
    assert!(yes(&m(json!({"namespaces": ["prod"]})), &review));
    review.namespace = "dev".to_string();
    assert!(!yes(&m(json!({"namespaces": ["prod"]})), &review));
    assert!(yes(&m(json!({"scope": "Namespaced"})), &review));
}

#[test]
fn name_accepts_exact_and_glob_patterns() {
    let p = pod("prod", "web-1", json!({}));
    assert!(yes(&m(json!({"name": "web-1"})), &p));
    assert!(yes(&m(json!({"name": "web-*"})), &p));
    assert!(yes(&m(json!({"name": "*-1"})), &p));
    assert!(yes(&m(json!({"name": "*eb*"})), &p));
    assert!(!yes(&m(json!({"name": "web"})), &p));
    assert!(!yes(&m(json!({"name": "db-*"})), &p));
    assert!(
        yes(&m(json!({"name": ""})), &p),
        "blank name means any name"
    );
    assert!(yes(&m(json!({"name": "admin"})), &cluster_role("admin")));
}

#[test]
fn name_matches_generate_name_only_by_prefix() {
    let review = Review::from_object(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"generateName": "web-", "namespace": "prod"}
    }));
    assert!(yes(&m(json!({"name": "web-*"})), &review));
    assert!(yes(&m(json!({"name": "*eb*"})), &review));
    assert!(
        !yes(&m(json!({"name": "*-"})), &review),
        "a suffix test never sees the tail"
    );
    assert!(!yes(&m(json!({"name": "web-"})), &review));
    assert!(!yes(&m(json!({"name": "db-*"})), &review));
}

#[test]
fn name_falls_back_to_the_request_name() {
    let mut review = Review::from_object(json!({"apiVersion": "v1", "kind": "Pod"}));
    review.name = "from-request".to_string();
    assert!(yes(&m(json!({"name": "from-*"})), &review));
}

mod selectors;
