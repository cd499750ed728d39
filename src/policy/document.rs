//! A policy or manifest document as read from a file.

use serde_json::Value;

/// One parsed document and where it came from.
#[derive(Debug, Clone)]
pub struct Document {
    /// `path` or `path#index` (0-based document index in a multi-document file).
    pub location: String,
    /// The document.
    pub value: Value,
}
