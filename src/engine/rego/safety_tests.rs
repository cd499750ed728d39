//! Hostile and careless policies on the Rego engine: sources nested past what the parser
//! reads in bounded time, evaluations cut off by the deadline on both paths, value-size
//! limits, and evaluation time linear in the size of the object.
//!
//! Compilation and evaluation run on 2 MiB threads, a quarter of the server's, so that a
//! recursion that only fits in a big stack fails here first.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::nesting::{MAX_EXPRESSION_CHAIN, MAX_NESTING, MAX_REPARSED_NESTING};
use super::*;

use crate::deadline::Deadline;
use crate::review::Review;

/// Run `f` on a thread with a 2 MiB stack.
fn small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .expect("spawn a test thread")
        .join()
        .expect("the test thread did not panic")
}

fn source(rego: &str) -> RegoSource {
    RegoSource {
        rego: rego.to_string(),
        libs: Vec::new(),
        v1: false,
    }
}

/// The program on the compiled path (which must accept it) or on the interpreter.
fn program(rego: &str, compiled: bool) -> Result<RegoProgram, EngineError> {
    let p = RegoProgram::with_path("k8stest", &source(rego), compiled)?;
    assert_eq!(p.compiled.is_some(), compiled, "path of {rego}");
    Ok(p)
}

fn evaluate(
    p: &RegoProgram,
    params: &Value,
    object: Value,
    deadline: Deadline,
) -> Result<Vec<Violation>, EngineError> {
    let review = Review::from_object(object);
    let bound = p.bind(params)?;
    bound.evaluate(&EvalInput::new(&review, &Value::Null).with_deadline(deadline))
}

/// A module whose rule assigns `open^depth 1 close^depth`.
fn nested(open: &str, close: &str, depth: usize) -> String {
    format!(
        "package k8stest\nviolation[{{\"msg\": \"m\"}}] {{\n  x := {}1{}\n  x\n}}\n",
        open.repeat(depth),
        close.repeat(depth)
    )
}

#[test]
fn deeply_nested_literals_are_refused_in_milliseconds() {
    small_stack(|| {
        let shapes = [
            ("[", "]"),
            ("{", "}"),
            ("{\"a\": ", "}"),
            ("[x | x := ", "]"),
            ("{x | x := ", "}"),
            ("(", ")"),
            ("[a[1 + ", "]]"),
        ];
        for depth in [18, 30, 1000] {
            for (open, close) in shapes {
                let rego = nested(open, close, depth);
                let start = Instant::now();
                let err = RegoProgram::new("k8stest", &source(&rego))
                    .expect_err("refused")
                    .to_string();
                let took = start.elapsed();
                assert!(err.contains("the limit is"), "{open} x{depth}: {err}");
                assert!(
                    took < Duration::from_millis(100),
                    "{open} x{depth} took {took:?} to refuse"
                );
            }
        }
        let lib = format!(
            "package lib.deep\nx := {}1{}\n",
            "[".repeat(40),
            "]".repeat(40)
        );
        let src = RegoSource {
            rego: "package k8stest\nviolation[{\"msg\": \"m\"}] { false }\n".into(),
            libs: vec![lib],
            v1: false,
        };
        let err = RegoProgram::new("k8stest", &src)
            .expect_err("refused")
            .to_string();
        assert!(
            err.contains("libs[0]") && err.contains("the limit is"),
            "{err}"
        );
    });
}

#[test]
fn nesting_at_the_limits_compiles_and_evaluates_on_both_paths() {
    small_stack(|| {
        // The rule body is one counted bracket: the array chain fills the rest.
        let chain = nested("[", "]", MAX_REPARSED_NESTING - 1);
        // Data nested after commas is bounded by the total depth only.
        let data = format!(
            "package k8stest\nviolation[{{\"msg\": \"m\"}}] {{\n  x := [{}1{}]\n  x\n}}\n",
            "0, [".repeat(MAX_NESTING - 3),
            "]".repeat(MAX_NESTING - 3)
        );
        for rego in [chain, data] {
            assert_eq!(nesting::check(&rego), Ok(()));
            for compiled in [true, false] {
                let start = Instant::now();
                let p = program(&rego, compiled).expect("compiles");
                let took = start.elapsed();
                let v = evaluate(&p, &json!({}), json!({"kind": "Pod"}), Deadline::NONE)
                    .expect("evaluates");
                assert_eq!(v.len(), 1, "compiled: {compiled}");
                println!("compiled path {compiled}: loaded in {took:?}");
            }
        }
    });
}

