//! The gatekeeper-library suites of every template with a CEL block, run through this engine
//! alone: compile → bind the constraint's `spec.parameters` → evaluate each case's object.
//! `match` is ignored (every case is assumed to match) and cases needing `inventory` are
//! skipped. Without the conformance corpus the test fails (see [`crate::test_data`]).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::engine::{EvalInput, Violation};
use crate::policy::ConstraintTemplate;
use crate::review::Review;

/// The library of the conformance corpus ([`crate::test_data`]).
fn corpus_root() -> Option<PathBuf> {
    crate::test_data::library()
}

fn read_yaml(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_saphyr::from_str::<Value>(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Template directories (containing `template.yaml` and `suite.yaml`) with a CEL block.
fn cel_template_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for group in std::fs::read_dir(root).into_iter().flatten().flatten() {
        for dir in std::fs::read_dir(group.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let template = dir.path().join("template.yaml");
            let has_cel = std::fs::read_to_string(&template)
                .map(|t| t.contains("K8sNativeValidation"))
                .unwrap_or(false);
            if has_cel && dir.path().join("suite.yaml").is_file() {
                dirs.push(dir.path());
            }
        }
    }
    dirs.sort();
    dirs
}

/// A review from a case object: a whole AdmissionReview, or a plain object (a CREATE).
pub(super) fn review_of(doc: Value) -> Review {
    Review::from_case_object(doc).unwrap_or_else(|_| Review::from_object(Value::Null))
}

/// Whether the violations satisfy one gator assertion.
fn assertion_holds(assertion: &Value, violations: &[Violation]) -> Result<bool, String> {
    let matching = match assertion.get("message").and_then(Value::as_str) {
        Some(pattern) => {
            let re = regex::Regex::new(pattern).map_err(|e| e.to_string())?;
            violations.iter().filter(|v| re.is_match(&v.msg)).count()
        }
        None => violations.len(),
    };
    Ok(match assertion.get("violations") {
        Some(Value::Bool(true)) => matching > 0,
        Some(Value::Bool(false)) => matching == 0,
        Some(Value::String(s)) if s == "yes" => matching > 0,
        Some(Value::String(s)) if s == "no" => matching == 0,
        Some(Value::Number(n)) => n.as_u64() == Some(matching as u64),
        other => return Err(format!("unknown assertion {other:?}")),
    })
}

/// Outcome of one template's suite.
#[derive(Default)]
struct Tally {
    passed: usize,
    failed: Vec<String>,
    skipped: usize,
}

fn run_suite(dir: &Path) -> Result<Tally, String> {
    let suite = read_yaml(&dir.join("suite.yaml"))?;
    let mut tally = Tally::default();
    for test in suite
        .get("tests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let file = |k: &str| dir.join(test.get(k).and_then(Value::as_str).unwrap_or(""));
        let template = ConstraintTemplate::from_value(&read_yaml(&file("template"))?)
            .map_err(|e| e.to_string())?;
        let program = super::compile(&template)
            .ok_or("no CEL block")?
            .map_err(|e| e.to_string())?;
        let constraint = read_yaml(&file("constraint"))?;
        let params = constraint
            .pointer("/spec/parameters")
            .cloned()
            .unwrap_or(Value::Null);
        let bound = program.bind(&params).map_err(|e| e.to_string())?;
        for case in test
            .get("cases")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let case_name = case.get("name").and_then(Value::as_str).unwrap_or("?");
            if case.get("inventory").is_some() {
                tally.skipped += 1;
                continue;
            }
            let object =
                read_yaml(&dir.join(case.get("object").and_then(Value::as_str).unwrap_or("")))?;
            let review = review_of(object);
            let inventory = Value::Null;
            let input = EvalInput::new(&review, &inventory);
            let violations = bound.evaluate(&input).map_err(|e| e.to_string())?;
            let mut ok = true;
            for assertion in case
                .get("assertions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                ok &= assertion_holds(assertion, &violations)?;
            }
            if ok {
                tally.passed += 1;
            } else {
                let msgs: Vec<&str> = violations.iter().map(|v| v.msg.as_str()).collect();
                tally.failed.push(format!("{case_name}: got {msgs:?}"));
            }
        }
    }
    Ok(tally)
}

