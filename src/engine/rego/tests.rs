//! Tests of the Rego engine: compile, bind, evaluate, and one reproduction per known
//! divergence between regorus and OPA.

use std::time::Instant;

use serde_json::{json, Value};

use super::*;
use crate::review::Review;

fn template(rego: &str, libs: &[&str]) -> ConstraintTemplate {
    let doc = json!({
        "apiVersion": "templates.gatekeeper.sh/v1",
        "kind": "ConstraintTemplate",
        "metadata": {"name": "k8stest"},
        "spec": {
            "crd": {"spec": {"names": {"kind": "K8sTest"}}},
            "targets": [{"target": "admission.k8s.gatekeeper.sh", "rego": rego, "libs": libs}]
        }
    });
    ConstraintTemplate::from_value(&doc).expect("test template")
}

fn run(rego: &str, params: Value, object: Value) -> Result<Vec<Violation>, EngineError> {
    let program = compile(&template(rego, &[])).expect("has rego")?;
    let bound = program.bind(&params)?;
    let review = Review::from_object(object);
    bound.evaluate(&EvalInput::new(&review, &Value::Null))
}

pub(super) const REPOS: &str = r#"package k8sallowedrepos

violation[{"msg": msg}] {
  container := input.review.object.spec.containers[_]
  not strings.any_prefix_match(container.image, input.parameters.repos)
  msg := sprintf("container <%v> has an invalid image repo <%v>, allowed repos are %v", [container.name, container.image, input.parameters.repos])
}
"#;

fn pod(image: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": image}]}})
}

#[test]
fn allowed_repos_reports_one_violation() {
    let params = json!({"repos": ["openpolicyagent/"]});
    let v = run(REPOS, params.clone(), pod("nginx")).expect("evaluates");
    assert_eq!(v.len(), 1);
    assert_eq!(
        v[0].msg,
        r#"container <c> has an invalid image repo <nginx>, allowed repos are ["openpolicyagent/"]"#
    );
    let ok = run(REPOS, params, pod("openpolicyagent/opa")).expect("evaluates");
    assert!(ok.is_empty());
}

#[test]
fn details_are_returned() {
    let rego = "package a\nviolation[{\"msg\": \"m\", \"details\": {\"k\": 1}}] { true }\n";
    let v = run(rego, Value::Null, pod("x")).expect("evaluates");
    assert_eq!(v[0].details, Some(json!({"k": 1})));
}

#[test]
fn compile_error_names_a_line() {
    let bad = "package a\n\nviolation[{\"msg\": m}] {\n  m := \n}\n";
    let err = compile(&template(bad, &[]))
        .expect("has rego")
        .expect_err("must fail");
    let text = err.to_string();
    assert!(matches!(err, EngineError::Compile { .. }), "{text}");
    assert!(text.contains("k8stest.rego:3:"), "{text}");
}

#[test]
fn template_without_violation_or_with_stray_lib_is_rejected() {
    let none = "package a\nallow { true }\n";
    let err = compile(&template(none, &[]))
        .expect("has rego")
        .expect_err("no violation");
    assert!(matches!(err, EngineError::Compile { .. }), "{err}");
    let rego = "package a\nviolation[{\"msg\": \"x\"}] { true }\n";
    let stray = "package other\nf(x) { x }\n";
    let err = compile(&template(rego, &[stray]))
        .expect("has rego")
        .expect_err("lib");
    assert!(err.to_string().contains("not under lib"), "{err}");
}

#[test]
fn libs_are_importable() {
    let lib = "package lib.helpers\nis_bad(c) { c.image == \"bad\" }\n";
    let rego = "package a\nimport data.lib.helpers.is_bad\nviolation[{\"msg\": \"bad\"}] {\n  is_bad(input.review.object.spec.containers[_])\n}\n";
    let program = compile(&template(rego, &[lib]))
        .expect("has rego")
        .expect("compiles");
    let bound = program.bind(&Value::Null).expect("binds");
    let review = Review::from_object(pod("bad"));
    let v = bound
        .evaluate(&EvalInput::new(&review, &Value::Null))
        .expect("evaluates");
    assert_eq!(v.len(), 1);
}

#[test]
fn inventory_is_data_inventory() {
    let rego = "package a\nviolation[{\"msg\": n}] {\n  other := data.inventory.namespace[\"ns\"][\"v1\"][\"Pod\"][n]\n  other.spec.x == 1\n}\n";
    let program = compile(&template(rego, &[]))
        .expect("has rego")
        .expect("compiles");
    let bound = program.bind(&Value::Null).expect("binds");
    let review = Review::from_object(pod("x"));
    let inv = json!({"namespace": {"ns": {"v1": {"Pod": {"twin": {"spec": {"x": 1}}}}}}});
    let v = bound
        .evaluate(&EvalInput::new(&review, &inv))
        .expect("evaluates");
    assert_eq!(v, vec![Violation::new("twin")]);
}

#[test]
fn rego_v1_source() {
    let doc = json!({
        "metadata": {"name": "k8sv1"},
        "spec": {"crd": {"spec": {"names": {"kind": "K8sV1"}}},
            "targets": [{"target": "admission.k8s.gatekeeper.sh", "code": [{"engine": "Rego",
                "source": {"version": "v1", "rego": "package v1t\nviolation contains {\"msg\": \"x\"} if { input.review.object.kind == \"Pod\" }\n"}}]}]}
    });
    let t = ConstraintTemplate::from_value(&doc).expect("template");
    let program = compile(&t).expect("has rego").expect("compiles");
    let review = Review::from_object(pod("x"));
    let bound = program.bind(&Value::Null).expect("binds");
    let v = bound
        .evaluate(&EvalInput::new(&review, &Value::Null))
        .expect("evaluates");
    assert_eq!(v.len(), 1);
}

