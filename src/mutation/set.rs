//! The ordered mutator set: load-time cross checks, Gatekeeper's deterministic order, the
//! fixed-point loop and the JSON Patch handed back to the API server.
//!
//! Order is by mutator id (group, kind, namespace, name), as Gatekeeper sorts them, so a
//! result never depends on load order. One pass runs every applicable mutator in that
//! order against the object as changed so far (matching sees earlier changes, e.g. a label
//! added by AssignMetadata). Passes repeat until one changes nothing or ends where it began
//! (changes that cancel out); like Gatekeeper, at most `mutators + 1` passes are allowed
//! before the object is declared non-convergent.
//!
//! Memory stays proportional to the object whatever the number of mutators and passes:
//! one working copy of the review is mutated in place, a pass is compared with its start
//! through a [`fingerprint`](super::fingerprint) rather than a copy, and the patch is
//! computed once at the end, counted against the set's [`MutationLimits`] as it is built.
//! Every walk is paced against the request's deadline.

use std::collections::BTreeSet;

use serde_json::Value;

use super::fingerprint::fingerprint;
use super::patch::{self, DiffStop, Footprint};
use super::walk::Budget;
use super::{schema, Context, MutationError, MutationLimits, Mutator};
use crate::deadline::{Deadline, DeadlineExceeded};
use crate::matching::{KindIndex, KindSelector, NamespaceLookup};
use crate::review::{Operation, Review};

