//! From evaluation to decision: what the webhook answers for a review, shared by the
//! HTTPS handlers and `portcullis review` so that both answer identically.

#![deny(clippy::indexing_slicing)]

use crate::admission::Decision;
use crate::deadline::Deadline;
use crate::evaluate::{self, Evaluation};
use crate::mutation::{MutationError, MutationOutcome};
use crate::policy::enforcement::VALIDATION_POINT;
use crate::policy::Action;
use crate::review::Review;
use crate::snapshot::PolicySnapshot;

/// Server-wide enforcement (`--enforcement`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ServerEnforcement {
    /// Constraints act as configured.
    #[default]
    Deny,
    /// Nothing is denied; would-be denials are logged and counted.
    Dryrun,
}

/// Process names of Gatekeeper's Config exemptions.
pub const WEBHOOK_PROCESS: &str = "webhook";
/// Process name of the mutation webhook.
pub const MUTATION_PROCESS: &str = "mutation-webhook";

/// The validation outcome: the answer and what led to it.
#[derive(Debug, Clone)]
pub struct Validation {
    /// The answer.
    pub decision: Decision,
    /// All violations and failures.
    pub evaluation: Evaluation,
    /// True when policy denied but server-wide dry-run admitted the request.
    pub would_deny: bool,
    /// True when the namespace is exempted by Config.
    pub exempt: bool,
}

/// What the API server does when the webhook cannot answer, as its `failurePolicy` says.
/// portcullis answers the same way when it cannot finish a request in time (or within its
/// limits), so that cutting off an expensive evaluation neither opens the door that `Fail`
/// keeps shut nor blocks writes that `Ignore` lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FailurePolicy {
    /// Reject the request (HTTP-style code 500, naming what was not judged).
    #[default]
    #[value(name = "Fail", alias = "fail")]
    Fail,
    /// Admit the request with a warning naming what was not judged.
    #[value(name = "Ignore", alias = "ignore")]
    Ignore,
}

impl FailurePolicy {
    /// The spelling of `failurePolicy`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailurePolicy::Fail => "Fail",
            FailurePolicy::Ignore => "Ignore",
        }
    }
}

/// How far one request may go, and what to answer when it cannot finish.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bounds {
    /// When evaluation must stop.
    pub deadline: Deadline,
    /// The answer when it stops early.
    pub failure_policy: FailurePolicy,
}

/// At most this many violation lines go into a denial message, and as many into warnings:
/// an object with tens of thousands of bad containers must not make an answer of megabytes
/// that the API server stores in events and returns to clients. The rest are counted.
pub const MAX_MESSAGE_LINES: usize = 100;

/// A line of a message longer than this is cut (with an ellipsis): messages quote object
/// fields, which a tenant controls.
pub const MAX_LINE_CHARS: usize = 1024;

/// Judge a review for `/validate`.
pub fn validate(snapshot: &PolicySnapshot, review: &Review, mode: ServerEnforcement) -> Validation {
    validate_within(snapshot, review, mode, Bounds::default())
}

/// [`validate`] within `bounds`: constraints cut off by the deadline are answered as the
/// failure policy says, naming the first of them.
pub fn validate_within(
    snapshot: &PolicySnapshot,
    review: &Review,
    mode: ServerEnforcement,
    bounds: Bounds,
) -> Validation {
    let ns = if review.is_namespace() {
        review.name.as_str()
    } else {
        review.namespace.as_str()
    };
    if snapshot.config.is_exempt(WEBHOOK_PROCESS, ns) {
        return Validation {
            decision: Decision::allow(),
            evaluation: Evaluation::default(),
            would_deny: false,
            exempt: true,
        };
    }
    let evaluation = evaluate::validate_within(snapshot, review, VALIDATION_POINT, bounds.deadline);
    let mut denials: Vec<String> = evaluation
        .with_action(Action::Deny)
        .map(|h| format!("[{}] {}", h.constraint, h.msg))
        .collect();
    let failed_deny: Vec<String> = evaluation
        .failures
        .iter()
        .filter(|f| f.denies && !f.timed_out())
        .map(|f| format!("[{}] policy evaluation failed: {}", f.constraint, f.error))
        .collect();
    let mut warnings: Vec<String> = evaluation
        .with_action(Action::Warn)
        .map(|h| format!("[{}] {}", h.constraint, h.msg))
        .collect();
    let unjudged: Vec<&str> = evaluation
        .failures
        .iter()
        .filter(|f| f.denies && f.timed_out())
        .map(|f| f.constraint.as_str())
        .collect();
    let timed_out = unjudged.first().map(|first| {
        let more = match unjudged.len() - 1 {
            0 => String::new(),
            n => format!(" ({n} more constraints not judged)"),
        };
        format!(
            "[{first}] not judged: evaluation exceeded the webhook's deadline{more}; failure policy {}",
            bounds.failure_policy.as_str()
        )
    });
    let fail_closed = timed_out.is_some() && bounds.failure_policy == FailurePolicy::Fail;
    if let (Some(line), FailurePolicy::Ignore) = (&timed_out, bounds.failure_policy) {
        warnings.push(line.clone());
    }
    let policy_denies = !denials.is_empty() || !failed_deny.is_empty() || fail_closed;
    let decision = if !policy_denies || mode == ServerEnforcement::Dryrun {
        Decision {
            warnings: cap_lines(warnings),
            ..Decision::allow()
        }
    } else {
        // An evaluation failure (or a deadline under failure policy Fail) answers 500, as
        // Gatekeeper does for errors and the API server for a webhook that times out;
        // violations answer 403.
        let code = if failed_deny.is_empty() && !fail_closed {
            403
        } else {
            500
        };
        denials.extend(failed_deny);
        if fail_closed {
            denials.extend(timed_out);
        }
        Decision {
            allowed: false,
            code,
            message: Some(cap_lines(denials).join("\n")),
            warnings: cap_lines(warnings),
            patch: None,
        }
    };
    Validation {
        decision,
        evaluation,
        would_deny: policy_denies && mode == ServerEnforcement::Dryrun,
        exempt: false,
    }
}

