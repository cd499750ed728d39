//! gator-compatible suites (`portcullis verify`). Placeholder until the verify work lands.

use std::process::ExitCode;

/// Run `portcullis verify`.
pub fn run_cli(args: crate::cli::VerifyArgs) -> ExitCode {
    let _ = args;
    eprintln!("error: verify is not available in this build");
    ExitCode::from(2)
}
