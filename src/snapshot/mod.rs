//! The immutable policy set the hot path reads, and the store that swaps it atomically.
//!
//! A snapshot is built from a list of documents object by object ([`build`]): an
//! object that fails is refused on its own and its last good version, taken from the
//! previous snapshot, keeps serving. A new snapshot is swapped in whole, so a request is
//! always decided by one consistent set.

#![deny(clippy::indexing_slicing)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde_json::Value;

mod build;
mod constraint_set;

use crate::engine::{self, BoundProgram, EngineChoice, Inventory, Program};
use crate::matching::Labels;
use crate::mutation::{Mutator, MutatorSet};
use crate::policy::expansion::ExpansionTemplate;
use crate::policy::refusal::{ObjectKind, Refusal};
use crate::policy::{Constraint, ConstraintTemplate, Document, GatekeeperConfig, PolicyError};
pub use constraint_set::ConstraintSet;

/// How to build a snapshot.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Engine preference (`--engine`).
    pub engine: EngineChoice,
}

/// A compiled template.
#[derive(Debug, Clone)]
pub struct CompiledTemplate {
    /// The template.
    pub template: ConstraintTemplate,
    /// Its program.
    pub program: Arc<dyn Program>,
    /// The `spec` it was compiled from: an identical spec reuses the program.
    pub spec: Value,
}

/// A constraint ready to evaluate.
#[derive(Debug, Clone)]
pub struct ActiveConstraint {
    /// The constraint.
    pub constraint: Constraint,
    /// Its template's program with the constraint's parameters bound.
    pub program: Arc<dyn BoundProgram>,
    /// The `spec` it was read from.
    pub spec: Value,
    /// The template program it was bound to: the same spec bound to the same program is
    /// not bound again.
    pub template_program: Arc<dyn Program>,
}

/// Last good versions a snapshot keeps for the next build beyond what it serves: every
/// mutator that parsed (including those left out for a schema conflict) and each Config.
#[derive(Debug, Default)]
pub struct LastGood {
    /// Mutators by (`Kind/name`, namespace).
    pub mutators: BTreeMap<(String, String), Mutator>,
    /// Configs by name.
    pub configs: BTreeMap<String, GatekeeperConfig>,
    /// ExpansionTemplates by name.
    pub expansions: BTreeMap<String, ExpansionTemplate>,
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
    /// Objects of the source refused by the build that made this snapshot, with reasons.
    pub refused: Arc<[Refusal]>,
    /// Last good versions for the next build.
    pub last_good: Arc<LastGood>,
    /// ExpansionTemplates, by name: reviews of the kinds they apply to are also judged by
    /// the resources they would generate.
    pub expansions: Arc<[ExpansionTemplate]>,
}

/// What a document is, from its apiVersion group and kind.
pub(super) enum DocClass {
    Template,
    Constraint,
    Mutator,
    Config,
    Expansion,
    Namespace,
    Other,
}

pub(super) fn classify(doc: &Value) -> DocClass {
    let api_version = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
    let group = api_version.split_once('/').map(|(g, _)| g).unwrap_or("");
    match (group, kind) {
        ("templates.gatekeeper.sh", "ConstraintTemplate") => DocClass::Template,
        ("constraints.gatekeeper.sh", _) => DocClass::Constraint,
        ("mutations.gatekeeper.sh", _) => DocClass::Mutator,
        ("config.gatekeeper.sh", "Config") => DocClass::Config,
        ("expansion.gatekeeper.sh", "ExpansionTemplate") => DocClass::Expansion,
        ("", "Namespace") if api_version == "v1" => DocClass::Namespace,
        _ => DocClass::Other,
    }
}

/// `Kind/name` of a document.
pub(super) fn describe(doc: &Value) -> String {
    format!(
        "{}/{}",
        doc.get("kind").and_then(Value::as_str).unwrap_or("?"),
        doc.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("?")
    )
}

impl PolicySnapshot {
    /// Whether some template reads `data.inventory` in regorus's value form, so a new
    /// inventory should be converted before it serves (see [`Program::reads_rego_inventory`]).
    ///
    /// [`Program::reads_rego_inventory`]: crate::engine::Program::reads_rego_inventory
    pub fn reads_rego_inventory(&self) -> bool {
        self.templates
            .values()
            .any(|t| t.program.reads_rego_inventory())
    }

    /// Build a snapshot from documents with no previous set; every error found is returned
    /// together and nothing is built unless there are none (the CLI's strict load, tests).
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

    /// Build from every document that is valid, with no previous set, and report the
    /// others as located errors.
    pub fn build_lenient(docs: &[Document], options: &BuildOptions) -> (Self, Vec<PolicyError>) {
        let snap = Self::build_from(docs, options, None);
        let errors = snap.refused.iter().map(Refusal::to_error).collect();
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

    /// For the `portcullis_policy_objects` gauges: per kind, the objects serving and the
    /// objects whose current version is refused (one refused with its last good version
    /// serving counts in both).
    pub fn object_states(&self) -> Vec<(ObjectKind, usize, usize)> {
        ObjectKind::ALL
            .into_iter()
            .map(|kind| {
                let loaded = match kind {
                    ObjectKind::Template => self.templates.len(),
                    ObjectKind::Constraint => self.constraints.len(),
                    ObjectKind::Mutator => self.mutators.len(),
                    ObjectKind::Config => self.last_good.configs.len(),
                    ObjectKind::Expansion => self.expansions.len(),
                    ObjectKind::Namespace => self.namespaces.len(),
                    ObjectKind::File => 0,
                };
                let refused = self.refused.iter().filter(|r| r.kind == kind).count();
                (kind, loaded, refused)
            })
            .collect()
    }
}

/// Kinds named by constraints' `match.kinds` and mutators' `applyTo` and `match.kinds`
/// (`*` is not a kind).
pub(super) fn named_kinds(
    constraints: &[ActiveConstraint],
    mutators: &MutatorSet,
) -> HashSet<String> {
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
