//! Building a snapshot object by object (see [`crate::policy::refusal`]).
//!
//! Each document is parsed, validated and compiled on its own. One that fails is refused
//! with its reason; if the previous snapshot served a version of the same object (same
//! identity), that version is carried over unchanged, so a broken update never unloads
//! a working policy, and everything else in the change still takes effect.
//!
//! Work of unchanged objects is reused from the previous snapshot: a template whose spec
//! is identical keeps its compiled program, and a constraint whose spec is identical and
//! whose template program is the same keeps its bound program.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;

use super::{
    classify, describe, named_kinds, ActiveConstraint, BuildOptions, CompiledTemplate, DocClass,
    LastGood, PolicySnapshot,
};
use crate::engine;
use crate::mutation::{Mutator, MutatorSet};
use crate::policy::expansion::ExpansionTemplate;
use crate::policy::refusal::{Cause, ObjectKind, Refusal};
use crate::policy::{Constraint, ConstraintTemplate, Document, GatekeeperConfig, PolicyError};

/// `metadata.name`, or empty.
fn name_of(doc: &Value) -> &str {
    doc.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// `kind`, or empty.
fn kind_of(doc: &Value) -> &str {
    doc.get("kind").and_then(Value::as_str).unwrap_or_default()
}

/// What a build has refused so far.
struct Refusals(Vec<Refusal>);

impl Refusals {
    fn push(
        &mut self,
        kind: ObjectKind,
        d: &Document,
        cause: Cause,
        error: PolicyError,
        kept: bool,
    ) {
        self.0.push(Refusal {
            kind,
            object: describe(&d.value),
            location: d.location.clone(),
            cause,
            error,
            kept,
        });
    }
}

impl PolicySnapshot {
    /// Build from `docs`, object by object. Objects that fail are listed in
    /// [`PolicySnapshot::refused`]; those `previous` served keep their last good version.
    pub fn build_from(
        docs: &[Document],
        options: &BuildOptions,
        previous: Option<&PolicySnapshot>,
    ) -> PolicySnapshot {
        let mut refused = Refusals(Vec::new());
        let mut namespaces = HashMap::new();
        let mut skipped = Vec::new();
        let (mut template_docs, mut constraint_docs, mut mutator_docs, mut config_docs) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut expansion_docs = Vec::new();
        for d in docs {
            match classify(&d.value) {
                DocClass::Template => template_docs.push(d),
                DocClass::Constraint => constraint_docs.push(d),
                DocClass::Mutator => mutator_docs.push(d),
                DocClass::Config => config_docs.push(d),
                DocClass::Expansion => expansion_docs.push(d),
                DocClass::Namespace => {
                    let name = name_of(&d.value);
                    if name.is_empty() {
                        let e = PolicyError::invalid("metadata.name", "is required");
                        refused.push(ObjectKind::Namespace, d, Cause::Invalid, e, false);
                        continue;
                    }
                    namespaces.insert(name.to_string(), crate::review::label_map(&d.value));
                }
                DocClass::Other => skipped.push(format!(
                    "{} ({})",
                    d.location,
                    d.value
                        .get("kind")
                        .and_then(Value::as_str)
                        .unwrap_or("no kind")
                )),
            }
        }
        let (templates, refused_kinds) =
            build_templates(&template_docs, options, previous, &mut refused);
        let constraints = build_constraints(
            &constraint_docs,
            &templates,
            &refused_kinds,
            previous,
            &mut refused,
        );
        let (mutators, last_mutators) = build_mutators(&mutator_docs, previous, &mut refused);
        let (config, configs) = build_configs(&config_docs, previous, &mut refused);
        let expansions = build_expansions(&expansion_docs, previous, &mut refused);
        let label_kinds = Arc::new(named_kinds(&constraints, &mutators));
        PolicySnapshot {
            label_kinds,
            templates: Arc::new(templates),
            constraints: Arc::new(constraints.into()),
            mutators: Arc::new(mutators),
            namespaces: Arc::new(namespaces),
            config: Arc::new(config),
            inventory: Arc::default(),
            skipped,
            refused: refused.0.into(),
            expansions: expansions.values().cloned().collect(),
            last_good: Arc::new(LastGood {
                mutators: last_mutators,
                configs,
                expansions,
            }),
        }
    }
}

/// Compile each template, reusing the previous program of an unchanged one. Returns the
/// templates by kind, and the kinds of refused templates that have no last good version
/// (with the template's name), so that their constraints are refused naming it.
fn build_templates(
    docs: &[&Document],
    options: &BuildOptions,
    previous: Option<&PolicySnapshot>,
    refused: &mut Refusals,
) -> (BTreeMap<String, CompiledTemplate>, HashMap<String, String>) {
    let by_name: HashMap<&str, &CompiledTemplate> = previous
        .map(|p| {
            p.templates
                .values()
                .map(|t| (t.template.name.as_str(), t))
                .collect()
        })
        .unwrap_or_default();
    let last = |name: &str| by_name.get(name).copied();
    let mut templates = BTreeMap::new();
    let mut refused_kinds = HashMap::new();
    let mut names = HashSet::new();
    for d in docs {
        let name = name_of(&d.value);
        if !name.is_empty() && !names.insert(name) {
            let e = PolicyError::invalid("metadata.name", "duplicate ConstraintTemplate");
            refused.push(ObjectKind::Template, d, Cause::Duplicate, e, false);
            continue;
        }
        let spec = d.value.get("spec").cloned().unwrap_or(Value::Null);
        let reused = last(name).filter(|t| t.spec == spec).cloned();
        let compiled = match reused
            .map(Ok)
            .unwrap_or_else(|| compile(&d.value, spec, options))
        {
            Ok(t) => t,
            Err(e) => {
                let kept = last(name).cloned();
                refused.push(ObjectKind::Template, d, Cause::of(&e), e, kept.is_some());
                match kept {
                    Some(t) => t,
                    None => {
                        if let Some(kind) = d
                            .value
                            .pointer("/spec/crd/spec/names/kind")
                            .and_then(Value::as_str)
                        {
                            refused_kinds.insert(kind.to_string(), name.to_string());
                        }
                        continue;
                    }
                }
            }
        };
        if templates.contains_key(&compiled.template.kind) {
            let e = PolicyError::invalid(
                "spec.crd.spec.names.kind",
                format!(
                    "kind {} is defined by another template",
                    compiled.template.kind
                ),
            );
            refused.push(ObjectKind::Template, d, Cause::Duplicate, e, false);
            continue;
        }
        templates.insert(compiled.template.kind.clone(), compiled);
    }
    (templates, refused_kinds)
}

fn compile(
    doc: &Value,
    spec: Value,
    options: &BuildOptions,
) -> Result<CompiledTemplate, PolicyError> {
    let template = ConstraintTemplate::from_value(doc)?;
    let program = engine::compile_bounded(&template, options.engine)?;
    Ok(CompiledTemplate {
        template,
        program,
        spec,
    })
}

/// Bind each constraint to its template. A refused constraint keeps its last good version,
/// bound to the template now serving when it still binds, else as it was.
fn build_constraints(
    docs: &[&Document],
    templates: &BTreeMap<String, CompiledTemplate>,
    refused_kinds: &HashMap<String, String>,
    previous: Option<&PolicySnapshot>,
    refused: &mut Refusals,
) -> Vec<ActiveConstraint> {
    let by_id: HashMap<(&str, &str), &ActiveConstraint> = previous
        .map(|p| {
            p.constraints
                .iter()
                .map(|c| ((c.constraint.kind.as_str(), c.constraint.name.as_str()), c))
                .collect()
        })
        .unwrap_or_default();
    let last = |kind: &str, name: &str| by_id.get(&(kind, name)).copied();
    let mut seen = HashSet::new();
    let mut constraints = Vec::new();
    for d in docs {
        let (kind, name) = (kind_of(&d.value), name_of(&d.value));
        if !name.is_empty() && !seen.insert((kind, name)) {
            let e = PolicyError::invalid("metadata.name", "duplicate constraint");
            refused.push(ObjectKind::Constraint, d, Cause::Duplicate, e, false);
            continue;
        }
        let spec = d.value.get("spec").cloned().unwrap_or(Value::Null);
        // Fields kubectl's strict validation would refuse, checked on every version (an
        // unknown field may come with an unchanged spec, in `metadata`).
        let fields = templates.get(kind).map_or(Ok(()), |t| {
            crate::policy::fields::check_constraint(&d.value, &t.template)
        });
        let unchanged = last(kind, name).filter(|c| {
            fields.is_ok()
                && c.spec == spec
                && templates
                    .get(kind)
                    .is_some_and(|t| Arc::ptr_eq(&t.program, &c.template_program))
        });
        if let Some(c) = unchanged {
            constraints.push(c.clone());
            continue;
        }
        let activated = fields
            .and_then(|()| Constraint::from_value(&d.value))
            .map_err(caused)
            .and_then(|c| activate(templates, refused_kinds, c, spec));
        match activated {
            Ok(c) => constraints.push(c),
            Err((cause, e)) => {
                // The last good version, if its template still serves.
                let kept = last(kind, name)
                    .filter(|_| templates.contains_key(kind))
                    .map(|c| {
                        activate(
                            templates,
                            refused_kinds,
                            c.constraint.clone(),
                            c.spec.clone(),
                        )
                        .unwrap_or_else(|_| c.clone())
                    });
                refused.push(ObjectKind::Constraint, d, cause, e, kept.is_some());
                constraints.extend(kept);
            }
        }
    }
    constraints.sort_by(|a, b| {
        (&a.constraint.kind, &a.constraint.name).cmp(&(&b.constraint.kind, &b.constraint.name))
    });
    constraints
}

/// An error with its cause read off it.
fn caused(e: PolicyError) -> (Cause, PolicyError) {
    (Cause::of(&e), e)
}

/// Check a constraint against its template and bind its parameters.
fn activate(
    templates: &BTreeMap<String, CompiledTemplate>,
    refused_kinds: &HashMap<String, String>,
    constraint: Constraint,
    spec: Value,
) -> Result<ActiveConstraint, (Cause, PolicyError)> {
    let Some(template) = templates.get(&constraint.kind) else {
        let reason = match refused_kinds.get(&constraint.kind) {
            Some(name) => format!(
                "its ConstraintTemplate {name} (kind {}) was refused and has no version serving",
                constraint.kind
            ),
            None => format!("no ConstraintTemplate defines kind {}", constraint.kind),
        };
        return Err((Cause::MissingTemplate, PolicyError::invalid("kind", reason)));
    };
    if let Some(schema) = &template.template.schema {
        if !constraint.parameters.is_null() {
            crate::policy::schema::validate(schema, &constraint.parameters)
                .map_err(|e| caused(PolicyError::invalid("spec.parameters", e)))?;
        }
    }
    let program = {
        let (program, parameters) = (template.program.clone(), constraint.parameters.clone());
        engine::within(
            engine::COMPILE_TIMEOUT,
            &template.template.name,
            move || program.bind(&parameters),
        )
    }
    .map_err(|e| caused(PolicyError::invalid("spec.parameters", e.to_string())))?;
    Ok(ActiveConstraint {
        constraint,
        program,
        spec,
        template_program: template.program.clone(),
    })
}

/// Parse each mutator (a broken one keeps its last good version), then leave out every
/// mutator in a schema conflict, as Gatekeeper does. Returns the set and the mutators
/// that parsed, by identity, as the next build's last good versions.
fn build_mutators(
    docs: &[&Document],
    previous: Option<&PolicySnapshot>,
    refused: &mut Refusals,
) -> (MutatorSet, BTreeMap<(String, String), Mutator>) {
    let key = |d: &Value| {
        let ns = d
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default();
        (format!("{}/{}", kind_of(d), name_of(d)), ns.to_string())
    };
    let mut parsed = BTreeMap::new();
    let mut from = HashMap::new();
    let mut seen = HashSet::new();
    for d in docs {
        let k = key(&d.value);
        if !seen.insert(k.clone()) {
            let e = PolicyError::invalid("metadata.name", "duplicate mutator");
            refused.push(ObjectKind::Mutator, d, Cause::Duplicate, e, false);
            continue;
        }
        let m = match Mutator::from_value(&d.value) {
            Ok(m) => m,
            Err(e) => {
                let kept = previous.and_then(|p| p.last_good.mutators.get(&k)).cloned();
                let e = PolicyError::invalid("spec", e.to_string());
                refused.push(ObjectKind::Mutator, d, Cause::Invalid, e, kept.is_some());
                match kept {
                    Some(m) => m,
                    None => continue,
                }
            }
        };
        from.insert(k.clone(), *d);
        parsed.insert(k, m);
    }
    let (set, left_out) = MutatorSet::without_conflicts(parsed.values().cloned().collect());
    for (m, reasons) in left_out {
        let Some(d) = from.get(&(m.id.clone(), m.namespace.clone())) else {
            continue;
        };
        let e = PolicyError::invalid(
            "spec.location",
            format!(
                "the mutator has a conflicting schema and is not applied: {}",
                reasons.join("; ")
            ),
        );
        refused.push(ObjectKind::Mutator, d, Cause::Conflict, e, false);
    }
    (set, parsed)
}

/// Read each Config (a broken one keeps its last good version) and merge their
/// exemptions. Returns the merged Config and each one by name.
fn build_configs(
    docs: &[&Document],
    previous: Option<&PolicySnapshot>,
    refused: &mut Refusals,
) -> (GatekeeperConfig, BTreeMap<String, GatekeeperConfig>) {
    let mut configs = BTreeMap::new();
    for d in docs {
        let name = name_of(&d.value).to_string();
        match GatekeeperConfig::from_value(&d.value) {
            Ok(c) => {
                configs.insert(name, c);
            }
            Err(e) => {
                let kept = previous
                    .and_then(|p| p.last_good.configs.get(&name))
                    .cloned();
                refused.push(ObjectKind::Config, d, Cause::of(&e), e, kept.is_some());
                if let Some(c) = kept {
                    configs.insert(name, c);
                }
            }
        }
    }
    let mut merged = GatekeeperConfig::default();
    for c in configs.values() {
        merged.exemptions.extend(c.exemptions.iter().cloned());
    }
    (merged, configs)
}

/// Parse each ExpansionTemplate; a refused one keeps its last good version. By name, so
/// the order (and a duplicate's fate: the later document wins) never depends on files.
fn build_expansions(
    docs: &[&Document],
    previous: Option<&PolicySnapshot>,
    refused: &mut Refusals,
) -> BTreeMap<String, ExpansionTemplate> {
    let mut out = BTreeMap::new();
    for d in docs {
        let name = name_of(&d.value).to_string();
        match ExpansionTemplate::from_value(&d.value) {
            Ok(t) => {
                out.insert(name, t);
            }
            Err(e) => {
                let kept = previous
                    .and_then(|p| p.last_good.expansions.get(&name))
                    .cloned();
                refused.push(ObjectKind::Expansion, d, Cause::of(&e), e, kept.is_some());
                if let Some(t) = kept {
                    out.insert(name, t);
                }
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "build_tests.rs"]
mod tests;
