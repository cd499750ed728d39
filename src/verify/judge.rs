//! Judging the tests of one suite: load template and constraint once per test, evaluate each
//! case, compare with its assertions.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use regex::Regex;
use serde_json::Value;

use super::suite::{self, Assertion, Case, Expect, Suite, Test};
use super::{CaseResult, Outcome, VerifyOptions};
use crate::engine::{self, BoundProgram, EngineChoice, EvalInput, Violation};
use crate::matching::Labels;
use crate::policy::{Constraint, ConstraintTemplate};
use crate::review::Review;

/// A test's constraint with its compiled, bound program.
struct Prepared {
    constraint: Constraint,
    program: Arc<dyn BoundProgram>,
}

/// Judge every selected case of the suite at `file`, appending results to `out`. A suite
/// that cannot be read counts as one failed case; a test whose template or constraint
/// cannot be loaded fails each of its cases with that reason.
pub(super) fn run_suite(file: &Path, opts: &VerifyOptions, out: &mut Vec<CaseResult>) {
    let result = |test: &str, case: &str, outcome| CaseResult {
        suite: file.to_path_buf(),
        test: test.to_string(),
        case: case.to_string(),
        outcome,
    };
    let suite: Suite = match suite::read_one(file)
        .and_then(|doc| serde_json::from_value(doc).map_err(|e| format!("{}: {e}", file.display())))
    {
        Ok(s) => s,
        Err(e) => {
            out.push(result(
                "-",
                "-",
                Outcome::Failed(format!("unreadable suite: {e}")),
            ));
            return;
        }
    };
    if !suite.kind.is_empty() && suite.kind != "Suite" {
        let reason = format!("unreadable suite: kind {:?} is not Suite", suite.kind);
        out.push(result("-", "-", Outcome::Failed(reason)));
        return;
    }
    for test in &suite.tests {
        if test.skip {
            continue;
        }
        let selected: Vec<&Case> = test
            .cases
            .iter()
            .filter(|c| !c.skip && selected(opts.run.as_ref(), &test.name, &c.name))
            .collect();
        if selected.is_empty() {
            continue;
        }
        match prepare(file, test, opts.engine) {
            Ok(prepared) => {
                for case in selected {
                    let outcome = judge_case(file, &prepared, case);
                    out.push(result(&test.name, &case.name, outcome));
                }
            }
            Err(reason) => {
                for case in selected {
                    out.push(result(
                        &test.name,
                        &case.name,
                        Outcome::Failed(reason.clone()),
                    ));
                }
            }
        }
    }
}

/// `--run` selects a test by its name, a single case by its own name, or a case by the
/// full `test/case` name verify prints.
fn selected(run: Option<&Regex>, test: &str, case: &str) -> bool {
    run.is_none_or(|re| {
        re.is_match(test) || re.is_match(case) || re.is_match(&format!("{test}/{case}"))
    })
}

/// Load, compile and bind a test's template and constraint.
fn prepare(file: &Path, test: &Test, choice: EngineChoice) -> Result<Prepared, String> {
    let template_doc = suite::read_one(&suite::resolve(file, &test.template))?;
    let template = ConstraintTemplate::from_value(&template_doc)
        .map_err(|e| format!("template {}: {e}", test.template))?;
    let program = engine::compile(&template, choice).map_err(|e| e.to_string())?;
    let constraint_doc = suite::read_one(&suite::resolve(file, &test.constraint))?;
    let constraint = Constraint::from_value(&constraint_doc)
        .map_err(|e| format!("constraint {}: {e}", test.constraint))?;
    if constraint.kind != template.kind {
        return Err(format!(
            "constraint kind {:?} is not the template's kind {:?}",
            constraint.kind, template.kind
        ));
    }
    // gator binds the parameters as written; schema defaults and checks are the
    // snapshot builder's business, not verify's.
    let program = program
        .bind(&constraint.parameters)
        .map_err(|e| e.to_string())?;
    Ok(Prepared {
        constraint,
        program,
    })
}

/// Evaluate one case and check its assertions.
fn judge_case(file: &Path, prepared: &Prepared, case: &Case) -> Outcome {
    match violations_of(file, prepared, case) {
        Ok(violations) => check(&case.assertions, &violations),
        Err(reason) => Outcome::Failed(reason),
    }
}

fn violations_of(file: &Path, prepared: &Prepared, case: &Case) -> Result<Vec<Violation>, String> {
    if case.object.is_empty() {
        return Err("case has no object".into());
    }
    let review = suite::review_of(suite::read_one(&suite::resolve(file, &case.object))?)?;
    let mut objects = Vec::new();
    for inv in &case.inventory {
        objects.extend(suite::read_docs(&suite::resolve(file, inv))?);
    }
    let namespaces = namespace_labels(&objects);
    let inventory = if objects.is_empty() {
        Value::Null
    } else {
        crate::engine::inventory_of(objects)
    };
    if !applies(&prepared.constraint, &review, &namespaces) {
        return Ok(Vec::new());
    }
    prepared
        .program
        .evaluate(&EvalInput::new(&review, &inventory))
        .map_err(|e| e.to_string())
}

/// Does the constraint's `spec.match` select this review? gator applies match (kinds,
/// namespaces, selectors) before evaluating, so verify does too.
fn applies(
    constraint: &Constraint,
    review: &Review,
    namespaces: &BTreeMap<String, Labels>,
) -> bool {
    constraint.matcher.matches(review, namespaces)
}

/// Labels of the Namespace objects of a case's inventory, for `namespaceSelector`.
fn namespace_labels(objects: &[Value]) -> BTreeMap<String, Labels> {
    crate::engine::namespace_labels(objects)
}

/// Compare violations with every assertion; the reason lists each failed assertion with
/// the messages that were produced.
fn check(assertions: &[Assertion], violations: &[Violation]) -> Outcome {
    let mut problems = Vec::new();
    for (i, a) in assertions.iter().enumerate() {
        let expect = match a.expect() {
            Ok(e) => e,
            Err(e) => {
                problems.push(format!("assertion {i}: {e}"));
                continue;
            }
        };
        let re = match a.message.as_deref().map(Regex::new).transpose() {
            Ok(re) => re,
            Err(e) => {
                problems.push(format!("assertion {i}: bad message regex: {e}"));
                continue;
            }
        };
        let got = violations
            .iter()
            .filter(|v| re.as_ref().is_none_or(|re| re.is_match(&v.msg)))
            .count();
        let ok = match expect {
            Expect::AtLeastOne => got >= 1,
            Expect::Exactly(n) => got == n,
        };
        if !ok {
            let wanted = match expect {
                Expect::AtLeastOne => "at least 1".to_string(),
                Expect::Exactly(n) => n.to_string(),
            };
            let filter = a
                .message
                .as_ref()
                .map(|m| format!(" matching /{m}/"))
                .unwrap_or_default();
            problems.push(format!(
                "assertion {i}: expected {wanted} violation(s){filter}, got {got}"
            ));
        }
    }
    if problems.is_empty() {
        return Outcome::Passed;
    }
    let msgs: Vec<&str> = violations.iter().map(|v| v.msg.as_str()).collect();
    Outcome::Failed(format!("{}; messages: {msgs:?}", problems.join("; ")))
}
