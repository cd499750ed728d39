//! `portcullis review`: one AdmissionReview in, the webhook's AdmissionReview out.

use std::process::ExitCode;

use crate::admission::{self, ReviewResponse};
use crate::cli::ReviewArgs;
use crate::decision;
use crate::snapshot::BuildOptions;
use crate::sources::file::FileSource;

/// Read the review, decide with the policy directory, print the response JSON.
pub fn run(args: ReviewArgs) -> ExitCode {
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
    let body = if args.file.as_os_str() == "-" {
        let mut buf = Vec::new();
        if let Err(e) = std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf) {
            return super::fail("cannot read standard input", e);
        }
        buf
    } else {
        match std::fs::read(&args.file) {
            Ok(b) => b,
            Err(e) => return super::fail(&args.file.display().to_string(), e),
        }
    };
    let decoded = match admission::decode(&body) {
        Ok(d) => d,
        Err(e) => return super::fail("malformed AdmissionReview", e),
    };
    let answer = if args.mutate {
        match decision::mutate(&snapshot, &decoded.review) {
            Ok((d, _)) => d,
            Err(e) => admission::Decision {
                allowed: false,
                code: 500,
                message: Some(format!("mutation failed: {e}")),
                ..admission::Decision::default()
            },
        }
    } else {
        decision::validate(&snapshot, &decoded.review, args.enforcement).decision
    };
    let resp = ReviewResponse::new(decoded.version, &decoded.review.uid, &answer);
    match serde_json::to_string_pretty(&resp) {
        Ok(s) => println!("{s}"),
        Err(e) => return super::fail("cannot encode response", e),
    }
    ExitCode::SUCCESS
}
