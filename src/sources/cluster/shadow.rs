//! Shadow-labelled policy objects in cluster mode.
//!
//! A ConstraintTemplate, constraint or mutator labelled `policy.portcullis.io/shadow: "true"`
//! is not enforced: it is left out of the real policy set (so out of generated
//! ValidatingAdmissionPolicies and of audit too) and goes into a *shadow set*, the enforced
//! objects overlaid with the shadow ones, which the shadow evaluator judges live traffic
//! with after each real answer ([`crate::impact::shadow`]).
//!
//! The overlay, [`split`]:
//! - a shadow constraint or mutator is added;
//! - a shadow template of a kind an enforced template defines *replaces* that template,
//!   so every constraint of the kind, enforced or shadow, runs under the new version in
//!   the shadow set. Such a template may have any name (`k8srequiredlabels-next`): the
//!   cluster holds one template per name, so a new version beside the enforced one needs
//!   another name, and Gatekeeper's rule that the name is the lower-cased kind exists for
//!   the CRD the template owns, which stays the enforced template's. In the shadow set it
//!   takes the enforced template's name, as the new version of that template;
//! - a shadow template of a new kind is added (it must be named after its kind, and gets
//!   its CRD, so that constraints of it can be created);
//! - a second shadow template of an enforced kind is refused: one shadow version per kind.
//!
//! Config and ExpansionTemplates are always enforced: the label means nothing on them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::Value;

use crate::policy::refusal::{Cause, ObjectKind, Refusal};
use crate::policy::{Document, PolicyError};
use crate::snapshot::{LastGood, PolicySnapshot};

/// The label that makes a template, constraint or mutator shadow-only.
pub const SHADOW_LABEL: &str = "policy.portcullis.io/shadow";

const TEMPLATES_GROUP: &str = "templates.gatekeeper.sh";

/// The API group of a document (`apiVersion` before the `/`).
fn group(doc: &Value) -> &str {
    doc.get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|v| v.split_once('/'))
        .map_or("", |(g, _)| g)
}

fn is_template(doc: &Value) -> bool {
    group(doc) == TEMPLATES_GROUP
        && doc.get("kind").and_then(Value::as_str) == Some("ConstraintTemplate")
}

/// The constraint kind a template defines, if it names one.
fn template_kind(doc: &Value) -> Option<&str> {
    doc.pointer("/spec/crd/spec/names/kind")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
}

