//! Unit tests of the CEL engine, one feature at a time.

use serde_json::{json, Value};

use super::compile;
use crate::engine::{EngineError, EngineKind, EvalInput};
use crate::policy::ConstraintTemplate;
use crate::review::Review;

/// A template whose only code block is the given `K8sNativeValidation` source.
pub(super) fn template(source: Value) -> ConstraintTemplate {
    let doc = json!({
        "apiVersion": "templates.gatekeeper.sh/v1",
        "kind": "ConstraintTemplate",
        "metadata": {"name": "k8stest"},
        "spec": {
            "crd": {"spec": {"names": {"kind": "K8sTest"}}},
            "targets": [{
                "target": "admission.k8s.gatekeeper.sh",
                "code": [{"engine": "K8sNativeValidation", "source": source}]
            }]
        }
    });
    match ConstraintTemplate::from_value(&doc) {
        Ok(t) => t,
        Err(e) => panic!("test template: {e}"),
    }
}

/// Messages of the violations of `source` bound to `params` against `review`.
fn judge_review(source: Value, params: Value, review: &Review) -> Vec<String> {
    let program = match compile(&template(source)) {
        Some(Ok(p)) => p,
        other => panic!("compile: {other:?}"),
    };
    assert_eq!(program.engine(), EngineKind::Cel);
    let bound = program.bind(&params).expect("bind");
    let inventory = Value::Null;
    let input = EvalInput::new(review, &inventory);
    let violations = bound.evaluate(&input).expect("evaluate");
    violations.into_iter().map(|v| v.msg).collect()
}

fn judge(source: Value, params: Value, object: Value) -> Vec<String> {
    judge_review(source, params, &Review::from_object(object))
}

fn pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "prod", "labels": {"app": "web", "tier": "front"}},
        "spec": {"containers": [
            {"name": "a", "image": "nginx:1.25", "ports": [{"containerPort": 80, "hostPort": 8080}]},
            {"name": "b", "image": "redis"}
        ]}
    })
}

/// One validation that must hold, with the default message.
fn holds(expr: &str) -> Value {
    json!({"validations": [{"expression": expr}]})
}

/// Assert each expression is true against the pod and the params.
fn assert_true(params: Value, exprs: &[&str]) {
    for expr in exprs {
        let msgs = judge(holds(expr), params.clone(), pod());
        assert!(msgs.is_empty(), "{expr} -> {msgs:?}");
    }
}

#[test]
fn no_cel_block_is_none() {
    let mut t = template(json!({}));
    t.target.code.clear();
    assert!(compile(&t).is_none());
}

#[test]
fn false_validation_uses_message_then_message_expression_then_default() {
    let src = json!({"validations": [
        {"expression": "false", "message": "static"},
        {"expression": "false", "message": "static", "messageExpression": "'dynamic ' + object.metadata.name"},
        {"expression": "  1 == 2  "},
        {"expression": "true", "message": "never"}
    ]});
    let msgs = judge(src, Value::Null, pod());
    assert_eq!(
        msgs,
        vec!["static", "dynamic web", "failed expression: 1 == 2"]
    );
}

#[test]
fn bad_message_expression_results_fall_back() {
    let src = json!({"validations": [
        {"expression": "false", "message": "fallback", "messageExpression": "'two\\nlines'"},
        {"expression": "false", "message": "fallback", "messageExpression": "'   '"},
        {"expression": "false", "message": "fallback", "messageExpression": "object.nope.name"},
        {"expression": "false", "messageExpression": "42"}
    ]});
    let msgs = judge(src, Value::Null, pod());
    assert_eq!(
        msgs,
        vec![
            "fallback",
            "fallback",
            "fallback",
            "failed expression: false"
        ]
    );
}