/// Keep the first [`MAX_MESSAGE_LINES`] lines, each cut to [`MAX_LINE_CHARS`], and say how
/// many were left out.
pub fn cap_lines(mut lines: Vec<String>) -> Vec<String> {
    let extra = lines.len().saturating_sub(MAX_MESSAGE_LINES);
    lines.truncate(MAX_MESSAGE_LINES);
    for line in &mut lines {
        crate::text::truncate(line, MAX_LINE_CHARS);
    }
    if extra > 0 {
        lines.push(format!("... and {extra} more"));
    }
    lines
}

/// The API groups of Gatekeeper's own objects, which its mutating webhook never mutates
/// (a mutator must not rewrite the policy that governs it). Listed one by one as Gatekeeper
/// does, not as `*.gatekeeper.sh`.
pub const UNMUTATED_GROUPS: [&str; 7] = [
    "templates.gatekeeper.sh",
    "constraints.gatekeeper.sh",
    "mutations.gatekeeper.sh",
    "config.gatekeeper.sh",
    "externaldata.gatekeeper.sh",
    "expansion.gatekeeper.sh",
    "status.gatekeeper.sh",
];

/// Mutate a review for `/mutate`: always admits; the patch carries the changes.
pub fn mutate(
    snapshot: &PolicySnapshot,
    review: &Review,
) -> Result<(Decision, Option<MutationOutcome>), MutationError> {
    mutate_within(snapshot, review, Deadline::NONE)
}

/// [`mutate`] cut off at `deadline`.
pub fn mutate_within(
    snapshot: &PolicySnapshot,
    review: &Review,
    deadline: Deadline,
) -> Result<(Decision, Option<MutationOutcome>), MutationError> {
    let ns = if review.is_namespace() {
        review.name.as_str()
    } else {
        review.namespace.as_str()
    };
    if snapshot.mutators.is_empty()
        || snapshot.config.is_exempt(MUTATION_PROCESS, ns)
        || review.object().is_null()
        || UNMUTATED_GROUPS.contains(&review.gvk.group.as_str())
        || !matches!(
            review.operation,
            crate::review::Operation::Create | crate::review::Operation::Update
        )
    {
        return Ok((Decision::allow(), None));
    }
    let outcome = snapshot
        .mutators
        .mutate_within(review, &snapshot.namespaces, deadline)?;
    let decision = Decision {
        patch: Some(outcome.patch.clone()),
        ..Decision::allow()
    };
    Ok((decision, Some(outcome)))
}

/// The answer to a mutation that failed. A mutation cut off by the deadline or by a limit
/// on its size is answered as the webhook's failure policy says (the API server would do
/// the same had the webhook not answered in time); any other failure rejects with 500, as
/// Gatekeeper does.
pub fn mutation_failed(error: &MutationError, policy: FailurePolicy) -> Decision {
    let exhausted = error.is_exhaustion();
    let mut line = format!("mutation failed: {error}");
    crate::text::truncate(&mut line, MAX_LINE_CHARS);
    if exhausted && policy == FailurePolicy::Ignore {
        return Decision {
            warnings: vec![format!(
                "{line}; admitted unmutated by failure policy Ignore"
            )],
            ..Decision::allow()
        };
    }
    Decision {
        allowed: false,
        code: 500,
        message: Some(line),
        ..Decision::default()
    }
}

#[cfg(test)]
mod tests;
