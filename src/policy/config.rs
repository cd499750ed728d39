//! Gatekeeper's `Config` (`config.gatekeeper.sh/v1alpha1`): process exemptions.

use serde::Deserialize;
use serde_json::Value;

use super::PolicyError;

/// The parts of Config that portcullis honours.
#[derive(Debug, Clone, Default)]
pub struct GatekeeperConfig {
    /// `spec.match[]`: namespaces exempted from some processes.
    pub exemptions: Vec<ProcessExemption>,
}

/// One `spec.match[]` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessExemption {
    /// Namespaces (exact or `*` prefix/suffix glob).
    #[serde(default)]
    pub excluded_namespaces: Vec<String>,
    /// `*`, `webhook`, `audit`, `mutation-webhook`, `sync`.
    #[serde(default)]
    pub processes: Vec<String>,
}

impl GatekeeperConfig {
    /// Read a Config document.
    pub fn from_value(doc: &Value) -> Result<Self, PolicyError> {
        let exemptions = match doc.pointer("/spec/match") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| PolicyError::invalid("spec.match", e.to_string()))?,
        };
        Ok(GatekeeperConfig { exemptions })
    }

    /// Is `namespace` exempted from `process` (`webhook`, `audit`, `mutation-webhook`)?
    pub fn is_exempt(&self, process: &str, namespace: &str) -> bool {
        if namespace.is_empty() {
            return false;
        }
        self.exemptions.iter().any(|e| {
            e.processes.iter().any(|p| p == "*" || p == process)
                && e.excluded_namespaces
                    .iter()
                    .any(|pat| crate::matching::glob_match(pat, namespace))
        })
    }
}