#[test]
fn library_suites_pass_on_the_cel_engine() {
    let Some(root) = corpus_root() else {
        return;
    };
    let dirs = cel_template_dirs(&root);
    assert_eq!(dirs.len(), 16, "expected 16 templates with a CEL block");
    let mut failures = Vec::new();
    super::cost::MOST_SPENT.with(|most| most.set(0));
    for dir in &dirs {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        match run_suite(dir) {
            Ok(t) => {
                let total = t.passed + t.failed.len();
                eprintln!("{name}: {}/{total} passed, {} skipped", t.passed, t.skipped);
                for f in &t.failed {
                    eprintln!("  FAIL {f}");
                }
                failures.extend(t.failed.into_iter().map(|f| format!("{name}: {f}")));
            }
            Err(e) => {
                eprintln!("{name}: ERROR {e}");
                failures.push(format!("{name}: {e}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "failing cases:\n{}",
        failures.join("\n")
    );
    // The cost budget must leave the library a wide margin.
    let most = super::cost::MOST_SPENT.with(std::cell::Cell::get);
    eprintln!(
        "most cost units spent by one evaluation: {most} of {}",
        super::cost::MAX_COST
    );
    assert!(most > 0, "the evaluations were not metered");
    assert!(most * 1000 <= super::cost::MAX_COST, "{most} units");
}

/// Average time of one evaluation of a library template on its disallowed sample: with the
/// review converted once and shared, and with a fresh conversion each time.
fn time_template(root: &Path, dir: &str, sample: &str, params: Value) -> Result<String, String> {
    let dir = root.join(dir);
    let template = ConstraintTemplate::from_value(&read_yaml(&dir.join("template.yaml"))?)
        .map_err(|e| e.to_string())?;
    let program = super::compile(&template)
        .ok_or("no CEL block")?
        .map_err(|e| e.to_string())?;
    let bound = program.bind(&params).map_err(|e| e.to_string())?;
    let review = Review::from_object(read_yaml(&dir.join(sample))?);
    let inventory = Value::Null;
    let rounds = 2000u32;
    let shared = EvalInput::new(&review, &inventory);
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        let violations = bound.evaluate(&shared).map_err(|e| e.to_string())?;
        if violations.len() != 1 {
            return Err(format!("expected one violation, got {violations:?}"));
        }
    }
    let warm = start.elapsed() / rounds;
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        let fresh = EvalInput::new(&review, &inventory);
        bound.evaluate(&fresh).map_err(|e| e.to_string())?;
    }
    let cold = start.elapsed() / rounds;
    Ok(format!(
        "{warm:?} per evaluation (shared input), {cold:?} with conversion"
    ))
}

/// Per-evaluation cost of a simple and of a typical library template, printed for the record
/// (`cargo test --lib engine::cel::conformance_tests::timing -- --nocapture`).
#[test]
fn timing_of_library_templates() {
    let Some(root) = corpus_root() else {
        return;
    };
    let cases = [
        (
            "pod-security-policy/host-namespaces",
            "samples/psp-host-namespace/example_disallowed.yaml",
            serde_json::json!({}),
        ),
        (
            "pod-security-policy/privileged-containers",
            "samples/psp-privileged-container/example_disallowed.yaml",
            serde_json::json!({"exemptImages": ["safe/*"]}),
        ),
    ];
    for (dir, sample, params) in cases {
        match time_template(&root, dir, sample, params) {
            Ok(line) => eprintln!("{dir}: {line}"),
            Err(e) => panic!("{dir}: {e}"),
        }
    }
}
