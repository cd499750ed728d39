//! Workloads judged by the resources they would create, as Gatekeeper's expansion system
//! judges them.
//!
//! For a review of a kind some ExpansionTemplate applies to, each template builds the
//! resource it generates ([`ExpansionTemplate::expand`]), the mutators are applied to it
//! (as the API server would mutate the real Pod), and the result is expanded again (a
//! CronJob gives a Job, the Job a Pod), at most [`MAX_DEPTH`] levels deep. Each resultant
//! is then judged like a request of its own, marked `generated` so that `match.source`
//! can tell it from a real one; its violations are reported against the parent, each
//! message prefixed `[Implied by <template>]` and, when the template sets an
//! `enforcementAction`, under that action.

use crate::deadline::Deadline;
use crate::policy::enforcement::Action;
use crate::policy::expansion::ExpansionTemplate;
use crate::review::{Operation, Review};
use crate::snapshot::PolicySnapshot;

/// Gatekeeper's bound on chained expansions.
pub const MAX_DEPTH: usize = 30;

/// One generated resource, ready to judge.
#[derive(Debug, Clone)]
pub struct Resultant {
    /// The ExpansionTemplate that generated it.
    pub template: String,
    /// The template's `enforcementAction`, which replaces every violation's action.
    pub action: Option<Action>,
    /// The generated resource as a review.
    pub review: Review,
}

/// Everything `review` expands to, deepest first (Gatekeeper's order). An error (a parent
/// without the template's source field, a mutation failure, too deep a chain) fails the
/// review, as it does in Gatekeeper.
pub fn expand(
    snapshot: &PolicySnapshot,
    review: &Review,
    deadline: Deadline,
) -> Result<Vec<Resultant>, String> {
    let mut out = Vec::new();
    if !snapshot.expansions.is_empty() && !review.object().is_null() {
        expand_into(snapshot, review, deadline, 0, &mut out)?;
    }
    Ok(out)
}

fn expand_into(
    snapshot: &PolicySnapshot,
    review: &Review,
    deadline: Deadline,
    depth: usize,
    out: &mut Vec<Resultant>,
) -> Result<(), String> {
    if depth >= MAX_DEPTH {
        return Err(format!("maximum recursion depth of {MAX_DEPTH} reached"));
    }
    let templates: Vec<&ExpansionTemplate> = snapshot
        .expansions
        .iter()
        .filter(|t| t.applies_to(&review.gvk))
        .collect();
    let mut level = Vec::with_capacity(templates.len());
    for t in templates {
        let generated = t.expand(review.object(), &review.namespace)?;
        // The generated object carries the parent's namespace, which the review reads.
        let mut child = Review::from_object(generated);
        child.generated = true;
        child.operation = review.operation;
        if let Some(request) = child.request.as_object_mut() {
            request.insert(
                "operation".into(),
                serde_json::Value::String(review.operation.as_str().into()),
            );
        }
        let child = if matches!(review.operation, Operation::Create | Operation::Update) {
            match snapshot
                .mutators
                .mutate_within(&child, &snapshot.namespaces, deadline)
            {
                Ok(outcome) if !outcome.applied.is_empty() => child.with_object(outcome.object),
                Ok(_) => child,
                Err(e) => {
                    return Err(format!(
                        "failed to mutate resultant resource {}: {e}",
                        child.name
                    ))
                }
            }
        } else {
            child
        };
        level.push(Resultant {
            template: t.name.clone(),
            action: t.action,
            review: child,
        });
    }
    for r in &level {
        expand_into(snapshot, &r.review, deadline, depth + 1, out)?;
    }
    out.extend(level);
    Ok(())
}