#[test]
fn variables_see_earlier_variables_params_and_any_object() {
    let src = json!({
        "variables": [
            {"name": "images", "expression": "variables.anyObject.spec.containers.map(c, c.image)"},
            {"name": "bad", "expression": "variables.images.filter(i, !variables.params.allowed.exists(p, i.startsWith(p)))"},
            {"name": "same", "expression": "variables.anyObject.spec.containers"}
        ],
        "validations": [
            {"expression": "size(variables.bad) == 0",
             "messageExpression": "'not allowed: ' + variables.bad.join(', ')"},
            {"expression": "variables.same == object.spec.containers && object.spec.containers == variables.same"},
            {"expression": "variables.images == ['nginx:1.25', 'redis'] && variables.same[0].name == 'a'"}
        ]
    });
    let msgs = judge(src.clone(), json!({"allowed": ["nginx"]}), pod());
    assert_eq!(msgs, vec!["not allowed: redis"]);
    assert!(judge(src, json!({"allowed": ["nginx", "redis"]}), pod()).is_empty());
}

#[test]
fn params_is_the_constraint_and_variables_params_its_parameters() {
    let p = json!({"n": 3, "names": ["a"]});
    assert_true(
        p,
        &[
            "params.spec.parameters.n == 3",
            "variables.params.n == 3",
            "has(variables.params.names) && !has(variables.params.other)",
            "has(variables.params)",
        ],
    );
    assert_true(
        Value::Null,
        &["variables.params == null", "!has(params.spec.parameters)"],
    );
}

#[test]
fn request_fields_and_objects() {
    assert_true(
        Value::Null,
        &[
            "request.operation == 'CREATE'",
            "request.kind.kind == 'Pod' && request.kind.version == 'v1'",
            "request.name == 'web' && request.namespace == 'prod'",
            "oldObject == null && object.metadata.name == 'web'",
            "!has(request.object)",
        ],
    );
}

#[test]
fn delete_binds_old_object_and_any_object() {
    let mut review = Review::from_object(pod());
    review.operation = crate::review::Operation::Delete;
    if let Some(req) = review.request.as_object_mut() {
        req.insert("operation".into(), json!("DELETE"));
    }
    let src = holds("object == null && oldObject.metadata.name == 'web' && variables.anyObject.metadata.name == 'web'");
    assert!(judge_review(src, Value::Null, &review).is_empty());
}

#[test]
fn match_conditions_gate_validations() {
    let src = |cond: &str| {
        json!({
            "matchConditions": [{"name": "always", "expression": "true"}, {"name": "c", "expression": cond}],
            "validations": [{"expression": "false", "message": "denied"}]
        })
    };
    assert_eq!(
        judge(src("object.metadata.name == 'web'"), Value::Null, pod()),
        vec!["denied"]
    );
    assert!(judge(src("object.metadata.name == 'other'"), Value::Null, pod()).is_empty());
    let msgs = judge(src("object.nope.x"), Value::Null, pod());
    assert_eq!(msgs.len(), 1);
    assert!(msgs[0].starts_with("matchCondition 'c'"), "{msgs:?}");
    // Gatekeeper's own spelling of the key
    let singular = json!({"matchCondition": [{"name": "c", "expression": "false"}],
                          "validations": [{"expression": "false"}]});
    assert!(judge(singular, Value::Null, pod()).is_empty());
    // a condition may read variables, which are then evaluated first
    let reads = |name: &str| {
        json!({
            "variables": [{"name": "n", "expression": "object.metadata.name"}],
            "matchConditions": [{"name": "c", "expression": format!("variables.n == '{name}'")}],
            "validations": [{"expression": "false", "message": "denied"}]
        })
    };
    assert!(judge(reads("other"), Value::Null, pod()).is_empty());
    assert_eq!(judge(reads("web"), Value::Null, pod()), vec!["denied"]);
}

