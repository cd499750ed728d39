//! The immutable policy set the hot path reads, and the store that swaps it atomically.
//!
//! A snapshot is built whole from a list of documents; any error rejects the whole build,
//! so a reload either replaces everything or nothing and the last good set keeps deciding.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde_json::Value;

use super::constraint_set::ConstraintSet;
use super::{Constraint, ConstraintTemplate, GatekeeperConfig, PolicyError};
use crate::engine::{self, BoundProgram, EngineChoice, Inventory, Program};
use crate::matching::Labels;
use crate::mutation::{Mutator, MutatorSet};

/// One parsed document and where it came from.
#[derive(Debug, Clone)]
pub struct Document {
    /// `path` or `path#index` (0-based document index in a multi-document file).
    pub location: String,
    /// The document.
    pub value: Value,
}

/// How to build a snapshot.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Engine preference (`--engine`).
    pub engine: EngineChoice,
}

/// A compiled template.
#[derive(Debug)]
pub struct CompiledTemplate {
    /// The template.
    pub template: ConstraintTemplate,
    /// Its program.
    pub program: Arc<dyn Program>,
}

/// A constraint ready to evaluate.
#[derive(Debug)]
pub struct ActiveConstraint {
    /// The constraint.
    pub constraint: Constraint,
    /// Its template's program with the constraint's parameters bound.
    pub program: Arc<dyn BoundProgram>,
}

/// Everything the server decides with, immutable once built.
///
/// Every part sits behind its own `Arc`, so that cluster mode can publish a snapshot with
/// new namespace labels or a new inventory without recompiling a single template: the
/// compiled policy parts are shared (see [`PolicySnapshot::with_cluster_state`]).
#[derive(Debug, Default, Clone)]
pub struct PolicySnapshot {
    /// Compiled templates by constraint kind.
    pub templates: Arc<BTreeMap<String, CompiledTemplate>>,
    /// Constraints, sorted by (kind, name) so that messages come in a stable order.
    pub constraints: Arc<ConstraintSet>,
    /// Mutators in application order.
    pub mutators: Arc<MutatorSet>,
    /// Namespace labels known to this snapshot (file mode: Namespace documents; cluster
    /// mode: the cluster's namespaces).
    pub namespaces: Arc<HashMap<String, Labels>>,
    /// Process exemptions.
    pub config: Arc<GatekeeperConfig>,
    /// `data.inventory` for referential policies (cluster mode: the objects Config syncs).
    pub inventory: Arc<Inventory>,
    /// Documents skipped because portcullis does not know their kind (`location (Kind)`).
    pub skipped: Vec<String>,
    /// Kinds the policy set names in `match.kinds` and `applyTo`: with Kubernetes' own, the
    /// only values the metrics' `kind` label takes.
    pub label_kinds: Arc<HashSet<String>>,
}

/// What a document is, from its apiVersion group and kind.
enum DocClass {
    Template,
    Constraint,
    Mutator,
    Config,
    Namespace,
    Other,
}

fn classify(doc: &Value) -> DocClass {
    let api_version = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
    let group = api_version.split_once('/').map(|(g, _)| g).unwrap_or("");
    match (group, kind) {
        ("templates.gatekeeper.sh", "ConstraintTemplate") => DocClass::Template,
        ("constraints.gatekeeper.sh", _) => DocClass::Constraint,
        ("mutations.gatekeeper.sh", _) => DocClass::Mutator,
        ("config.gatekeeper.sh", "Config") => DocClass::Config,
        ("", "Namespace") if api_version == "v1" => DocClass::Namespace,
        _ => DocClass::Other,
    }
}

fn describe(doc: &Value) -> String {
    format!(
        "{}/{}",
        doc.get("kind").and_then(Value::as_str).unwrap_or("?"),
        doc.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("?")
    )
}

fn at(d: &Document, error: PolicyError) -> PolicyError {
    PolicyError::At {
        location: d.location.clone(),
        what: describe(&d.value),
        error: Box::new(error),
    }
}

impl PolicySnapshot {
    /// Build a snapshot from documents; every error found is returned together and nothing
    /// is built unless there are none (reloads are all-or-nothing).
    pub fn build(docs: &[Document], options: &BuildOptions) -> Result<Self, PolicyError> {
        let (snap, mut errors) = Self::build_lenient(docs, options);
        if errors.is_empty() {
            Ok(snap)
        } else if errors.len() == 1 {
            Err(errors.remove(0))
        } else {
            Err(PolicyError::Set(errors))
        }
    }

