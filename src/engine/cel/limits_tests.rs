//! Tests of the size and nesting limits: hostile shapes are refused at load with a message
//! (never a crash), the largest accepted expressions compile, evaluate and drop on a quarter
//! of the server's thread stack, and every CEL expression of the Gatekeeper library and the
//! repository's policies stays far below the limits.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::limits::{self, MAX_EXPRESSION_CHARS, MAX_NESTING};
use super::tests::template;
use crate::engine::{EngineError, EvalInput};
use crate::review::Review;

/// A quarter of the 8 MiB stack of the server's compile and evaluation threads, in optimised
/// builds (`cargo test --release`), which lay out their frames as the server's binary does.
#[cfg(not(debug_assertions))]
const SMALL_STACK: usize = 2 * 1024 * 1024;

/// Unoptimised builds (plain `cargo test`) spend several times more stack per level of an
/// expression than the release binary: 243 chained method calls evaluate in 8 MiB but not in
/// 4 MiB there. They are held to the server's own 8 MiB.
#[cfg(debug_assertions)]
const SMALL_STACK: usize = 8 * 1024 * 1024;

/// Run `work` on a thread with `stack` bytes of stack; a stack overflow would abort the
/// test binary, which fails the run.
fn on_stack<T: Send + 'static>(stack: usize, work: impl FnOnce() -> T + Send + 'static) -> T {
    let handle = std::thread::Builder::new()
        .stack_size(stack)
        .spawn(work)
        .expect("spawn");
    match handle.join() {
        Ok(v) => v,
        Err(_) => panic!("the work panicked"),
    }
}

/// Compile one validation; `Err` carries the compile message.
fn compile_validation(expr: &str) -> Result<(), String> {
    match super::compile(&template(json!({"validations": [{"expression": expr}]}))) {
        Some(Ok(_)) => Ok(()),
        Some(Err(EngineError::Compile { message, .. })) => Err(message),
        other => panic!("unexpected compile outcome {other:?}"),
    }
}

/// Compile, bind, evaluate and drop one validation against an empty pod; the messages.
fn evaluate_validation(expr: &str) -> Result<Vec<String>, String> {
    let program = match super::compile(&template(json!({"validations": [{"expression": expr}]}))) {
        Some(Ok(p)) => p,
        Some(Err(e)) => return Err(e.to_string()),
        None => return Err("no CEL block".into()),
    };
    let bound = program.bind(&Value::Null).map_err(|e| e.to_string())?;
    let review = Review::from_object(json!({"kind": "Pod", "metadata": {"name": "p"}}));
    let inventory = Value::Null;
    let violations = bound
        .evaluate(&EvalInput::new(&review, &inventory))
        .map_err(|e| e.to_string())?;
    drop(bound);
    drop(program);
    Ok(violations.into_iter().map(|v| v.msg).collect())
}

fn repeat_join(item: &str, sep: &str, n: usize) -> String {
    vec![item; n].join(sep)
}

fn additions(n: usize) -> String {
    repeat_join("1", " + ", n)
}

fn nested(open: &str, inner: &str, close: &str, n: usize) -> String {
    format!("{}{inner}{}", open.repeat(n), close.repeat(n))
}

#[test]
fn nesting_bound_skips_literals_and_comments_and_counts_operators() {
    let b = limits::nesting_bound;
    assert_eq!(b("x"), 1);
    assert_eq!(b("a + b"), 2);
    assert_eq!(b("a + b + c"), 3);
    assert_eq!(b("a.b.c"), 3);
    assert_eq!(b("a == b && c != d"), 4);
    assert_eq!(b("a in b"), 2);
    // A group adds three levels to its deepest segment; commas separate segments.
    assert_eq!(b("(a + b + c, d)"), 1 + 3 + 3);
    assert_eq!(b("(a)"), 1 + 3 + 1);
    // A bracket right after an operand (a call, an index) is one more level.
    assert_eq!(b("f(a + b + c, d)"), 1 + 3 + 3);
    assert_eq!(b("a[0][0]"), 3 + 3 + 1);
    assert_eq!(b("a.f(x)"), 2 + 3 + 1);
    assert_eq!(b("f(x)(y)"), 2 + 3 + 1);
    assert_eq!(b("'s'[0]"), 2 + 3 + 1);
    assert_eq!(b("a in [b]"), 2 + 3 + 1);
    // Nothing inside a literal or a comment counts.
    for quoted in [
        "'+ + ( [ {'",
        "\"+ + ( [ {\"",
        "'it\\'s + (' ",
        "r'\\' ",
        "R\"\\\" ",
        "b'+((' ",
        "rb'+((' ",
        "BR\"+((\" ",
        "'''+ ' '' ( \n +'''",
        "\"\"\"+ \" \"\" ( \n +\"\"\"",
        "x // + + + ( ( (",
        "1e+5",
        "1.5e-3",
        ".5",
        "0x1F",
        "3u",
    ] {
        assert_eq!(b(quoted), 1, "{quoted:?}");
    }
    assert_eq!(b("'a' + 'b'"), 2);
    // A hex literal's `e` is a digit, so the following `+` is an operator.
    assert_eq!(b("0x1e+5"), 2);
    // Unterminated and unbalanced input still yields a bound (the parser refuses it).
    assert!(b("((((a") >= 13);
    assert_eq!(b("a)))"), 1);
    assert!(b("'unterminated + + +") >= 1);
}

