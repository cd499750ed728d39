//! Sharing results across the constraints of one template: which calls the analysis
//! shares, and that constraints with different parameters still get their own results
//! when they share a request's memo (on the engine's own path, `EvalInput` and all).

use std::collections::BTreeSet;
use std::time::Instant;

use serde_json::{json, Value};

use super::ir::{Callee, Expr};
use super::tests::source;
use super::walk::walk_def;
use super::{Compiled, EvalError, TemplateMemo};
use crate::deadline::Deadline;
use crate::engine::rego::RegoProgram;
use crate::engine::{EvalInput, Program};
use crate::review::Review;

fn compile(rego: &str) -> Compiled {
    Compiled::compile("t", &source(rego)).expect("on the compiled path")
}

/// Names of the functions called anywhere in the program as shared calls (`shared`) or as
/// ordinary ones.
fn calls(c: &Compiled, shared: bool) -> BTreeSet<String> {
    let rules = &c.program.rules;
    let mut out = BTreeSet::new();
    for r in rules {
        for d in &r.defs {
            walk_def(d, &mut |e| match e {
                Expr::Call(Callee::Shared(id), _) if shared => {
                    out.insert(rules[*id].name.clone());
                }
                Expr::Call(Callee::User(id), _) if !shared => {
                    out.insert(rules[*id].name.clone());
                }
                _ => {}
            });
        }
    }
    out
}

fn pod(containers: Value) -> Review {
    Review::from_object(json!({
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": containers}
    }))
}

/// Quantities parsed from the review (shareable) compared with the parameters' (not).
const QUANTITIES: &str = r#"package t
canon(q) = n { is_number(q); n := q * 1000 }
canon(q) = n { endswith(q, "m"); n := to_number(trim_suffix(q, "m")) }
canon(q) = n { is_string(q); not endswith(q, "m"); n := to_number(q) * 1000 }
# Reads the parameters: never shared, whatever its arguments.
allowed(name) { name == input.parameters.names[_] }
# Review-only, but called on a parameter below: that call is not shared.
double(x) = y { y := x * 2 }
violation[{"msg": msg}] {
  c := input.review.object.spec.containers[_]
  not allowed(c.name)
  cpu := canon(c.cpu)
  max := canon(input.parameters.max)
  cpu > max
  limit := double(input.parameters.factor)
  doubled := double(cpu)
  doubled > limit
  msg := sprintf("%v: %v > %v", [c.name, cpu, max])
}
"#;

#[test]
fn review_only_calls_on_review_values_are_shared_and_nothing_else() {
    let c = compile(QUANTITIES);
    let shared = calls(&c, true);
    assert!(shared.contains("t.canon"), "{shared:?}");
    // `double(cpu)` is shared; `double(input.parameters.factor)` is not.
    assert!(shared.contains("t.double"), "{shared:?}");
    assert!(!shared.contains("t.allowed"), "{shared:?}");
    let own = calls(&c, false);
    assert!(own.contains("t.allowed"), "{own:?}");
    // The parameters' `canon` is folded at bind time; `double` of a parameter is either
    // folded or an ordinary call, never a shared one.
    assert!(c.program.shares);
}

#[test]
fn calls_inside_a_function_on_its_own_arguments_are_not_shared() {
    let c = compile(
        r#"package t
inner(x) = y { y := concat("", [x, "!"]) }
outer(x) = y { y := inner(x) }
p_reader(x) = y { y := inner(input.parameters.s) }
violation[{"msg": m}] {
  c := input.review.object.spec.containers[_]
  m := outer(c.name)
  p_reader(c.name)
}
"#,
    );
    let shared = calls(&c, true);
    // Only the outermost call on the review is shared; `inner(x)` inside `outer` may
    // receive the parameters from another caller, and `p_reader` reads them.
    assert_eq!(shared, BTreeSet::from(["t.outer".to_string()]));
}

#[test]
fn a_variable_bound_from_the_parameters_taints_the_calls_it_reaches() {
    let c = compile(
        r#"package t
f(x) = y { y := concat("", [x, "?"]) }
violation[{"msg": m}] {
  p := input.parameters.names[_]
  q := [p, "x"]
  some i
  r := q[i]
  m := f(r)
}
violation[{"msg": m}] {
  c := input.review.object.spec.containers[_]
  n := [x | x := input.parameters.names[_]]
  m := f(c.name)
  count(n) > 0
}
"#,
    );
    let names: Vec<&str> = c.program.rules.iter().map(|r| r.name.as_str()).collect();
    let f = names.iter().position(|n| *n == "t.f").expect("f");
    let v = names
        .iter()
        .position(|n| *n == "t.violation")
        .expect("violation");
    // The first body's call takes a parameter (through a collection and an iteration):
    // an ordinary call; the second body's takes the review: shared.
    let mut kinds = Vec::new();
    for d in &c.program.rules[v].defs {
        let mut k = Vec::new();
        walk_def(d, &mut |e| match e {
            Expr::Call(Callee::Shared(id), _) if *id == f => k.push("shared"),
            Expr::Call(Callee::User(id), _) if *id == f => k.push("own"),
            _ => {}
        });
        kinds.push(k);
    }
    assert_eq!(kinds, [vec!["own"], vec!["shared"]]);
}

