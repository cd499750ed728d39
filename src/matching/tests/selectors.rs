//! Tests of label and namespace selectors, UPDATE/DELETE handling, field combinations
//! and `Match::validate`.

use super::*;

#[test]
fn label_selector_reads_object_labels() {
    let spec = m(json!({"labelSelector": {
        "matchLabels": {"app": "web"},
        "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]
    }}));
    assert!(yes(&spec, &pod("prod", "a", json!({"app": "web"}))));
    assert!(yes(
        &spec,
        &pod("prod", "a", json!({"app": "web", "tier": "front"}))
    ));
    assert!(!yes(
        &spec,
        &pod("prod", "a", json!({"app": "web", "tier": "db"}))
    ));
    assert!(!yes(&spec, &pod("prod", "a", json!({"app": "db"}))));
    assert!(
        !yes(&spec, &cluster_role("admin")),
        "no labels, matchLabels unmet"
    );
}

#[test]
fn empty_label_selector_matches_everything() {
    let spec = m(json!({"labelSelector": {}}));
    assert!(yes(&spec, &cluster_role("admin")));
    assert!(yes(&spec, &pod("prod", "a", json!({"x": "y"}))));
}

#[test]
fn update_matches_when_the_old_object_matches() {
    let spec = m(json!({"labelSelector": {"matchLabels": {"app": "web"}}}));
    let relabelled = update(
        pod("prod", "a", json!({"app": "other"})),
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "a", "namespace": "prod", "labels": {"app": "web"}}}),
    );
    assert!(yes(&spec, &relabelled));
    let neither = update(
        pod("prod", "a", json!({"app": "other"})),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}}),
    );
    assert!(!yes(&spec, &neither));
}

#[test]
fn delete_judges_the_old_object_once() {
    let old = json!({"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": "a", "namespace": "prod", "labels": {"app": "web"}}});
    let mut review = Review::from_object(old.clone());
    review.operation = Operation::Delete;
    review.request["operation"] = json!("DELETE");
    review.request["oldObject"] = old;
    assert!(yes(
        &m(json!({"labelSelector": {"matchLabels": {"app": "web"}}})),
        &review
    ));
    assert!(!yes(
        &m(json!({"labelSelector": {"matchLabels": {"app": "db"}}})),
        &review
    ));
    // An object-less DELETE still finds the old object.
    review.request["object"] = Value::Null;
    assert!(yes(
        &m(json!({"labelSelector": {"matchLabels": {"app": "web"}}})),
        &review
    ));
}

#[test]
fn namespace_selector_reads_the_namespace_labels() {
    let spec = m(json!({"namespaceSelector": {"matchLabels": {"env": "prod"}}}));
    assert!(yes(&spec, &pod("prod", "a", json!({}))));
    assert!(!yes(&spec, &pod("empty", "a", json!({"env": "prod"}))));
    assert!(!yes(&spec, &pod("unknown", "a", json!({}))));
}

#[test]
fn namespace_selector_always_sees_the_name_label() {
    let spec = m(json!({"namespaceSelector": {"matchExpressions": [{
        "key": "kubernetes.io/metadata.name", "operator": "In", "values": ["empty", "ghost"]
    }]}}));
    assert!(
        yes(&spec, &pod("empty", "a", json!({}))),
        "known namespace without the label"
    );
    assert!(
        yes(&spec, &pod("ghost", "a", json!({}))),
        "unknown namespace"
    );
    assert!(!yes(&spec, &pod("prod", "a", json!({}))));
    assert!(yes(&spec, &namespace("ghost", json!({}))));
}

#[test]
fn unknown_namespace_has_only_the_name_label() {
    let not_prod = m(json!({"namespaceSelector": {"matchExpressions": [
        {"key": "env", "operator": "NotIn", "values": ["prod"]}
    ]}}));
    assert!(yes(&not_prod, &pod("ghost", "a", json!({}))));
    let absent = m(json!({"namespaceSelector": {"matchExpressions": [
        {"key": "env", "operator": "DoesNotExist"}
    ]}}));
    assert!(yes(&absent, &pod("ghost", "a", json!({}))));
    assert!(!yes(&absent, &pod("prod", "a", json!({}))));
}

