//! The policy model: templates, constraints, Config, their validation, and why an object
//! was refused. Compiling them into what the hot path reads is the snapshot's job, so this
//! layer depends on no engine.

#![deny(clippy::indexing_slicing)]

pub mod config;
pub mod constraint;
pub mod crd;
mod document;
pub mod enforcement;
pub mod expansion;
pub mod fields;
pub mod refusal;
pub mod schema;
pub mod template;

pub use config::GatekeeperConfig;
pub use constraint::Constraint;
pub use document::Document;
pub use enforcement::{Action, Enforcement};
pub use refusal::{ObjectKind, Refusal};
pub use template::ConstraintTemplate;

/// Why a policy document or policy set was rejected.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PolicyError {
    /// A field has a bad value.
    #[error("{field}: {reason}")]
    Invalid {
        /// Dotted path of the field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Fields the object's CRD does not declare, which the API server's strict field
    /// validation (kubectl's default) refuses; in its wording.
    #[error("strict decoding error: {}", .0.iter().map(|f| format!("unknown field {f:?}")).collect::<Vec<_>>().join(", "))]
    UnknownFields(Vec<String>),
    /// A file or document could not be parsed.
    #[error("{location}: parse error: {message}")]
    Parse {
        /// `file` or `file#doc`.
        location: String,
        /// The parser's message.
        message: String,
    },
    /// An error inside one document, with where the document came from.
    #[error("{location} ({what}): {error}")]
    At {
        /// `file#doc`.
        location: String,
        /// `Kind/name` of the document.
        what: String,
        /// The error.
        error: Box<PolicyError>,
    },
    /// A template's code was rejected by its engine (an `engine::EngineError`, shared so that
    /// the model does not depend on the engines).
    #[error(transparent)]
    Engine(std::sync::Arc<dyn std::error::Error + Send + Sync>),
    /// Several errors of one policy set.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Set(Vec<PolicyError>),
}

impl PolicyError {
    /// A bad field.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        PolicyError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
