//! Where policies come from. File mode reads a directory of YAML and reloads it on change;
//! cluster mode (kube-rs watchers, [`cluster`]) publishes into the same [`SnapshotStore`].
//!
//! [`SnapshotStore`]: crate::policy::SnapshotStore

pub mod cluster;
pub mod file;
pub mod settle;

use std::path::PathBuf;

use notify::{RecursiveMode, Watcher};

use crate::policy::PolicyError;

/// Log each reason of a rejection on its own line (document, field, why); `source` is the
/// policy directory or `cluster`.
pub(crate) fn log_rejection(source: &str, e: &PolicyError) {
    match e {
        PolicyError::Set(list) => list.iter().for_each(|e| log_rejection(source, e)),
        other => tracing::error!(source, reason = %other, "policy rejected"),
    }
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