#[test]
fn hostile_shapes_are_refused_at_load_with_the_reason() {
    let shapes: Vec<(&str, String)> = vec![
        ("2,000 additions", additions(2_000)),
        ("10,000 additions", additions(10_000)),
        ("100,000 additions", additions(100_000)),
        ("100,000 parentheses", nested("(", "1", ")", 100_000)),
        ("10,000 nested lists", nested("[", "1", "]", 10_000)),
        ("10,000 nested maps", nested("{1: ", "1", "}", 10_000)),
        ("10,000 nested calls", nested("size(", "'a'", ")", 10_000)),
        ("10,000 nested comprehensions", {
            let open = "[1].all(x, ".repeat(10_000);
            format!("{open}true{}", ")".repeat(10_000))
        }),
        (
            "30,000 member selections",
            format!("object{}", ".a".repeat(30_000)),
        ),
        (
            "10,000 method calls",
            format!("'a'{}", ".lowerAscii()".repeat(10_000)),
        ),
        (
            "10,000 ternaries",
            format!("{}1", "true ? 1 : ".repeat(10_000)),
        ),
        ("100,000 negations", format!("{}true", "!".repeat(100_000))),
        ("10,000 negated groups", nested("!(", "true", ")", 10_000)),
        ("10,000 minus signs", format!("{}1", "-".repeat(10_000))),
        ("10,000 indexes", format!("[1]{}", "[0]".repeat(10_000))),
    ];
    for (what, expr) in shapes {
        eprintln!("{what}");
        let outcome = on_stack(SMALL_STACK, move || compile_validation(&expr));
        let message = match outcome {
            Ok(()) => panic!("{what}: accepted"),
            Err(m) => m,
        };
        assert!(
            message.contains(&format!("the limit is {MAX_NESTING}"))
                || message.contains(&format!("the limit is {MAX_EXPRESSION_CHARS}")),
            "{what}: {message}"
        );
        assert!(message.contains("CEL expression"), "{what}: {message}");
    }
}

#[test]
fn refusals_name_the_measure_and_the_limit() {
    let message = compile_validation(&additions(2_000)).expect_err("refused");
    assert!(
        message.contains("nests about 2000 deep") && message.contains("the limit is 250"),
        "{message}"
    );
    let long = format!("'{}' == ''", "a".repeat(MAX_EXPRESSION_CHARS));
    let message = compile_validation(&long).expect_err("refused");
    assert!(
        message.contains(&format!("{} characters long", MAX_EXPRESSION_CHARS + 8))
            && message.contains("the limit is 100000"),
        "{message}"
    );
}

#[test]
fn operators_inside_literals_do_not_count() {
    // 60,000 `+` in a string literal: long but flat.
    let expr = format!("'{}'.size() == 60000", "+".repeat(60_000));
    assert_eq!(evaluate_validation(&expr), Ok(vec![]));
    let expr = format!(
        "r'''{}'''.size() == 50000 // {}",
        "(".repeat(50_000),
        "+".repeat(100)
    );
    assert_eq!(evaluate_validation(&expr), Ok(vec![]));
}

