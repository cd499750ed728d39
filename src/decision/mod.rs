//! From evaluation to decision: what the webhook answers for a review, shared by the
//! HTTPS handlers and `portcullis review` so that both answer identically.

use crate::admission::Decision;
use crate::evaluate::{self, Evaluation};
use crate::mutation::{MutationError, MutationOutcome};
use crate::policy::enforcement::VALIDATION_POINT;
use crate::policy::{Action, PolicySnapshot};
use crate::review::Review;

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

/// Judge a review for `/validate`.
pub fn validate(snapshot: &PolicySnapshot, review: &Review, mode: ServerEnforcement) -> Validation {
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
    let evaluation = evaluate::validate(snapshot, review, VALIDATION_POINT);
    let mut denials: Vec<String> = evaluation
        .with_action(Action::Deny)
        .map(|h| format!("[{}] {}", h.constraint, h.msg))
        .collect();
    let failed_deny: Vec<String> = evaluation
        .failures
        .iter()
        .filter(|f| f.denies)
        .map(|f| format!("[{}] policy evaluation failed: {}", f.constraint, f.error))
        .collect();
    let warnings: Vec<String> = evaluation
        .with_action(Action::Warn)
        .map(|h| format!("[{}] {}", h.constraint, h.msg))
        .collect();
    let policy_denies = !denials.is_empty() || !failed_deny.is_empty();
    let decision = if !policy_denies || mode == ServerEnforcement::Dryrun {
        Decision {
            warnings,
            ..Decision::allow()
        }
    } else {
        // An evaluation failure answers 500, as Gatekeeper does; violations 403.
        let code = if failed_deny.is_empty() { 403 } else { 500 };
        denials.extend(failed_deny);
        Decision {
            allowed: false,
            code,
            message: Some(denials.join("\n")),
            warnings,
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

/// Mutate a review for `/mutate`: always admits; the patch carries the changes.
pub fn mutate(
    snapshot: &PolicySnapshot,
    review: &Review,
) -> Result<(Decision, Option<MutationOutcome>), MutationError> {
    let ns = if review.is_namespace() {
        review.name.as_str()
    } else {
        review.namespace.as_str()
    };
    if snapshot.mutators.is_empty()
        || snapshot.config.is_exempt(MUTATION_PROCESS, ns)
        || review.object().is_null()
        || !matches!(
            review.operation,
            crate::review::Operation::Create | crate::review::Operation::Update
        )
    {
        return Ok((Decision::allow(), None));
    }
    let outcome = snapshot.mutators.mutate(review, &snapshot.namespaces)?;
    let decision = Decision {
        patch: Some(outcome.patch.clone()),
        ..Decision::allow()
    };
    Ok((decision, Some(outcome)))
}

#[cfg(test)]
mod tests;
