//! Gatekeeper mutators (Assign, AssignMetadata, ModifySet, AssignImage) and the minimal
//! JSON Patch they produce. Placeholder interface until the mutation issue lands.

use serde_json::Value;

use crate::matching::NamespaceLookup;
use crate::review::Review;

/// Why a mutator was rejected or a mutation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MutationError {
    /// The mutator document is invalid.
    #[error("{0}")]
    Invalid(String),
    /// Mutation failed for one object.
    #[error("{0}")]
    Failed(String),
}

/// One loaded mutator.
#[derive(Debug, Clone)]
pub struct Mutator {
    /// `Kind/name` of the mutator.
    pub id: String,
}

impl Mutator {
    /// Parse and validate a mutator document.
    pub fn from_value(doc: &Value) -> Result<Self, MutationError> {
        Err(MutationError::Invalid(format!(
            "mutator kind {} is not supported yet",
            doc.get("kind").and_then(Value::as_str).unwrap_or("?")
        )))
    }
}

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
    /// Ids of the mutators that changed something, in order.
    pub applied: Vec<String>,
    /// Minimal RFC 6902 patch from the original to the mutated object.
    pub patch: json_patch::Patch,
}

impl MutatorSet {
    /// Order and cross-check mutators.
    pub fn new(mutators: Vec<Mutator>) -> Result<Self, MutationError> {
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

    /// Apply every matching mutator until a fixed point.
    pub fn mutate(
        &self,
        review: &Review,
        namespaces: &dyn NamespaceLookup,
    ) -> Result<MutationOutcome, MutationError> {
        let _ = namespaces;
        Ok(MutationOutcome {
            object: review.object().clone(),
            applied: Vec::new(),
            patch: json_patch::Patch(Vec::new()),
        })
    }
}
