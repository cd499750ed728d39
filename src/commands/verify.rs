//! `portcullis verify`: flags to options, report to stdout, verdict to the exit code.

use std::process::ExitCode;

use crate::cli::VerifyArgs;
use crate::verify::{run, VerifyOptions};

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
            print!("{report}");
            if report.success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => super::fail("verify", e),
    }
}