#[test]
fn errors_follow_the_failure_policy() {
    let fail = json!({"validations": [{"expression": "object.spec.nope == 1", "message": "m"}]});
    let msgs = judge(fail, Value::Null, pod());
    assert_eq!(msgs.len(), 1);
    assert!(
        msgs[0].starts_with("expression 'object.spec.nope == 1' resulted in error"),
        "{msgs:?}"
    );
    let ignore = json!({"failurePolicy": "Ignore", "validations": [{"expression": "object.spec.nope == 1"}]});
    assert!(judge(ignore, Value::Null, pod()).is_empty());
    let not_bool = json!({"validations": [{"expression": "1"}]});
    assert_eq!(judge(not_bool, Value::Null, pod()).len(), 1);
    let bad_regex = json!({"validations": [{"expression": "'a'.matches('(')"}]});
    let msgs = judge(bad_regex, Value::Null, pod());
    assert!(
        msgs.len() == 1 && msgs[0].contains("not a valid regex"),
        "{msgs:?}"
    );
}

#[test]
fn a_failed_variable_poisons_only_its_readers() {
    let src = json!({
        "variables": [{"name": "broken", "expression": "object.spec.nope"}, {"name": "fine", "expression": "1"}],
        "validations": [
            {"expression": "variables.fine == 1", "message": "unexpected"},
            {"expression": "size(variables.broken) == 0", "message": "m"}
        ]
    });
    let msgs = judge(src, Value::Null, pod());
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert!(msgs[0].contains("variables.broken"), "{msgs:?}");
}

#[test]
fn variables_are_lazy() {
    // `boom` would fail; a short-circuit never reads it, so nothing fails.
    let src = json!({
        "variables": [
            {"name": "boom", "expression": "object.spec.nope"},
            {"name": "isCreate", "expression": "request.operation == 'CREATE'"}
        ],
        "validations": [{"expression": "variables.isCreate || size(variables.boom) > 0"}]
    });
    assert!(judge(src, Value::Null, pod()).is_empty());
}

#[test]
fn compile_errors_carry_the_parser_message() {
    for (source, needle) in [
        (
            holds("object.metadata.name =="),
            "validations[0].expression",
        ),
        (
            json!({"variables": [{"name": "params", "expression": "1"}]}),
            "reserved",
        ),
        (
            json!({"variables": [{"name": "a-b", "expression": "1"}]}),
            "not a valid variable name",
        ),
        (json!({"failurePolicy": "Sometimes"}), "failure policy"),
        (json!({"validations": [{"expression": ""}]}), "required"),
        (
            holds("variables.nope == 1"),
            "undeclared reference to variables.nope",
        ),
        (
            json!({"variables": [{"name": "a", "expression": "variables.b"}, {"name": "b", "expression": "1"}]}),
            "undeclared reference to variables.b",
        ),
        (
            json!({"variables": [{"name": "a", "expression": "1"}, {"name": "a", "expression": "2"}]}),
            "duplicate",
        ),
    ] {
        match compile(&template(source)) {
            Some(Err(EngineError::Compile {
                message, engine, ..
            })) => {
                assert_eq!(engine, "K8sNativeValidation");
                assert!(message.contains(needle), "{message}");
            }
            other => panic!("expected a compile error, got {other:?}"),
        }
    }
}

#[test]
fn string_functions() {
    assert_true(Value::Null, &[
        "'ABC'.lowerAscii() == 'abc' && 'abc'.upperAscii() == 'ABC'",
        "'a,b,c'.split(',') == ['a', 'b', 'c'] && ['a', 'b'].join('-') == 'a-b' && ['a', 'b'].join() == 'ab'",
        "'nginx:*'.replace('*', '') == 'nginx:' && '  x '.trim() == 'x'",
        "'hello'.indexOf('l') == 2 && 'hello'.lastIndexOf('l') == 3 && 'hello'.substring(1, 3) == 'el'",
        "'nginx:1.25'.startsWith('nginx') && 'a.b'.endsWith('.b') && 'abc'.contains('b')",
        "object.metadata.labels.app.matches('^w.b$') && !'x'.matches('^y')",
        "matches('abc', 'b') && !matches('abc', '^b') && 'a1'.matches(string('[0-9]'))",
        "'a1b22'.find('[0-9]+') == '1' && 'abc'.find('[0-9]') == ''",
        "'a1b22c333'.findAll('[0-9]+') == ['1', '22', '333'] && 'a1b22'.findAll('[0-9]+', 1) == ['1']",
        "string(1) == '1' && int('3') == 3 && string(object.spec.containers[0].ports[0].hostPort) == '8080'",
        "size('abc') == 3 && 'abc'.size() == 3",
    ]);
}