/// Each constraint's violations alone, on a memo of its own.
fn alone(rego: &str, params: &Value, review: &Review) -> Vec<String> {
    let c = compile(rego);
    let memo = TemplateMemo::default();
    c.judge(&review.request, params, Deadline::NONE, Some(&memo))
        .expect("evaluates")
        .into_iter()
        .map(|v| v.msg)
        .collect()
}

#[test]
fn constraints_of_one_template_share_a_request_and_keep_their_own_parameters() {
    let review = pod(json!([
        {"name": "a", "cpu": "1500m"},
        {"name": "b", "cpu": 3},
        {"name": "c", "cpu": "250m"}
    ]));
    let params = [
        json!({"max": "1", "factor": 1000, "names": []}),
        json!({"max": "2", "factor": 1000, "names": ["b"]}),
        json!({"max": "100m", "factor": 2000, "names": ["a"]}),
        json!({"max": "100m", "factor": 100, "names": []}),
    ];
    let want = [
        vec!["a: 1500 > 1000", "b: 3000 > 1000"],
        vec![],
        vec!["b: 3000 > 100"],
        vec!["a: 1500 > 100", "b: 3000 > 100", "c: 250 > 100"],
    ];
    // Apart, each on a memo of its own.
    for (p, w) in params.iter().zip(&want) {
        assert_eq!(alone(QUANTITIES, p, &review), *w, "{p}");
    }
    // Together: one request, one memo for the template, in both orders.
    let c = compile(QUANTITIES);
    for order in [[0, 1, 2, 3], [3, 2, 1, 0]] {
        let memo = TemplateMemo::default();
        for i in order {
            let got: Vec<String> = c
                .judge(&review.request, &params[i], Deadline::NONE, Some(&memo))
                .expect("evaluates")
                .into_iter()
                .map(|v| v.msg)
                .collect();
            assert_eq!(got, want[i], "constraint {i} of {order:?}");
        }
        assert!(memo.len() > 0, "the review's quantities are kept");
    }
}

#[test]
fn the_engine_shares_within_a_request_and_agrees_with_the_interpreter() {
    let src = source(QUANTITIES);
    let compiled = RegoProgram::new("t", &src).expect("loads");
    assert!(compiled.compiled.is_some(), "on the compiled path");
    let mut interp = RegoProgram::new("t", &src).expect("loads");
    interp.compiled = None;
    let review = pod(json!([{"name": "a", "cpu": "1500m"}, {"name": "b", "cpu": 3}]));
    let params = [
        json!({"max": "1", "factor": 1000, "names": []}),
        json!({"max": "2", "factor": 1000, "names": ["b"]}),
        json!({"max": "1", "factor": 1000, "names": ["a"]}),
    ];
    // One input for all constraints, as a request has.
    let input = EvalInput::new(&review, &Value::Null);
    for p in &params {
        let got = compiled
            .bind(p)
            .expect("binds")
            .evaluate(&input)
            .expect("evaluates");
        let want = interp
            .bind(p)
            .expect("binds")
            .evaluate(&EvalInput::new(&review, &Value::Null))
            .expect("evaluates");
        assert_eq!(got, want, "{p}");
    }
    let kept = input
        .rego_memo
        .template(compiled.compiled.as_ref().expect("compiled"))
        .expect("the template shares");
    assert!(kept.len() > 0);
}

#[test]
fn the_deadline_still_stops_an_evaluation_that_shares() {
    // A review-only function that takes long on every container.
    let rego = r#"package t
slow(x) = n { n := count([i | i := numbers.range(x, 100000)[_]; i > 0]) }
violation[{"msg": m}] {
  c := input.review.object.spec.containers[_]
  slow(c.n) > input.parameters.min
  m := c.name
}
"#;
    let c = compile(rego);
    assert!(calls(&c, true).contains("t.slow"));
    let review = pod(json!([{"name": "a", "n": 1}, {"name": "b", "n": 2}]));
    let params = json!({"min": 0});
    let memo = TemplateMemo::default();
    let past = Deadline::at(Instant::now());
    let r = c.judge(&review.request, &params, past, Some(&memo));
    assert!(matches!(r, Err(EvalError::Deadline)), "{r:?}");
    assert_eq!(memo.len(), 0, "nothing cut off is kept");
    // A second constraint of the same request, with time: computed in full, and kept.
    let got = c
        .judge(&review.request, &params, Deadline::NONE, Some(&memo))
        .expect("evaluates");
    assert_eq!(got.len(), 2);
    assert_eq!(memo.len(), 2);
}
