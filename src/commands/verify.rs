//! `portcullis verify`: flags to options, report to stdout, verdict to the exit code.

use std::process::ExitCode;

use serde_json::json;

use crate::cli::{OutputFormat, VerifyArgs};
use crate::verify::{run, Outcome, VerifyOptions, VerifyReport};

/// Run suites; exit 0 when every case passed, 1 when any failed, 2 on usage errors.
pub fn run_cli(args: VerifyArgs) -> ExitCode {
    let run_filter = match args.run.as_deref().map(regex::Regex::new).transpose() {
        Ok(r) => r,
        Err(e) => return super::fail("--run is not a valid regex", e),
    };
    let opts = VerifyOptions {
        run: run_filter,
        verbose: args.verbose,
        engine: crate::cli::engine_choice(args.engine),
    };
    match run(&args.paths, &opts) {
        Ok(report) => {
            // A reader that went away (`| head`) ends the output quietly.
            let _ = super::emit(&render(&report, args.output));
            if report.success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => super::fail("verify", e),
    }
}

/// The report in the asked format (`text`: gator's lines and summary).
fn render(report: &VerifyReport, format: OutputFormat) -> String {
    let reason = |o: &Outcome| match o {
        Outcome::Passed => None,
        Outcome::Failed(why) => Some(why.clone()),
    };
    let structured = || {
        json!({
            "cases": report.cases.iter().map(|c| json!({
                "suite": c.suite.display().to_string(), "test": c.test, "case": c.case,
                "passed": c.outcome == Outcome::Passed, "reason": reason(&c.outcome),
            })).collect::<Vec<_>>(),
            "passed": report.passed(),
            "failed": report.failed(),
        })
    };
    match format {
        OutputFormat::Text => report.to_string(),
        OutputFormat::Json => {
            serde_json::to_string_pretty(&structured()).unwrap_or_default() + "\n"
        }
        OutputFormat::Yaml => serde_saphyr::to_string(&structured()).unwrap_or_default(),
        OutputFormat::Junit => {
            let cases: Vec<super::junit::Case> = report
                .cases
                .iter()
                .map(|c| super::junit::Case {
                    name: format!("{}/{}", c.test, c.case),
                    classname: c.suite.display().to_string(),
                    failure: reason(&c.outcome).map(|why| (why.clone(), why)),
                    ..super::junit::Case::default()
                })
                .collect();
            super::junit::render("portcullis verify", &cases)
        }
    }
}
