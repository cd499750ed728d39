//! The `portcullis` binary: parse the command line, set up logging, dispatch.

use clap::Parser;

/// mimalloc instead of the system allocator: a review is decoded into many small maps and
/// strings and freed a few microseconds later, the pattern where glibc malloc spends most
/// of its time (it was the top of the request profile).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = portcullis::cli::Cli::parse();
    portcullis::telemetry::init(cli.log_format, cli.log_level);
    portcullis::commands::run(cli)
}