fn name_of(doc: &Value) -> &str {
    doc.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Is `doc` a template, constraint or mutator labelled shadow-only?
pub fn is_shadow(doc: &Value) -> bool {
    let shadowable = is_template(doc)
        || matches!(
            group(doc),
            "constraints.gatekeeper.sh" | "mutations.gatekeeper.sh"
        );
    shadowable
        && doc
            .pointer("/metadata/labels")
            .and_then(|l| l.get(SHADOW_LABEL))
            .and_then(Value::as_str)
            == Some("true")
}

/// The policy documents split into the real set and the shadow set.
#[derive(Debug, Default)]
pub struct Split {
    /// The enforced objects: the real policy set.
    pub enforced: Vec<Document>,
    /// The shadow-labelled objects, as they are in the cluster (for status and CRDs).
    pub shadow: Vec<Document>,
    /// What the shadow set is built from: the enforced objects overlaid with the shadow
    /// ones (empty when there is no shadow object).
    pub set: Vec<Document>,
    /// Shadow templates refused before the build (a second shadow version of a kind).
    pub refused: Vec<Refusal>,
    /// Shadow templates that replace an enforced template: their location, name and kind.
    replacing: BTreeMap<String, (String, String)>,
    /// Kinds an enforced template defines.
    enforced_kinds: BTreeSet<String>,
}

/// Split `docs` into the enforced objects and the shadow set (see the module doc).
pub fn split(docs: Vec<Document>) -> Split {
    let (shadow, enforced): (Vec<Document>, Vec<Document>) =
        docs.into_iter().partition(|d| is_shadow(&d.value));
    let enforced_kinds: BTreeSet<String> = enforced
        .iter()
        .filter(|d| is_template(&d.value))
        .filter_map(|d| template_kind(&d.value))
        .map(str::to_string)
        .collect();
    let mut out = Split {
        enforced,
        enforced_kinds,
        ..Split::default()
    };
    if shadow.is_empty() {
        return out;
    }
    // The shadow version of each enforced kind: the first by name.
    let mut ordered: Vec<&Document> = shadow.iter().filter(|d| is_template(&d.value)).collect();
    ordered.sort_by(|a, b| name_of(&a.value).cmp(name_of(&b.value)));
    let mut versions: BTreeMap<String, &Document> = BTreeMap::new();
    for d in ordered {
        let Some(kind) = template_kind(&d.value) else {
            continue;
        };
        if !out.enforced_kinds.contains(kind) {
            continue;
        }
        match versions.get(kind) {
            Some(first) => out.refused.push(Refusal {
                kind: ObjectKind::Template,
                object: format!("ConstraintTemplate/{}", name_of(&d.value)),
                location: d.location.clone(),
                cause: Cause::Duplicate,
                error: PolicyError::invalid(
                    "spec.crd.spec.names.kind",
                    format!(
                        "kind {kind} already has a shadow version, ConstraintTemplate {}: \
                         one shadow version of a kind runs at a time",
                        name_of(&first.value)
                    ),
                ),
                kept: false,
            }),
            None => {
                versions.insert(kind.to_string(), d);
            }
        }
    }
    let replaced: BTreeSet<&str> = versions.keys().map(String::as_str).collect();
    let dropped: BTreeSet<&str> = out.refused.iter().map(|r| r.location.as_str()).collect();
    let enforced_part = out.enforced.iter().filter(|d| {
        !(is_template(&d.value) && template_kind(&d.value).is_some_and(|k| replaced.contains(k)))
    });
    let mut set: Vec<Document> = enforced_part.cloned().collect();
    for d in &shadow {
        if dropped.contains(d.location.as_str()) {
            continue;
        }
        let mut d = d.clone();
        let version_of = template_kind(&d.value)
            .filter(|k| is_template(&d.value) && versions.contains_key(*k))
            .map(str::to_string);
        if let Some(kind) = version_of {
            let name = kind.to_lowercase();
            out.replacing
                .insert(d.location.clone(), (name_of(&d.value).to_string(), kind));
            if let Some(meta) = d.value.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert("name".into(), Value::String(name));
            }
        }
        set.push(d);
    }
    out.set = set;
    out.shadow = shadow;
    out
}

impl Split {
    /// Shadow templates of kinds no enforced template defines: they own their CRD.
    pub fn new_kind_templates(&self) -> Vec<Document> {
        self.shadow
            .iter()
            .filter(|d| is_template(&d.value))
            .filter(|d| template_kind(&d.value).is_some_and(|k| !self.enforced_kinds.contains(k)))
            .cloned()
            .collect()
    }

    /// The shadow snapshot as built from [`Split::set`], with the refusals made before
    /// the build added, and replacing templates named as they are in the cluster. A
    /// refused shadow version whose kind is judged by the enforced version (none of its
    /// own ever served) is not said to keep a version: `real` is the real set.
    pub fn finish(&self, mut snap: PolicySnapshot, real: &PolicySnapshot) -> PolicySnapshot {
        let runs_enforced = |kind: &str| match (snap.templates.get(kind), real.templates.get(kind))
        {
            (Some(s), Some(r)) => s.spec == r.spec,
            _ => false,
        };
        let refused: Vec<Refusal> = snap
            .refused
            .iter()
            .cloned()
            .map(|mut r| {
                if let Some((name, kind)) = self.replacing.get(&r.location) {
                    r.object = format!("ConstraintTemplate/{name}");
                    r.kept &= !runs_enforced(kind);
                }
                r
            })
            .chain(self.refused.iter().cloned())
            .collect();
        snap.refused = refused.into();
        snap
    }

