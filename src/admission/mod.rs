//! AdmissionReview wire format (admission.k8s.io v1 and v1beta1): decoding a request into
//! a [`Review`](crate::review::Review) and building the response kube-apiserver accepts.
//!
//! kube-apiserver rejects a response whose apiVersion/kind differ from the request's or
//! whose uid is not echoed, and (v1) one that carries a patch without `patchType`; these
//! rules are what the builders here guarantee.

#![deny(clippy::indexing_slicing)]

mod request;
mod response;
pub mod scan;

pub use request::{decode, from_value, AdmissionVersion, DecodedReview};
pub use response::{Decision, ReviewResponse};

/// Why an AdmissionReview body was rejected (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmissionError {
    /// The body is not UTF-8.
    #[error("request body is not valid UTF-8: {0}")]
    NotUtf8(String),
    /// The body is not JSON.
    #[error("request body is not valid JSON: {0}")]
    NotJson(String),
    /// The JSON is not an AdmissionReview portcullis can answer.
    #[error("not an AdmissionReview: {0}")]
    NotAReview(String),
    /// The apiVersion is not admission.k8s.io/v1 or v1beta1.
    #[error("unsupported AdmissionReview apiVersion {0:?} (admission.k8s.io/v1 or admission.k8s.io/v1beta1)")]
    UnsupportedVersion(String),
    /// A required request field is absent or of the wrong type.
    #[error("invalid AdmissionReview: {0}")]
    Invalid(String),
}
