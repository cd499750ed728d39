//! What the watchers have seen of the cluster, kept per watched resource ("slot").
//!
//! Watchers write here under a short lock; the publisher reads it to build documents,
//! namespace labels and the inventory. Each change records what it touches: the policy set
//! (templates, constraints, mutators, Config: recompiled), namespace labels, or the
//! inventory, so a relabelled namespace or a synced Pod never costs a Rego compilation and
//! a relabelled namespace does not rebuild the inventory.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value};

use crate::matching::Labels;
use crate::policy::{Document, GatekeeperConfig};

/// One watched resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Slot {
    /// `constrainttemplates.templates.gatekeeper.sh`.
    Templates,
    /// One constraint kind (`constraints.gatekeeper.sh`), watched while a template defines it.
    Constraints(String),
    /// One mutator kind (`mutations.gatekeeper.sh`).
    Mutators(&'static str),
    /// Gatekeeper's `Config` in the server's namespace.
    Config,
    /// ExpansionTemplates (`expansion.gatekeeper.sh`).
    Expansions,
    /// Namespaces, for `namespaceSelector`.
    Namespaces,
    /// A resource named in Config `spec.sync.syncOnly`, for `data.inventory`.
    Sync(SyncTarget),
}

/// A group/version/kind to sync into the inventory.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SyncTarget {
    /// API group, empty for the core group.
    pub group: String,
    /// Version.
    pub version: String,
    /// Kind.
    pub kind: String,
}

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Slot::Templates => f.write_str("ConstraintTemplate"),
            Slot::Constraints(kind) | Slot::Sync(SyncTarget { kind, .. }) => f.write_str(kind),
            Slot::Mutators(kind) => f.write_str(kind),
            Slot::Config => f.write_str("Config"),
            Slot::Expansions => f.write_str("ExpansionTemplate"),
            Slot::Namespaces => f.write_str("Namespace"),
        }
    }
}

impl Slot {
    /// True for slots whose objects are policy documents (a change recompiles).
    fn is_policy(&self) -> bool {
        matches!(
            self,
            Slot::Templates
                | Slot::Constraints(_)
                | Slot::Mutators(_)
                | Slot::Config
                | Slot::Expansions
        )
    }
}

/// What changed since the publisher last looked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changes {
    /// Templates, constraints, mutators or Config: the policy set is rebuilt.
    pub policy: bool,
    /// Namespace labels.
    pub namespaces: bool,
    /// Synced objects (`data.inventory`).
    pub inventory: bool,
}

impl Changes {
    /// Anything at all.
    pub fn any(self) -> bool {
        self.policy || self.namespaces || self.inventory
    }
}

/// A watched object as kept. Policy objects and namespaces stay JSON values (they are
/// parsed into the policy model and labels on every build). Synced objects are kept as
/// their compact JSON text: a parsed object costs about thirty times its text (a map node
/// per object and per nested map), and the parsed form already lives once in the
/// published inventory. Holding a second parsed copy here doubled the memory of a cluster
/// with many synced objects; reparsing the text when the inventory changes costs
/// milliseconds per ten thousand objects, off the request path.
#[derive(Debug, Clone, PartialEq)]
enum Stored {
    Json(Value),
    Synced(Box<str>),
}

impl Stored {
    fn of(slot: &Slot, obj: Value) -> Self {
        match slot {
            // Serializing a JSON value cannot fail (its map keys are strings).
            Slot::Sync(_) => Stored::Synced(obj.to_string().into_boxed_str()),
            _ => Stored::Json(obj),
        }
    }

    /// The JSON value of a policy object or namespace (synced objects are not read here).
    fn json(&self) -> Option<&Value> {
        match self {
            Stored::Json(v) => Some(v),
            Stored::Synced(_) => None,
        }
    }
}

/// Objects by (namespace, name).
type Objects = BTreeMap<(String, String), Stored>;

/// Everything the watchers have reported.
#[derive(Debug, Default)]
pub struct ClusterState {
    objects: BTreeMap<Slot, Objects>,
    /// Objects of a relist in progress, swapped in whole when the list completes so that
    /// objects deleted while a watch was down disappear too.
    relisting: BTreeMap<Slot, Objects>,
    synced: BTreeSet<Slot>,
    changes: Changes,
}

