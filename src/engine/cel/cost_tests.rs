//! Tests of the evaluation guards: an expensive expression stops at the request's deadline,
//! what `map`, `filter` and concatenation build is bounded by the cost budget, a stop cannot
//! be absorbed by CEL's error-tolerant operators, and ordinary expressions are unaffected.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::cost::MAX_COST;
use super::tests::template;
use crate::deadline::Deadline;
use crate::engine::{BoundProgram, EngineError, EvalInput, Violation};
use crate::review::Review;

fn bind(source: Value, params: &Value) -> std::sync::Arc<dyn BoundProgram> {
    let program = match super::compile(&template(source)) {
        Some(Ok(p)) => p,
        other => panic!("compile: {other:?}"),
    };
    program.bind(params).expect("bind")
}

fn items(n: usize) -> Value {
    json!({ "items": (0..n).map(|i| format!("item-{i}")).collect::<Vec<_>>() })
}

fn pod_with_containers(n: usize) -> Review {
    let containers: Vec<Value> = (0..n)
        .map(|i| json!({"name": format!("c{i}"), "image": format!("registry/image-{i}:1")}))
        .collect();
    Review::from_object(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "big", "namespace": "default"},
        "spec": {"containers": containers}
    }))
}

fn evaluate(
    bound: &dyn BoundProgram,
    review: &Review,
    deadline: Deadline,
) -> Result<Vec<Violation>, EngineError> {
    let inventory = Value::Null;
    bound.evaluate(&EvalInput::new(review, &inventory).with_deadline(deadline))
}

fn holds(expr: &str) -> Value {
    json!({"validations": [{"expression": expr}]})
}

/// Nested `all()` over 1,000 containers x 20,000 parameter items: 20 million iterations,
/// many seconds of work, cut off by a 100 ms deadline.
#[test]
fn an_expensive_comprehension_stops_at_the_deadline() {
    let params = items(20_000);
    let review = pod_with_containers(1_000);
    for expr in [
        "object.spec.containers.all(c, variables.params.items.all(i, c.image != i))",
        "object.spec.containers.all(c, !variables.params.items.exists(i, c.image == i)) || true",
        "object.spec.containers.exists_one(c, variables.params.items.exists_one(i, c.image == i))",
        "size(object.spec.containers.filter(c, variables.params.items.filter(i, c.image == i) == [])) > 0",
        "size(object.spec.containers.map(c, variables.params.items.all(i, c.image != i))) > 0",
    ] {
        let bound = bind(holds(expr), &params);
        let start = Instant::now();
        let outcome = evaluate(
            bound.as_ref(),
            &review,
            Deadline::after(Duration::from_millis(100)),
        );
        let took = start.elapsed();
        assert!(
            matches!(outcome, Err(EngineError::DeadlineExceeded)),
            "{expr}: {outcome:?}"
        );
        assert!(took < Duration::from_millis(500), "{expr}: took {took:?}");
        eprintln!("{expr}: stopped after {took:?}");
    }
}

#[test]
fn a_past_deadline_stops_before_evaluating() {
    let bound = bind(holds("true"), &Value::Null);
    let past = Deadline::at(Instant::now() - Duration::from_millis(1));
    let outcome = evaluate(bound.as_ref(), &pod_with_containers(1), past);
    assert!(matches!(outcome, Err(EngineError::DeadlineExceeded)));
}

fn assert_over_budget(source: Value, params: &Value, review: &Review) {
    let bound = bind(source.clone(), params);
    let start = Instant::now();
    let outcome = evaluate(bound.as_ref(), review, Deadline::NONE);
    match outcome {
        Err(EngineError::Evaluate { message, .. }) => {
            assert!(
                message.contains(&format!("limit of {MAX_COST} units")),
                "{source}: {message}"
            );
        }
        other => panic!("{source}: {other:?}"),
    }
    let shown: String = source.to_string().chars().take(120).collect();
    eprintln!("{shown}: refused after {:?}", start.elapsed());
}

#[test]
fn what_map_and_filter_build_is_bounded_by_the_budget() {
    let params = items(20_000);
    let review = pod_with_containers(1);
    for expr in [
        // 20,000 lists of 20,000 entries: 400 million entries.
        "size(variables.params.items.map(x, variables.params.items)) > 0",
        // 20,000 strings of 200 KB each: 4 GB.
        "size(variables.params.items.map(x, variables.params.items.join(','))) > 0",
        // The same, built by concatenation inside the loop.
        "size(variables.params.items.map(x, x + variables.params.items.join(',') + x)) > 0",
        "size(variables.params.items.filter(x, size(variables.params.items.map(y, [y, y, y])) > 0)) > 0",
        "variables.params.items.map(x, variables.params.items.map(y, x + y)) != []",
        // Refused before the string is built: 120 KB squared.
        "variables.params.items.join(',').replace('', variables.params.items.join(',')) != ''",
        // Refused before the list is built.
        "size(lists.range(1000000000000)) > 0",
        "variables.params.items.all(x, size(lists.range(2000)) > 0)",
    ] {
        assert_over_budget(holds(expr), &params, &review);
    }
}

