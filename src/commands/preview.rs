//! `serve`'s policy impact preview: the recorder (`--record`) and the shadow policy set
//! (`--shadow-policies`, or in cluster mode the shadow-labelled objects), started from the
//! flags.

use std::sync::Arc;
use std::time::Duration;

use crate::cli::ServeArgs;
use crate::impact::recorder::{RecordOptions, Recorder};
use crate::impact::replay::JudgeOptions;
use crate::impact::shadow::Shadow;
use crate::impact::Tap;
use crate::metrics::Metrics;
use crate::server::AdmissionLimits;
use crate::snapshot::{BuildOptions, SnapshotStore};
use crate::sources::file::{FilePolicy, FileSource};

/// Records queued for the writer at most.
const RECORD_QUEUE: usize = 1024;

/// Cluster mode: the store the shadow set of shadow-labelled objects is published into
/// (always on: while no such object exists, it stays empty and the evaluator idle).
/// One shadow source at a time: `--shadow-policies` is refused in cluster mode.
pub(super) fn cluster_shadow_store(args: &ServeArgs) -> anyhow::Result<Option<Arc<SnapshotStore>>> {
    if args.source != crate::cli::SourceArg::Cluster {
        return Ok(None);
    }
    if args.shadow_policies.is_some() {
        anyhow::bail!(
            "--shadow-policies is for --source file: in cluster mode, label the candidate \
             templates, constraints and mutators policy.portcullis.io/shadow=true instead"
        );
    }
    Ok(Some(Arc::new(SnapshotStore::default())))
}

/// What `serve` hands judged reviews to, and the shadow set's watcher (held while serving);
/// `cluster_shadow` is [`cluster_shadow_store`]'s store.
pub(super) fn start(
    args: &ServeArgs,
    metrics: &Arc<Metrics>,
    admission: &AdmissionLimits,
    cluster_shadow: Option<Arc<SnapshotStore>>,
) -> anyhow::Result<(Arc<Tap>, Option<tokio::task::JoinHandle<()>>)> {
    let options = JudgeOptions {
        enforcement: args.enforcement,
        eval_timeout: admission.eval_timeout,
        validate_failure_policy: admission.validate_failure_policy,
        mutate_failure_policy: admission.mutate_failure_policy,
    };
    let mut tap = Tap::default();
    if let Some(dir) = &args.record {
        let options = RecordOptions {
            dir: dir.clone(),
            sample: args.record_sample,
            max_bytes: u64::try_from(args.record_max_bytes).unwrap_or(u64::MAX),
            queue: RECORD_QUEUE,
        };
        tap.recorder = Some(
            Recorder::start(options, metrics.clone())
                .map_err(|e| anyhow::anyhow!("cannot record to {}: {e}", dir.display()))?,
        );
        tracing::info!(dir = %dir.display(), sample = args.record_sample,
            max_bytes = args.record_max_bytes, "recording judged reviews (redacted)");
    }
    let mut watcher = None;
    if let Some(dir) = &args.shadow_policies {
        if !dir.is_dir() {
            anyhow::bail!("shadow policy directory {} does not exist", dir.display());
        }
        let store = Arc::new(SnapshotStore::default());
        let source = FileSource::new(
            dir,
            BuildOptions {
                engine: crate::cli::engine_choice(args.engine),
            },
        )
        .with_policy(FilePolicy {
            // The shadow set is a preview: serve what loads, report the rest.
            allow_partial_load: true,
            settle: args.policy_settle,
            removal_hold: args.removal_hold,
        });
        // Its own registry: the shadow set's policy gauges must not overwrite the real ones.
        watcher = Some(source.spawn_watch(
            store.clone(),
            Arc::new(Metrics::new()),
            Duration::from_secs(args.poll_seconds.max(1)),
        ));
        tap.shadow = Some(Shadow::new(
            store,
            args.shadow_workers,
            metrics.clone(),
            options,
        ));
        tracing::info!(dir = %dir.display(), workers = args.shadow_workers,
            "shadow policy set: judging live traffic after each answer");
    }
    if let Some(store) = cluster_shadow {
        tap.shadow = Some(
            Shadow::new(store, args.shadow_workers, metrics.clone(), options).idle_when_empty(),
        );
        tracing::info!(
            label = crate::sources::cluster::shadow::SHADOW_LABEL,
            workers = args.shadow_workers,
            "objects labelled shadow are judged after each answer and not enforced"
        );
    }
    Ok((Arc::new(tap), watcher))
}
