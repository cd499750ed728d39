//! File mode: policies from a directory, validated and swapped in atomically on change.
//!
//! Kubernetes ConfigMap volumes update by re-pointing the `..data` symlink; the loader skips
//! dot-entries and reads through the visible symlinks, and the watcher reacts to any event
//! under the directory, with polling as the fallback when events are lost.
//!
//! Files also get rewritten in place (`cp`, `>` redirection, editors that truncate then
//! write), and a reader can catch them empty or half written. Nothing read that way may
//! admit what the policy forbids, so ([`crate::sources::settle`]):
//! - a change is built only from content that stayed the same over a quiet period;
//! - a file that is empty (or only whitespace) is "not ready yet": its last good content
//!   keeps serving until it has content again or is deleted;
//! - a change that would remove every constraint, or every mutator, is held until it has
//!   been stable for `removal_hold`, and logged loudly;
//! - objects are refused one by one: a broken template, constraint, mutator or Config is
//!   refused with its reason (logged, counted) and its last good version keeps serving,
//!   while the rest of the change takes effect ([`crate::policy::refusal`]);
//! - a file that cannot be read as YAML, or holds a document without kind or name, keeps
//!   the objects it provided last time (it is reported as refused); deleting a file does
//!   remove its objects;
//! - at startup, a directory with errors leaves the server unready (so a rolling update
//!   with a broken ConfigMap keeps the old replicas serving) unless partial loads are
//!   allowed, in which case the valid documents serve.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::settle::{self, Files};
use crate::manifests;
use crate::metrics::Metrics;
use crate::policy::refusal::{Cause, ObjectKind, Refusal};
use crate::policy::{Document, PolicyError};
use crate::snapshot::{BuildOptions, PolicySnapshot, SnapshotStore};

/// How a file source treats changes; see the module documentation.
#[derive(Debug, Clone)]
pub struct FilePolicy {
    /// Serve the valid documents of a first load that has errors.
    pub allow_partial_load: bool,
    /// Content must stay unchanged this long before it is read as a change.
    pub settle: Duration,
    /// A change removing every constraint or mutator must be stable this long.
    pub removal_hold: Duration,
}

impl Default for FilePolicy {
    fn default() -> Self {
        FilePolicy {
            allow_partial_load: false,
            settle: Duration::from_millis(500),
            removal_hold: Duration::from_secs(30),
        }
    }
}

/// What one reload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// A new snapshot serves, with nothing refused.
    Published,
    /// A new snapshot serves; some objects (or files) were refused and their last good
    /// versions, if any, serve in their place.
    Partial,
    /// The directory could not be read; the last good set keeps serving.
    Rejected,
    /// First load with errors: nothing serves and `/readyz` stays false.
    NotReady,
    /// A removal of every constraint or mutator waits to be stable.
    Held,
}

/// What a source remembers between reloads.
#[derive(Debug, Default)]
struct Memory {
    /// The documents of each file as last published.
    last_good: std::collections::HashMap<PathBuf, Vec<Document>>,
    /// A pending removal of everything: when first seen, and the content it was seen with.
    removal: Option<(Instant, u64)>,
    /// Refusals already logged and counted.
    reported: super::Reported,
}

/// A policy directory.
#[derive(Debug, Clone)]
pub struct FileSource {
    dir: PathBuf,
    options: BuildOptions,
    policy: FilePolicy,
    memory: Arc<Mutex<Memory>>,
}

impl FileSource {
    /// A source reading `dir` with the default [`FilePolicy`].
    pub fn new(dir: impl Into<PathBuf>, options: BuildOptions) -> Self {
        FileSource {
            dir: dir.into(),
            options,
            policy: FilePolicy::default(),
            memory: Arc::default(),
        }
    }

