//! `portcullis audit`: audit manifests as if they had been applied to a cluster, reporting
//! per constraint like Gatekeeper's constraint status, with a CI-friendly exit code.

use std::process::ExitCode;

use crate::audit::{self, offline::ManifestSource, AuditOptions};
use crate::cli::{AuditArgs, OutputFormat};
use crate::policy::BuildOptions;
use crate::sources::file::FileSource;

/// Audit every object under `args.paths`: exit 0 when clean (warn and dryrun violations
/// included), 1 on any deny violation, 2 on unreadable input, a rejected policy set or a
/// template that failed to evaluate.
pub fn run(args: AuditArgs) -> ExitCode {
    let source = FileSource::new(
        &args.policies,
        BuildOptions {
            engine: crate::cli::engine_choice(args.engine),
        },
    );
    let snapshot = match source.load() {
        Ok(s) => s,
        Err(e) => return super::fail("policy set rejected", e),
    };
    let objects = ManifestSource::new(args.paths);
    let opts = AuditOptions { limit: args.limit };
    let report = match audit::audit(&snapshot, &objects, &opts) {
        Ok(r) => r,
        Err(e) => return super::fail("audit", e),
    };
    match args.output {
        OutputFormat::Text => print!("{}", report.to_text()),
        OutputFormat::Json => match serde_json::to_string_pretty(&report.to_json()) {
            Ok(s) => println!("{s}"),
            Err(e) => return super::fail("cannot encode the report", e),
        },
    }
    if report.total_failures() > 0 {
        ExitCode::from(2)
    } else if report.denies() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
