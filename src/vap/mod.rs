//! ValidatingAdmissionPolicy export (`portcullis vap`): CEL (`K8sNativeValidation`)
//! templates and their constraints as `admissionregistration.k8s.io/v1`
//! ValidatingAdmissionPolicies and bindings, which the API server evaluates itself, shaped
//! as Gatekeeper generates them ([`policy`], [`binding`]).
//!
//! What cannot be expressed is skipped with its reason, never approximated: a template
//! without CEL code (Rego and Native run only in the webhook), one that opts out
//! (`generateVAP: false`), one calling a function the target API server's CEL lacks
//! ([`functions`]), a constraint acting nowhere at `vap.k8s.io`, one whose actions the API
//! server refuses together (deny and warn), one matching only generated resources, and
//! every constraint of a skipped template. Every object written has passed the API
//! server's own creation checks ([`structure`]) and compiles on portcullis's CEL engine.

pub mod binding;
pub mod conditions;
pub mod functions;
pub mod policy;
pub mod structure;

#[cfg(test)]
mod emulation;
#[cfg(test)]
mod library_tests;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::matching::validate_glob;
use crate::policy::{Constraint, ConstraintTemplate, Document, GatekeeperConfig};

/// Gatekeeper's process name for the validating webhook in Config exemptions.
const WEBHOOK_PROCESS: &str = "webhook";

/// How to export.
#[derive(Debug, Clone, Copy)]
pub struct ExportOptions {
    /// The oldest API server release (major, minor) the policies must load on.
    pub kubernetes: (u32, u32),
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            kubernetes: functions::DEFAULT_KUBERNETES,
        }
    }
}

/// A template or constraint left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// `template <name>` or `constraint <Kind>/<name>`, with the document's location.
    pub what: String,
    /// Why it cannot be expressed.
    pub reason: String,
}

/// The objects written and the ones left out.
#[derive(Debug, Clone, Default)]
pub struct Export {
    /// Each policy followed by the bindings of its constraints, in input order.
    pub objects: Vec<Value>,
    /// What could not be expressed.
    pub skipped: Vec<Skipped>,
}

/// A template read from the input and, when it could be expressed, its policy.
struct TemplateEntry<'d> {
    doc: &'d Document,
    template: ConstraintTemplate,
    policy: Result<Value, String>,
    bindings: Vec<Value>,
}

