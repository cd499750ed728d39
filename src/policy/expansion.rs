//! Gatekeeper's ExpansionTemplate (`expansion.gatekeeper.sh/v1alpha1`, `v1beta1`): judge a
//! workload by the resources it would create.
//!
//! A Deployment whose Pod template uses a banned image is, to the API server, a valid
//! Deployment; the Pods are refused later, by the ReplicaSet controller, where whoever
//! applied the Deployment never sees it. An ExpansionTemplate names the kinds it applies to
//! (`applyTo`), where in them the template of the generated resource lives
//! (`templateSource`, a dotted path such as `spec.template`) and what that resource is
//! (`generatedGVK`). The generated resource is the object at that path with the generated
//! apiVersion and kind, the parent's namespace, the name `<parent>-<kind>` (lower-cased) and
//! an owner reference to the parent, exactly as Gatekeeper builds it.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::enforcement::Action;
use super::PolicyError;
use crate::review::Gvk;

/// One `applyTo` entry: exact groups, versions and kinds.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct ExpansionApplyTo {
    /// API groups (`""` is the core group).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Versions.
    #[serde(default)]
    pub versions: Vec<String>,
    /// Kinds.
    #[serde(default)]
    pub kinds: Vec<String>,
}

impl ExpansionApplyTo {
    fn matches(&self, gvk: &Gvk) -> bool {
        self.groups.contains(&gvk.group)
            && self.versions.contains(&gvk.version)
            && self.kinds.contains(&gvk.kind)
    }
}

/// A parsed ExpansionTemplate.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpansionTemplate {
    /// `metadata.name`, which prefixes the messages of violations it implies.
    pub name: String,
    /// The kinds it expands.
    pub apply_to: Vec<ExpansionApplyTo>,
    /// `templateSource`, split at the dots.
    pub source: Vec<String>,
    /// `generatedGVK`.
    pub generated: Gvk,
    /// `enforcementAction`: when set, every violation of a generated resource takes it.
    pub action: Option<Action>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    #[serde(default)]
    apply_to: Vec<ExpansionApplyTo>,
    #[serde(default)]
    template_source: String,
    #[serde(default, rename = "generatedGVK")]
    generated_gvk: Option<GeneratedGvk>,
    #[serde(default)]
    enforcement_action: Option<String>,
}

#[derive(Deserialize, Default)]
struct GeneratedGvk {
    #[serde(default)]
    group: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    kind: String,
}

