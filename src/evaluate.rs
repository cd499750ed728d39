//! Validation of one review against a snapshot: match, evaluate, resolve actions.

#![deny(clippy::indexing_slicing)]

use serde_json::Value;

use crate::deadline::Deadline;
use crate::engine::{EngineError, EvalInput, Inventory};
use crate::matching::NamespaceLookup;
use crate::policy::{Action, Enforcement};
use crate::review::Review;
use crate::snapshot::PolicySnapshot;

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

impl EvalFailure {
    /// True when the constraint was cut off (or never reached) because the request's
    /// deadline passed, rather than failing on its own.
    pub fn timed_out(&self) -> bool {
        matches!(self.error, EngineError::DeadlineExceeded)
    }
}

impl Evaluation {
    /// The first constraint cut off by the deadline, if any.
    pub fn timed_out(&self) -> Option<&EvalFailure> {
        self.failures.iter().find(|f| f.timed_out())
    }

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
    validate_within(snapshot, review, point, Deadline::NONE)
}

/// [`validate`] cut off at `deadline`: the constraint running when it passes, and every
/// matching constraint after it, fail with [`EngineError::DeadlineExceeded`], so the caller
/// knows which constraints were not judged and can answer by its failure policy.
pub fn validate_within(
    snapshot: &PolicySnapshot,
    review: &Review,
    point: &str,
    deadline: Deadline,
) -> Evaluation {
    with_expansion(snapshot, review, deadline, |r| {
        judge(
            snapshot,
            r,
            point,
            &EvalInput::with_inventory(r, &snapshot.inventory).with_deadline(deadline),
            snapshot.namespaces.as_ref(),
        )
    })
}

/// Judge `review` with `judge`, then every resource it expands to ([`crate::expand`]):
/// their violations join the review's, prefixed `[Implied by <template>]` and under the
/// template's action when it sets one; an expansion that fails is a failure that denies,
/// as Gatekeeper fails such a review.
fn with_expansion(
    snapshot: &PolicySnapshot,
    review: &Review,
    deadline: Deadline,
    judge: impl Fn(&Review) -> Evaluation,
) -> Evaluation {
    let mut out = judge(review);
    if snapshot.expansions.is_empty() {
        return out;
    }
    match crate::expand::expand(snapshot, review, deadline) {
        Ok(resultants) => {
            for r in resultants {
                let child = judge(&r.review);
                out.hits.extend(child.hits.into_iter().map(|mut h| {
                    h.msg = format!("[Implied by {}] {}", r.template, h.msg);
                    if let Some(action) = r.action {
                        h.action = action;
                    }
                    h
                }));
                out.failures.extend(child.failures.into_iter().map(|mut f| {
                    if let Some(action) = r.action {
                        f.denies = action == Action::Deny;
                    }
                    f
                }));
            }
        }
        Err(message) => out.failures.push(EvalFailure {
            kind: "ExpansionTemplate".into(),
            constraint: "expansion".into(),
            denies: true,
            error: EngineError::Evaluate {
                engine: "expansion",
                message: format!("unable to expand object: {message}"),
            },
        }),
    }
    out
}

/// [`validate`] with an explicit `data.inventory` and namespace labels: audit judges
/// objects against the namespaces it listed (or found among manifests), not only those of
/// the policy set. The inventory is shared across the objects of a sweep, so what the
/// engines derive from it (the Rego value, the unique-host index) is made once.
pub fn validate_in(
    snapshot: &PolicySnapshot,
    review: &Review,
    point: &str,
    inventory: &Inventory,
    namespaces: &dyn NamespaceLookup,
) -> Evaluation {
    with_expansion(snapshot, review, Deadline::NONE, |r| {
        judge(
            snapshot,
            r,
            point,
            &EvalInput::with_inventory(r, inventory),
            namespaces,
        )
    })
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
    // Once the deadline passes, the remaining constraints are matched (cheap, bounded by the
    // policy) but not evaluated, and reported as cut off.
    let mut out_of_time = false;
    // Only the constraints whose kinds cover the review's are looked at: with hundreds of
    // constraints over many kinds, the rest cost nothing.
    let (group, kind) = (review.gvk.group.as_str(), review.gvk.kind.as_str());
    for active in snapshot.constraints.for_kind(group, kind) {
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
        if actions.is_empty() {
            continue;
        }
        let result = match c.matcher.check(review, namespaces) {
            Ok(false) => continue,
            Ok(true) => None,
            Err(error) => Some(autoreject(review, error)),
        };
        let result = if let Some(rejected) = result {
            Ok(vec![rejected])
        } else if out_of_time || input.deadline.expired() {
            Err(EngineError::DeadlineExceeded)
        } else {
            active.program.evaluate(input)
        };
        if matches!(result, Err(EngineError::DeadlineExceeded)) {
            out_of_time = true;
        }
        match result {
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

/// The violation a constraint raises when its match cannot be decided (a selector the API
/// machinery cannot parse): Gatekeeper rejects the review under the constraint's own
/// enforcement action rather than let it through unjudged, with this message.
fn autoreject(review: &Review, error: &str) -> crate::engine::Violation {
    crate::engine::Violation {
        msg: format!(
            "unable to match constraints: error matching the requested object: {} :failed to \
             run Match criteria: {error}",
            review.name
        ),
        details: None,
    }
}
