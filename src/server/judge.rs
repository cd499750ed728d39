//! Judging one decoded review for `/validate` or `/mutate`, on an evaluation thread: the
//! decision, its metrics and its log lines.
//!
//! Metric labels take only values the policy set bounds (constraint and mutator names, and
//! kinds it names or Kubernetes defines; any other kind is `other`), and log lines quote
//! request fields cut to [`text::MAX_FIELD_CHARS`]: a tenant choosing kinds and names must
//! not grow the metrics or the logs without bound.

use axum::response::Response;

use super::handlers::json_response;
use super::AppState;
use crate::admission::{Decision, DecodedReview, ReviewResponse};
use crate::deadline::Deadline;
use crate::decision::{self, Bounds};
use crate::impact;
use crate::metrics::{EndpointLabels, MutatorLabels, RequestLabels, ViolationLabels};
use crate::policy::Action;
use crate::snapshot::PolicySnapshot;
use crate::text;

fn count(
    state: &AppState,
    snapshot: &PolicySnapshot,
    endpoint: &'static str,
    d: &DecodedReview,
    decision: &'static str,
) {
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            endpoint,
            operation: d.review.operation.as_str(),
            kind: snapshot.metric_kind(&d.review.gvk.kind).to_string(),
            decision,
        })
        .inc();
}

fn deadline_hit(state: &AppState, endpoint: &'static str) {
    state
        .metrics
        .deadline_exceeded
        .get_or_create(&EndpointLabels { endpoint })
        .inc();
}

/// Judge for `/validate`.
pub(super) fn validate(state: &AppState, decoded: DecodedReview, deadline: Deadline) -> Response {
    let snapshot = state.store.load();
    let bounds = Bounds {
        deadline,
        failure_policy: state.gate.limits.validate_failure_policy,
    };
    let outcome = decision::validate_within(&snapshot, &decoded.review, state.enforcement, bounds);
    for hit in &outcome.evaluation.hits {
        state
            .metrics
            .violations
            .get_or_create(&ViolationLabels {
                constraint: hit.constraint.clone(),
                enforcement_action: hit.action.as_str(),
            })
            .inc();
    }
    let r = &decoded.review;
    let uid = text::field(&r.uid);
    for f in &outcome.evaluation.failures {
        if !f.timed_out() {
            tracing::error!(uid = %uid, constraint = %f.constraint, error = %f.error, "policy evaluation failed");
        }
    }
    if let Some(first) = outcome.evaluation.timed_out() {
        deadline_hit(state, "validate");
        tracing::warn!(
            uid = %uid, kind = %text::field(&r.gvk.kind), namespace = %text::field(&r.namespace),
            name = %text::field(&r.name), constraint = %first.constraint,
            policy = bounds.failure_policy.as_str(),
            "evaluation deadline exceeded; answered by the failure policy"
        );
    }
    state.events.admission(
        &snapshot,
        r,
        &outcome.evaluation.hits,
        state.enforcement == crate::decision::ServerEnforcement::Dryrun,
    );
    let label = if outcome.decision.allowed {
        "allowed"
    } else {
        "denied"
    };
    if !outcome.decision.allowed || outcome.would_deny {
        let constraints: Vec<&str> = outcome
            .evaluation
            .hits
            .iter()
            .filter(|h| h.action == Action::Deny)
            .map(|h| h.constraint.as_str())
            .take(decision::MAX_MESSAGE_LINES)
            .collect();
        if outcome.would_deny {
            state.metrics.dryrun_denials.inc();
        }
        tracing::info!(
            uid = %uid, kind = %text::field(&r.gvk.kind), namespace = %text::field(&r.namespace),
            name = %text::field(&r.name), operation = r.operation.as_str(), dry_run = decoded.dry_run,
            constraints = ?constraints,
            enforcement = if outcome.would_deny { "dryrun" } else { "deny" },
            "{}", if outcome.would_deny { "request would be denied (server dry-run)" } else { "request denied" }
        );
    }
    count(state, &snapshot, "validate", &decoded, label);
    let response =
        json_response(ReviewResponse::new(decoded.version, &r.uid, &outcome.decision).to_vec());
    state.tap.observe(
        impact::Endpoint::Validate,
        decoded.review,
        &outcome.decision,
        &[],
    );
    response
}

/// Judge for `/mutate`.
pub(super) fn mutate(state: &AppState, decoded: DecodedReview, deadline: Deadline) -> Response {
    let snapshot = state.store.load();
    let r = &decoded.review;
    let mut applied = Vec::new();
    let (answer, label) = match decision::mutate_within(&snapshot, r, deadline) {
        Ok((d, outcome)) => {
            applied = outcome.map(|o| o.applied).unwrap_or_default();
            for m in &applied {
                state
                    .metrics
                    .mutations
                    .get_or_create(&MutatorLabels { mutator: m.clone() })
                    .inc();
            }
            let patched = d.patch.as_ref().is_some_and(|p| !p.0.is_empty());
            if patched {
                tracing::debug!(uid = %text::field(&r.uid), kind = %text::field(&r.gvk.kind), namespace = %text::field(&r.namespace), name = %text::field(&r.name), mutators = ?applied, "mutated");
            }
            (d, if patched { "patched" } else { "allowed" })
        }
        Err(e) => {
            let policy = state.gate.limits.mutate_failure_policy;
            if matches!(e, crate::mutation::MutationError::DeadlineExceeded { .. }) {
                deadline_hit(state, "mutate");
            }
            tracing::error!(uid = %text::field(&r.uid), kind = %text::field(&r.gvk.kind), namespace = %text::field(&r.namespace), name = %text::field(&r.name), error = %text::field(&e.to_string()), policy = policy.as_str(), "mutation failed");
            let d: Decision = decision::mutation_failed(&e, policy);
            let label = if d.allowed { "allowed" } else { "error" };
            (d, label)
        }
    };
    count(state, &snapshot, "mutate", &decoded, label);
    let response = json_response(ReviewResponse::new(decoded.version, &r.uid, &answer).to_vec());
    state
        .tap
        .observe(impact::Endpoint::Mutate, decoded.review, &answer, &applied);
    response
}
