//! AdmissionReview wire format (admission.k8s.io v1 and v1beta1).

/// Why an AdmissionReview body was rejected (HTTP 400).
#[derive(Debug, Clone, thiserror::Error)]
pub enum AdmissionError {
    /// The body is not a valid review.
    #[error("{0}")]
    Malformed(String),
}