/// Divergence (a): a rule with two bodies.
#[test]
fn divergence_multi_body_rule() {
    let rego = "package a\nkind_of(o) = k {\n  o.kind == \"Pod\"\n  k := \"pod\"\n} {\n  o.kind == \"Job\"\n  k := \"job\"\n}\nviolation[{\"msg\": k}] { k := kind_of(input.review.object) }\n";
    let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}});
    let v = run(rego, Value::Null, job).expect("evaluates");
    assert_eq!(v, vec![Violation::new("job")]);
}

/// Divergence (b): a body line starting with `(` after a reference.
#[test]
fn divergence_paren_line() {
    let rego = "package a\nviolation[{\"msg\": \"spread\"}] {\n  input.parameters.min\n  (input.parameters.max - input.parameters.min) > 1\n}\n";
    let v = run(rego, json!({"min": 1, "max": 5}), pod("x")).expect("evaluates");
    assert_eq!(v.len(), 1);
}

/// Divergence (c): `sprintf` with a missing argument prints `%!v(MISSING)`.
#[test]
fn divergence_sprintf_missing_argument() {
    let rego = "package a\nviolation[{\"msg\": m}] { m := sprintf(\"%v and %v\", [\"one\"]) }\n";
    let v = run(rego, Value::Null, pod("x")).expect("evaluates");
    assert_eq!(v, vec![Violation::new("one and %!v(MISSING)")]);
    let rego = "package a\nviolation[{\"msg\": m}] { m := sprintf(\"%d|%5s|%-3d|%.2f|%v\", [7, \"ab\", 4, 1.5, {\"a\": [1, true]}]) }\n";
    let v = run(rego, Value::Null, pod("x")).expect("evaluates");
    assert_eq!(v[0].msg, "7|   ab|4  |1.50|{\"a\": [1, true]}");
}

/// Divergence (d): `not f(x.y)` where `x.y` is undefined fails the body, as in OPA.
#[test]
fn divergence_not_call_with_undefined_argument() {
    let rego = "package a\naccept(\"any\", _)\nviolation[{\"msg\": \"no\"}] {\n  p := input.parameters\n  not accept(p.rule, p.ranges)\n}\n";
    let v = run(rego, json!({"rule": "any"}), pod("x")).expect("evaluates");
    assert!(v.is_empty(), "{v:?}");
    let v = run(rego, json!({"rule": "other", "ranges": []}), pod("x")).expect("evaluates");
    assert_eq!(v.len(), 1);
}

/// Quick per-evaluation timing of allowed-repos; run with `--nocapture` to read it.
#[test]
fn allowed_repos_timing() {
    let program = compile(&template(REPOS, &[]))
        .expect("has rego")
        .expect("compiles");
    let bound = program
        .bind(&json!({"repos": ["openpolicyagent/"]}))
        .expect("binds");
    let review = Review::from_object(pod("nginx"));
    let input = EvalInput::new(&review, &Value::Null);
    // Best of several batches: the build machine is shared, so the minimum is the signal.
    let per = (0..5)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..400 {
                assert_eq!(bound.evaluate(&input).expect("evaluates").len(), 1);
            }
            start.elapsed() / 400
        })
        .min()
        .unwrap_or_default();
    println!("allowed-repos: {per:?} per evaluation (debug build, deps at opt-level 1)");
}

/// Timing of a referential template, which loads `data.inventory` on each evaluation.
#[test]
fn inventory_timing() {
    let rego = "package a\nviolation[{\"msg\": n}] {\n  other := data.inventory.namespace[\"ns\"][\"v1\"][\"Pod\"][n]\n  other.spec.x == 1\n}\n";
    let program = compile(&template(rego, &[]))
        .expect("has rego")
        .expect("compiles");
    let bound = program.bind(&Value::Null).expect("binds");
    let review = Review::from_object(pod("x"));
    let inv = json!({"namespace": {"ns": {"v1": {"Pod": {"twin": {"spec": {"x": 1}}}}}}});
    let input = EvalInput::new(&review, &inv);
    let n = 500u32;
    let start = Instant::now();
    for _ in 0..n {
        assert_eq!(bound.evaluate(&input).expect("evaluates").len(), 1);
    }
    println!(
        "inventory template: {:?} per evaluation",
        start.elapsed() / n
    );
}

#[test]
fn evaluates_from_many_threads() {
    let program = compile(&template(REPOS, &[]))
        .expect("has rego")
        .expect("compiles");
    let bound = program.bind(&json!({"repos": ["ok/"]})).expect("binds");
    std::thread::scope(|s| {
        for i in 0..4 {
            let bound = &bound;
            s.spawn(move || {
                let review = Review::from_object(pod(if i % 2 == 0 { "ok/a" } else { "bad" }));
                let input = EvalInput::new(&review, &Value::Null);
                for _ in 0..50 {
                    let v = bound.evaluate(&input).expect("evaluates");
                    assert_eq!(v.len(), i % 2);
                }
            });
        }
    });
}

#[test]
fn programs_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<RegoProgram>();
    check::<BoundRego>();
}
