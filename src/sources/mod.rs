//! Where policies come from. File mode reads a directory of YAML and reloads it on change;
//! cluster mode (kube-rs watchers, [`cluster`]) publishes into the same [`SnapshotStore`].
//!
//! [`SnapshotStore`]: crate::snapshot::SnapshotStore

#![deny(clippy::indexing_slicing)]

pub mod cluster;
pub mod file;
pub mod settle;

use std::path::PathBuf;

use notify::{RecursiveMode, Watcher};

use crate::metrics::Metrics;
use crate::policy::{ObjectKind, PolicyError, Refusal};
use crate::snapshot::PolicySnapshot;

/// Log each reason of a rejection on its own line (document, field, why); `source` is the
/// policy directory or `cluster`.
pub(crate) fn log_rejection(source: &str, e: &PolicyError) {
    match e {
        PolicyError::Set(list) => list.iter().for_each(|e| log_rejection(source, e)),
        other => tracing::error!(source, reason = %other, "policy rejected"),
    }
}

/// Identity and reason of a refusal already reported.
pub(crate) type Reported = std::collections::HashSet<(ObjectKind, String, String)>;

/// Report the refusals of a build: each one not in `reported` (same object, same reason)
/// is logged and counted (per kind and reason, and as a reload with errors), refusals that
/// ended are logged, and `reported` becomes the current set. Returns how many are new.
pub(crate) fn report_refusals(
    source: &str,
    refused: &[Refusal],
    reported: &mut Reported,
    metrics: &Metrics,
) -> usize {
    let mut new = 0;
    for r in refused {
        if reported.contains(&r.key()) {
            continue;
        }
        new += 1;
        metrics.count_refusal(r.kind.as_str(), r.cause.as_str());
        tracing::error!(
            source, kind = r.kind.as_str(), object = %r.object, location = %r.location,
            reason = %r.reason(), last_good_serves = r.kept,
            "policy object refused"
        );
    }
    let now: Reported = refused.iter().map(Refusal::key).collect();
    let still: std::collections::HashSet<_> = now.iter().map(|(k, o, _)| (k, o)).collect();
    for (kind, object, _) in reported.iter() {
        if !still.contains(&(kind, object)) {
            tracing::info!(source, object = %object, "policy object no longer refused");
        }
    }
    *reported = now;
    if new > 0 {
        metrics.reload_errors.inc();
    }
    new
}

/// Set the `portcullis_policy_objects` gauges from the snapshot that now serves.
pub(crate) fn set_object_gauges(snap: &PolicySnapshot, metrics: &Metrics) {
    let states: Vec<_> = snap
        .object_states()
        .into_iter()
        .map(|(k, loaded, refused)| (k.as_str(), loaded, refused))
        .collect();
    metrics.set_policy_objects(&states);
}

/// Watch directories recursively and send a unit on every change. Bursts collapse into
/// one pending signal. `None` when the platform watcher cannot start (callers also poll).
pub fn watch_dirs(
    dirs: &[PathBuf],
    tx: tokio::sync::mpsc::Sender<()>,
) -> Option<notify::RecommendedWatcher> {
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if res.is_ok() {
            let _ = tx.try_send(());
        }
    })
    .map_err(|e| tracing::warn!(error = %e, "file watcher unavailable; polling only"))
    .ok()?;
    for d in dirs {
        if let Err(e) = watcher.watch(d, RecursiveMode::Recursive) {
            tracing::warn!(dir = %d.display(), error = %e, "cannot watch directory; polling only");
        }
    }
    Some(watcher)
}
