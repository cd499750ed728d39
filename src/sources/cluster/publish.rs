//! The publisher: turns what the watchers saw into snapshots, one debounced step at a time.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::state::{Slot, SyncTarget};
use super::{crds, shadow, status, watch, ClusterOptions, Shared};
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
    /// The last shadow set built (shadow-labelled objects overlaid on the enforced ones),
    /// `None` while there is no shadow-labelled object.
    shadow: Option<PolicySnapshot>,
    /// Refusals of the shadow set already logged and counted.
    shadow_reported: crate::sources::Reported,
    /// Some shadow object serves in the shadow set (else it judges as the real set would,
    /// and is not published).
    shadow_loaded: bool,
    /// Constraint CRD management, when on.
    crds: Option<CrdManagement>,
    /// `--generate-vap`: the latest export, for the writer of generated policies.
    vap: Option<VapGeneration>,
}

/// `--generate-vap`'s parts the publisher holds.
struct VapGeneration {
    /// The latest export, for the writer.
    desired: tokio::sync::watch::Sender<Option<Vec<serde_json::Value>>>,
    /// The versions of the policy objects the export is made from.
    serving: super::vap_sync::Serving,
    _writer: AbortOnDrop,
}

/// The parts of constraint CRD management the publisher holds: the observer's view, the
/// manager's input, and both tasks.
struct CrdManagement {
    view: tokio::sync::watch::Receiver<crds::CrdView>,
    desired: tokio::sync::watch::Sender<crds::Desired>,
    builder: crds::DesiredBuilder,
    /// CRDs seen Established, to restart the watcher of a kind whose CRD just appeared
    /// (its watcher may be waiting out a long backoff after 404s).
    established: BTreeSet<String>,
    /// A view has been seen (the first one is only recorded).
    seen_view: bool,
    _tasks: [AbortOnDrop; 2],
}

impl CrdManagement {
    fn start(client: &kube::Client, leadership: Option<crate::leader::Leadership>) -> Self {
        let (view, observer) = crds::spawn_observer(client.clone());
        let (desired, desired_rx) = tokio::sync::watch::channel(crds::Desired::default());
        let (manager_client, manager_view) = (client.clone(), view.clone());
        let spawn = move || {
            crds::spawn_manager(
                manager_client.clone(),
                desired_rx.clone(),
                manager_view.clone(),
            )
        };
        // Replicas running the manager at once converge, but each would write: with an
        // election, only the leader writes.
        let manager = match leadership {
            Some(leadership) => crate::leader::while_leading(leadership, spawn),
            None => spawn(),
        };
        CrdManagement {
            view,
            desired,
            builder: crds::DesiredBuilder::default(),
            established: BTreeSet::new(),
            seen_view: false,
            _tasks: [AbortOnDrop(observer), AbortOnDrop(manager)],
        }
    }
}

impl Publisher {
    pub(super) fn new(
        client: kube::Client,
        options: ClusterOptions,
        store: Arc<SnapshotStore>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let crds = options
            .manage_crds
            .then(|| CrdManagement::start(&client, options.leadership.clone()));
        let reports = options.status_id.clone().map(|id| {
            let (tx, rx) = tokio::sync::watch::channel(status::Reports::new());
            let view = crds.as_ref().map(|c| c.view.clone());
            let writer = status::spawn_writer(client.clone(), id, rx, view);
            (tx, AbortOnDrop(writer))
        });
        let vap = options.generate_vap.then(|| {
            let (tx, rx) = tokio::sync::watch::channel(None);
            let writer_client = client.clone();
            let spawn = move || super::vap_sync::spawn(writer_client.clone(), rx.clone());
            let task = match options.leadership.clone() {
                Some(leadership) => crate::leader::while_leading(leadership, spawn),
                None => spawn(),
            };
            VapGeneration {
                desired: tx,
                serving: super::vap_sync::Serving::default(),
                _writer: AbortOnDrop(task),
            }
        });
        Publisher {
            reports,
            vap,
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
            shadow: None,
            shadow_reported: Default::default(),
            shadow_loaded: false,
            crds,
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
            let crds_changed = match self.crds.as_ref().map(|c| c.view.clone()) {
                Some(mut view) => tokio::select! {
                    () = self.shared.changed.notified() => false,
                    r = view.changed() => r.is_ok(),
                },
                None => {
                    self.shared.changed.notified().await;
                    false
                }
            };
            if crds_changed {
                self.restart_established();
                continue;
            }
            tokio::time::sleep(self.options.debounce).await;
            self.step().await;
        }
    }

