//! Test-only runner for the Gatekeeper library's gator suites against the native rules.
//!
//! Each rule's tests call [`check`] with the library directory of the template it
//! re-implements. The runner compiles our own `policies/library/<rule>.yaml` through
//! [`super::compile`], binds each test's constraint parameters, and checks every case's
//! assertions (`violations: yes | no | N`, optionally filtered by a `message` regex). The
//! constraint's `match` block is not applied: the matcher is another module's job and the
//! library's cases are all written to match.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::engine::{EvalInput, Program};
use crate::policy::ConstraintTemplate;
use crate::review::Review;

/// Run one suite and fail the test listing every case that disagrees. Skips (with a note
/// on stderr) when the conformance checkout is not present.
pub(crate) fn check(dir: &str, rule: &str) {
    let Some(base) = super::rego_diff::library_dir(dir).filter(|b| b.join("suite.yaml").is_file())
    else {
        eprintln!("skipping {dir} conformance: library checkout not found");
        return;
    };
    let (cases, failures) = match run(&base, rule) {
        Ok(r) => r,
        Err(e) => panic!("{dir}: {e}"),
    };
    assert!(cases > 0, "{dir}: suite has no cases");
    assert!(
        failures.is_empty(),
        "{dir}: {} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{dir}: {cases} cases pass");
}

/// Read one YAML document as JSON.
fn read_yaml(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_saphyr::from_str::<Value>(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Compile our own `policies/library/<rule>.yaml` through the Native engine, so the
/// suites also check the shipped template wires the rule up.
pub(crate) fn program(rule: &str) -> Result<std::sync::Arc<dyn Program>, String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("policies/library")
        .join(format!("{rule}.yaml"));
    let doc = read_yaml(&path)?;
    let template = ConstraintTemplate::from_value(&doc).map_err(|e| e.to_string())?;
    match super::compile(&template) {
        Some(Ok(p)) => Ok(p),
        Some(Err(e)) => Err(e.to_string()),
        None => Err(format!("{} has no Native code block", path.display())),
    }
}

/// Build the review a case's object file stands for: a plain manifest, or a whole
/// AdmissionReview whose request carries the object and the operation.
fn review_of(doc: Value) -> Review {
    Review::from_case_object(doc).unwrap_or_else(|_| Review::from_object(Value::Null))
}

/// `data.inventory` of a case, built from its `inventory` object files the way `verify`
/// and audit build it; `Null` when the case lists none.
fn inventory_of(base: &Path, case: &Value) -> Result<Value, String> {
    let files = case
        .get("inventory")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if files.is_empty() {
        return Ok(Value::Null);
    }
    let objects = files
        .iter()
        .map(|f| {
            let f = f.as_str().ok_or("inventory entry is not a path")?;
            read_yaml(&base.join(f))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(crate::engine::inventory_of(objects))
}

/// The library directory name of a suite path.
fn dir_name(base: &Path) -> &str {
    base.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

/// How many violations an assertion expects.
enum Expect {
    AtLeastOne,
    Exactly(usize),
}

/// Read an assertion's `violations` (`yes`, `no`, a count; YAML may give booleans).
fn expectation(v: Option<&Value>) -> Result<Expect, String> {
    match v {
        None => Ok(Expect::AtLeastOne),
        Some(Value::Bool(true)) => Ok(Expect::AtLeastOne),
        Some(Value::Bool(false)) => Ok(Expect::Exactly(0)),
        Some(Value::String(s)) if s == "yes" => Ok(Expect::AtLeastOne),
        Some(Value::String(s)) if s == "no" => Ok(Expect::Exactly(0)),
        Some(Value::String(s)) => s
            .parse()
            .map(Expect::Exactly)
            .map_err(|_| format!("bad violations {s:?}")),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(|n| Expect::Exactly(n as usize))
            .ok_or_else(|| format!("bad violations {n}")),
        Some(other) => Err(format!("bad violations {other}")),
    }
}

/// Run every case of a suite; returns the case count and the failures.
fn run(base: &Path, rule: &str) -> Result<(usize, Vec<String>), String> {
    let suite = read_yaml(&base.join("suite.yaml"))?;
    let program = program(rule)?;
    let mut cases = 0;
    let mut failures = Vec::new();
    for test in suite
        .get("tests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let test_name = test.get("name").and_then(Value::as_str).unwrap_or("?");
        let constraint_file = test
            .get("constraint")
            .and_then(Value::as_str)
            .ok_or("test without constraint")?;
        let constraint = read_yaml(&base.join(constraint_file))?;
        let parameters = constraint
            .pointer("/spec/parameters")
            .cloned()
            .unwrap_or(Value::Null);
        let bound = program
            .bind(&parameters)
            .map_err(|e| format!("{test_name}: {e}"))?;
        for case in test
            .get("cases")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            cases += 1;
            let case_name = case.get("name").and_then(Value::as_str).unwrap_or("?");
            let object_file = case
                .get("object")
                .and_then(Value::as_str)
                .ok_or("case without object")?;
            let review = review_of(read_yaml(&base.join(object_file))?);
            let inventory = inventory_of(base, case)?;
            if let Err(diff) = super::rego_diff::compare(
                dir_name(base),
                program.as_ref(),
                &parameters,
                &review,
                &inventory,
            ) {
                failures.push(format!(
                    "{test_name}/{case_name}: differs from the library Rego: {diff}"
                ));
            }
            let violations = bound
                .evaluate(&EvalInput::new(&review, &inventory))
                .map_err(|e| format!("{test_name}/{case_name}: {e}"))?;
            for assertion in case
                .get("assertions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let filter = match assertion.get("message").and_then(Value::as_str) {
                    Some(re) => Some(regex::Regex::new(re).map_err(|e| e.to_string())?),
                    None => None,
                };
                let got = violations
                    .iter()
                    .filter(|v| filter.as_ref().is_none_or(|re| re.is_match(&v.msg)))
                    .count();
                let ok = match expectation(assertion.get("violations"))? {
                    Expect::AtLeastOne => got > 0,
                    Expect::Exactly(n) => got == n,
                };
                if !ok {
                    let msgs: Vec<&str> = violations.iter().map(|v| v.msg.as_str()).collect();
                    failures.push(format!(
                        "{test_name}/{case_name}: assertion {assertion} got {got} matching; messages {msgs:?}"
                    ));
                }
            }
        }
    }
    Ok((cases, failures))
}
