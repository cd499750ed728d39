//! The publisher: turns what the watchers saw into snapshots, one debounced step at a time.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::state::{Slot, SyncTarget};
use super::{status, watch, ClusterOptions, Shared};
use crate::engine::Inventory;
use crate::matching::Labels;
use crate::metrics::Metrics;
use crate::policy::Document;
use crate::snapshot::{PolicySnapshot, SnapshotStore};

/// The mutator kinds Gatekeeper serves.
const MUTATOR_KINDS: [&str; 4] = ["Assign", "AssignMetadata", "ModifySet", "AssignImage"];

/// A task stopped when its owner is dropped.
#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Running watchers by slot; dropping the set stops them all.
#[derive(Debug, Default)]
struct Watchers(BTreeMap<Slot, tokio::task::JoinHandle<()>>);

impl Drop for Watchers {
    fn drop(&mut self) {
        self.0.values().for_each(tokio::task::JoinHandle::abort);
    }
}

/// Owns the watchers and the last good compiled policy set.
pub(super) struct Publisher {
    client: kube::Client,
    options: ClusterOptions,
    shared: Arc<Shared>,
    store: Arc<SnapshotStore>,
    metrics: Arc<Metrics>,
    watchers: Watchers,
    /// The last policy set that built; its cluster view is replaced on every publish.
    policy: Option<PolicySnapshot>,
    namespaces: Arc<HashMap<String, Labels>>,
    inventory: Arc<Inventory>,
    /// Status reports for the status writer, when one runs.
    reports: Option<(tokio::sync::watch::Sender<status::Reports>, AbortOnDrop)>,
    /// Refusals already logged and counted.
    reported: crate::sources::Reported,
}

impl Publisher {
    pub(super) fn new(
        client: kube::Client,
        options: ClusterOptions,
        store: Arc<SnapshotStore>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let reports = options.status_id.clone().map(|id| {
            let (tx, rx) = tokio::sync::watch::channel(status::Reports::new());
            let writer = status::spawn_writer(client.clone(), id, rx);
            (tx, AbortOnDrop(writer))
        });
        Publisher {
            reports,
            client,
            options,
            shared: Arc::default(),
            store,
            metrics,
            watchers: Watchers::default(),
            policy: None,
            namespaces: Arc::default(),
            inventory: Arc::default(),
            reported: Default::default(),
        }
    }

    /// Watch the fixed resources, then publish after each burst of changes, forever.
    pub(super) async fn run(mut self) {
        let fixed = [
            Slot::Templates,
            Slot::Config,
            Slot::Expansions,
            Slot::Namespaces,
        ]
        .into_iter()
        .chain(MUTATOR_KINDS.into_iter().map(Slot::Mutators));
        for slot in fixed {
            self.start(slot);
        }
        loop {
            self.shared.changed.notified().await;
            tokio::time::sleep(self.options.debounce).await;
            self.step().await;
        }
    }

    fn start(&mut self, slot: Slot) {
        let namespace = (slot == Slot::Config).then(|| {
            self.options
                .namespace
                .clone()
                .unwrap_or_else(|| self.client.default_namespace().to_string())
        });
        let task = watch::spawn(
            self.client.clone(),
            slot.clone(),
            namespace,
            self.shared.clone(),
        );
        tracing::debug!(resource = %slot, "watching");
        self.watchers.0.insert(slot, task);
    }

    /// Start a watcher for each constraint kind a template defines and each kind Config
    /// syncs; stop those no longer wanted and forget their objects.
    fn reconcile(&mut self, kinds: BTreeSet<String>, targets: BTreeSet<SyncTarget>) {
        let wanted: BTreeSet<Slot> = kinds
            .into_iter()
            .map(Slot::Constraints)
            .chain(targets.into_iter().map(Slot::Sync))
            .collect();
        let stale: Vec<Slot> = self
            .watchers
            .0
            .keys()
            .filter(|s| matches!(s, Slot::Constraints(_) | Slot::Sync(_)) && !wanted.contains(s))
            .cloned()
            .collect();
        for slot in stale {
            if let Some(task) = self.watchers.0.remove(&slot) {
                task.abort();
            }
            tracing::info!(resource = %slot, "stopped watching");
            self.shared.lock().forget(&slot);
        }
        for slot in wanted {
            if !self.watchers.0.contains_key(&slot) {
                tracing::info!(resource = %slot, "started watching");
                self.start(slot);
            }
        }
    }

    /// One debounced step: follow the templates and Config with watchers, then rebuild
    /// what changed and publish, once every watcher has listed at least once.
    async fn step(&mut self) {
        let (kinds, targets) = {
            let state = self.shared.lock();
            (state.template_kinds(), state.sync_targets())
        };
        self.reconcile(kinds, targets);
        let first = self.policy.is_none();
        let (docs, changes) = {
            let mut state = self.shared.lock();
            if first && !state.all_synced(self.watchers.0.keys()) {
                // Not ready: the remaining lists will wake us again.
                return;
            }
            let changes = state.take_changes();
            if changes.namespaces || first {
                self.namespaces = Arc::new(state.namespace_labels());
            }
            // Config (a policy object) also decides which namespaces are exempt from sync.
            if changes.inventory || changes.policy || first {
                self.inventory =
                    Arc::new(state.inventory().map(Inventory::new).unwrap_or_default());
            }
            let docs = (changes.policy || first).then(|| state.documents());
            (docs, changes)
        };
        let rebuilt = match docs {
            Some(docs) => self.build(docs).await,
            None => false,
        };
        if !(rebuilt || changes.any()) {
            return;
        }
        if let Some(policy) = &self.policy {
            if policy.reads_rego_inventory() {
                // Convert here, once per inventory, rather than in the first request that
                // needs it (under its deadline). Most policy sets never need this form.
                let _ = self.inventory.rego();
            }
            let snap = policy.with_cluster_state(self.namespaces.clone(), self.inventory.clone());
            self.metrics.set_policy_counts(&snap.counts());
            crate::sources::set_object_gauges(&snap, &self.metrics);
            self.store.publish(snap);
        }
    }

    /// Compile the policy documents object by object against the last policy set (whose
    /// versions of refused objects keep serving); true when a new policy set was built.
    async fn build(&mut self, docs: Vec<Document>) -> bool {
        let options = self.options.build.clone();
        let previous = self.policy.clone();
        // Compiling Rego can take a while: keep it off the async workers. The documents
        // come back for the status report.
        let built = tokio::task::spawn_blocking(move || {
            let snap = PolicySnapshot::build_from(&docs, &options, previous.as_ref());
            (docs, snap)
        })
        .await;
        let (docs, snap) = match built {
            Ok(built) => built,
            Err(e) => {
                self.metrics.reload_errors.inc();
                tracing::error!(error = %e, "policy build task failed; the last good set keeps serving");
                return false;
            }
        };
        let first = self.policy.is_none();
        crate::sources::report_refusals(
            "cluster",
            &snap.refused,
            &mut self.reported,
            &self.metrics,
        );
        let counts = snap.counts();
        tracing::info!(
            templates = counts[0].1,
            constraints = counts[1].1,
            mutators = counts[2].1,
            refused = snap.refused.len(),
            "cluster policy set loaded"
        );
        if first && !snap.refused.is_empty() {
            tracing::warn!(
                refused = snap.refused.len(),
                "first load: serving the valid objects; fix the others and they load on their next change"
            );
        }
        if let Some((tx, _)) = &self.reports {
            tx.send_replace(status::reports(&docs, &snap));
        }
        self.policy = Some(snap);
        true
    }
}
