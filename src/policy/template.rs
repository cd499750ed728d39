//! ConstraintTemplate (`templates.gatekeeper.sh/v1`, `v1beta1`, `v1alpha1`).

use serde::Deserialize;
use serde_json::Value;

use super::PolicyError;

/// The `admission.k8s.gatekeeper.sh` target, the only one portcullis serves.
pub const ADMISSION_TARGET: &str = "admission.k8s.gatekeeper.sh";

/// A ConstraintTemplate as portcullis needs it: the constraint kind it defines, the
/// parameter schema and the code blocks of the admission target.
#[derive(Debug, Clone)]
pub struct ConstraintTemplate {
    /// `metadata.name` (Gatekeeper requires it to be the lower-cased kind).
    pub name: String,
    /// `spec.crd.spec.names.kind`: the kind of the constraints it defines.
    pub kind: String,
    /// `spec.crd.spec.validation.openAPIV3Schema`, if any.
    pub schema: Option<Value>,
    /// `spec.crd.spec.validation.legacySchema` with its per-version default (false for
    /// `v1`, true for `v1beta1` and `v1alpha1`): when set, Gatekeeper marks every level of
    /// the parameter schema `x-kubernetes-preserve-unknown-fields`, so constraints may carry
    /// parameters the schema does not declare.
    pub legacy_schema: bool,
    /// The `admission.k8s.gatekeeper.sh` target's code.
    pub target: TemplateTarget,
}

/// One `spec.targets[]` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateTarget {
    /// Target name; portcullis serves `admission.k8s.gatekeeper.sh`.
    #[serde(default)]
    pub target: String,
    /// Legacy Rego source.
    #[serde(default)]
    pub rego: Option<String>,
    /// Rego library modules (`package lib.*`).
    #[serde(default)]
    pub libs: Vec<String>,
    /// Engine-tagged code blocks (`engine: Rego | K8sNativeValidation | Native`).
    #[serde(default)]
    pub code: Vec<CodeBlock>,
}

/// One `spec.targets[].code[]` entry.
#[derive(Debug, Clone, Deserialize)]
pub struct CodeBlock {
    /// `Rego`, `K8sNativeValidation` or `Native`.
    pub engine: String,
    /// Engine-specific source document.
    #[serde(default)]
    pub source: Value,
}

impl TemplateTarget {
    /// The code block for an engine name, if present.
    pub fn code_for(&self, engine: &str) -> Option<&CodeBlock> {
        self.code.iter().find(|c| c.engine == engine)
    }
}

impl ConstraintTemplate {
    /// Read a template from its parsed document.
    pub fn from_value(doc: &Value) -> Result<Self, PolicyError> {
        let name = doc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| PolicyError::invalid("metadata.name", "is required"))?
            .to_string();
        let kind = doc
            .pointer("/spec/crd/spec/names/kind")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| PolicyError::invalid("spec.crd.spec.names.kind", "is required"))?
            .to_string();
        if name != kind.to_lowercase() {
            return Err(PolicyError::invalid(
                "metadata.name",
                format!(
                    "must be the lower-cased kind {:?}, got {name:?}",
                    kind.to_lowercase()
                ),
            ));
        }
        let schema = doc
            .pointer("/spec/crd/spec/validation/openAPIV3Schema")
            .cloned()
            .filter(|v| !v.is_null());
        let legacy_default = !doc
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|v| v.ends_with("/v1"));
        let legacy_schema = doc
            .pointer("/spec/crd/spec/validation/legacySchema")
            .and_then(Value::as_bool)
            .unwrap_or(legacy_default);
        let targets = doc
            .pointer("/spec/targets")
            .and_then(Value::as_array)
            .ok_or_else(|| PolicyError::invalid("spec.targets", "is required"))?;
        let mut target = None;
        for (i, t) in targets.iter().enumerate() {
            let parsed: TemplateTarget = serde_json::from_value(t.clone())
                .map_err(|e| PolicyError::invalid(format!("spec.targets[{i}]"), e.to_string()))?;
            if parsed.target == ADMISSION_TARGET {
                if target.is_some() {
                    return Err(PolicyError::invalid(
                        "spec.targets",
                        "names admission.k8s.gatekeeper.sh more than once",
                    ));
                }
                target = Some(parsed);
            }
        }
        let target = target.ok_or_else(|| {
            PolicyError::invalid("spec.targets", "has no admission.k8s.gatekeeper.sh target")
        })?;
        Ok(ConstraintTemplate {
            name,
            kind,
            schema,
            legacy_schema,
            target,
        })
    }
}