/// Export the templates and constraints among `docs` (other documents are ignored, except
/// Gatekeeper `Config`, whose webhook exemptions every policy honours). An invalid
/// template, constraint or Config is an error naming its document: nothing is exported.
pub fn export(docs: &[Document], options: &ExportOptions) -> Result<Export, String> {
    let exempt = webhook_exemptions(docs)?;
    let mut templates: Vec<TemplateEntry<'_>> = Vec::new();
    let mut by_kind: HashMap<String, usize> = HashMap::new();
    let mut skipped = Vec::new();
    for d in docs
        .iter()
        .filter(|d| is(d, "templates.gatekeeper.sh", "ConstraintTemplate"))
    {
        let template =
            ConstraintTemplate::from_value(&d.value).map_err(|e| format!("{}: {e}", d.location))?;
        // A CEL block the webhook refuses (bad syntax, a reserved name, an undeclared
        // variable) makes the template invalid, not merely inexpressible.
        if let Some(Err(e)) = crate::engine::cel::compile(&template) {
            return Err(format!("{}: {e}", d.location));
        }
        if let Some(first) = by_kind.get(&template.kind).and_then(|i| templates.get(*i)) {
            // The webhook keeps the first too: the cluster holds one object per name.
            skipped.push(Skipped {
                what: format!("template {} ({})", template.name, d.location),
                reason: format!("duplicates the one at {}", first.doc.location),
            });
            continue;
        }
        let policy = policy::policy(&template, &exempt, options.kubernetes).and_then(|p| {
            let problems = structure::policy_problems(&p);
            if problems.is_empty() {
                Ok(p)
            } else {
                Err(format!(
                    "the API server would refuse its policy: {}",
                    problems.join("; ")
                ))
            }
        });
        by_kind.insert(template.kind.clone(), templates.len());
        templates.push(TemplateEntry {
            doc: d,
            template,
            policy,
            bindings: Vec::new(),
        });
    }
    for entry in &templates {
        if let Err(reason) = &entry.policy {
            skipped.push(Skipped {
                what: format!("template {} ({})", entry.template.name, entry.doc.location),
                reason: reason.clone(),
            });
        }
    }
    let mut constraints_seen: HashMap<(String, String), String> = HashMap::new();
    for d in docs
        .iter()
        .filter(|d| group_of(d) == "constraints.gatekeeper.sh")
    {
        let constraint =
            Constraint::from_value(&d.value).map_err(|e| format!("{}: {e}", d.location))?;
        let what = format!(
            "constraint {}/{} ({})",
            constraint.kind, constraint.name, d.location
        );
        let id = (constraint.kind.clone(), constraint.name.clone());
        if let Some(first) = constraints_seen.get(&id) {
            skipped.push(Skipped {
                what,
                reason: format!("duplicates the one at {first}"),
            });
            continue;
        }
        constraints_seen.insert(id, d.location.clone());
        let Some(entry) = by_kind
            .get(&constraint.kind)
            .and_then(|i| templates.get_mut(*i))
        else {
            skipped.push(Skipped {
                what,
                reason: format!(
                    "no ConstraintTemplate of kind {} among the inputs",
                    constraint.kind
                ),
            });
            continue;
        };
        crate::policy::fields::check_constraint(&d.value, &entry.template)
            .map_err(|e| format!("{}: {e}", d.location))?;
        if entry.policy.is_err() {
            skipped.push(Skipped {
                what,
                reason: format!("its template {} cannot be expressed", entry.template.name),
            });
            continue;
        }
        match binding::binding(&constraint, &d.value) {
            Ok(b) => {
                let problems = structure::binding_problems(&b);
                if problems.is_empty() {
                    entry.bindings.push(b);
                } else {
                    skipped.push(Skipped {
                        what,
                        reason: format!(
                            "the API server would refuse its binding: {}",
                            problems.join("; ")
                        ),
                    });
                }
            }
            Err(reason) => skipped.push(Skipped { what, reason }),
        }
    }
    let mut objects = Vec::new();
    for entry in templates {
        if let Ok(p) = entry.policy {
            objects.push(p);
            objects.extend(entry.bindings);
        }
    }
    Ok(Export { objects, skipped })
}

/// The namespaces every Config among `docs` exempts from the webhook (`webhook` or `*`).
fn webhook_exemptions(docs: &[Document]) -> Result<Vec<String>, String> {
    let mut out: BTreeMap<String, ()> = BTreeMap::new();
    for d in docs
        .iter()
        .filter(|d| is(d, "config.gatekeeper.sh", "Config"))
    {
        let config =
            GatekeeperConfig::from_value(&d.value).map_err(|e| format!("{}: {e}", d.location))?;
        for exemption in &config.exemptions {
            if !exemption
                .processes
                .iter()
                .any(|p| p == "*" || p == WEBHOOK_PROCESS)
            {
                continue;
            }
            for pattern in &exemption.excluded_namespaces {
                validate_glob(pattern)
                    .map_err(|e| format!("{}: spec.match excludedNamespaces: {e}", d.location))?;
                out.insert(pattern.clone(), ());
            }
        }
    }
    Ok(out.into_keys().collect())
}

fn group_of(d: &Document) -> &str {
    let api_version = d
        .value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    api_version.split_once('/').map_or("", |(g, _)| g)
}

fn is(d: &Document, group: &str, kind: &str) -> bool {
    group_of(d) == group && d.value.get("kind").and_then(Value::as_str) == Some(kind)
}