    /// Restart the watcher of each constraint kind whose CRD has just turned Established:
    /// it starts listing at once instead of after its backoff from the 404s it met.
    fn restart_established(&mut self) {
        let Some(crds) = self.crds.as_mut() else {
            return;
        };
        let view = crds.view.borrow_and_update().clone();
        // The first view only records: watchers started before it found their CRDs or
        // will be restarted when those turn Established.
        let first = !std::mem::replace(&mut crds.seen_view, true);
        let mut now = BTreeSet::new();
        let mut restart = Vec::new();
        for slot in self.watchers.0.keys() {
            let Slot::Constraints(kind) = slot else {
                continue;
            };
            let name = crds::crd_name(&kind.to_lowercase());
            if !view.established(&name) {
                continue;
            }
            if !first && !crds.established.contains(&name) {
                restart.push(slot.clone());
            }
            now.insert(name);
        }
        crds.established = now;
        for slot in restart {
            if let Some(task) = self.watchers.0.remove(&slot) {
                task.abort();
            }
            tracing::debug!(resource = %slot, "constraint CRD established; watching afresh");
            self.start(slot);
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
        if let Some(store) = &self.options.shadow_store {
            // No shadow object loaded: an empty snapshot, which the evaluator skips at no
            // cost.
            let snap = match &self.shadow {
                Some(s) if self.shadow_loaded => {
                    s.with_cluster_state(self.namespaces.clone(), self.inventory.clone())
                }
                _ => PolicySnapshot::default(),
            };
            store.publish(snap);
        }
    }

    /// Compile the policy documents object by object against the last policy set (whose
    /// versions of refused objects keep serving), and the shadow set when shadow-labelled
    /// objects exist; true when a new policy set was built.
    async fn build(&mut self, docs: Vec<Document>) -> bool {
        let options = self.options.build.clone();
        let previous = self.policy.clone();
        let last_shadow = self.shadow.clone();
        let want_shadow = self.options.shadow_store.is_some();
        // Compiling Rego can take a while: keep it off the async workers. The documents
        // come back for the status report.
        let built = tokio::task::spawn_blocking(move || {
            let split = shadow::split(docs);
            let snap = PolicySnapshot::build_from(&split.enforced, &options, previous.as_ref());
            let shadow = (want_shadow && !split.shadow.is_empty()).then(|| {
                let previous = shadow::previous(&split.set, &snap, last_shadow.as_ref());
                let built = PolicySnapshot::build_from(&split.set, &options, Some(&previous));
                split.finish(built, &snap)
            });
            (split, snap, shadow)
        })
        .await;
        let (split, snap, shadow_snap) = match built {
            Ok(built) => built,
            Err(e) => {
                self.metrics.reload_errors.inc();
                tracing::error!(error = %e, "policy build task failed; the last good set keeps serving");
                return false;
            }
        };
        let docs = &split.enforced;
        self.report_shadow(&split, &snap, shadow_snap.as_ref());
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
            let mut reports = status::reports(docs, &snap);
            reports.extend(status::shadow_reports(&split.shadow, shadow_snap.as_ref()));
            tx.send_replace(reports);
        }
        if let Some(VapGeneration {
            desired: tx,
            serving,
            ..
        }) = &mut self.vap
        {
            // The versions the webhook serves: a refused edit keeps its last good version.
            let refused: BTreeSet<&str> =
                snap.refused.iter().map(|r| r.location.as_str()).collect();
            let valid = serving.update(docs, &refused);
            match crate::vap::export(&valid, &crate::vap::ExportOptions::default()) {
                Ok(export) => {
                    for skipped in &export.skipped {
                        tracing::debug!(what = %skipped.what, reason = %skipped.reason,
                            "no ValidatingAdmissionPolicy generated");
                    }
                    tx.send_replace(Some(export.objects));
                }
                Err(e) => tracing::warn!(error = %e,
                    "ValidatingAdmissionPolicy generation failed; generated objects left as they are"),
            }
        }
        if let Some(crds) = self.crds.as_mut() {
            // Shadow templates of new kinds get their CRD; a shadow version of an enforced
            // kind leaves the CRD to the enforced template.
            let new_kinds = split.new_kind_templates();
            let mut sets = vec![(docs.as_slice(), &snap)];
            if let Some(shadow) = &shadow_snap {
                sets.push((new_kinds.as_slice(), shadow));
            }
            let desired = crds.builder.desired_of(&sets);
            crds.desired.send_if_modified(|d| {
                let changed = *d != desired;
                *d = desired;
                changed
            });
        }
        self.policy = Some(snap);
        self.shadow = shadow_snap;
        true
    }

    /// Log and count the shadow set's refusals, and how many shadow objects it holds.
    fn report_shadow(
        &mut self,
        split: &shadow::Split,
        snap: &PolicySnapshot,
        shadow: Option<&PolicySnapshot>,
    ) {
        let refused = shadow
            .map(|s| split.shadow_refusals(snap, s))
            .unwrap_or_default();
        crate::sources::report_refusals(
            "cluster shadow set",
            &refused,
            &mut self.shadow_reported,
            &self.metrics,
        );
        let loaded = shadow.map_or(0, |s| split.loaded(s));
        self.shadow_loaded = loaded > 0;
        let before = self.metrics.preview.shadow_objects.get();
        self.metrics
            .preview
            .shadow_objects
            .set(i64::try_from(loaded).unwrap_or(i64::MAX));
        if before != self.metrics.preview.shadow_objects.get() || !split.shadow.is_empty() {
            tracing::info!(
                shadow_objects = split.shadow.len(),
                loaded,
                refused = refused.len(),
                "shadow policy set: shadow-labelled objects judged after each answer, not enforced"
            );
        }
    }
}