/// The (namespace, name) key of an object.
fn key_of(obj: &Value) -> (String, String) {
    let meta = |f: &str| {
        obj.pointer(&format!("/metadata/{f}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    (meta("namespace"), meta("name"))
}

impl ClusterState {
    fn mark(&mut self, slot: &Slot) {
        match slot {
            Slot::Namespaces => self.changes.namespaces = true,
            Slot::Sync(_) => self.changes.inventory = true,
            _ => self.changes.policy = true,
        }
    }

    /// An object was added or changed.
    pub fn apply(&mut self, slot: &Slot, obj: Value) {
        let key = key_of(&obj);
        let stored = Stored::of(slot, obj);
        let objects = self.objects.entry(slot.clone()).or_default();
        if objects.get(&key) != Some(&stored) {
            objects.insert(key, stored);
            self.mark(slot);
        }
    }

    /// An object was deleted.
    pub fn delete(&mut self, slot: &Slot, obj: &Value) {
        let removed = self
            .objects
            .get_mut(slot)
            .and_then(|o| o.remove(&key_of(obj)));
        if removed.is_some() {
            self.mark(slot);
        }
    }

    /// A (re)list begins.
    pub fn relist_begin(&mut self, slot: &Slot) {
        self.relisting.insert(slot.clone(), Objects::new());
    }

    /// One object of a (re)list.
    pub fn relist_item(&mut self, slot: &Slot, obj: Value) {
        let key = key_of(&obj);
        self.relisting
            .entry(slot.clone())
            .or_default()
            .insert(key, Stored::of(slot, obj));
    }

    /// A (re)list completed: its objects replace the slot's, and the slot counts as synced.
    pub fn relist_done(&mut self, slot: &Slot) {
        let listed = self.relisting.remove(slot).unwrap_or_default();
        let current = self.objects.entry(slot.clone()).or_default();
        if *current != listed {
            *current = listed;
            self.mark(slot);
        }
        if self.synced.insert(slot.clone()) {
            self.mark(slot);
        }
    }

    /// The resource does not exist on the server (its CRD is not installed): it counts as
    /// synced with no objects, so readiness does not wait for it forever.
    pub fn absent(&mut self, slot: &Slot) {
        self.relisting.remove(slot);
        if self.objects.remove(slot).is_some_and(|o| !o.is_empty()) {
            self.mark(slot);
        }
        if self.synced.insert(slot.clone()) {
            self.mark(slot);
        }
    }

    /// A watcher was stopped: forget what it reported.
    pub fn forget(&mut self, slot: &Slot) {
        self.relisting.remove(slot);
        self.synced.remove(slot);
        if self.objects.remove(slot).is_some_and(|o| !o.is_empty()) {
            self.mark(slot);
        }
    }

    /// Have all these slots completed their first list?
    pub fn all_synced<'a>(&self, slots: impl IntoIterator<Item = &'a Slot>) -> bool {
        slots.into_iter().all(|s| self.synced.contains(s))
    }

    /// What changed since the last call.
    pub fn take_changes(&mut self) -> Changes {
        std::mem::take(&mut self.changes)
    }

    fn slot_objects(&self, slot: &Slot) -> impl Iterator<Item = &Value> {
        self.objects
            .get(slot)
            .into_iter()
            .flat_map(|o| o.values())
            .filter_map(Stored::json)
    }

    /// The Config portcullis honours: the one named `config`, as in Gatekeeper.
    fn config(&self) -> Option<&Value> {
        self.slot_objects(&Slot::Config)
            .find(|c| c.pointer("/metadata/name").and_then(Value::as_str) == Some("config"))
    }

    /// Policy documents (templates, constraints, mutators, Config) for the snapshot build,
    /// located as `cluster:<Kind>/<namespace>/<name>`.
    pub fn documents(&self) -> Vec<Document> {
        let config = self.config();
        self.objects
            .iter()
            .filter(|(slot, _)| slot.is_policy() && **slot != Slot::Config)
            .flat_map(|(slot, objects)| objects.iter().map(move |(k, v)| (slot, k, v)))
            .filter_map(|(slot, k, v)| Some((slot, k, v.json()?)))
            .map(|(slot, (ns, name), v)| (format!("cluster:{slot}/{ns}/{name}"), v))
            .chain(config.map(|c| ("cluster:Config/config".to_string(), c)))
            .map(|(location, value)| Document {
                location,
                value: value.clone(),
            })
            .collect()
    }

    /// Constraint kinds the templates define (`spec.crd.spec.names.kind`).
    pub fn template_kinds(&self) -> BTreeSet<String> {
        self.slot_objects(&Slot::Templates)
            .filter_map(|t| {
                t.pointer("/spec/crd/spec/names/kind")
                    .and_then(Value::as_str)
            })
            .filter(|k| !k.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Resources Config `spec.sync.syncOnly` asks to sync.
    pub fn sync_targets(&self) -> BTreeSet<SyncTarget> {
        let entries = self
            .config()
            .and_then(|c| c.pointer("/spec/sync/syncOnly"))
            .and_then(Value::as_array);
        let field = |e: &Value, f: &str| e.get(f).and_then(Value::as_str).map(str::to_string);
        entries
            .into_iter()
            .flatten()
            .filter_map(|e| {
                Some(SyncTarget {
                    group: field(e, "group").unwrap_or_default(),
                    version: field(e, "version")?,
                    kind: field(e, "kind")?,
                })
            })
            .collect()
    }

    /// Labels of every namespace.
    pub fn namespace_labels(&self) -> HashMap<String, Labels> {
        self.slot_objects(&Slot::Namespaces)
            .map(|ns| (key_of(ns).1, crate::review::label_map(ns)))
            .collect()
    }

    /// `data.inventory` of the synced objects, in Gatekeeper's shape
    /// (`cluster[apiVersion][kind][name]`, `namespace[ns][apiVersion][kind][name]`), less
    /// the namespaces Config exempts from the `sync` process; `None` when nothing is
    /// synced. Each object is parsed once, straight into its place in the document.
    pub fn inventory(&self) -> Option<Value> {
        let exemptions = self
            .config()
            .and_then(|c| GatekeeperConfig::from_value(c).ok())
            .unwrap_or_default();
        let mut cluster = ByApiVersion::new();
        let mut namespaced: BTreeMap<String, ByApiVersion> = BTreeMap::new();
        for (slot, objects) in &self.objects {
            let Slot::Sync(target) = slot else { continue };
            for ((ns, name), stored) in objects {
                let Stored::Synced(text) = stored else {
                    continue;
                };
                if exemptions.is_exempt("sync", ns) {
                    continue;
                }
                // The text was serialized from a JSON value by this process.
                let Ok(object) = serde_json::from_str::<Value>(text) else {
                    continue;
                };
                let root = if ns.is_empty() {
                    &mut cluster
                } else {
                    namespaced.entry(ns.clone()).or_default()
                };
                root.entry(target.api_version())
                    .or_default()
                    .entry(target.kind.clone())
                    .or_default()
                    .insert(name.clone(), object);
            }
        }
        if cluster.is_empty() && namespaced.is_empty() {
            return None;
        }
        let namespaced: Map<String, Value> = namespaced
            .into_iter()
            .map(|(ns, m)| (ns, by_api_json(m)))
            .collect();
        Some(serde_json::json!({"cluster": by_api_json(cluster), "namespace": namespaced}))
    }
}

/// Synced objects of one scope: apiVersion → kind → name → object.
type ByApiVersion = BTreeMap<String, BTreeMap<String, Map<String, Value>>>;

/// The JSON form of one scope of the inventory (the objects moved, not copied).
fn by_api_json(m: ByApiVersion) -> Value {
    Value::Object(
        m.into_iter()
            .map(|(api, kinds)| {
                let kinds = kinds
                    .into_iter()
                    .map(|(k, names)| (k, Value::Object(names)));
                (api, Value::Object(kinds.collect()))
            })
            .collect(),
    )
}

impl SyncTarget {
    /// `group/version`, or `version` for the core group.
    fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
