//! The ordered mutator set: load-time cross checks, Gatekeeper's deterministic order, the
//! fixed-point loop and the JSON Patch handed back to the API server.
//!
//! Order is by mutator id (group, kind, namespace, name), as Gatekeeper sorts them, so a
//! result never depends on load order. One pass runs every applicable mutator in that
//! order against the object as changed so far (matching sees earlier changes, e.g. a label
//! added by AssignMetadata). Passes repeat until one changes nothing or ends where it began
//! (changes that cancel out); like Gatekeeper, at most `mutators + 1` passes are allowed
//! before the object is declared non-convergent.

use std::collections::BTreeSet;

use serde_json::Value;

use super::path::Node;
use super::{patch, schema, Context, MutationError, Mutator};
use crate::deadline::Deadline;
use crate::matching::NamespaceLookup;
use crate::review::{Operation, Review};

/// All mutators in application order.
#[derive(Debug, Clone, Default)]
pub struct MutatorSet {
    mutators: Vec<Mutator>,
}

/// The result of mutating one object.
#[derive(Debug, Clone)]
pub struct MutationOutcome {
    /// The mutated object.
    pub object: Value,
    /// Ids of the mutators that changed something, in order of their first change.
    pub applied: Vec<String>,
    /// Minimal RFC 6902 patch from the original to the mutated object.
    pub patch: json_patch::Patch,
    /// Passes run, counting the final one that changed nothing (0 when none applied).
    pub iterations: usize,
}

impl MutatorSet {
    /// Order the mutators and reject duplicates and schema conflicts, naming the mutators,
    /// so that a policy set that Gatekeeper would partly disable is refused whole instead.
    ///
    /// # Errors
    /// [`MutationError::Invalid`] listing every duplicate id and every schema conflict.
    pub fn new(mut mutators: Vec<Mutator>) -> Result<Self, MutationError> {
        mutators.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        let mut errors = Vec::new();
        for pair in mutators.windows(2) {
            if pair[0].order_key() == pair[1].order_key() {
                errors.push(format!("duplicate mutator {}", pair[0].id));
            }
        }
        errors.extend(schema::conflicts(&mutators));
        if !errors.is_empty() {
            return Err(MutationError::Invalid(errors.join("; ")));
        }
        Ok(MutatorSet { mutators })
    }

    /// Number of mutators.
    pub fn len(&self) -> usize {
        self.mutators.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.mutators.is_empty()
    }

    /// The mutators in application order.
    pub fn iter(&self) -> impl Iterator<Item = &Mutator> {
        self.mutators.iter()
    }

    /// Apply every matching mutator until a fixed point; `namespaces` feeds
    /// `namespaceSelector`. Only CREATE and UPDATE are mutated, as in Gatekeeper.
    ///
    /// # Errors
    /// [`MutationError::Failed`] when a mutator meets a type it cannot walk (a string where
    /// its location needs a list, ...) or the passes do not converge; the message names the
    /// mutators.
    pub fn mutate(
        &self,
        review: &Review,
        namespaces: &dyn NamespaceLookup,
    ) -> Result<MutationOutcome, MutationError> {
        self.mutate_within(review, namespaces, Deadline::NONE)
    }

    /// [`MutatorSet::mutate`] cut off at `deadline`.
    ///
    /// # Errors
    /// As [`MutatorSet::mutate`], and [`MutationError::DeadlineExceeded`] naming the mutator
    /// that was running when the deadline passed.
    pub fn mutate_within(
        &self,
        review: &Review,
        namespaces: &dyn NamespaceLookup,
        deadline: Deadline,
    ) -> Result<MutationOutcome, MutationError> {
        self.run(review, &|m, r| m.matches(r, namespaces), deadline)
    }

    /// [`MutatorSet::mutate`] with the match decision supplied by the caller; `decide` sees
    /// the review with the object as mutated so far. Lets tools and tests run the set
    /// with a different notion of "applies" (e.g. `applyTo` only).
    ///
    /// # Errors
    /// As [`MutatorSet::mutate`].
    pub fn mutate_with(
        &self,
        review: &Review,
        decide: &dyn Fn(&Mutator, &Review) -> bool,
    ) -> Result<MutationOutcome, MutationError> {
        self.run(review, decide, Deadline::NONE)
    }

