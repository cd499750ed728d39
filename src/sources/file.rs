//! File mode: policies from a directory, validated and swapped in atomically on change.
//!
//! Kubernetes ConfigMap volumes update by re-pointing the `..data` symlink; the loader skips
//! dot-entries and reads through the visible symlinks, and the watcher reacts to any event
//! under the directory, with polling as the fallback when events are lost.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::manifests;
use crate::metrics::Metrics;
use crate::policy::{BuildOptions, PolicyError, PolicySnapshot, SnapshotStore};

/// A policy directory.
#[derive(Debug, Clone)]
pub struct FileSource {
    dir: PathBuf,
    options: BuildOptions,
}

impl FileSource {
    /// A source reading `dir`.
    pub fn new(dir: impl Into<PathBuf>, options: BuildOptions) -> Self {
        FileSource {
            dir: dir.into(),
            options,
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Read and build a snapshot; every problem found is reported together.
    pub fn load(&self) -> Result<PolicySnapshot, PolicyError> {
        let docs = manifests::read_path(&self.dir)?;
        PolicySnapshot::build(&docs, &self.options)
    }

    /// Load once and publish. A reload with any error is rejected whole: every reason is
    /// logged, counted, and the last good set keeps deciding. The first load, with no good
    /// set to fall back on, serves every valid document and reports the others. Returns
    /// true when a snapshot was published.
    pub fn reload(&self, store: &SnapshotStore, metrics: &Metrics) -> bool {
        let result = if store.is_loaded() {
            self.load().map(|s| (s, Vec::new()))
        } else {
            let (docs, mut errors) = manifests::read_path_lenient(&self.dir);
            let (snap, more) = PolicySnapshot::build_lenient(&docs, &self.options);
            errors.extend(more);
            Ok((snap, errors))
        };
        match result {
            Ok((snap, errors)) => {
                if !errors.is_empty() {
                    metrics.reload_errors.inc();
                    for e in &errors {
                        super::log_rejection(&self.dir.display().to_string(), e);
                    }
                    tracing::warn!(
                        rejected = errors.len(),
                        "first load: serving the valid documents; fix the others and they load on the next change"
                    );
                }
                for s in &snap.skipped {
                    tracing::warn!(document = %s, "skipped document of a kind portcullis does not serve");
                }
                let counts = snap.counts();
                metrics.set_policy_counts(&counts);
                tracing::info!(
                    dir = %self.dir.display(),
                    templates = counts[0].1, constraints = counts[1].1,
                    mutators = counts[2].1, namespaces = counts[3].1,
                    "policy set loaded"
                );
                store.publish(snap);
                true
            }
            Err(e) => {
                metrics.reload_errors.inc();
                super::log_rejection(&self.dir.display().to_string(), &e);
                tracing::warn!("policy change rejected; the last good set keeps serving");
                false
            }
        }
    }

    /// Watch the directory and reload on change (events, and polling every `poll`).
    pub fn spawn_watch(
        self,
        store: Arc<SnapshotStore>,
        metrics: Arc<Metrics>,
        poll: Duration,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
            let _watcher = super::watch_dirs(std::slice::from_ref(&self.dir), tx);
            let mut last = fingerprint(&self.dir);
            loop {
                tokio::select! {
                    _ = rx.recv() => {}
                    _ = tokio::time::sleep(poll) => {}
                }
                // Debounce: editors and ConfigMap updates write several entries.
                tokio::time::sleep(Duration::from_millis(150)).await;
                while rx.try_recv().is_ok() {}
                let now = fingerprint(&self.dir);
                if now == last {
                    continue;
                }
                last = now;
                let src = self.clone();
                let st = store.clone();
                let me = metrics.clone();
                // Compiling Rego can take a while: keep it off the async workers.
                let _ = tokio::task::spawn_blocking(move || src.reload(&st, &me)).await;
            }
        })
    }
}

/// Hash of every manifest's path and content, to skip reloads when nothing changed.
fn fingerprint(dir: &Path) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    if let Ok(files) = manifests::list_files(dir) {
        for f in files {
            f.hash(&mut h);
            std::fs::read(&f).ok().hash(&mut h);
        }
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns_doc(names: &[&str]) -> String {
        names
            .iter()
            .map(|n| format!("---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: {n}}}\n"))
            .collect()
    }

    /// Lay out a directory the way the kubelet mounts a ConfigMap: real files in a
    /// timestamped directory, `..data` pointing at it, visible names pointing into `..data`.
    #[cfg(unix)]
    fn configmap_generation(root: &Path, generation: u32, content: &str) {
        let gen_dir = format!("..2026_11_25_{generation}");
        std::fs::create_dir(root.join(&gen_dir)).expect("mkdir");
        std::fs::write(root.join(&gen_dir).join("policies.yaml"), content).expect("write");
        let tmp = root.join("..data_tmp");
        std::os::unix::fs::symlink(&gen_dir, &tmp).expect("symlink");
        std::fs::rename(&tmp, root.join("..data")).expect("swap ..data");
        let visible = root.join("policies.yaml");
        if std::fs::symlink_metadata(&visible).is_err() {
            std::os::unix::fs::symlink("..data/policies.yaml", &visible).expect("symlink");
        }
    }

    #[cfg(unix)]
    #[test]
    fn configmap_symlink_swap_is_reloaded_and_broken_sets_keep_the_last_good() {
        let dir = tempfile::tempdir().expect("tempdir");
        configmap_generation(dir.path(), 1, &ns_doc(&["a"]));
        let store = SnapshotStore::default();
        let metrics = Metrics::new();
        let src = FileSource::new(dir.path(), BuildOptions::default());
        assert!(src.reload(&store, &metrics));
        assert_eq!(store.load().namespaces.len(), 1);
        let before = fingerprint(dir.path());

        configmap_generation(dir.path(), 2, &ns_doc(&["a", "b"]));
        assert_ne!(fingerprint(dir.path()), before, "the swap is seen");
        assert!(src.reload(&store, &metrics));
        assert_eq!(store.load().namespaces.len(), 2);

        configmap_generation(dir.path(), 3, "kind: [unclosed");
        let good_then_bad = store.load().namespaces.len();
        assert_eq!(good_then_bad, 2);
        assert!(!src.reload(&store, &metrics));
        assert_eq!(store.load().namespaces.len(), 2, "last good set kept");
        assert!(metrics
            .encode()
            .contains("portcullis_policy_reload_errors_total 1"));
    }

    #[test]
    fn first_load_serves_the_valid_documents() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("good.yaml"), ns_doc(&["a", "b"])).expect("write");
        std::fs::write(dir.path().join("bad.yaml"), "kind: [unclosed").expect("write");
        std::fs::write(
            dir.path().join("orphan.yaml"),
            "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: NoSuchKind\nmetadata: {name: x}\n",
        )
        .expect("write");
        let store = SnapshotStore::default();
        let metrics = Metrics::new();
        let src = FileSource::new(dir.path(), BuildOptions::default());
        assert!(src.reload(&store, &metrics), "the valid part is published");
        assert!(store.is_loaded());
        assert_eq!(store.load().namespaces.len(), 2);
        assert!(metrics
            .encode()
            .contains("portcullis_policy_reload_errors_total 1"));
        // Later reloads are all-or-nothing again.
        std::fs::write(dir.path().join("good.yaml"), ns_doc(&["a"])).expect("write");
        assert!(!src.reload(&store, &metrics));
        assert_eq!(store.load().namespaces.len(), 2);
    }
}
