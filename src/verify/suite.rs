//! The gator suite format and the files it points at: templates, constraints, case objects
//! (plain or AdmissionReview) and inventory objects.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::review::Review;

/// `kind: Suite`, `apiVersion: test.gatekeeper.sh/v1alpha1`.
#[derive(Debug, Deserialize)]
pub(super) struct Suite {
    /// Must be `Suite` when given.
    #[serde(default)]
    pub kind: String,
    /// The tests, run in order.
    #[serde(default)]
    pub tests: Vec<Test>,
}

/// One template + constraint and its cases.
#[derive(Debug, Deserialize)]
pub(super) struct Test {
    /// Name, shown in reports and matched by `--run`.
    #[serde(default)]
    pub name: String,
    /// Template file, relative to the suite.
    #[serde(default)]
    pub template: String,
    /// Constraint file, relative to the suite.
    #[serde(default)]
    pub constraint: String,
    /// The cases.
    #[serde(default)]
    pub cases: Vec<Case>,
    /// gator's `skip: true` leaves it out of the run.
    #[serde(default)]
    pub skip: bool,
}

/// One object judged against the test's constraint.
#[derive(Debug, Deserialize)]
pub(super) struct Case {
    /// Name, shown in reports and matched by `--run`.
    #[serde(default)]
    pub name: String,
    /// Object file (plain object or AdmissionReview), relative to the suite.
    #[serde(default)]
    pub object: String,
    /// Inventory files (objects, possibly several per file).
    #[serde(default)]
    pub inventory: Vec<String>,
    /// What the violations must look like.
    #[serde(default)]
    pub assertions: Vec<Assertion>,
    /// gator's `skip: true` leaves it out of the run.
    #[serde(default)]
    pub skip: bool,
}

/// `violations: yes | no | N`, optionally counting only messages matching `message`.
#[derive(Debug, Deserialize)]
pub(super) struct Assertion {
    /// `yes`, `no` or a count; absent means `yes`.
    #[serde(default)]
    pub violations: Option<Value>,
    /// Regex the counted messages must match.
    #[serde(default)]
    pub message: Option<String>,
}

/// The expected count of an assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expect {
    /// At least one (`yes`, and gator's default).
    AtLeastOne,
    /// Exactly this many (`no` is 0).
    Exactly(usize),
}

impl Assertion {
    /// Read `violations`, or say why it cannot be read.
    pub fn expect(&self) -> Result<Expect, String> {
        match &self.violations {
            None => Ok(Expect::AtLeastOne),
            Some(Value::Number(n)) => n
                .as_u64()
                .map(|n| Expect::Exactly(n as usize))
                .ok_or_else(|| format!("violations: {n} is not a count")),
            Some(Value::String(s)) => match s.trim() {
                "yes" => Ok(Expect::AtLeastOne),
                "no" => Ok(Expect::Exactly(0)),
                other => other
                    .parse::<usize>()
                    .map(Expect::Exactly)
                    .map_err(|_| format!("violations: {other:?} is not yes, no or a count")),
            },
            Some(Value::Bool(true)) => Ok(Expect::AtLeastOne),
            Some(Value::Bool(false)) => Ok(Expect::Exactly(0)),
            Some(other) => Err(format!("violations: {other} is not yes, no or a count")),
        }
    }
}

/// A path named in a suite, relative to the suite file's directory.
pub(super) fn resolve(suite: &Path, name: &str) -> PathBuf {
    suite.parent().unwrap_or(Path::new(".")).join(name)
}

/// All YAML documents of a file, empty documents dropped.
pub(crate) fn read_docs(path: &Path) -> Result<Vec<Value>, String> {
    crate::manifests::read_values(path)
}

/// The single document of a file (a template, a constraint or a case object).
pub(super) fn read_one(path: &Path) -> Result<Value, String> {
    let mut docs = read_docs(path)?;
    match docs.len() {
        1 => Ok(docs.remove(0)),
        0 => Err(format!("{}: no document", path.display())),
        n => Err(format!("{}: {n} documents, expected one", path.display())),
    }
}

/// The review of a case object: an AdmissionReview's request, or a plain object as CREATE.
pub(super) fn review_of(doc: Value) -> Result<Review, String> {
    Review::from_case_object(doc)
}