    fn run(
        &self,
        review: &Review,
        decide: &dyn Fn(&Mutator, &Review) -> bool,
        deadline: Deadline,
    ) -> Result<MutationOutcome, MutationError> {
        let original = review.object();
        let unchanged = |object: Value| MutationOutcome {
            object,
            applied: Vec::new(),
            patch: json_patch::Patch(Vec::new()),
            iterations: 0,
        };
        if !matches!(review.operation, Operation::Create | Operation::Update)
            || !original.is_object()
            || self.mutators.is_empty()
        {
            return Ok(unchanged(original.clone()));
        }
        // The one copy of the object: mutated in place and handed back as the result.
        let mut work = review.clone();
        let ctx = Context {
            name: non_empty(
                crate::review::str_at(original, &["metadata", "name"]),
                &review.name,
            ),
            namespace: non_empty(
                crate::review::str_at(original, &["metadata", "namespace"]),
                &review.namespace,
            ),
        };
        let mut applied: Vec<String> = Vec::new();
        let mut seen = BTreeSet::new();
        // Where the changers can have written: the patch is computed there only.
        let mut footprints: Vec<&[Node]> = Vec::new();
        let max = self.mutators.len() + 1;
        // Mutators still changing the object after the first pass: the ones in the loop.
        let mut late_changers: Vec<&str> = Vec::new();
        for iteration in 1..=max {
            // The object as the pass began, to see whether its changes cancel out. Pass 1
            // began at the review's own object; a later pass copies the object only once a
            // dry run shows a mutator will change it, so the usual last pass, which
            // changes nothing, copies nothing.
            let mut pass_start: Option<Value> = None;
            let mut changers = Vec::new();
            for m in &self.mutators {
                if deadline.expired() {
                    return Err(MutationError::DeadlineExceeded {
                        mutator: m.id.clone(),
                    });
                }
                if !decide(m, &work) {
                    continue;
                }
                let Some(obj) = work.request.get_mut("object") else {
                    return Ok(unchanged(original.clone()));
                };
                if iteration > 1 && pass_start.is_none() {
                    if !m.would_change(obj, &ctx)? {
                        continue;
                    }
                    pass_start = Some(obj.clone());
                }
                if m.apply(obj, &ctx)? {
                    changers.push(m.id.as_str());
                    if seen.insert(m.id.as_str()) {
                        applied.push(m.id.clone());
                        footprints.push(patch::footprint(&m.location.nodes));
                    }
                }
            }
            // As upstream, a pass whose changes cancel out (two mutators setting the same
            // field in turn) ends the loop too: the object is back where the pass began.
            // A later pass with changers always has `pass_start`: its first changer set it.
            if changers.is_empty() || work.object() == pass_start.as_ref().unwrap_or(original) {
                let object = work
                    .request
                    .get_mut("object")
                    .map(Value::take)
                    .unwrap_or_default();
                if iteration == 1 && changers.is_empty() {
                    return Ok(unchanged(object));
                }
                let patch = patch::diff(original, &object, &footprints);
                return Ok(MutationOutcome {
                    object,
                    applied,
                    patch,
                    iterations: iteration,
                });
            }
            if iteration > 1 {
                for c in changers {
                    if !late_changers.contains(&c) {
                        late_changers.push(c);
                    }
                }
            }
        }
        Err(MutationError::Failed(format!(
            "mutation not converging for {} {} {}/{} after {max} passes; mutators still changing it: {}",
            if review.gvk.group.is_empty() {
                "core"
            } else {
                review.gvk.group.as_str()
            },
            review.gvk.kind,
            ctx.namespace,
            if ctx.name.is_empty() {
                crate::review::str_at(original, &["metadata", "generateName"])
            } else {
                ctx.name.as_str()
            },
            late_changers.join(", ")
        )))
    }
}

fn non_empty(first: &str, fallback: &str) -> String {
    if first.is_empty() {
        fallback.to_string()
    } else {
        first.to_string()
    }
}