    /// Build from every document that is valid and report the others. Used for the first
    /// load, when there is no last good set to fall back on: serving the valid constraints
    /// beats admitting everything because one document is broken.
    pub fn build_lenient(docs: &[Document], options: &BuildOptions) -> (Self, Vec<PolicyError>) {
        let mut errors = Vec::new();
        let mut templates = BTreeMap::new();
        let mut namespaces = HashMap::new();
        let mut config = GatekeeperConfig::default();
        let mut skipped = Vec::new();
        let mut constraint_docs = Vec::new();
        let mut mutators = Vec::new();
        for d in docs {
            match classify(&d.value) {
                DocClass::Template => match ConstraintTemplate::from_value(&d.value) {
                    Ok(t) => {
                        if templates.contains_key(&t.kind) {
                            errors.push(at(
                                d,
                                PolicyError::invalid(
                                    "spec.crd.spec.names.kind",
                                    format!("kind {} is defined by another template", t.kind),
                                ),
                            ));
                            continue;
                        }
                        match engine::compile_bounded(&t, options.engine) {
                            Ok(program) => {
                                templates.insert(
                                    t.kind.clone(),
                                    CompiledTemplate {
                                        template: t,
                                        program,
                                    },
                                );
                            }
                            Err(e) => errors.push(at(d, e.into())),
                        }
                    }
                    Err(e) => errors.push(at(d, e)),
                },
                DocClass::Constraint => constraint_docs.push(d),
                DocClass::Mutator => match Mutator::from_value(&d.value) {
                    Ok(m) => mutators.push(m),
                    Err(e) => errors.push(at(d, PolicyError::invalid("spec", e.to_string()))),
                },
                DocClass::Config => match GatekeeperConfig::from_value(&d.value) {
                    Ok(c) => config.exemptions.extend(c.exemptions),
                    Err(e) => errors.push(at(d, e)),
                },
                DocClass::Namespace => {
                    let name = d
                        .value
                        .pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    if name.is_empty() {
                        errors.push(at(d, PolicyError::invalid("metadata.name", "is required")));
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
        let mut seen = std::collections::HashSet::new();
        let mut constraints = Vec::new();
        for d in constraint_docs {
            match Self::activate(&templates, &d.value) {
                Ok(c) => {
                    if !seen.insert((c.constraint.kind.clone(), c.constraint.name.clone())) {
                        errors.push(at(
                            d,
                            PolicyError::invalid("metadata.name", "duplicate constraint"),
                        ));
                        continue;
                    }
                    constraints.push(c);
                }
                Err(e) => errors.push(at(d, e)),
            }
        }
        constraints.sort_by(|a, b| {
            (&a.constraint.kind, &a.constraint.name).cmp(&(&b.constraint.kind, &b.constraint.name))
        });
        let mutators = match MutatorSet::new(mutators) {
            Ok(set) => set,
            // Conflicting mutators cannot be ordered safely: none of them is served.
            Err(e) => {
                errors.push(PolicyError::invalid("mutators", e.to_string()));
                MutatorSet::default()
            }
        };
        let label_kinds = Arc::new(named_kinds(&constraints, &mutators));
        let snap = PolicySnapshot {
            label_kinds,
            templates: Arc::new(templates),
            constraints: Arc::new(constraints.into()),
            mutators: Arc::new(mutators),
            namespaces: Arc::new(namespaces),
            config: Arc::new(config),
            inventory: Arc::default(),
            skipped,
        };
        (snap, errors)
    }

    /// The same compiled policies with another view of the cluster: namespace labels for
    /// `namespaceSelector` and `data.inventory`. Costs a few reference-count increments, so
    /// a namespace relabelled or a synced object changed never recompiles a template.
    pub fn with_cluster_state(
        &self,
        namespaces: Arc<HashMap<String, Labels>>,
        inventory: Arc<Inventory>,
    ) -> PolicySnapshot {
        PolicySnapshot {
            namespaces,
            inventory,
            ..self.clone()
        }
    }

    fn activate(
        templates: &BTreeMap<String, CompiledTemplate>,
        doc: &Value,
    ) -> Result<ActiveConstraint, PolicyError> {
        let constraint = Constraint::from_value(doc)?;
        let template = templates.get(&constraint.kind).ok_or_else(|| {
            PolicyError::invalid(
                "kind",
                format!("no ConstraintTemplate defines kind {}", constraint.kind),
            )
        })?;
        if let Some(schema) = &template.template.schema {
            if !constraint.parameters.is_null() {
                super::schema::validate(schema, &constraint.parameters)
                    .map_err(|e| PolicyError::invalid("spec.parameters", e))?;
            }
        }
        super::fields::check_constraint(doc, &template.template)?;
        let program = {
            let (program, parameters) = (template.program.clone(), constraint.parameters.clone());
            engine::within(
                engine::COMPILE_TIMEOUT,
                &template.template.name,
                move || program.bind(&parameters),
            )
        }
        .map_err(|e| PolicyError::invalid("spec.parameters", e.to_string()))?;
        Ok(ActiveConstraint {
            constraint,
            program,
        })
    }

    /// `kind` as a metric label: itself when Kubernetes serves it or the policy set names
    /// it, else `other`.
    pub fn metric_kind<'a>(&self, kind: &'a str) -> &'a str {
        if crate::metrics::BUILTIN_KINDS.contains(&kind) || self.label_kinds.contains(kind) {
            kind
        } else {
            "other"
        }
    }

    /// How many copies of a request's object evaluation may hold at once: the decoded JSON,
    /// plus one per engine that converts it into values of its own (CEL; Rego, whose
    /// interpreter converts where the compiled path borrows). The server reserves memory
    /// for that many.
    pub fn conversion_factor(&self) -> usize {
        let uses =
            |kind: engine::EngineKind| self.templates.values().any(|t| t.program.engine() == kind);
        1 + usize::from(uses(engine::EngineKind::Cel)) + usize::from(uses(engine::EngineKind::Rego))
    }

    /// Counts by kind for the `portcullis_policies` gauge.
    pub fn counts(&self) -> [(&'static str, usize); 4] {
        [
            ("template", self.templates.len()),
            ("constraint", self.constraints.len()),
            ("mutator", self.mutators.len()),
            ("namespace", self.namespaces.len()),
        ]
    }
}

/// Kinds named by constraints' `match.kinds` and mutators' `applyTo` and `match.kinds`
/// (`*` is not a kind).
fn named_kinds(constraints: &[ActiveConstraint], mutators: &MutatorSet) -> HashSet<String> {
    let from_match = |m: &crate::matching::Match| -> Vec<String> {
        m.kinds
            .iter()
            .flat_map(|k| k.kinds.iter())
            .filter(|k| k.as_str() != "*")
            .cloned()
            .collect()
    };
    let mut kinds = HashSet::new();
    for c in constraints {
        kinds.extend(from_match(&c.constraint.matcher));
    }
    for m in mutators.iter() {
        kinds.extend(from_match(&m.matcher));
        kinds.extend(m.apply_to.iter().flat_map(|a| a.kinds.iter()).cloned());
    }
    kinds
}

/// The current snapshot, swapped atomically; readers never block writers.
#[derive(Debug)]
pub struct SnapshotStore {
    current: ArcSwap<PolicySnapshot>,
    loaded: std::sync::atomic::AtomicBool,
}

impl Default for SnapshotStore {
    fn default() -> Self {
        SnapshotStore {
            current: ArcSwap::from_pointee(PolicySnapshot::default()),
            loaded: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl SnapshotStore {
    /// A store already holding a snapshot (marked loaded).
    pub fn with(snapshot: PolicySnapshot) -> Self {
        let s = SnapshotStore::default();
        s.publish(snapshot);
        s
    }

    /// The snapshot to decide with.
    pub fn load(&self) -> arc_swap::Guard<Arc<PolicySnapshot>> {
        self.current.load()
    }

    /// A full `Arc` of the current snapshot (for work that outlives a request).
    pub fn load_full(&self) -> Arc<PolicySnapshot> {
        self.current.load_full()
    }

    /// Replace the snapshot.
    pub fn publish(&self, snapshot: PolicySnapshot) {
        self.current.store(Arc::new(snapshot));
        self.loaded
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// True once a policy set has been published.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(std::sync::atomic::Ordering::Acquire)
    }
}
