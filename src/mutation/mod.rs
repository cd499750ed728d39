//! Gatekeeper mutators (Assign, AssignMetadata, ModifySet, AssignImage) and the minimal
//! JSON Patch they produce.
//!
//! Documents are parsed and validated once at load ([`Mutator::from_value`]), checked
//! against each other for schema conflicts and put in Gatekeeper's order
//! ([`MutatorSet::new`]); admission then runs them to a fixed point
//! ([`MutatorSet::mutate`]). Layout: `path` (location grammar), `walk` (the shared walk and
//! pathTests), one file per kind, `schema` (cross-mutator conflicts), `set` (order,
//! convergence), `patch` (the JSON Patch, diffed where the mutators wrote).

mod assign;
mod common;
mod fingerprint;
mod image;
mod limits;
mod metadata;
mod modifyset;
mod patch;
pub mod path;
mod schema;
mod set;
mod walk;

#[cfg(test)]
mod assign_tests;
#[cfg(test)]
mod kinds_tests;
#[cfg(test)]
mod limits_tests;
#[cfg(test)]
mod memory_tests;
#[cfg(test)]
mod set_tests;
#[cfg(test)]
mod test_support;

use serde_json::Value;

pub use common::ApplyTo;
pub use image::ImageRef;
pub use limits::{MutationLimits, PatchLimit};
pub use set::{MutationOutcome, MutatorSet};

use crate::matching::{Match, NamespaceLookup};
use crate::review::Review;

/// Why a mutator was rejected or a mutation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MutationError {
    /// The mutator document (or a set of them together) is invalid; the text says why.
    #[error("{0}")]
    Invalid(String),
    /// Mutation failed for one object (type mismatch on the path, no convergence).
    #[error("{0}")]
    Failed(String),
    /// The request's deadline passed while this mutator ran or waited to run.
    #[error("mutation exceeded the request's deadline at mutator {mutator}")]
    DeadlineExceeded {
        /// `Kind/name` of the mutator that was running or next to run.
        mutator: String,
    },
    /// The mutation needs a patch beyond one of the set's [`MutationLimits`]; the work
    /// stopped when the limit was passed.
    #[error("mutation refused: {}", .limit.describe(.mutator, *.max))]
    LimitExceeded {
        /// `Kind/name` of the mutator whose changes passed the limit.
        mutator: String,
        /// Which limit.
        limit: PatchLimit,
        /// Its value.
        max: usize,
    },
}

impl MutationError {
    /// True for failures of resources rather than of the policy or the object (the
    /// deadline, a size limit): the answer follows the webhook's failure policy.
    pub fn is_exhaustion(&self) -> bool {
        matches!(
            self,
            MutationError::DeadlineExceeded { .. } | MutationError::LimitExceeded { .. }
        )
    }
}

/// The four mutator kinds, in Gatekeeper's ordering (kinds sort by name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MutatorKind {
    /// `Assign`.
    Assign,
    /// `AssignImage`.
    AssignImage,
    /// `AssignMetadata`.
    AssignMetadata,
    /// `ModifySet`.
    ModifySet,
}

impl MutatorKind {
    /// The `kind` string.
    pub fn as_str(self) -> &'static str {
        match self {
            MutatorKind::Assign => "Assign",
            MutatorKind::AssignImage => "AssignImage",
            MutatorKind::AssignMetadata => "AssignMetadata",
            MutatorKind::ModifySet => "ModifySet",
        }
    }
}

/// What the mutator does at its location.
#[derive(Debug, Clone, PartialEq)]
enum Action {
    Assign(assign::AssignSpec),
    Metadata(metadata::MetadataSpec),
    ModifySet(modifyset::ModifySetSpec),
    Image(image::ImageSpec),
}

/// Facts about the object a value may be taken from (`fromMetadata`).
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The object's name.
    pub name: String,
    /// The object's namespace.
    pub namespace: String,
}