/// A rule whose body assigns `x := <expr>` and holds when `x` is truthy.
fn assigning(expr: &str) -> String {
    format!("package k8stest\nviolation[{{\"msg\": \"m\"}}] {{\n  x := {expr}\n  x\n}}\n")
}

#[test]
fn long_chains_are_refused_and_the_limit_evaluates_on_a_small_stack() {
    // One link of the chain is the rule head's `violation[`, one the `:=`, one `.review`.
    let n = MAX_EXPRESSION_CHAIN - 3;
    let shapes = [
        (format!("1{}", " +\n1".repeat(n)), 1),
        (format!("{{1}}{}", " |\n{1}".repeat(n)), 1),
        (format!("input.review{}", ".a".repeat(n - 1)), 0),
        (format!("input.review{}", "[0]".repeat(n - 1)), 0),
        // Both limits at once: data nested to the depth limit around a chain.
        (
            format!(
                "[{}1{}{}]",
                "0, [".repeat(MAX_NESTING - 3),
                " +\n1".repeat(n),
                "]".repeat(MAX_NESTING - 3)
            ),
            1,
        ),
    ];
    for (expr, want) in shapes {
        let rego = assigning(&expr);
        assert_eq!(nesting::check(&rego), Ok(()), "{}", &expr[..20]);
        for compiled in [true, false] {
            let rego = rego.clone();
            let got = small_stack(move || {
                // The compiled path may refuse a shape it does not lower; the interpreter
                // then runs it.
                let p =
                    RegoProgram::with_path("k8stest", &source(&rego), compiled).expect("compiles");
                evaluate(&p, &json!({}), json!({"kind": "Pod"}), Deadline::NONE).map(|v| v.len())
            });
            assert_eq!(
                got.expect("evaluates"),
                want,
                "{} compiled {compiled}",
                &expr[..20]
            );
        }
    }
    small_stack(|| {
        let rego = assigning(&format!("1{}", " +\n1".repeat(15_000)));
        let start = Instant::now();
        let err = RegoProgram::new("k8stest", &source(&rego)).expect_err("refused");
        assert!(err.to_string().contains("chains more than"), "{err}");
        assert!(start.elapsed() < Duration::from_millis(100));
    });
}

/// Figures for [`nesting::MAX_REPARSED_NESTING`]: regorus's parse time of a pure chain
/// `[[[...]]]` by depth, with the pre-scan bypassed.
#[test]
fn parse_time_doubles_with_each_reparsed_level() {
    small_stack(|| {
        let mut times = Vec::new();
        for depth in [8usize, 10, 12] {
            let text = rewrite_v0(&nested("[", "]", depth));
            let src = regorus::Source::from_contents("t.rego".into(), text).expect("source");
            let start = Instant::now();
            let parsed = regorus::unstable::Parser::new(&src).and_then(|mut p| p.parse());
            let took = start.elapsed();
            assert!(parsed.is_ok(), "depth {depth}");
            println!("regorus parses [[[...]]] {depth} deep in {took:?}");
            times.push(took);
        }
        // Exponential: two more levels cost at least twice as much (four in theory).
        assert!(times[2] > times[0] * 2, "{times:?}");
    });
}

/// `violation` when any container's name equals any of the parameters' items, by a
/// comprehension over containers × items.
const CROSS: &str = r#"package k8stest

violation[{"msg": msg}] {
  hits := [c | c := input.review.object.spec.containers[_]; p := input.parameters.items[_]; c.name == p]
  count(hits) > 0
  msg := "hit"
}
"#;

#[test]
fn an_expensive_comprehension_is_cut_off_by_the_deadline_on_both_paths() {
    let items: Vec<String> = (0..20_000).map(|i| format!("item-{i}")).collect();
    let params = json!({ "items": items });
    let containers: Vec<Value> = (0..1_000)
        .map(|i| json!({"name": format!("c-{i}"), "image": "nginx"}))
        .collect();
    let object = json!({"kind": "Pod", "spec": {"containers": containers}});
    for compiled in [true, false] {
        let (params, object) = (params.clone(), object.clone());
        small_stack(move || {
            let p = program(CROSS, compiled).expect("compiles");
            let bound = p.bind(&params).expect("binds");
            let review = Review::from_object(object);
            let start = Instant::now();
            let deadline = Deadline::after(Duration::from_millis(100));
            let got =
                bound.evaluate(&EvalInput::new(&review, &Value::Null).with_deadline(deadline));
            let took = start.elapsed();
            println!("compiled path {compiled}: cut off after {took:?}");
            assert!(
                matches!(got, Err(EngineError::DeadlineExceeded)),
                "compiled path {compiled}: {got:?}"
            );
            assert!(
                took < Duration::from_secs(2),
                "compiled path {compiled}: {took:?}"
            );
        });
    }
}

