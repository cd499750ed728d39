use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::emulation;
use super::{binding, export, structure, ExportOptions};
use crate::policy::{Constraint, Document};
use crate::review::Review;

fn doc(value: Value) -> Document {
    Document {
        location: "test.yaml".into(),
        value,
    }
}

/// A CEL template whose one validation always fails, so a constraint "denies" exactly the
/// reviews it matches.
fn always_template(extra_source: Value) -> Value {
    let mut source = json!({"validations": [{"expression": "false", "message": "hit"}]});
    if let (Some(s), Some(extra)) = (source.as_object_mut(), extra_source.as_object()) {
        s.extend(extra.clone());
    }
    json!({
        "apiVersion": "templates.gatekeeper.sh/v1", "kind": "ConstraintTemplate",
        "metadata": {"name": "k8salways"},
        "spec": {"crd": {"spec": {"names": {"kind": "K8sAlways"}}},
                 "targets": [{"target": "admission.k8s.gatekeeper.sh",
                              "code": [{"engine": "K8sNativeValidation", "source": source}]}]}
    })
}

fn constraint(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "K8sAlways",
           "metadata": {"name": name}, "spec": spec})
}

fn object(api_version: &str, kind: &str, meta: Value) -> Value {
    json!({"apiVersion": api_version, "kind": kind, "metadata": meta})
}

/// Reviews covering namespaced, cluster-scoped, Namespace, generated-name, other-group
/// and relabelling (UPDATE) requests.
fn reviews() -> Vec<(&'static str, Review)> {
    let mut out = vec![
        (
            "pod web in prod",
            object(
                "v1",
                "Pod",
                json!({"name": "web", "namespace": "prod", "labels": {"app": "web"}}),
            ),
        ),
        (
            "pod from generateName in dev",
            object(
                "v1",
                "Pod",
                json!({"generateName": "web-", "namespace": "dev"}),
            ),
        ),
        (
            "pod api-db in kube-system",
            object(
                "v1",
                "Pod",
                json!({"name": "api-db", "namespace": "kube-system", "labels": {"tier": "db"}}),
            ),
        ),
        (
            "deployment in prod-east",
            object(
                "apps/v1",
                "Deployment",
                json!({"name": "web", "namespace": "prod-east", "labels": {"app": "web"}}),
            ),
        ),
        (
            "cluster role",
            object(
                "rbac.authorization.k8s.io/v1",
                "ClusterRole",
                json!({"name": "web-admin", "labels": {"app": "web"}}),
            ),
        ),
        (
            "namespace prod",
            object(
                "v1",
                "Namespace",
                json!({"name": "prod", "labels": {"env": "prod"}}),
            ),
        ),
        (
            "namespace kube-system",
            object("v1", "Namespace", json!({"name": "kube-system"})),
        ),
    ]
    .into_iter()
    .map(|(n, o)| (n, Review::from_object(o)))
    .collect::<Vec<_>>();
    let update = json!({
        "uid": "u", "operation": "UPDATE", "name": "web", "namespace": "dev",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "object": object("v1", "Pod", json!({"name": "web", "namespace": "dev", "labels": {"app": "api"}})),
        "oldObject": object("v1", "Pod", json!({"name": "web", "namespace": "dev", "labels": {"app": "web"}})),
    });
    let Value::Object(update) = update else {
        unreachable!()
    };
    out.push((
        "update relabelling a pod",
        Review::from_request(update).expect("review"),
    ));
    out
}