impl ExpansionTemplate {
    /// Read and check a template as Gatekeeper's webhook checks one: a name under 64
    /// characters, a source, a generated kind, `applyTo`, and no template that would
    /// expand its own output.
    pub fn from_value(doc: &Value) -> Result<Self, PolicyError> {
        let name = doc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| PolicyError::invalid("metadata.name", "is required"))?
            .to_string();
        if name.len() >= 64 {
            return Err(PolicyError::invalid(
                "metadata.name",
                "must be less than 64 characters",
            ));
        }
        let spec: Spec = serde_json::from_value(doc.get("spec").cloned().unwrap_or(Value::Null))
            .map_err(|e| PolicyError::invalid("spec", e.to_string()))?;
        let generated = spec.generated_gvk.unwrap_or_default();
        if spec.template_source.is_empty() {
            return Err(PolicyError::invalid("spec.templateSource", "is required"));
        }
        if generated.group.is_empty() && generated.version.is_empty() && generated.kind.is_empty() {
            return Err(PolicyError::invalid("spec.generatedGVK", "is required"));
        }
        if spec.apply_to.is_empty() {
            return Err(PolicyError::invalid("spec.applyTo", "is required"));
        }
        let generated = Gvk {
            group: generated.group,
            version: generated.version,
            kind: generated.kind,
        };
        if spec.apply_to.iter().any(|a| a.matches(&generated)) {
            return Err(PolicyError::invalid(
                "spec.applyTo",
                format!(
                    "the template generates {} and also applies to it",
                    generated.api_version() + "/" + &generated.kind
                ),
            ));
        }
        let action = match spec.enforcement_action.as_deref() {
            None | Some("") => None,
            Some(a) => Some(Action::parse(a).ok_or_else(|| {
                PolicyError::invalid(
                    "spec.enforcementAction",
                    format!("unknown action {a:?} (deny, warn or dryrun)"),
                )
            })?),
        };
        Ok(ExpansionTemplate {
            name,
            apply_to: spec.apply_to,
            source: spec
                .template_source
                .split('.')
                .map(str::to_string)
                .collect(),
            generated,
            action,
        })
    }

    /// Whether this template expands objects of `gvk`.
    pub fn applies_to(&self, gvk: &Gvk) -> bool {
        self.apply_to.iter().any(|a| a.matches(gvk))
    }

    /// The resource `parent` would generate, as Gatekeeper builds it; an error when the
    /// parent has no object at the template source (Gatekeeper fails the review then).
    pub fn expand(&self, parent: &Value, namespace: &str) -> Result<Value, String> {
        let mut at = parent;
        for step in &self.source {
            at = at.get(step).filter(|v| v.is_object()).ok_or_else(|| {
                format!(
                    "could not find source field {:?} in resource {}",
                    self.source.join("."),
                    crate::review::str_at(parent, &["metadata", "name"])
                )
            })?;
        }
        let mut resource: Map<String, Value> = at.as_object().cloned().unwrap_or_default();
        resource.insert(
            "apiVersion".into(),
            Value::String(self.generated.api_version()),
        );
        resource.insert("kind".into(), Value::String(self.generated.kind.clone()));
        let parent_name = crate::review::str_at(parent, &["metadata", "name"]);
        let mut name = parent_name.to_string();
        if !self.generated.kind.is_empty() {
            name.push('-');
        }
        name.push_str(&self.generated.kind);
        let metadata = resource.entry("metadata").or_insert_with(|| json!({}));
        if !metadata.is_object() {
            *metadata = json!({});
        }
        if let Some(m) = metadata.as_object_mut() {
            m.insert("name".into(), Value::String(name.to_lowercase()));
            if namespace.is_empty() {
                m.remove("namespace");
            } else {
                m.insert("namespace".into(), Value::String(namespace.to_string()));
            }
            let (api, kind) = (
                crate::review::str_at(parent, &["apiVersion"]),
                crate::review::str_at(parent, &["kind"]),
            );
            if !api.is_empty() && !kind.is_empty() && !parent_name.is_empty() {
                let owner = json!({"apiVersion": api, "kind": kind, "name": parent_name});
                let refs = m
                    .entry("ownerReferences")
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Some(list) = refs.as_array_mut() {
                    let present = list.iter().any(|r| {
                        r.get("apiVersion") == owner.get("apiVersion")
                            && r.get("kind") == owner.get("kind")
                            && r.get("name") == owner.get("name")
                    });
                    if !present {
                        list.push(owner);
                    }
                }
            }
        }
        Ok(Value::Object(resource))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployments() -> ExpansionTemplate {
        ExpansionTemplate::from_value(&json!({
            "apiVersion": "expansion.gatekeeper.sh/v1beta1", "kind": "ExpansionTemplate",
            "metadata": {"name": "expand-deployments"},
            "spec": {"applyTo": [{"groups": ["apps"], "versions": ["v1"], "kinds": ["Deployment"]}],
                     "templateSource": "spec.template",
                     "generatedGVK": {"group": "", "version": "v1", "kind": "Pod"}}
        }))
        .expect("valid template")
    }

    #[test]
    fn a_deployment_expands_to_its_pod_as_gatekeeper_builds_it() {
        let t = deployments();
        let gvk = Gvk::from_api_version("apps/v1", "Deployment");
        assert!(t.applies_to(&gvk));
        assert!(!t.applies_to(&Gvk::from_api_version("v1", "Pod")));
        let parent = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "Web", "namespace": "shop"},
            "spec": {"template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "x"}]}}}
        });
        let pod = t.expand(&parent, "shop").expect("expands");
        assert_eq!(pod["apiVersion"], "v1");
        assert_eq!(pod["kind"], "Pod");
        assert_eq!(pod["metadata"]["name"], "web-pod");
        assert_eq!(pod["metadata"]["namespace"], "shop");
        assert_eq!(pod["metadata"]["labels"]["app"], "web");
        assert_eq!(
            pod["metadata"]["ownerReferences"],
            json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": "Web"}])
        );
        assert_eq!(pod["spec"]["containers"][0]["image"], "x");
        let hollow = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                            "metadata": {"name": "h"}, "spec": {}});
        let err = t.expand(&hollow, "").expect_err("no template");
        assert!(
            err.contains("could not find source field \"spec.template\""),
            "{err}"
        );
    }

    #[test]
    fn invalid_templates_are_refused_as_gatekeeper_refuses_them() {
        let base = json!({
            "metadata": {"name": "t"},
            "spec": {"applyTo": [{"groups": ["apps"], "versions": ["v1"], "kinds": ["Deployment"]}],
                     "templateSource": "spec.template",
                     "generatedGVK": {"group": "", "version": "v1", "kind": "Pod"}}
        });
        let refused = |path: &str, value: Value| {
            let mut doc = base.clone();
            if let Some(slot) = doc.pointer_mut(path) {
                *slot = value;
            }
            ExpansionTemplate::from_value(&doc)
                .expect_err(path)
                .to_string()
        };
        assert!(refused("/spec/templateSource", json!("")).contains("templateSource"));
        assert!(refused("/spec/applyTo", json!([])).contains("applyTo"));
        assert!(refused("/spec/generatedGVK", json!({})).contains("generatedGVK"));
        assert!(refused("/metadata/name", json!("x".repeat(64))).contains("64"));
        let own = refused(
            "/spec/generatedGVK",
            json!({"group": "apps", "version": "v1", "kind": "Deployment"}),
        );
        assert!(own.contains("also applies to it"), "{own}");
        let mut blocked = base.clone();
        blocked["spec"]["enforcementAction"] = json!("block");
        let err = ExpansionTemplate::from_value(&blocked).expect_err("unknown action");
        assert!(err.to_string().contains("unknown action"), "{err}");
    }
}
