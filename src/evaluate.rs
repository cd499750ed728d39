//! Validation of one review against a snapshot: match, evaluate, resolve actions.

use serde_json::Value;

use crate::engine::{EngineError, EvalInput};
use crate::matching::NamespaceLookup;
use crate::policy::{Action, Enforcement, PolicySnapshot};
use crate::review::Review;

/// One violation with the constraint that raised it and the action that applies.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Constraint kind.
    pub kind: String,
    /// Constraint name.
    pub constraint: String,
    /// The message.
    pub msg: String,
    /// Structured details, if the program gave any.
    pub details: Option<Value>,
    /// What it does at this enforcement point.
    pub action: Action,
}

/// A constraint whose program failed on this review.
#[derive(Debug, Clone)]
pub struct EvalFailure {
    /// Constraint kind.
    pub kind: String,
    /// Constraint name.
    pub constraint: String,
    /// True when the constraint denies at this enforcement point, so the failure must
    /// deny too rather than silently admit.
    pub denies: bool,
    /// The engine's error.
    pub error: EngineError,
}

/// Outcome of validating one review.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    /// Violations, in constraint order.
    pub hits: Vec<Hit>,
    /// Programs that failed.
    pub failures: Vec<EvalFailure>,
}

impl Evaluation {
    /// Violations with a given action.
    pub fn with_action(&self, action: Action) -> impl Iterator<Item = &Hit> {
        self.hits.iter().filter(move |h| h.action == action)
    }

    /// True when any violation denies.
    pub fn denies(&self) -> bool {
        self.hits.iter().any(|h| h.action == Action::Deny)
    }
}

/// Judge a review against every matching constraint at an enforcement point
/// (`validation.gatekeeper.sh`, `audit.gatekeeper.sh`, `gator.gatekeeper.sh`).
pub fn validate(snapshot: &PolicySnapshot, review: &Review, point: &str) -> Evaluation {
    judge(
        snapshot,
        review,
        point,
        &EvalInput::with_inventory(review, &snapshot.inventory),
        snapshot.namespaces.as_ref(),
    )
}

/// [`validate`] with an explicit `data.inventory` and namespace labels: audit judges
/// objects against the namespaces it listed (or found among manifests), not only those of
/// the policy set.
pub fn validate_in(
    snapshot: &PolicySnapshot,
    review: &Review,
    point: &str,
    inventory: &Value,
    namespaces: &dyn NamespaceLookup,
) -> Evaluation {
    judge(
        snapshot,
        review,
        point,
        &EvalInput::new(review, inventory),
        namespaces,
    )
}

/// Evaluate every constraint that applies at `point` on one prepared input.
fn judge(
    snapshot: &PolicySnapshot,
    review: &Review,
    point: &str,
    input: &EvalInput<'_>,
    namespaces: &dyn NamespaceLookup,
) -> Evaluation {
    let mut out = Evaluation::default();
    for active in snapshot.constraints.iter() {
        let c = &active.constraint;
        // A uniform action (nearly every constraint) is borrowed in place: resolving it
        // through `actions_at` would allocate a Vec per constraint per request.
        let scoped;
        let actions: &[Action] = match &c.enforcement {
            Enforcement::Uniform(action) => std::slice::from_ref(action),
            other => {
                scoped = other.actions_at(point);
                &scoped
            }
        };
        if actions.is_empty() || !c.matcher.matches(review, namespaces) {
            continue;
        }
        match active.program.evaluate(input) {
            Ok(violations) => {
                out.hits
                    .reserve(violations.len().saturating_mul(actions.len()));
                let Some((last, rest)) = actions.split_last() else {
                    continue;
                };
                for v in violations {
                    // The message and details move into the last hit; only a scoped
                    // constraint with several actions pays for copies.
                    for action in rest {
                        out.hits.push(Hit {
                            kind: c.kind.clone(),
                            constraint: c.name.clone(),
                            msg: v.msg.clone(),
                            details: v.details.clone(),
                            action: *action,
                        });
                    }
                    out.hits.push(Hit {
                        kind: c.kind.clone(),
                        constraint: c.name.clone(),
                        msg: v.msg,
                        details: v.details,
                        action: *last,
                    });
                }
            }
            Err(error) => out.failures.push(EvalFailure {
                kind: c.kind.clone(),
                constraint: c.name.clone(),
                denies: actions.contains(&Action::Deny),
                error,
            }),
        }
    }
    out
}