fn matches() -> Vec<Value> {
    vec![
        json!({}),
        json!({"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}]}),
        json!({"kinds": [{"apiGroups": ["apps"], "kinds": ["*"]}]}),
        json!({"kinds": [{"kinds": ["Namespace"]}]}),
        json!({"kinds": []}),
        json!({"kinds": [{"apiGroups": ["*"], "kinds": ["ClusterRole", "Pod"]}]}),
        json!({"scope": "Cluster"}),
        json!({"scope": "Namespaced"}),
        json!({"scope": "*"}),
        json!({"namespaces": ["prod"]}),
        json!({"namespaces": ["prod-*"]}),
        json!({"namespaces": ["*-system"]}),
        json!({"namespaces": ["*ev*"]}),
        json!({"namespaces": ["*"]}),
        json!({"namespaces": []}),
        json!({"excludedNamespaces": ["kube-*"]}),
        json!({"excludedNamespaces": ["dev", "prod"]}),
        json!({"name": "web"}),
        json!({"name": "web-*"}),
        json!({"name": "*-db"}),
        json!({"name": "*eb*"}),
        json!({"name": ""}),
        json!({"labelSelector": {"matchLabels": {"app": "web"}}}),
        json!({"labelSelector": {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]}}),
        json!({"namespaceSelector": {"matchLabels": {"env": "prod"}}}),
        json!({"namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["dev", "kube-system"]}]}}),
        json!({"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}], "namespaces": ["prod", "dev"], "name": "web*"}),
        json!({"scope": "Namespaced", "excludedNamespaces": ["kube-system"], "labelSelector": {"matchLabels": {"app": "web"}}}),
    ]
}

#[test]
fn match_conditions_and_selectors_decide_as_the_webhook_matcher() {
    let namespaces: BTreeMap<String, Value> = [
        ("prod", json!({"env": "prod"})),
        ("dev", json!({"env": "dev"})),
    ]
    .into_iter()
    .map(|(n, labels)| {
        (
            n.to_string(),
            object("v1", "Namespace", json!({"name": n, "labels": labels})),
        )
    })
    .collect();
    let labels = crate::engine::namespace_labels(&namespaces.values().cloned().collect::<Vec<_>>());
    let template = always_template(json!({}));
    let (mut compared, mut matched) = (0, 0);
    for (i, m) in matches().into_iter().enumerate() {
        let c = constraint(&format!("c{i}"), json!({"match": m}));
        let exported = export(
            &[doc(template.clone()), doc(c.clone())],
            &ExportOptions::default(),
        )
        .expect("exports");
        assert!(exported.skipped.is_empty(), "{:?}", exported.skipped);
        let [policy, binding] = exported.objects.as_slice() else {
            panic!("a policy and a binding");
        };
        let webhook = Constraint::from_value(&c).expect("constraint");
        for (what, review) in reviews() {
            let expected = webhook.matcher.matches(&review, &labels);
            let verdict = emulation::judge(policy, binding, &c, &review, &namespaces)
                .unwrap_or_else(|e| panic!("{m} / {what}: {e}"));
            assert_eq!(
                verdict.denied, expected,
                "match {m} on {what}: webhook matches = {expected}, policy denies = {}",
                verdict.denied
            );
            compared += 1;
            matched += usize::from(expected);
        }
    }
    assert!(
        matched > 40 && compared - matched > 40,
        "{matched} of {compared}"
    );
}

#[test]
fn config_webhook_exemptions_become_a_policy_condition() {
    let config = json!({"apiVersion": "config.gatekeeper.sh/v1alpha1", "kind": "Config",
    "metadata": {"name": "config"},
    "spec": {"match": [
        {"excludedNamespaces": ["kube-*"], "processes": ["webhook"]},
        {"excludedNamespaces": ["prod"], "processes": ["audit"]}
    ]}});
    let c = constraint("all", json!({}));
    let exported = export(
        &[doc(always_template(json!({}))), doc(c.clone()), doc(config)],
        &ExportOptions::default(),
    )
    .expect("exports");
    let [policy, binding] = exported.objects.as_slice() else {
        panic!("a policy and a binding");
    };
    let names: Vec<&str> = policy["spec"]["matchConditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(names.contains(&"gatekeeper_internal_match_global_excluded_namespaces"));
    let denied: Vec<&str> = reviews()
        .into_iter()
        .filter(|(_, r)| {
            emulation::judge(policy, binding, &c, r, &BTreeMap::new())
                .expect("judged")
                .denied
        })
        .map(|(w, _)| w)
        .collect();
    assert!(!denied.contains(&"pod api-db in kube-system"), "{denied:?}");
    assert!(!denied.contains(&"namespace kube-system"), "{denied:?}");
    assert!(
        denied.contains(&"pod web in prod"),
        "audit-only exemption: {denied:?}"
    );
    assert!(denied.contains(&"cluster role"), "{denied:?}");
}

#[test]
fn enforcement_actions_map_to_validation_actions() {
    let actions = |spec: Value| -> Result<Value, String> {
        let c = constraint("c", spec);
        let parsed = Constraint::from_value(&c).map_err(|e| e.to_string())?;
        binding::binding(&parsed, &c).map(|b| b["spec"]["validationActions"].clone())
    };
    assert_eq!(actions(json!({})), Ok(json!(["Deny"])));
    assert_eq!(
        actions(json!({"enforcementAction": "warn"})),
        Ok(json!(["Warn"]))
    );
    assert_eq!(
        actions(json!({"enforcementAction": "dryrun"})),
        Ok(json!(["Audit"]))
    );
    let scoped =
        |list: Value| json!({"enforcementAction": "scoped", "scopedEnforcementActions": list});
    assert_eq!(
        actions(scoped(json!([
            {"action": "deny", "enforcementPoints": [{"name": "vap.k8s.io"}]},
            {"action": "dryrun", "enforcementPoints": [{"name": "*"}]},
            {"action": "warn", "enforcementPoints": [{"name": "validation.gatekeeper.sh"}]}
        ]))),
        Ok(json!(["Deny", "Audit"]))
    );
    let webhook_only = actions(scoped(json!([
        {"action": "deny", "enforcementPoints": [{"name": "validation.gatekeeper.sh"}]}
    ])))
    .expect_err("no vap action");
    assert!(webhook_only.contains("vap.k8s.io"), "{webhook_only}");
    let both = actions(scoped(json!([
        {"action": "deny", "enforcementPoints": [{"name": "*"}]},
        {"action": "warn", "enforcementPoints": [{"name": "vap.k8s.io"}]}
    ])))
    .expect_err("deny and warn");
    assert!(both.contains("both Deny and Warn"), "{both}");
    let generated = actions(json!({"match": {"source": "Generated"}})).expect_err("generated");
    assert!(generated.contains("ExpansionTemplates"), "{generated}");
}

#[test]
fn bindings_carry_selectors_and_gatekeepers_names() {
    let c = constraint(
        "owners",
        json!({"match": {
            "labelSelector": {"matchLabels": {"app": "web"}},
            "namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]}
        }}),
    );
    let parsed = Constraint::from_value(&c).expect("constraint");
    let b = binding::binding(&parsed, &c).expect("binding");
    assert_eq!(b["metadata"]["name"], "gatekeeper-k8salways-owners");
    assert_eq!(b["spec"]["policyName"], "gatekeeper-k8salways");
    assert_eq!(
        b["spec"]["paramRef"],
        json!({"name": "owners", "parameterNotFoundAction": "Allow"})
    );
    assert_eq!(
        b["spec"]["matchResources"],
        json!({"objectSelector": {"matchLabels": {"app": "web"}},
               "namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]}})
    );
    let bad = constraint(
        "bad",
        json!({"match": {"labelSelector": {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}}}),
    );
    let parsed = Constraint::from_value(&bad).expect("loads: the webhook fails it per request");
    let err = binding::binding(&parsed, &bad).expect_err("refused");
    assert!(err.contains("labelSelector"), "{err}");

    let long = binding::binding_name("K8sAlways", &"x".repeat(300));
    assert_eq!(long.len(), 253);
    assert!(structure::dns_subdomain(&long), "{long}");
    assert_ne!(long, binding::binding_name("K8sAlways", &"x".repeat(301)));
}

#[test]
fn what_cannot_be_expressed_is_skipped_with_its_reason() {
    let rego = json!({
        "apiVersion": "templates.gatekeeper.sh/v1", "kind": "ConstraintTemplate",
        "metadata": {"name": "k8sregoonly"},
        "spec": {"crd": {"spec": {"names": {"kind": "K8sRegoOnly"}}},
                 "targets": [{"target": "admission.k8s.gatekeeper.sh",
                              "rego": "package k8sregoonly\nviolation[{\"msg\": \"x\"}] { false }"}]}
    });
    let rego_constraint = json!({"apiVersion": "constraints.gatekeeper.sh/v1beta1",
        "kind": "K8sRegoOnly", "metadata": {"name": "r"}});
    let orphan = json!({"apiVersion": "constraints.gatekeeper.sh/v1beta1",
        "kind": "K8sNowhere", "metadata": {"name": "o"}});
    let webhook_only = constraint(
        "webhook-only",
        json!({"enforcementAction": "scoped", "scopedEnforcementActions": [
            {"action": "deny", "enforcementPoints": [{"name": "validation.gatekeeper.sh"}]}]}),
    );
    let exported = export(
        &[
            doc(rego),
            doc(rego_constraint),
            doc(always_template(json!({}))),
            doc(constraint("fine", json!({}))),
            doc(webhook_only),
            doc(orphan),
        ],
        &ExportOptions::default(),
    )
    .expect("exports");
    let kinds: Vec<&str> = exported
        .objects
        .iter()
        .filter_map(|o| o["kind"].as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding"
        ]
    );
    let reasons: Vec<String> = exported
        .skipped
        .iter()
        .map(|s| format!("{}: {}", s.what, s.reason))
        .collect();
    assert_eq!(reasons.len(), 4, "{reasons:#?}");
    assert!(
        reasons[0].starts_with("template k8sregoonly")
            && reasons[0].contains("no K8sNativeValidation"),
        "{reasons:#?}"
    );
    assert!(
        reasons[1].starts_with("constraint K8sRegoOnly/r")
            && reasons[1].contains("its template k8sregoonly cannot be expressed"),
        "{reasons:#?}"
    );
    assert!(
        reasons[2].starts_with("constraint K8sAlways/webhook-only")
            && reasons[2].contains("vap.k8s.io"),
        "{reasons:#?}"
    );
    assert!(
        reasons[3].starts_with("constraint K8sNowhere/o")
            && reasons[3].contains("no ConstraintTemplate"),
        "{reasons:#?}"
    );

    let skipped_template = |source: Value| -> String {
        let e =
            export(&[doc(always_template(source))], &ExportOptions::default()).expect("exports");
        assert!(e.objects.is_empty());
        e.skipped
            .first()
            .map(|s| s.reason.clone())
            .unwrap_or_default()
    };
    assert!(skipped_template(json!({"generateVAP": false})).contains("generateVAP: false"));
    let multiline = skipped_template(
        json!({"validations": [{"expression": "false", "message": "two\nlines"}]}),
    );
    assert!(
        multiline.contains("must not contain line breaks"),
        "{multiline}"
    );
    let sorted = skipped_template(json!({"validations": [
        {"expression": "object.metadata.name in ['b', 'a'].sort()"}]}));
    assert!(
        sorted.contains("calls sort()") && sorted.contains("1.34"),
        "{sorted}"
    );
    let newer = export(
        &[doc(always_template(json!({"validations": [
            {"expression": "object.metadata.name in ['b', 'a'].sort()"}]})))],
        &ExportOptions {
            kubernetes: (1, 34),
        },
    )
    .expect("exports");
    assert!(newer.skipped.is_empty() && newer.objects.len() == 1);
}

#[test]
fn invalid_inputs_are_errors_naming_the_document() {
    let unknown_field = constraint("c", json!({"match": {"kind": [{"kinds": ["Pod"]}]}}));
    let err = export(
        &[doc(always_template(json!({}))), doc(unknown_field)],
        &ExportOptions::default(),
    )
    .expect_err("unknown field");
    assert!(
        err.contains("test.yaml") && err.contains("spec.match.kind"),
        "{err}"
    );
    let mut broken = always_template(json!({}));
    broken["metadata"]["name"] = json!("Wrong");
    assert!(export(&[doc(broken)], &ExportOptions::default()).is_err());
    let reserved = always_template(json!({"variables": [{"name": "params", "expression": "1"}]}));
    let err = export(&[doc(reserved)], &ExportOptions::default()).expect_err("reserved name");
    assert!(err.contains("reserved variable name"), "{err}");
    let syntax = always_template(json!({"validations": [{"expression": "object.("}]}));
    assert!(export(&[doc(syntax)], &ExportOptions::default()).is_err());
}

#[test]
fn template_match_conditions_and_variables_come_first_and_are_kept() {
    let exported = export(
        &[doc(always_template(json!({
            "matchConditions": [{"name": "only-pods", "expression": "request.kind.kind == 'Pod'"}],
            "variables": [{"name": "containers", "expression": "variables.anyObject.spec.containers"}],
            "failurePolicy": "Ignore"
        })))],
        &ExportOptions::default(),
    )
    .expect("exports");
    let spec = &exported.objects[0]["spec"];
    assert_eq!(spec["matchConditions"][0]["name"], "only-pods");
    let vars: Vec<&str> = spec["variables"]
        .as_array()
        .expect("variables")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(vars, ["anyObject", "params", "containers"]);
    assert_eq!(spec["failurePolicy"], "Ignore");
    assert_eq!(
        spec["paramKind"],
        json!({"apiVersion": "constraints.gatekeeper.sh/v1beta1", "kind": "K8sAlways"})
    );
    assert_eq!(
        exported.objects[0]["metadata"]["name"],
        "gatekeeper-k8salways"
    );
}

#[test]
fn a_second_object_of_the_same_name_is_skipped_as_the_webhook_refuses_it() {
    let exported = export(
        &[
            doc(always_template(json!({}))),
            doc(constraint("same", json!({}))),
            doc(constraint("same", json!({"enforcementAction": "warn"}))),
            doc(always_template(json!({}))),
        ],
        &ExportOptions::default(),
    )
    .expect("exports");
    assert_eq!(exported.objects.len(), 2);
    assert_eq!(
        exported.objects[1]["spec"]["validationActions"],
        json!(["Deny"]),
        "the first one is kept"
    );
    let reasons: Vec<&str> = exported.skipped.iter().map(|s| s.reason.as_str()).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons
            .iter()
            .all(|r| r.starts_with("duplicates the one at")),
        "{reasons:?}"
    );
}

/// The README's fixture end to end: its deny and warn constraints, an excluded namespace and
/// a namespace selector, judged by the exported objects and by the webhook alike.
#[test]
fn the_readme_fixture_decides_as_the_webhook_with_deny_and_warn() {
    use crate::decision::{self, ServerEnforcement};
    use crate::snapshot::{BuildOptions, PolicySnapshot};

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vap");
    let docs = crate::manifests::read_path(&dir).expect("fixture");
    let exported = export(&docs, &ExportOptions::default()).expect("exports");
    assert!(exported.skipped.is_empty(), "{:?}", exported.skipped);
    let [policy, bindings @ ..] = exported.objects.as_slice() else {
        panic!("objects");
    };
    let constraint_of = |binding: &Value| -> Value {
        let name = &binding["spec"]["paramRef"]["name"];
        docs.iter()
            .find(|d| &d.value["metadata"]["name"] == name)
            .map(|d| d.value.clone())
            .expect("constraint")
    };
    let team = object(
        "v1",
        "Namespace",
        json!({"name": "shop", "labels": {"team-managed": "true"}}),
    );
    let namespaces: BTreeMap<String, Value> = [("shop".to_string(), team.clone())].into();
    let mut all = docs.clone();
    all.push(doc(team));
    let snapshot = PolicySnapshot::build(&all, &BuildOptions::default()).expect("snapshot");
    let cases = [
        object(
            "apps/v1",
            "Deployment",
            json!({"name": "a", "namespace": "shop"}),
        ),
        object(
            "apps/v1",
            "Deployment",
            json!({"name": "b", "namespace": "shop", "labels": {"owner": "x"}}),
        ),
        object(
            "apps/v1",
            "Deployment",
            json!({"name": "c", "namespace": "kube-system"}),
        ),
        object("v1", "Service", json!({"name": "d", "namespace": "shop"})),
        object("v1", "Service", json!({"name": "e", "namespace": "other"})),
        object("v1", "Pod", json!({"name": "f", "namespace": "shop"})),
    ];
    let mut seen = (0, 0);
    for case in cases {
        let review = Review::from_object(case.clone());
        let webhook = decision::validate(&snapshot, &review, ServerEnforcement::Deny);
        let (mut denied, mut warned) = (false, false);
        for binding in bindings {
            let v = emulation::judge(
                policy,
                binding,
                &constraint_of(binding),
                &review,
                &namespaces,
            )
            .expect("judged");
            denied |= v.denied;
            warned |= v.warned;
        }
        assert_eq!(
            (denied, warned),
            (
                !webhook.decision.allowed,
                !webhook.decision.warnings.is_empty()
            ),
            "{case}"
        );
        seen.0 += usize::from(denied);
        seen.1 += usize::from(warned);
    }
    assert_eq!(seen, (1, 1), "one deny and one warning among the cases");
}
