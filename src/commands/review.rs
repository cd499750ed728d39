//! `portcullis review`: one AdmissionReview in, the webhook's AdmissionReview out.

use std::process::ExitCode;

use crate::admission::{self, ReviewResponse};
use crate::cli::ReviewArgs;
use crate::decision;
use crate::snapshot::BuildOptions;
use crate::sources::file::FileSource;

/// Read the review, decide with the policy directory, print the response JSON; exit 1 when
/// the request would be refused.
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
    let review = &decoded.review;
    let validate = |review: &crate::review::Review| {
        decision::validate(&snapshot, review, args.enforcement).decision
    };
    let respond = |answer: &admission::Decision| {
        serde_json::to_value(ReviewResponse::new(
            decoded.version,
            &decoded.review.uid,
            answer,
        ))
        .unwrap_or(serde_json::Value::Null)
    };
    // With --mutate, the two webhooks are chained as the API server chains them: the
    // mutation's patch is applied, then the mutated object is validated.
    let (output, allowed) = if args.mutate {
        let (mutation, judged) = match decision::mutate(&snapshot, review) {
            Ok((answer, Some(outcome))) => (answer, Some(review.with_object(outcome.object))),
            Ok((answer, None)) => (answer, Some(review.clone())),
            Err(e) => (
                decision::mutation_failed(&e, decision::FailurePolicy::Fail),
                None,
            ),
        };
        let validation = judged.as_ref().map(validate);
        let allowed = mutation.allowed && validation.as_ref().is_some_and(|v| v.allowed);
        let output = serde_json::json!({
            "mutate": respond(&mutation),
            "validate": validation.as_ref().map(respond),
        });
        (output, allowed)
    } else {
        let answer = validate(review);
        (respond(&answer), answer.allowed)
    };
    match serde_json::to_string_pretty(&output) {
        // A reader that went away (`| head`) ends the output quietly.
        Ok(s) => {
            let _ = super::emit(&format!("{s}\n"));
        }
        Err(e) => return super::fail("cannot encode response", e),
    }
    // Exit 1 when the request would be refused, like `test` and `audit`.
    if allowed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
