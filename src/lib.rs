//! portcullis: a Kubernetes validating and mutating admission webhook that speaks the
//! Gatekeeper policy API (ConstraintTemplates, Constraints, mutators) unchanged.
//!
//! The crate is a library with a thin binary so that integration tests and benchmarks drive
//! exactly the code the server runs: [`server::app`] builds the router without a socket,
//! [`policy::PolicySnapshot`] is the immutable, atomically swapped policy set, and
//! [`review::Review`] is the one input type shared by the webhook, `portcullis test`,
//! `portcullis verify` and audit.

pub mod admission;
pub mod audit;
pub mod certs;
pub mod cli;
pub mod commands;
pub mod deadline;
pub mod decision;
pub mod engine;
pub mod evaluate;
#[doc(hidden)]
pub mod fuzzing;
pub mod manifests;
pub mod matching;
pub mod metrics;
pub mod mutation;
pub mod policy;
pub mod review;
pub mod server;
pub mod sources;
pub mod telemetry;
#[cfg(test)]
mod test_data;
pub mod text;
pub mod verify;

/// Crate-level error: one variant per layer, each carrying that layer's own error enum.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A policy document or policy set was rejected.
    #[error(transparent)]
    Policy(#[from] policy::PolicyError),
    /// An engine failed to compile or evaluate a template.
    #[error(transparent)]
    Engine(#[from] engine::EngineError),
    /// An AdmissionReview could not be decoded.
    #[error(transparent)]
    Admission(#[from] admission::AdmissionError),
    /// Certificates could not be made, read or written.
    #[error(transparent)]
    Certs(#[from] certs::CertError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: String,
        /// What the operating system said.
        source: std::io::Error,
    },
}

/// Crate-level result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
