//! The subcommands. Each returns a process exit code: 0 success, 1 policy verdict
//! (`test` or `audit` found deny-level violations, `verify` had failures), 2 usage or policy
//! errors.

pub mod audit;
pub mod cert;
pub mod crd;
pub mod expand;
pub mod junit;
mod preview;
pub mod replay;
pub mod review;
pub mod serve;
mod serve_coordination;
pub mod test;
pub mod vap;
pub mod verify;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Run the parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Review(args) => review::run(args),
        Command::Test(args) => test::run(args),
        Command::Verify(args) => verify::run_cli(args),
        Command::Cert(args) => cert::run(args),
        Command::Crd(args) => crd::run(args),
        Command::Expand(args) => expand::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Vap(args) => vap::run(args),
    }
}

/// Print an error for the user and return exit code 2.
/// Write `text` to standard output. A reader that went away (`| head`) ends the output
/// quietly instead of panicking as `print!` does; the caller stops writing.
pub(crate) fn emit(text: &str) -> Result<(), ()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).map_err(|_| ())
}

pub(crate) fn fail(context: &str, err: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {context}: {err}");
    ExitCode::from(2)
}
