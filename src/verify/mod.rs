//! `portcullis verify`: run gator-verify suites (`test.gatekeeper.sh/v1alpha1`, kind `Suite`)
//! so that the test suites people already keep beside their Gatekeeper policies work
//! unchanged.
//!
//! Each suite names tests; a test is one ConstraintTemplate, one Constraint and a list of
//! cases; a case is an object (a plain manifest judged as a CREATE, or a whole
//! AdmissionReview), optional inventory objects (`data.inventory`) and assertions on the
//! number of violations, optionally restricted to messages matching a regex.
//!
//! Like gator, every violation counts whatever the constraint's enforcementAction, and the
//! constraint's `spec.match` is honoured (a case whose object the constraint does not
//! match has no violations).

#![deny(clippy::indexing_slicing)]

mod judge;
pub(crate) mod suite;

use std::fmt;
use std::path::{Path, PathBuf};

use regex::Regex;

use crate::engine::EngineChoice;

/// How to run suites (the flags of `portcullis verify`).
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Only tests whose name matches (`--run`).
    pub run: Option<Regex>,
    /// Print every case, not only failures (`-v`).
    pub verbose: bool,
    /// Which engine judges the templates (`--engine`).
    pub engine: EngineChoice,
}

/// Errors that stop a verify run before any suite is judged.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// A path given on the command line does not exist or cannot be listed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// No `suite.yaml` was found under the given paths.
    #[error("no suite found under {0}")]
    NoSuites(String),
}

/// The outcome of one case.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Every assertion held.
    Passed,
    /// An assertion failed, or the case could not be judged; the reason says which.
    Failed(String),
}

/// One judged case, named the way gator names it (suite file, test, case).
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The suite file.
    pub suite: PathBuf,
    /// Test name.
    pub test: String,
    /// Case name.
    pub case: String,
    /// Pass or failure with its reason.
    pub outcome: Outcome,
}

/// Everything a verify run found; `Display` prints failures (every case when verbose) and
/// ends with `<P> passed, <F> failed`.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// Cases in suite, test and case order.
    pub cases: Vec<CaseResult>,
    /// Print passing cases too.
    pub verbose: bool,
}

impl VerifyReport {
    /// Number of passing cases.
    pub fn passed(&self) -> usize {
        self.cases
            .iter()
            .filter(|c| c.outcome == Outcome::Passed)
            .count()
    }

    /// Number of failing cases.
    pub fn failed(&self) -> usize {
        self.cases.len() - self.passed()
    }

    /// True when every case passed (the CLI's exit status).
    pub fn success(&self) -> bool {
        self.failed() == 0
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.cases {
            let name = format!("{}: {}/{}", c.suite.display(), c.test, c.case);
            match &c.outcome {
                Outcome::Passed if self.verbose => writeln!(f, "PASS {name}")?,
                Outcome::Passed => {}
                Outcome::Failed(reason) => writeln!(f, "FAIL {name}: {reason}")?,
            }
        }
        writeln!(f, "{} passed, {} failed", self.passed(), self.failed())
    }
}

/// Run every suite found under `paths` (files are taken as suites, directories are searched
/// recursively for `suite.yaml`).
pub fn run(paths: &[PathBuf], opts: &VerifyOptions) -> Result<VerifyReport, VerifyError> {
    let mut files = Vec::new();
    for p in paths {
        collect(p, &mut files)?;
    }
    if files.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(VerifyError::NoSuites(shown.join(", ")));
    }
    let mut report = VerifyReport {
        cases: Vec::new(),
        verbose: opts.verbose,
    };
    for file in files {
        judge::run_suite(&file, opts, &mut report.cases);
    }
    Ok(report)
}

/// Add `path` (a suite file) or the `suite.yaml` files under it (a directory), sorted.
fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), VerifyError> {
    let io = |source| VerifyError::Io {
        path: path.display().to_string(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect(&entry, out)?;
        } else if entry.file_name().is_some_and(|n| n == "suite.yaml") {
            out.push(entry);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