    /// Shadow objects whose current or last good version serves in `shadow`.
    pub fn loaded(&self, shadow: &PolicySnapshot) -> usize {
        let lost: BTreeSet<&str> = shadow
            .refused
            .iter()
            .filter(|r| !r.kept)
            .map(|r| r.location.as_str())
            .collect();
        self.shadow
            .iter()
            .filter(|d| !lost.contains(d.location.as_str()))
            .count()
    }

    /// The refusals of the shadow set worth reporting: those of shadow objects, and those
    /// of enforced objects that the real set did not refuse (a constraint a stricter
    /// shadow template would refuse).
    pub fn shadow_refusals(&self, real: &PolicySnapshot, shadow: &PolicySnapshot) -> Vec<Refusal> {
        let own: BTreeSet<&str> = self.shadow.iter().map(|d| d.location.as_str()).collect();
        let real_refused: BTreeSet<(&str, String)> = real
            .refused
            .iter()
            .map(|r| (r.location.as_str(), r.reason()))
            .collect();
        shadow
            .refused
            .iter()
            .filter(|r| {
                own.contains(r.location.as_str())
                    || !real_refused.contains(&(r.location.as_str(), r.reason()))
            })
            .cloned()
            .collect()
    }
}

/// The snapshot the shadow build treats as its previous one: its last build, completed
/// with the real set's compiled templates and bound constraints, so that the enforced
/// objects the two sets share are compiled once (and held once in memory). For each
/// object the version whose spec matches the document now is taken, the last shadow one
/// first; failing that the last shadow version, whose place it keeps if the document is
/// refused.
pub fn previous(
    set: &[Document],
    real: &PolicySnapshot,
    last: Option<&PolicySnapshot>,
) -> PolicySnapshot {
    let spec = |d: &Document| d.value.get("spec").cloned().unwrap_or(Value::Null);
    let templates_by_name = |s: &PolicySnapshot| {
        s.templates
            .values()
            .map(|t| (t.template.name.clone(), t.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    let (real_t, last_t) = (
        templates_by_name(real),
        last.map(templates_by_name).unwrap_or_default(),
    );
    let mut templates = BTreeMap::new();
    let constraint_key = |d: &Value| {
        let kind = d.get("kind").and_then(Value::as_str).unwrap_or_default();
        (kind.to_string(), name_of(d).to_string())
    };
    let constraints_by_id = |s: &PolicySnapshot| {
        s.constraints
            .iter()
            .map(|c| {
                let id = (c.constraint.kind.clone(), c.constraint.name.clone());
                (id, c.clone())
            })
            .collect::<BTreeMap<_, _>>()
    };
    let (real_c, last_c) = (
        constraints_by_id(real),
        last.map(constraints_by_id).unwrap_or_default(),
    );
    let mut constraints = Vec::new();
    for d in set {
        let now = spec(d);
        if is_template(&d.value) {
            let name = name_of(&d.value);
            let (l, r) = (last_t.get(name), real_t.get(name));
            let pick = [l, r]
                .into_iter()
                .flatten()
                .find(|t| t.spec == now)
                .or(l)
                .or(r);
            if let Some(t) = pick {
                templates.insert(t.template.kind.clone(), t.clone());
            }
        } else if group(&d.value) == "constraints.gatekeeper.sh" {
            let id = constraint_key(&d.value);
            let (l, r) = (last_c.get(&id), real_c.get(&id));
            let pick = [l, r]
                .into_iter()
                .flatten()
                .find(|c| c.spec == now)
                .or(l)
                .or(r);
            constraints.extend(pick.cloned());
        }
    }
    let mut last_good = LastGood {
        mutators: real.last_good.mutators.clone(),
        configs: real.last_good.configs.clone(),
        expansions: real.last_good.expansions.clone(),
    };
    if let Some(last) = last {
        last_good.mutators.extend(
            last.last_good
                .mutators
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
    }
    PolicySnapshot {
        templates: Arc::new(templates),
        constraints: Arc::new(constraints.into()),
        last_good: Arc::new(last_good),
        ..PolicySnapshot::default()
    }
}

#[cfg(test)]
#[path = "shadow_tests.rs"]
mod tests;