/// One loaded, validated mutator.
#[derive(Debug, Clone)]
pub struct Mutator {
    /// `Kind/name`, used in logs, errors and `applied` lists.
    pub id: String,
    /// Its kind.
    pub kind: MutatorKind,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace` (mutators are cluster-scoped; usually empty). Part of the order.
    pub namespace: String,
    /// `spec.applyTo` (empty for AssignMetadata, which has none).
    pub apply_to: Vec<ApplyTo>,
    /// `spec.match`, the same selector constraints use.
    pub matcher: Match,
    /// `spec.location`.
    pub location: path::Path,
    tester: walk::Tester,
    action: Action,
}

impl Mutator {
    /// Parse and validate a mutator document, including its `spec.match`, so every
    /// mistake is reported when policies load rather than on an admission request.
    ///
    /// # Errors
    /// [`MutationError::Invalid`] starting with `Kind/name:` and saying what is wrong.
    pub fn from_value(doc: &Value) -> Result<Self, MutationError> {
        let m = Self::parse(doc)?;
        m.matcher
            .validate()
            .map_err(|e| MutationError::Invalid(format!("{}: spec.match: {e}", m.id)))?;
        Ok(m)
    }

    /// Everything [`Mutator::from_value`] checks except the matcher's own validation.
    pub(crate) fn parse(doc: &Value) -> Result<Self, MutationError> {
        let kind_str = doc.get("kind").and_then(Value::as_str).unwrap_or("");
        let name = doc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let id = format!("{kind_str}/{name}");
        let fail = |e: String| MutationError::Invalid(format!("{id}: {e}"));
        let api_version = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let version = api_version
            .strip_prefix("mutations.gatekeeper.sh/")
            .ok_or_else(|| fail(format!("apiVersion {api_version:?} is not a mutation API")))?;
        let kind = match kind_str {
            "Assign" => MutatorKind::Assign,
            "AssignMetadata" => MutatorKind::AssignMetadata,
            "ModifySet" => MutatorKind::ModifySet,
            "AssignImage" => MutatorKind::AssignImage,
            other => return Err(fail(format!("unknown mutator kind {other:?}"))),
        };
        let served: &[&str] = match kind {
            MutatorKind::AssignImage => &["v1alpha1"],
            _ => &["v1", "v1beta1", "v1alpha1"],
        };
        if !served.contains(&version) {
            return Err(fail(format!(
                "{kind_str} is not served as mutations.gatekeeper.sh/{version} (served: {})",
                served.join(", ")
            )));
        }
        if name.is_empty() {
            return Err(fail("metadata.name is required".into()));
        }
        if name.len() > 63 {
            return Err(fail("metadata.name must be at most 63 characters".into()));
        }
        let namespace = doc
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let spec = doc
            .get("spec")
            .filter(|s| s.is_object())
            .ok_or_else(|| fail("spec is required".into()))?;
        let params = spec.get("parameters").cloned().unwrap_or(Value::Null);
        let matcher: Match = match spec.get("match") {
            None | Some(Value::Null) => Match::default(),
            Some(m) => {
                serde_json::from_value(m.clone()).map_err(|e| fail(format!("spec.match: {e}")))?
            }
        };
        let location = common::parse_location(spec).map_err(fail)?;
        let (apply_to, tester, action) = match kind {
            MutatorKind::AssignMetadata => {
                let (m, t) = metadata::MetadataSpec::parse(&params, &location).map_err(fail)?;
                (Vec::new(), t, Action::Metadata(m))
            }
            _ => {
                let action = match kind {
                    MutatorKind::Assign => {
                        Action::Assign(assign::AssignSpec::parse(&params, &location).map_err(fail)?)
                    }
                    MutatorKind::ModifySet => Action::ModifySet(
                        modifyset::ModifySetSpec::parse(&params, &location).map_err(fail)?,
                    ),
                    _ => Action::Image(image::ImageSpec::parse(&params, &location).map_err(fail)?),
                };
                let tester = common::parse_tester(&params, &location).map_err(fail)?;
                let apply_to = common::parse_apply_to(spec).map_err(fail)?;
                (apply_to, tester, action)
            }
        };
        Ok(Mutator {
            id,
            kind,
            name,
            namespace,
            apply_to,
            matcher,
            location,
            tester,
            action,
        })
    }

    /// Gatekeeper's ordering key: group (always mutations.gatekeeper.sh), kind, namespace,
    /// name.
    pub fn order_key(&self) -> (MutatorKind, &str, &str) {
        (self.kind, &self.namespace, &self.name)
    }

    /// Does `applyTo` cover the review's kind and operation? AssignMetadata has no
    /// `applyTo` and is limited to CREATE/UPDATE only.
    pub fn applies_to(&self, review: &Review) -> bool {
        if self.kind == MutatorKind::AssignMetadata {
            return matches!(
                review.operation,
                crate::review::Operation::Create | crate::review::Operation::Update
            );
        }
        self.apply_to
            .iter()
            .any(|a| a.matches(&review.gvk, review.operation))
    }

    /// Should this mutator run on the review: `applyTo`, then `spec.match`. A match that
    /// cannot be decided is the error that fails the mutation (Gatekeeper's mutation webhook
    /// answers such a request with 500).
    ///
    /// # Errors
    /// [`MutationError::Failed`] naming the mutator and the selector's error.
    pub fn check(
        &self,
        review: &Review,
        namespaces: &dyn NamespaceLookup,
    ) -> Result<bool, MutationError> {
        if !self.applies_to(review) {
            return Ok(false);
        }
        self.matcher.check(review, namespaces).map_err(|error| {
            MutationError::Failed(format!(
                "mutator {} cannot match {}: {error}",
                self.id,
                if review.name.is_empty() {
                    "the object"
                } else {
                    &review.name
                }
            ))
        })
    }

    /// Apply to `obj` in place (without matching); returns whether it changed.
    ///
    /// # Errors
    /// [`MutationError::Failed`] naming the mutator when the object's shape does not fit
    /// the location.
    pub fn apply(&self, obj: &mut Value, ctx: &Context) -> Result<bool, MutationError> {
        self.run(obj, ctx, true, &walk::Budget::unlimited())
    }

    /// Would [`Mutator::apply`] change `obj`? Same walk and the same errors, but `obj` is
    /// left untouched, so the fixed-point loop can find out whether a pass changes
    /// anything before paying for a copy of the object to compare against.
    ///
    /// # Errors
    /// As [`Mutator::apply`].
    pub fn would_change(&self, obj: &mut Value, ctx: &Context) -> Result<bool, MutationError> {
        self.run(obj, ctx, false, &walk::Budget::unlimited())
    }

    /// [`Mutator::apply`] (or, with `commit` false, [`Mutator::would_change`]) under a
    /// budget: the walk checks the deadline as it goes and stops once the mutator has
    /// changed more places than the budget allows.
    pub(crate) fn run(
        &self,
        obj: &mut Value,
        ctx: &Context,
        commit: bool,
        budget: &walk::Budget,
    ) -> Result<bool, MutationError> {
        let (loc, t) = (&self.location, &self.tester);
        let result = match &self.action {
            Action::Assign(a) => walk::apply(loc, t, &a.setter(ctx), obj, commit, budget),
            Action::Metadata(m) => walk::apply(loc, t, &m.setter(ctx), obj, commit, budget),
            Action::ModifySet(s) => walk::apply(loc, t, s, obj, commit, budget),
            Action::Image(i) => walk::apply(loc, t, i, obj, commit, budget),
        };
        result.map_err(|e| match e {
            walk::WalkError::Shape(e) => {
                MutationError::Failed(format!("mutator {} failed: {e}", self.id))
            }
            walk::WalkError::Deadline => MutationError::DeadlineExceeded {
                mutator: self.id.clone(),
            },
            walk::WalkError::TooManyChanges => MutationError::LimitExceeded {
                mutator: self.id.clone(),
                limit: PatchLimit::Changes,
                max: budget.max_changes,
            },
            walk::WalkError::TooMuchWritten => MutationError::LimitExceeded {
                mutator: self.id.clone(),
                limit: PatchLimit::Written,
                max: budget.max_written,
            },
        })
    }

    /// The type the location's last node has for schema-conflict purposes.
    fn terminal(&self) -> schema::NodeType {
        match self.action {
            Action::ModifySet(_) => schema::NodeType::Set,
            Action::Image(_) => schema::NodeType::String,
            _ => schema::NodeType::Unknown,
        }
    }
}