#[test]
fn an_already_expired_deadline_stops_at_once() {
    let rego =
        "package k8stest\nviolation[{\"msg\": \"m\"}] { input.review.object.kind == \"Pod\" }\n";
    for compiled in [true, false] {
        let p = program(rego, compiled).expect("compiles");
        let past = Deadline::at(Instant::now() - Duration::from_millis(1));
        let object = json!({"kind": "Pod"});
        // The compiled path reads the clock every so many steps: a one-step rule may
        // still finish, but never with a wrong answer.
        match evaluate(&p, &json!({}), object.clone(), past) {
            Err(EngineError::DeadlineExceeded) => {}
            Ok(v) => assert_eq!(v.len(), 1, "compiled path {compiled}"),
            Err(e) => panic!("compiled path {compiled}: {e}"),
        }
        let v = evaluate(&p, &json!({}), object, Deadline::NONE).expect("evaluates");
        assert_eq!(v.len(), 1);
    }
}

#[test]
fn a_range_bomb_is_refused_on_both_paths() {
    let bomb = "package k8stest\nviolation[{\"msg\": \"m\"}] {\n  r := numbers.range(0, 1000000000)\n  count(r) > 0\n}\n";
    let zero_step = "package k8stest\nviolation[{\"msg\": \"m\"}] {\n  r := numbers.range_step(1, 5, 0)\n  count(r) > 0\n}\n";
    let fine = "package k8stest\nviolation[{\"msg\": sprintf(\"%v\", [r])}] {\n  r := [numbers.range(3, 1), numbers.range_step(0, 10, 4)]\n}\n";
    for compiled in [true, false] {
        let run = |rego: &str| {
            let p = program(rego, compiled).expect("compiles");
            let start = Instant::now();
            let got = evaluate(&p, &json!({}), json!({"kind": "Pod"}), Deadline::NONE);
            assert!(start.elapsed() < Duration::from_secs(1), "{rego}");
            got
        };
        let err = run(bomb).expect_err("refused").to_string();
        assert!(
            err.contains("the limit is 1000000"),
            "compiled {compiled}: {err}"
        );
        // A zero step is a builtin error in OPA, which Gatekeeper's non-strict evaluation
        // makes undefined: no violation, and no failure either.
        let none = run(zero_step).expect("a builtin error is undefined");
        assert!(none.is_empty(), "compiled {compiled}: {none:?}");
        let v = run(fine).expect("evaluates");
        assert_eq!(v[0].msg, "[[3, 2, 1], [0, 4, 8]]", "compiled {compiled}");
    }
}

#[test]
fn sprintf_widths_stop_where_go_stops() {
    let rego =
        "package k8stest\nviolation[{\"msg\": sprintf(\"%99999999999d|%3d\", [1, 2])}] { true }\n";
    for compiled in [true, false] {
        let p = program(rego, compiled).expect("compiles");
        let v = evaluate(&p, &json!({}), json!({}), Deadline::NONE).expect("evaluates");
        assert_eq!(
            v[0].msg, "%!(NOVERB)%!(EXTRA int64=1, int64=2)",
            "compiled {compiled}"
        );
    }
}

#[test]
fn built_strings_and_collections_are_capped() {
    let replace = "package k8stest\nviolation[{\"msg\": \"m\"}] {\n  s := replace(input.review.object.s, \"\", \"0123456789abcdef0123456789abcdef\")\n  count(s) > 0\n}\n";
    let p = program(replace, true).expect("compiles");
    let object = json!({"s": "x".repeat(1 << 20)});
    let err = evaluate(&p, &json!({}), object, Deadline::NONE).expect_err("refused");
    assert!(err.to_string().contains("the limit is"), "{err}");

    let compr = "package k8stest\nviolation[{\"msg\": \"m\"}] {\n  x := numbers.range(0, 1100)\n  s := {[i, j] | i := x[_]; j := x[_]}\n  count(s) > 0\n}\n";
    let p = program(compr, true).expect("compiles");
    let err = evaluate(&p, &json!({}), json!({}), Deadline::NONE).expect_err("refused");
    assert!(err.to_string().contains("the limit is 1000000"), "{err}");
}

