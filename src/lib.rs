//! portcullis: a Kubernetes validating and mutating admission webhook that speaks the
//! Gatekeeper policy API (ConstraintTemplates, Constraints, mutators) unchanged.
//!
//! The crate is a library with a thin binary so that integration tests and benchmarks drive
//! exactly the code the server runs: [`server::app`] builds the router without a socket,
//! [`snapshot::PolicySnapshot`] is the immutable, atomically swapped policy set, and
//! [`review::Review`] is the one input type shared by the webhook, `portcullis test`,
//! `portcullis verify` and audit.
//!
//! Each layer has its own error type (`policy::PolicyError`, `engine::EngineError`,
//! `admission::AdmissionError`, `certs::CertError`, ...); the layers and the data flow are
//! drawn in `docs/architecture.md`, and `tests/layers.rs` keeps the modules free of import
//! cycles.

pub mod admission;
pub mod audit;
pub mod cert_rotation;
pub mod certs;
pub mod cli;
pub mod commands;
pub mod deadline;
pub mod decision;
pub mod engine;
pub mod evaluate;
/// Kubernetes Events for violations at admission and audit.
pub mod events;
pub mod expand;
#[doc(hidden)]
pub mod fuzzing;
pub mod impact;
pub mod leader;
pub mod manifests;
pub mod matching;
pub mod metrics;
pub mod mutation;
pub mod policy;
pub mod review;
pub mod server;
pub mod snapshot;
pub mod sources;
pub mod telemetry;
#[cfg(test)]
mod test_data;
pub mod text;
pub mod vap;
pub mod verify;