/// All mutators in application order, with the limits their patches are held to and the
/// index of the kinds their matches name (a Pod review does not walk the Ingress
/// mutators of a large set).
#[derive(Debug, Clone, Default)]
pub struct MutatorSet {
    mutators: Vec<Mutator>,
    limits: MutationLimits,
    index: KindIndex,
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
        Ok(MutatorSet::ordered(mutators))
    }

    /// Gatekeeper's load: every mutator whose schema conflicts with another is left out
    /// (and so is the other), the rest are ordered and served. Returns the set and, for
    /// each mutator left out, the conflicts it is part of. Duplicate ids keep the first.
    pub fn without_conflicts(mut mutators: Vec<Mutator>) -> (Self, Vec<(Mutator, Vec<String>)>) {
        mutators.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        mutators.dedup_by(|later, first| later.order_key() == first.order_key());
        let mut reasons: Vec<Vec<String>> = vec![Vec::new(); mutators.len()];
        for c in schema::find_conflicts(&mutators) {
            for i in c.members {
                if let Some(r) = reasons.get_mut(i) {
                    r.push(c.message.clone());
                }
            }
        }
        let mut kept = Vec::new();
        let mut left_out = Vec::new();
        for (m, r) in mutators.into_iter().zip(reasons) {
            if r.is_empty() {
                kept.push(m);
            } else {
                left_out.push((m, r));
            }
        }
        (MutatorSet::ordered(kept), left_out)
    }

    /// A set of mutators already in application order, indexed by kind: by `applyTo` where
    /// the mutator has one (it must cover the kind), else by `match.kinds`. Either gives a
    /// superset of the mutators that apply; each candidate is still checked in full.
    fn ordered(mutators: Vec<Mutator>) -> Self {
        let kinds: Vec<Vec<KindSelector>> = mutators
            .iter()
            .map(|m| {
                if m.apply_to.is_empty() {
                    m.matcher.kinds.clone()
                } else {
                    m.apply_to
                        .iter()
                        .map(|a| KindSelector {
                            api_groups: a.groups.clone(),
                            kinds: a.kinds.clone(),
                        })
                        .collect()
                }
            })
            .collect();
        let index = KindIndex::build_from(kinds.iter().map(Vec::as_slice));
        MutatorSet {
            mutators,
            limits: MutationLimits::DEFAULT,
            index,
        }
    }

    /// The same set holding its patches to `limits` instead of
    /// [`MutationLimits::DEFAULT`].
    #[must_use]
    pub fn with_limits(mut self, limits: MutationLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The limits its patches are held to.
    pub fn limits(&self) -> MutationLimits {
        self.limits
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
    /// that was running when the deadline passed. (Both entry points hold the patch to the
    /// set's [`MutationLimits`] and answer [`MutationError::LimitExceeded`] past them.)
    pub fn mutate_within(
        &self,
        review: &Review,
        namespaces: &dyn NamespaceLookup,
        deadline: Deadline,
    ) -> Result<MutationOutcome, MutationError> {
        self.run(review, &|m, r| m.check(r, namespaces), deadline, true)
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
        self.run(review, &|m, r| Ok(decide(m, r)), Deadline::NONE, false)
    }

    fn run(
        &self,
        review: &Review,
        decide: &dyn Fn(&Mutator, &Review) -> Result<bool, MutationError>,
        deadline: Deadline,
        by_kind: bool,
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
        // The mutators the review's kind can match (`decide` still checks each fully); a
        // caller deciding by other rules sees them all. The kind is the request's, which
        // mutation never changes.
        let candidates: Vec<&Mutator> = if by_kind {
            self.index
                .candidates(&review.gvk.group, &review.gvk.kind)
                .filter_map(|i| self.mutators.get(i))
                .collect()
        } else {
            self.mutators.iter().collect()
        };
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
        let budget = Budget::new(
            deadline,
            self.limits.max_patch_operations,
            self.limits.max_patch_bytes,
        );
        let out_of_time = |m: &Mutator| MutationError::DeadlineExceeded {
            mutator: m.id.clone(),
        };
        let mut applied: Vec<String> = Vec::new();
        let mut seen = BTreeSet::new();
        // Where the changers can have written: the patch is computed there only.
        let mut footprints: Vec<Footprint<'_>> = Vec::new();
        let max = self.mutators.len() + 1;
        // Mutators still changing the object after the first pass: the ones in the loop.
        let mut late_changers: Vec<&str> = Vec::new();
        for iteration in 1..=max {
            // The fingerprint of the object as the pass began, to see whether its changes
            // cancel out. Pass 1 began at the review's own object, compared directly; a
            // later pass takes the fingerprint only once a dry run shows a mutator will
            // change the object, so the usual last pass, which changes nothing, walks the
            // object only as far as its mutators' locations.
            let mut pass_start: Option<u128> = None;
            let mut changers = Vec::new();
            for m in candidates.iter().copied() {
                if deadline.expired() {
                    return Err(out_of_time(m));
                }
                if !decide(m, &work)? {
                    continue;
                }
                let Some(obj) = work.request.get_mut("object") else {
                    return Ok(unchanged(original.clone()));
                };
                if iteration > 1 && pass_start.is_none() {
                    if !m.run(obj, &ctx, false, &budget)? {
                        continue;
                    }
                    pass_start = Some(fingerprint(obj, &budget.pacer).map_err(|_| out_of_time(m))?);
                }
                if m.run(obj, &ctx, true, &budget)? {
                    changers.push(m.id.as_str());
                    if seen.insert(m.id.as_str()) {
                        applied.push(m.id.clone());
                        footprints.push(Footprint {
                            nodes: patch::footprint(&m.location.nodes),
                            mutator: &m.id,
                        });
                    }
                }
            }
            // As upstream, a pass whose changes cancel out (two mutators setting the same
            // field in turn) ends the loop too: the object is back where the pass began.
            let settled = match (changers.last(), pass_start) {
                (None, _) => true,
                (Some(_), None) => work.object() == original,
                (Some(last), Some(start)) => {
                    let end =
                        fingerprint(work.object(), &budget.pacer).map_err(|DeadlineExceeded| {
                            MutationError::DeadlineExceeded {
                                mutator: (*last).to_string(),
                            }
                        })?;
                    end == start
                }
            };
            if settled {
                let object = work
                    .request
                    .get_mut("object")
                    .map(Value::take)
                    .unwrap_or_default();
                if iteration == 1 && changers.is_empty() {
                    return Ok(unchanged(object));
                }
                let patch =
                    patch::diff(original, &object, &footprints, &self.limits, &budget.pacer)
                        .map_err(|stop| match stop {
                            DiffStop::Limit {
                                limit,
                                max,
                                mutator,
                            } => MutationError::LimitExceeded {
                                mutator,
                                limit,
                                max,
                            },
                            DiffStop::Deadline => MutationError::DeadlineExceeded {
                                mutator: applied.last().cloned().unwrap_or_default(),
                            },
                        })?;
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