/// Gatekeeper's k8sallowedrepos (read from the library when it is at hand).
fn allowed_repos() -> RegoSource {
    let dir =
        std::env::var("PORTCULLIS_CONFORMANCE").unwrap_or_else(|_| "../shared/conformance".into());
    let path = std::path::Path::new(&dir)
        .join("gatekeeper-library/library/general/allowedrepos/template.yaml");
    let from_library = crate::manifests::read_values(&path).ok().and_then(|docs| {
        let template = ConstraintTemplate::from_value(docs.first()?).ok()?;
        RegoSource::of(&template)
    });
    from_library.unwrap_or_else(|| source(super::tests::REPOS))
}

#[test]
fn evaluation_is_linear_in_the_number_of_containers() {
    let src = allowed_repos();
    let params = json!({"repos": ["registry.example/"]});
    let pod = |n: usize| {
        let containers: Vec<Value> = (0..n)
            .map(|i| json!({"name": format!("container-{i}"), "image": "untrusted/app"}))
            .collect();
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
               "spec": {"containers": containers}})
    };
    for compiled in [true, false] {
        let p = RegoProgram::with_path("k8sallowedrepos", &src, compiled).expect("compiles");
        assert_eq!(p.compiled.is_some(), compiled);
        // The fastest of five runs each, the two sizes taking turns: the least disturbed by
        // other work on a shared machine, and disturbed alike.
        let run = |review: &Review| {
            let bound = p.bind(&params).expect("binds");
            let start = Instant::now();
            let v = bound
                .evaluate(&EvalInput::new(review, &Value::Null))
                .expect("evaluates");
            let took = start.elapsed();
            let containers = review.request["object"]["spec"]["containers"].as_array();
            assert_eq!(v.len(), containers.map_or(0, Vec::len));
            took
        };
        let (small_review, large_review) = (
            Review::from_object(pod(15_000)),
            Review::from_object(pod(60_000)),
        );
        let (mut small, mut large) = (std::time::Duration::MAX, std::time::Duration::MAX);
        for _ in 0..5 {
            small = small.min(run(&small_review));
            large = large.min(run(&large_review));
        }
        let ratio = large.as_secs_f64() / small.as_secs_f64();
        println!(
            "k8sallowedrepos, compiled path {compiled}: 15k containers {small:?}, 60k {large:?}, \
             ratio {ratio:.2}"
        );
        // Linear work gives about 4 (four times the containers), quadratic about 16.
        assert!(ratio < 10.0, "compiled path {compiled}: ratio {ratio:.2}");
    }
}

/// A template of `n` rules, each naming the next, the last true for a Pod.
fn rule_chain(n: usize) -> String {
    let mut rego = String::from("package k8stest\nviolation[{\"msg\": \"m\"}] { r0 }\n");
    for i in 0..n.saturating_sub(2) {
        rego.push_str(&format!("r{i} {{ r{} }}\n", i + 1));
    }
    rego.push_str(&format!(
        "r{} {{ input.review.object.kind == \"Pod\" }}\n",
        n.saturating_sub(2)
    ));
    rego
}

#[test]
fn a_chain_of_as_many_rules_as_allowed_evaluates_on_a_small_stack() {
    for compiled in [true, false] {
        small_stack(move || {
            let p = program(&rule_chain(MAX_RULES), compiled).expect("compiles");
            let start = Instant::now();
            let v = evaluate(&p, &json!({}), json!({"kind": "Pod"}), Deadline::NONE);
            println!(
                "compiled path {compiled}: {} rules evaluated in {:?}",
                MAX_RULES,
                start.elapsed()
            );
            assert_eq!(v.expect("evaluates").len(), 1, "compiled path {compiled}");
        });
    }
    let err = RegoProgram::new("k8stest", &source(&rule_chain(MAX_RULES + 1)))
        .expect_err("refused")
        .to_string();
    assert!(err.contains(&format!("the limit is {MAX_RULES}")), "{err}");
}

