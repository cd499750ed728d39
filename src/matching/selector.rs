//! Kubernetes label selectors (`matchLabels` + `matchExpressions`).

use serde::Deserialize;

/// A Kubernetes `LabelSelector`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// Exact key/value pairs, all required.
    #[serde(default)]
    pub match_labels: std::collections::BTreeMap<String, String>,
    /// Set-based requirements, all required.
    #[serde(default)]
    pub match_expressions: Vec<SelectorRequirement>,
}

/// One `matchExpressions[]` entry.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct SelectorRequirement {
    /// Label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// Values for `In` / `NotIn`.
    #[serde(default)]
    pub values: Vec<String>,
}