#[test]
fn namespace_selector_judges_a_namespace_by_its_own_labels() {
    let spec = m(json!({"namespaceSelector": {"matchLabels": {"env": "prod"}}}));
    // The lookup says "prod" has env=prod, but the object under review is what counts.
    assert!(!yes(&spec, &namespace("prod", json!({"env": "dev"}))));
    assert!(yes(&spec, &namespace("fresh", json!({"env": "prod"}))));
    let relabel = update(
        namespace("fresh", json!({})),
        json!({"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": "fresh", "labels": {"env": "prod"}}}),
    );
    assert!(yes(&spec, &relabel));
}

#[test]
fn namespace_selector_ignores_cluster_scoped_objects() {
    let spec = m(json!({"namespaceSelector": {"matchLabels": {"env": "nowhere"}}}));
    assert!(yes(&spec, &cluster_role("admin")));
}

#[test]
fn all_fields_must_hold_together() {
    let spec = m(json!({
        "kinds": [{"apiGroups": [""], "kinds": ["Pod"]}],
        "scope": "Namespaced",
        "namespaces": ["prod"],
        "name": "web-*",
        "labelSelector": {"matchLabels": {"app": "web"}},
        "namespaceSelector": {"matchLabels": {"env": "prod"}}
    }));
    assert!(yes(&spec, &pod("prod", "web-1", json!({"app": "web"}))));
    assert!(!yes(&spec, &pod("prod", "db-1", json!({"app": "web"}))));
    assert!(!yes(&spec, &pod("prod", "web-1", json!({}))));
    let mut svc = pod("prod", "web-1", json!({"app": "web"}));
    svc.gvk = Gvk::from_api_version("v1", "Service");
    assert!(!yes(&spec, &svc));
}

#[test]
fn source_tells_generated_resources_from_original_ones() {
    let original = pod("prod", "a", json!({}));
    let mut generated = original.clone();
    generated.generated = true;
    for (source, on_original, on_generated) in [
        ("All", true, true),
        ("Original", true, false),
        ("Generated", false, true),
    ] {
        let spec = m(json!({ "source": source }));
        assert_eq!(
            yes(&spec, &original),
            on_original,
            "{source} on an original"
        );
        assert_eq!(
            yes(&spec, &generated),
            on_generated,
            "{source} on a generated"
        );
    }
    assert!(yes(&Match::default(), &generated), "no source is All");
}

#[test]
fn validate_rejects_bad_fields() {
    let bad = |spec: Value| -> String {
        let parsed: Match = serde_json::from_value(spec).expect("parses");
        parsed.validate().unwrap_err()
    };
    assert!(bad(json!({"source": "Mine"})).starts_with("source:"));
    assert!(bad(json!({"namespaces": ["ok", "k*s"]})).starts_with("namespaces[1]:"));
    assert!(bad(json!({"excludedNamespaces": ["a*b"]})).starts_with("excludedNamespaces[0]:"));
    assert!(bad(json!({"name": "we*b"})).starts_with("name:"));
}