#[test]
fn list_and_map_functions() {
    assert_true(Value::Null, &[
        "[1, 2, 3].isSorted() && ![2, 1].isSorted() && [1, 2, 3].sum() == 6 && [].sum() == 0",
        "[3, 1, 2].min() == 1 && [3, 1, 2].max() == 3 && ['b', 'a'].min() == 'a'",
        "[1, 2, 1].indexOf(1) == 0 && [1, 2, 1].lastIndexOf(1) == 2 && [1].indexOf(5) == -1",
        "object.spec.containers.map(c, c.name) == ['a', 'b']",
        "object.spec.containers.map(c, c.name == 'b', c.image) == ['redis']",
        "object.spec.containers.filter(c, has(c.ports)).size() == 1",
        "object.spec.containers.all(c, c.image != '') && object.spec.containers.exists_one(c, c.name == 'a')",
        "'app' in object.metadata.labels && !('x' in object.metadata.labels) && 'a' in ['a']",
        "object.metadata.labels.all(k, k in ['app', 'tier'])",
        "[1, 2] + [3] == [1, 2, 3] && [[1], [2]].flatten() == [1, 2] && [1, 1].distinct() == [1]",
        "object.spec.containers[0].ports[0].hostPort > 8000 && object.spec.containers[0].ports[0].hostPort < 9000u",
    ]);
}

#[test]
fn presence_optionals_and_types() {
    assert_true(
        Value::Null,
        &[
            "has(object.metadata.labels) && !has(object.metadata.annotations)",
            "!has(object.spec.securityContext) || !has(object.spec.securityContext.runAsUser)",
            "object.?metadata.?annotations.?x.orValue('none') == 'none'",
            "object.metadata.?labels.?app.orValue('none') == 'web'",
            "object.spec.containers[?5].hasValue() == false",
            "type(object) == map && type(object.spec.containers) == list && type(1) == int",
            "dyn(1) == 1.0 && dyn('') != 0",
            "object.metadata.labels == {'app': 'web', 'tier': 'front'}",
            "{'tier': 'front', 'app': 'web'} == object.metadata.labels",
            "object.spec.containers[1] in object.spec.containers",
            "object.spec.containers[1] == {'name': 'b', 'image': 'redis'}",
            "object.spec.containers[0].ports[0].hostPort == 8080",
        ],
    );
}

#[test]
fn the_review_is_converted_once_per_request() {
    let program = match compile(&template(holds("object.metadata.name == 'web'"))) {
        Some(Ok(p)) => p,
        other => panic!("compile: {other:?}"),
    };
    let (a, b) = (
        program.bind(&json!({})).expect("bind"),
        program.bind(&Value::Null).expect("bind"),
    );
    let review = Review::from_object(pod());
    let inventory = Value::Null;
    let input = EvalInput::new(&review, &inventory);
    assert!(input.cel_review.get().is_none());
    assert!(a.evaluate(&input).expect("a").is_empty());
    let first: *const super::CelInput = input.cel_review.get().expect("converted");
    assert!(b.evaluate(&input).expect("b").is_empty());
    assert!(std::ptr::eq(
        first,
        input.cel_review.get().expect("still converted")
    ));
}

#[test]
fn matches_is_rewritten_to_the_caching_overload() {
    let env = super::env::shared().expect("env");
    let program = env
        .compile("'a'.matches('a') && matches('b', 'b')")
        .expect("parse");
    assert!(program.references().has_function("@cachedMatches"));
    assert!(!program.references().has_function("matches"));
}