/// The largest `n` for which `make(n)` compiles, by bisection (compiling is monotonic in
/// `n` for these shapes).
fn largest_accepted(make: &dyn Fn(usize) -> String) -> usize {
    let (mut lo, mut hi) = (1usize, 4096usize);
    assert!(compile_validation(&make(lo)).is_ok(), "{}", make(lo));
    assert!(compile_validation(&make(hi)).is_err(), "refused at {hi}");
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if compile_validation(&make(mid)).is_ok() {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Each shape at the largest size accepted: it compiles, evaluates to true and drops on a
/// [`SMALL_STACK`] thread (2 MiB, a quarter of the server's stacks, in release builds).
#[test]
fn the_largest_accepted_expressions_run_on_a_quarter_of_the_stack() {
    type Shape = (&'static str, usize, fn(usize) -> String);
    let shapes: [Shape; 7] = [
        ("additions", 200, |n| format!("{} == {n}", additions(n))),
        ("method calls", 200, |n| {
            format!("'A'{}.size() == 1", ".lowerAscii()".repeat(n))
        }),
        ("grouped additions", 40, |n| {
            format!("{}1{} == {}", "(".repeat(n), " + 1)".repeat(n), n + 1)
        }),
        ("negated groups", 40, |n| {
            let inner = if n % 2 == 0 { "true" } else { "false" };
            nested("!(", inner, ")", n)
        }),
        ("nested comprehensions", 30, |n| {
            let open: String = (0..n).map(|i| format!("[{i}].all(x{i}, ")).collect();
            format!("{open}true{}", ")".repeat(n))
        }),
        ("nested maps", 30, |n| {
            let open: String = (0..n).map(|i| format!("[{i}].map(x{i}, ")).collect();
            format!("size({open}1{}) == 1", ")".repeat(n))
        }),
        ("ternaries", 40, |n| {
            format!("{}true", "false ? false : ".repeat(n))
        }),
    ];
    for (what, at_least, make) in shapes {
        let n = on_stack(SMALL_STACK, move || largest_accepted(&make));
        assert!(n >= at_least, "{what}: only {n} accepted");
        eprintln!("{what}: largest accepted n = {n}");
        let expr = make(n);
        let outcome = on_stack(SMALL_STACK, move || evaluate_validation(&expr));
        assert_eq!(outcome, Ok(vec![]), "{what} at n = {n}");
    }
}

/// Every `expression` and `messageExpression` under a CEL code block of the YAML documents
/// below `dir`.
fn cel_expressions(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            cel_expressions(&path, out);
            continue;
        }
        if !path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        if !text.contains("K8sNativeValidation") {
            continue;
        }
        for doc in text.split("\n---") {
            let Ok(value) = serde_saphyr::from_str::<Value>(doc) else {
                continue;
            };
            collect_expressions(&value, &mut |e| out.push((path.clone(), e.to_string())));
        }
    }
}

fn collect_expressions(value: &Value, found: &mut dyn FnMut(&str)) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expression" | "messageExpression", Value::String(s)) => found(s),
                    _ => collect_expressions(v, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_expressions(v, found)),
        _ => {}
    }
}

#[test]
fn library_and_policy_expressions_are_far_below_the_limits() {
    let Some(root) = crate::test_data::conformance() else {
        return;
    };
    let mut exprs = Vec::new();
    cel_expressions(&root, &mut exprs);
    cel_expressions(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("policies"),
        &mut exprs,
    );
    assert!(exprs.len() > 50, "only {} expressions found", exprs.len());
    let env = super::env::shared().expect("env");
    let (mut bound, mut depth, mut chars) = (0, 0, 0);
    for (path, expr) in &exprs {
        bound = bound.max(limits::nesting_bound(expr));
        chars = chars.max(expr.chars().count());
        if let Ok(mut parsed) = env.parser().parse(expr) {
            super::cost::instrument(&mut parsed);
            depth = depth.max(limits::depth(&parsed));
        }
        assert!(
            limits::check_source(expr).is_ok(),
            "{}: {expr}",
            path.display()
        );
    }
    eprintln!(
        "{} expressions: nesting bound at most {bound}, instrumented depth at most {depth}, \
         at most {chars} characters",
        exprs.len()
    );
    assert!(bound * 3 <= MAX_NESTING, "deepest estimate {bound}");
    assert!(depth * 4 <= MAX_NESTING, "deepest tree {depth}");
    assert!(chars * 10 <= MAX_EXPRESSION_CHARS, "longest {chars}");
}

/// Exploration aid: `PROBE_SHAPE=<name> PROBE_N=<n> PROBE_STACK=<bytes>` runs one shape at
/// one size through parse, evaluation and drop on a thread of that stack, printing stages.
#[test]
#[ignore = "an exploration aid: cargo test --release --lib engine::cel::limits_tests::probe -- --ignored --nocapture"]
fn probe() {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let n: usize = var("PROBE_N").parse().unwrap_or(10);
    let stack: usize = var("PROBE_STACK").parse().unwrap_or(SMALL_STACK);
    let expr = match var("PROBE_SHAPE").as_str() {
        "groups" => format!("{}1{} == {}", "(".repeat(n), " + 1)".repeat(n), n + 1),
        "parens" => nested("(", "true", ")", n),
        "calls" => nested("size(", "'a'", ")", n),
        "methods" => format!("'A'{}.size() == 1", ".lowerAscii()".repeat(n)),
        "lists" => format!("size({}) == 1", nested("[", "1", "]", n)),
        "not" => nested("!(", "true", ")", n),
        "all" => {
            let open: String = (0..n).map(|i| format!("[{i}].all(x{i}, ")).collect();
            format!("{open}true{}", ")".repeat(n))
        }
        _ => additions(n),
    };
    eprintln!("bound {}", limits::nesting_bound(&expr));
    let outcome = on_stack(stack, move || {
        let env = super::env::shared().expect("env");
        let parsed = env.parser().parse(&expr);
        eprintln!("parsed: {}", parsed.is_ok());
        drop(parsed);
        eprintln!("dropped parse");
        let compiled = super::compile(&template(json!({"validations": [{"expression": expr}]})));
        eprintln!("compiled: {}", matches!(compiled, Some(Ok(_))));
        drop(compiled);
        eprintln!("dropped compiled");
        evaluate_validation(&expr)
    });
    eprintln!("outcome {outcome:?}");
}