/// What the API server stores (scope and selectors are plain strings in Gatekeeper's
/// match schema) loads; a malformed selector is an error of the match when a request
/// reaches it, and an unknown scope matches everything.
#[test]
fn open_fields_load_and_selector_errors_come_per_request() {
    let open = |spec: Value| -> Match {
        let parsed: Match = serde_json::from_value(spec).expect("parses");
        parsed.validate().expect("the API server stores it");
        parsed
    };
    let p = pod("prod", "a", json!({"tier": "web"}));
    for scope in ["cluster", "", "Namespace"] {
        assert!(yes(&open(json!({"scope": scope})), &p), "{scope:?}");
        assert!(
            yes(&open(json!({"scope": scope})), &cluster_role("x")),
            "{scope:?}"
        );
    }
    let check = |spec: Value, review: &Review| -> Result<bool, String> {
        open(spec).check(review, &lookup()).map_err(str::to_string)
    };
    let gt = json!({"labelSelector": {"matchExpressions": [
        {"key": "a", "operator": "Gt", "values": ["1"]}]}});
    assert_eq!(
        check(gt.clone(), &p),
        Err("\"Gt\" is not a valid label selector operator".to_string())
    );
    assert!(!yes(&open(gt), &p), "matches() reads an error as no match");
    let empty_in = json!({"namespaceSelector": {"matchExpressions": [
        {"key": "a", "operator": "In", "values": []}]}});
    assert!(check(empty_in.clone(), &p).is_err_and(|e| e.contains("needs at least one value")));
    assert_eq!(
        check(empty_in, &cluster_role("x")),
        Ok(true),
        "a namespace selector never reads for other cluster-scoped objects"
    );
    let exists_vals = json!({"labelSelector": {"matchExpressions": [
        {"key": "a", "operator": "Exists", "values": ["x"]}]}});
    assert!(check(exists_vals, &p).is_err_and(|e| e.contains("takes no values")));
    // Checks before the selector decide first, as in Gatekeeper's matcher.
    let excluded = json!({"namespaces": ["other"], "labelSelector": {"matchExpressions": [
        {"key": "a", "operator": "Gt", "values": ["1"]}]}});
    assert_eq!(check(excluded, &p), Ok(false));
    // The name check comes after the selectors.
    let named = json!({"name": "zzz", "labelSelector": {"matchExpressions": [
        {"key": "a", "operator": "Gt", "values": ["1"]}]}});
    assert!(check(named, &p).is_err());
}

#[test]
fn a_review_without_an_object_uses_the_request_fields() {
    let mut review = pod("prod", "a", json!({}));
    review.operation = Operation::Connect;
    review.request["object"] = Value::Null;
    review.name = "web-0".to_string();
    assert!(yes(
        &m(json!({"name": "web-*", "namespaces": ["prod"]})),
        &review
    ));
    assert!(!yes(
        &m(json!({"labelSelector": {"matchLabels": {"app": "web"}}})),
        &review
    ));
    assert!(yes(
        &m(json!({"labelSelector": {"matchExpressions": [
            {"key": "app", "operator": "DoesNotExist"}]}})),
        &review
    ));
}

#[test]
fn hash_map_lookup_behaves_like_the_btree_map() {
    let mut map = std::collections::HashMap::new();
    map.insert(
        "prod".to_string(),
        Labels::from([("env".to_string(), "prod".to_string())]),
    );
    let spec = m(json!({"namespaceSelector": {"matchLabels": {"env": "prod"}}}));
    assert!(spec.matches(&pod("prod", "a", json!({})), &map));
    assert!(!spec.matches(&pod("dev", "a", json!({})), &map));
}

#[test]
fn update_with_a_matching_old_namespace_or_name_still_matches() {
    // Kinds and namespaces are shared by both versions; a label change is what differs.
    let spec = m(json!({
        "kinds": [{"apiGroups": [""], "kinds": ["Pod"]}],
        "excludedNamespaces": ["kube-*"],
        "labelSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["db"]}]}
    }));
    let old = json!({"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": "a", "namespace": "prod", "labels": {"tier": "db"}}});
    assert!(yes(
        &spec,
        &update(pod("prod", "a", json!({"tier": "web"})), old.clone())
    ));
    let mut in_kube = update(pod("kube-system", "a", json!({"tier": "web"})), old);
    assert!(
        !yes(&spec, &in_kube),
        "request namespace kube-system is excluded"
    );
    in_kube.request["oldObject"] = Value::Null;
    assert!(!yes(&spec, &in_kube));
}

#[test]
fn validate_accepts_a_full_gatekeeper_match() {
    let spec: Match = serde_json::from_value(json!({
        "kinds": [{"apiGroups": ["", "apps"], "kinds": ["Pod", "Deployment"]}],
        "scope": "Namespaced",
        "namespaces": ["prod", "team-*"],
        "excludedNamespaces": ["kube-*", "*-system"],
        "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "web"}},
        "namespaceSelector": {"matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["default"]},
            {"key": "env", "operator": "Exists"}
        ]},
        "name": "web-*",
        "source": "Original"
    }))
    .expect("parses");
    assert_eq!(spec.validate(), Ok(()));
}