/// The loader's path: a deeply nested template is refused at once, not after the compile
/// timeout with a thread left burning a core.
#[test]
fn the_loader_refuses_a_deeply_nested_template_at_once() {
    let doc = json!({
        "apiVersion": "templates.gatekeeper.sh/v1",
        "kind": "ConstraintTemplate",
        "metadata": {"name": "k8sdeep"},
        "spec": {
            "crd": {"spec": {"names": {"kind": "K8sDeep"}}},
            "targets": [{"target": "admission.k8s.gatekeeper.sh", "rego": nested("[", "]", 18)}]
        }
    });
    let template = ConstraintTemplate::from_value(&doc).expect("template");
    let start = Instant::now();
    let err = crate::engine::compile_bounded(&template, crate::engine::EngineChoice::Preferred)
        .expect_err("refused");
    let took = start.elapsed();
    println!("refused in {took:?}: {err}");
    assert!(err.to_string().contains("the limit is"), "{err}");
    assert!(took < Duration::from_millis(500), "{took:?}");
}

#[test]
fn nested_loops_and_string_building_are_cut_off_by_the_deadline() {
    let shapes = [
        "package k8stest\nviolation[{\"msg\": \"m\"}] {\n  r := numbers.range(0, 999999)\n  x := r[_]\n  y := r[_]\n  x + y < 0\n}\n",
        "package k8stest\nimport future.keywords.every\nviolation[{\"msg\": \"m\"}] {\n  r := numbers.range(0, 99999)\n  every x in r { every y in r { x + y >= 0 } }\n}\n",
        "package k8stest\nviolation[{\"msg\": \"m\"}] {\n  s := concat(\",\", [sprintf(\"%v-%v\", [x, x]) | x := numbers.range(0, 999999)[_]])\n  count(s) < 0\n}\n",
    ];
    for rego in shapes {
        for compiled in [true, false] {
            let rego = rego.to_string();
            small_stack(move || {
                let p =
                    RegoProgram::with_path("k8stest", &source(&rego), compiled).expect("compiles");
                let path = p.compiled.is_some();
                // Binding (at load time) may fold what does not read the request, within
                // a budget of its own; the request's deadline starts after it.
                let bound = p.bind(&json!({})).expect("binds");
                let review = Review::from_object(json!({"kind": "Pod"}));
                let start = Instant::now();
                let deadline = Deadline::after(Duration::from_millis(100));
                let got =
                    bound.evaluate(&EvalInput::new(&review, &Value::Null).with_deadline(deadline));
                let took = start.elapsed();
                println!("compiled path {path}: cut off after {took:?}");
                assert!(
                    matches!(got, Err(EngineError::DeadlineExceeded)),
                    "compiled path {path}: {got:?}\n{rego}"
                );
                assert!(
                    took < Duration::from_secs(2),
                    "compiled path {path}: {took:?}"
                );
            });
        }
    }
}

/// A rule whose body has `n` statements, each reading the one before.
fn long_body(n: usize) -> String {
    let mut rego = String::from(
        "package k8stest\nviolation[{\"msg\": \"m\"}] {\n  x0 := input.review.object.kind\n",
    );
    for i in 1..n {
        rego.push_str(&format!("  x{i} := x{}\n", i - 1));
    }
    rego.push_str(&format!("  x{} == \"Pod\"\n}}\n", n - 1));
    rego
}

#[test]
fn a_query_at_the_statement_limit_loads_fast_and_a_longer_one_is_refused() {
    use super::nesting::MAX_QUERY_STATEMENTS;
    // The closing brace ends one more.
    let rego = long_body(MAX_QUERY_STATEMENTS - 2);
    for compiled in [true, false] {
        let rego = rego.clone();
        small_stack(move || {
            let start = Instant::now();
            let p = program(&rego, compiled).expect("compiles");
            let took = start.elapsed();
            println!(
                "compiled path {compiled}: {MAX_QUERY_STATEMENTS} statements load in {took:?}"
            );
            assert!(took < Duration::from_secs(2), "{took:?}");
            let v = evaluate(&p, &json!({}), json!({"kind": "Pod"}), Deadline::NONE);
            assert_eq!(v.expect("evaluates").len(), 1);
        });
    }
    let start = Instant::now();
    let err = RegoProgram::new("k8stest", &source(&long_body(8_000))).expect_err("refused");
    assert!(err.to_string().contains("statements"), "{err}");
    assert!(start.elapsed() < Duration::from_millis(100));
}
