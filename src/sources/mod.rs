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
///
/// Only changes count: the platform watcher also reports files being opened and read
/// (inotify's open and close-after-reading), and the reader of a signal reads the
/// directory, so counting those made every read wake the next one, a loop that kept an
/// idle server busy on a whole core.
pub fn watch_dirs(
    dirs: &[PathBuf],
    tx: tokio::sync::mpsc::Sender<()>,
) -> Option<notify::RecommendedWatcher> {
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        // An error (the kernel's queue overflowed, say) may hide a change: read again.
        let changed = match &res {
            Ok(event) => is_change(&event.kind),
            Err(_) => true,
        };
        if changed {
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

/// Whether an event can mean different content: anything but a file opened, read or
/// closed after reading.
fn is_change(kind: &notify::EventKind) -> bool {
    !matches!(
        kind,
        notify::EventKind::Access(
            notify::event::AccessKind::Open(_)
                | notify::event::AccessKind::Read
                | notify::event::AccessKind::Close(notify::event::AccessMode::Read)
                | notify::event::AccessKind::Close(notify::event::AccessMode::Execute)
        )
    )
}

#[cfg(test)]
mod watch_tests {
    use std::time::Duration;

    use super::*;

    /// Wait up to `within` for a signal.
    async fn signalled(rx: &mut tokio::sync::mpsc::Receiver<()>, within: Duration) -> bool {
        tokio::time::timeout(within, rx.recv()).await.is_ok()
    }

    #[tokio::test]
    async fn reading_the_directory_is_not_a_change_and_writing_is() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("policy.yaml");
        std::fs::write(&file, "kind: A\n").expect("write");
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let Some(_watcher) = watch_dirs(&[dir.path().to_path_buf()], tx) else {
            panic!("the platform watcher starts");
        };
        // Let the creation settle, then read as the reloader does: open, read, close.
        tokio::time::sleep(Duration::from_millis(200)).await;
        while rx.try_recv().is_ok() {}
        for _ in 0..5 {
            assert_eq!(std::fs::read(&file).expect("read"), b"kind: A\n");
            let _ = std::fs::read_dir(dir.path()).expect("list").count();
        }
        assert!(
            !signalled(&mut rx, Duration::from_millis(500)).await,
            "reading the files signalled a change"
        );
        std::fs::write(&file, "kind: B\n").expect("write");
        assert!(
            signalled(&mut rx, Duration::from_secs(5)).await,
            "a write was not signalled"
        );
    }
}
