//! The `portcullis` binary: parse the command line, set up logging, dispatch.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = portcullis::cli::Cli::parse();
    portcullis::telemetry::init(cli.log_format);
    portcullis::commands::run(cli)
}
