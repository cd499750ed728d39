//! `serve --shadow-policies DIR`: a second policy set judges live traffic after the real
//! answer is made, and where it would answer differently the difference is counted
//! (`portcullis_shadow_disagreements_total{constraint, outcome}`) and logged.
//!
//! The real answer never waits for it and is never changed by it: the review is handed
//! over once the answer is built, and judged on the blocking pool by at most
//! `--shadow-workers` evaluations at a time. A review arriving while every slot is taken is
//! not judged (`portcullis_shadow_dropped_total{reason="busy"}`), so a shadow set that is
//! slow, or traffic that is heavy, costs the webhook at most those slots' CPU. Each
//! evaluation has the webhook's own deadline and failure policies, so the two sets are
//! compared on equal terms.

use std::sync::Arc;

use tokio::sync::Semaphore;

use super::diff;
use super::record::{Endpoint, RecordedDecision};
use super::replay::{judge, JudgeOptions};
use crate::metrics::{Metrics, ReasonLabels, ShadowLabels};
use crate::review::Review;
use crate::snapshot::{PolicySnapshot, SnapshotStore};

/// The shadow evaluator.
#[derive(Debug)]
pub struct Shadow {
    store: Arc<SnapshotStore>,
    slots: Arc<Semaphore>,
    metrics: Arc<Metrics>,
    options: JudgeOptions,
    /// The runtime whose blocking pool judges: the webhook's evaluation threads that offer
    /// reviews are not runtime threads, so it is taken where the evaluator is made.
    runtime: Option<tokio::runtime::Handle>,
    /// Cluster mode's shadow-labelled objects: an empty shadow set means none exists, and
    /// reviews are then not taken at all (no evaluation, no drop counted).
    idle_when_empty: bool,
}

impl Shadow {
    /// A shadow evaluator over `store` (fed by its own policy source), judging at most
    /// `workers` reviews at once as the webhook would with `options`.
    pub fn new(
        store: Arc<SnapshotStore>,
        workers: usize,
        metrics: Arc<Metrics>,
        options: JudgeOptions,
    ) -> Self {
        Shadow {
            store,
            slots: Arc::new(Semaphore::new(workers.clamp(1, Semaphore::MAX_PERMITS))),
            metrics,
            options,
            runtime: tokio::runtime::Handle::try_current().ok(),
            idle_when_empty: false,
        }
    }

    /// The same evaluator, taking no review while its policy set is empty (cluster mode,
    /// where the set exists only while shadow-labelled objects do): the per-review cost
    /// is then one atomic load.
    #[must_use]
    pub fn idle_when_empty(mut self) -> Self {
        self.idle_when_empty = true;
        self
    }

    /// Does the evaluator take reviews now? Checked before a review is handed over, so
    /// that an idle evaluator costs nothing more.
    pub fn wants(&self) -> bool {
        !(self.idle_when_empty && is_empty(&self.store.load()))
    }

    fn dropped(&self, reason: &'static str) {
        self.metrics
            .preview
            .shadow_dropped
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// Judge `review` with the shadow set in the background, if a slot is free; `real` is
    /// the answer the webhook gave. Returns at once.
    pub fn offer(&self, endpoint: Endpoint, review: Review, real: RecordedDecision) {
        // The snapshot is taken here, so that the one judged is the one checked.
        let snapshot = self.store.load_full();
        if self.idle_when_empty && is_empty(&snapshot) {
            return;
        }
        if !self.store.is_loaded() {
            self.dropped("not_ready");
            return;
        }
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            self.dropped("busy");
            return;
        };
        let Some(runtime) = self
            .runtime
            .clone()
            .or_else(|| tokio::runtime::Handle::try_current().ok())
        else {
            self.dropped("not_ready");
            return;
        };
        let (metrics, options) = (self.metrics.clone(), self.options);
        runtime.spawn_blocking(move || {
            let _slot = slot;
            let shadow = judge(&snapshot, endpoint, &review, &options);
            metrics.preview.shadow_evaluations.inc();
            report(&metrics, endpoint, &review, &real, &shadow);
        });
    }
}

/// A policy set with nothing to judge by.
fn is_empty(snapshot: &PolicySnapshot) -> bool {
    snapshot.constraints.is_empty() && snapshot.mutators.is_empty()
}

/// Count and log where `shadow` differs from `real`.
fn report(
    metrics: &Metrics,
    endpoint: Endpoint,
    review: &Review,
    real: &RecordedDecision,
    shadow: &RecordedDecision,
) {
    let changes = diff::compare(real, shadow);
    for (change, names) in &changes {
        for name in names {
            metrics
                .preview
                .shadow_disagreements
                .get_or_create(&ShadowLabels {
                    constraint: name.clone(),
                    outcome: change.shadow_outcome(),
                })
                .inc();
        }
        let field = crate::text::field;
        tracing::info!(
            uid = %field(&review.uid), endpoint = endpoint.as_str(),
            kind = %field(&review.gvk.kind), namespace = %field(&review.namespace),
            name = %field(&review.name), operation = review.operation.as_str(),
            outcome = change.shadow_outcome(), constraints = ?names,
            "shadow policy set would answer differently"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::Decision;

    #[test]
    fn disagreements_are_counted_per_constraint_and_outcome() {
        let metrics = Metrics::new();
        let review = Review::from_object(serde_json::json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "dev"}}));
        let real = RecordedDecision::new(&Decision::allow(), &[]);
        let shadow = RecordedDecision::new(&Decision::deny("[repos] no\n[labels] no"), &[]);
        report(&metrics, Endpoint::Validate, &review, &real, &shadow);
        report(&metrics, Endpoint::Validate, &review, &real, &real);
        let text = metrics.encode();
        for c in ["repos", "labels"] {
            assert!(
                text.contains(&format!(
                    "portcullis_shadow_disagreements_total{{constraint=\"{c}\",outcome=\"would_deny\"}} 1"
                )),
                "{text}"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn busy_and_unloaded_reviews_are_dropped_not_waited_for() {
        let metrics = Arc::new(Metrics::new());
        let review = Review::from_object(serde_json::json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "dev"}}));
        let unloaded = Shadow::new(
            Arc::new(SnapshotStore::default()),
            1,
            metrics.clone(),
            JudgeOptions::default(),
        );
        unloaded.offer(
            Endpoint::Validate,
            review.clone(),
            RecordedDecision::default(),
        );
        let loaded = Shadow::new(
            Arc::new(SnapshotStore::with(Default::default())),
            1,
            metrics.clone(),
            JudgeOptions::default(),
        );
        let held = loaded
            .slots
            .clone()
            .try_acquire_owned()
            .expect("the one slot");
        loaded.offer(Endpoint::Validate, review, RecordedDecision::default());
        drop(held);
        let text = metrics.encode();
        assert!(
            text.contains("portcullis_shadow_dropped_total{reason=\"not_ready\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("portcullis_shadow_dropped_total{reason=\"busy\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("portcullis_shadow_evaluations_total 0"),
            "{text}"
        );
    }
}
