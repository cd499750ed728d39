//! Certificates.

/// Certificate errors.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// Generation failed.
    #[error("{0}")]
    Generate(String),
}