#[test]
fn doubling_by_concatenation_is_bounded_by_the_budget() {
    // Thirty variables, each twice the previous one: 2^30 copies of a 64-byte string.
    let mut variables = vec![json!({"name": "v0", "expression": format!("'{}'", "x".repeat(64))})];
    for i in 1..=30 {
        variables.push(json!({
            "name": format!("v{i}"),
            "expression": format!("variables.v{} + variables.v{}", i - 1, i - 1)
        }));
    }
    let source = json!({
        "variables": variables,
        "validations": [{"expression": "size(variables.v30) > 0"}]
    });
    assert_over_budget(source, &Value::Null, &pod_with_containers(1));
    // Lists too.
    let mut variables = vec![json!({"name": "v0", "expression": "[1, 2, 3, 4]"})];
    for i in 1..=30 {
        variables.push(json!({
            "name": format!("v{i}"),
            "expression": format!("variables.v{} + variables.v{}", i - 1, i - 1)
        }));
    }
    let source = json!({
        "variables": variables,
        "validations": [{"expression": "size(variables.v30) > 0"}]
    });
    assert_over_budget(source, &Value::Null, &pod_with_containers(1));
}

#[test]
fn a_stop_is_not_absorbed_by_error_tolerant_operators() {
    let params = items(20_000);
    let review = pod_with_containers(1);
    // `||` and `exists` absorb errors when another operand is true; the stop still wins.
    for expr in [
        "variables.params.items.map(x, variables.params.items) == [] || true",
        "[1, 2].exists(n, n == 2 || size(variables.params.items.map(x, variables.params.items)) > 0)",
    ] {
        assert_over_budget(holds(expr), &params, &review);
    }
    let source = json!({
        "failurePolicy": "Ignore",
        "validations": [{"expression": "variables.params.items.map(x, variables.params.items) == []"}]
    });
    assert_over_budget(source, &params, &review);
}

#[test]
fn guarded_loops_keep_their_semantics() {
    let params = json!({"items": ["a", "b", "c"], "n": [1, 2, 3]});
    let review = pod_with_containers(3);
    for expr in [
        "variables.params.items.map(x, x + x) == ['aa', 'bb', 'cc']",
        "variables.params.n.map(x, x > 1, x * 10) == [20, 30]",
        "variables.params.n.filter(x, x % 2 == 1) == [1, 3]",
        "variables.params.n.all(x, x > 0) && !variables.params.n.all(x, x > 1)",
        "variables.params.n.exists(x, x == 3) && !variables.params.n.exists(x, x == 4)",
        "variables.params.n.exists_one(x, x == 3) && !variables.params.n.exists_one(x, x > 1)",
        "{'a': 1, 'b': 2}.map(k, k) .size() == 2",
        "object.spec.containers.map(c, c.name) == ['c0', 'c1', 'c2']",
        // Errors absorbed as CEL defines: `all` is false if any element is false.
        "![0, 1].all(x, 1 / x < 0)",
        "[0, 1].exists(x, 1 / x > 0)",
        "'a' + 'b' + 'c' == 'abc' && [1] + [2] + [3] == [1, 2, 3] && 1 + 2 + 3 == 6",
        "variables.params.items.map(x, [x]) == [['a'], ['b'], ['c']]",
        "lists.range(3) == [0, 1, 2] && lists.range(0) == []",
        "'abc'.replace('', '-') == '-a-b-c-' && 'aaa'.replace('a', 'b', 2) == 'bba'",
        "'aaa'.replace('a', 'bb', -1) == 'bbbbbb' && 'aaa'.replace('a', '', 0) == 'aaa'",
        "'héllo'.replace('', '.') == '.h.é.l.l.o.' && 'abab'.replace('ab', 'x') == 'xx'",
    ] {
        let bound = bind(holds(expr), &params);
        let outcome = evaluate(bound.as_ref(), &review, Deadline::NONE);
        assert_eq!(outcome.map(|v| v.len()).ok(), Some(0), "{expr}");
    }
    // Errors still surface where CEL surfaces them.
    let bound = bind(holds("[0, 1].all(x, 1 / x > 0)"), &params);
    let msgs = evaluate(bound.as_ref(), &review, Deadline::NONE).expect("evaluates");
    assert_eq!(msgs.len(), 1);
    assert!(msgs[0].msg.contains("resulted in error"), "{msgs:?}");
}

/// The overhead of the guards on an ordinary evaluation, printed for the record:
/// `cargo test --release --lib engine::cel::cost_tests::guard_overhead -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check: cargo test --release --lib engine::cel::cost_tests -- --ignored --nocapture"]
fn guard_overhead() {
    use cel::{Context, Value as CelValue};
    let env = super::env::shared().expect("env");
    let exprs = [
        "[1, 2, 3, 4, 5, 6, 7, 8].all(x, x > 0) && ['a', 'b', 'c'].map(s, s + s).size() == 3",
        "['nginx:1.25', 'redis', 'busybox'].filter(i, !['nginx', 'redis'].exists(p, i.startsWith(p))).size() == 1",
    ];
    let rounds = 100_000u32;
    for expr in exprs {
        let plain = env.parser().parse(expr).expect("parse");
        let mut guarded = plain.clone();
        super::cost::instrument(&mut guarded);
        let ctx = Context::with_env(std::sync::Arc::clone(&env));
        let time = |tree: &cel::common::ast::IdedExpr, metered: bool| {
            let start = Instant::now();
            for _ in 0..rounds {
                let _meter = metered
                    .then(|| super::cost::Meter::start(Deadline::after(Duration::from_secs(60))));
                let v = CelValue::resolve_val(tree, &ctx).expect("evaluates");
                assert!(v.downcast_ref::<cel::common::types::CelBool>().is_some());
            }
            start.elapsed() / rounds
        };
        let before = time(&plain, false);
        let after = time(&guarded, true);
        eprintln!("{expr}\n  unguarded {before:?}, guarded and metered {after:?} per evaluation");
    }
}