    /// The same source with another policy.
    pub fn with_policy(mut self, policy: FilePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Read and build a snapshot; every problem found is reported together (the CLI's
    /// strict load).
    pub fn load(&self) -> Result<PolicySnapshot, PolicyError> {
        let docs = manifests::read_path(&self.dir)?;
        PolicySnapshot::build(&docs, &self.options)
    }

    /// Read the directory once and apply the change (no settling: for startup and tests).
    pub fn reload(&self, store: &SnapshotStore, metrics: &Metrics) -> Reload {
        match settle::read(&self.dir) {
            Ok(files) => self.apply(&files, store, metrics),
            Err(e) => self.reject(&e, store, metrics),
        }
    }

    /// Wait until the directory is quiet, then apply what it holds.
    pub fn reload_settled(&self, store: &SnapshotStore, metrics: &Metrics) -> Reload {
        match settle::read_settled(&self.dir, self.policy.settle) {
            Ok(files) => self.apply(&files, store, metrics),
            Err(e) => self.reject(&e, store, metrics),
        }
    }

    fn reject(&self, e: &PolicyError, store: &SnapshotStore, metrics: &Metrics) -> Reload {
        metrics.reload_errors.inc();
        super::log_rejection(&self.dir.display().to_string(), e);
        if store.is_loaded() {
            tracing::warn!("policy change rejected; the last good set keeps serving");
            Reload::Rejected
        } else {
            tracing::warn!("policy directory unreadable; not ready");
            Reload::NotReady
        }
    }

    /// Build from `files` and publish under the rules of the module documentation.
    fn apply(&self, files: &Files, store: &SnapshotStore, metrics: &Metrics) -> Reload {
        let mut memory = self.memory.lock().unwrap_or_else(|p| p.into_inner());
        let mut docs = Vec::new();
        let mut fresh = std::collections::HashMap::new();
        let mut broken_files = Vec::new();
        for (path, content) in &files.entries {
            let location = path.display().to_string();
            let parsed = match content {
                Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => None,
                Ok(bytes) => Some(parse_file(bytes, &location)),
                Err(message) => Some(Err(PolicyError::Parse {
                    location: location.clone(),
                    message: message.clone(),
                })),
            };
            let Some(parsed) = parsed else {
                if let Some(kept) = memory.last_good.get(path) {
                    tracing::warn!(file = %path.display(), "policy file is empty: not ready yet, its last good content keeps serving (delete the file to remove its policies)");
                    docs.extend(kept.iter().cloned());
                    fresh.insert(path.clone(), kept.clone());
                }
                continue;
            };
            match parsed {
                Ok(d) => {
                    docs.extend(d.iter().cloned());
                    fresh.insert(path.clone(), d);
                }
                Err(error) => {
                    let kept = memory.last_good.get(path).cloned();
                    broken_files.push(Refusal {
                        kind: ObjectKind::File,
                        object: location.clone(),
                        location,
                        cause: Cause::of(&error),
                        error,
                        kept: kept.is_some(),
                    });
                    if let Some(kept) = kept {
                        docs.extend(kept.iter().cloned());
                        fresh.insert(path.clone(), kept);
                    }
                }
            }
        }
        let first = !store.is_loaded();
        let previous = (!first).then(|| store.load_full());
        let mut snap = PolicySnapshot::build_from(&docs, &self.options, previous.as_deref());
        if !broken_files.is_empty() {
            broken_files.extend(snap.refused.iter().cloned());
            snap.refused = broken_files.into();
        }
        let source = self.dir.display().to_string();
        let refused = snap.refused.len();
        super::report_refusals(&source, &snap.refused, &mut memory.reported, metrics);
        if refused > 0 && first && !self.policy.allow_partial_load {
            tracing::error!(
                refused,
                "policy directory has errors: not ready until they are fixed (--allow-partial-load serves the valid documents)"
            );
            return Reload::NotReady;
        }
        if let Some(current) = &previous {
            let removes_constraints =
                !current.constraints.is_empty() && snap.constraints.is_empty();
            let removes_mutators = !current.mutators.is_empty() && snap.mutators.is_empty();
            if removes_constraints || removes_mutators {
                let what = if removes_constraints {
                    "constraint"
                } else {
                    "mutator"
                };
                let since = match memory.removal {
                    Some((since, seen)) if seen == files.fingerprint => since,
                    _ => {
                        memory.removal = Some((Instant::now(), files.fingerprint));
                        Instant::now()
                    }
                };
                if since.elapsed() < self.policy.removal_hold {
                    tracing::error!(
                        what, hold_s = self.policy.removal_hold.as_secs_f64(),
                        "policy change would remove every {what}: held until it has been stable for the hold period"
                    );
                    return Reload::Held;
                }
                tracing::error!(
                    what,
                    "removing every {what}: the change has been stable for the hold period"
                );
            }
        }
        memory.removal = None;
        memory.last_good = fresh;
        super::set_object_gauges(&snap, metrics);
        if refused > 0 && first {
            tracing::warn!(
                refused,
                "first load: serving the valid documents (--allow-partial-load); fix the others and they load on the next change"
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
            mutators = counts[2].1, namespaces = counts[3].1, refused,
            "policy set loaded"
        );
        store.publish(snap);
        if refused > 0 {
            Reload::Partial
        } else {
            Reload::Published
        }
    }

    /// Load now, then watch the directory and reload on change (events, and polling every
    /// `poll`). Every read settles first; a held removal or an unready directory is read
    /// again at every poll even without a change. Reloads run on the blocking pool: the
    /// runtime never waits on them at shutdown (see `commands::serve`).
    pub fn spawn_watch(
        self,
        store: Arc<SnapshotStore>,
        metrics: Arc<Metrics>,
        poll: Duration,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
            let _watcher = super::watch_dirs(std::slice::from_ref(&self.dir), tx);
            let mut last: Option<u64> = None;
            let mut retry = !store.is_loaded();
            loop {
                if last.is_some() {
                    tokio::select! {
                        _ = rx.recv() => {}
                        _ = tokio::time::sleep(poll) => {}
                    }
                }
                while rx.try_recv().is_ok() {}
                let dir = self.dir.clone();
                let now = tokio::task::spawn_blocking(move || settle::fingerprint(&dir))
                    .await
                    .ok();
                if now.is_some() && now == last && !retry {
                    continue;
                }
                last = now.or(Some(0));
                let (src, st, me) = (self.clone(), store.clone(), metrics.clone());
                let outcome =
                    tokio::task::spawn_blocking(move || src.reload_settled(&st, &me)).await;
                retry = matches!(outcome, Ok(Reload::Held | Reload::NotReady) | Err(_));
            }
        })
    }
}

/// The documents of one file. A file that is not UTF-8 or YAML, or that holds a document
/// without a kind, or a Gatekeeper or Namespace document without a name, is an error as a
/// whole: such a document has lost its identity (often a bad edit), so the objects the
/// file provided last time serve until it is fixed.
fn parse_file(content: &[u8], location: &str) -> Result<Vec<Document>, PolicyError> {
    let text = std::str::from_utf8(content).map_err(|e| PolicyError::Parse {
        location: location.to_string(),
        message: e.to_string(),
    })?;
    let docs = manifests::parse_documents(text, location)?;
    for d in &docs {
        let kind = d.value.get("kind").and_then(serde_json::Value::as_str);
        let api_version = d
            .value
            .get("apiVersion")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        let named = d
            .value
            .pointer("/metadata/name")
            .and_then(serde_json::Value::as_str)
            .is_some_and(|n| !n.is_empty());
        let needs_name = api_version.contains("gatekeeper.sh/") || kind == Some("Namespace");
        let problem = match kind {
            None | Some("") => Some("document has no kind"),
            Some(_) if needs_name && !named => Some("document has no metadata.name"),
            _ => None,
        };
        if let Some(message) = problem {
            return Err(PolicyError::Parse {
                location: d.location.clone(),
                message: message.into(),
            });
        }
    }
    Ok(docs)
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
