//! `portcullis serve`: the HTTPS admission webhook.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::audit::periodic::{self, SweepOptions};
use crate::audit::AuditOptions;
use crate::cli::{ServeArgs, SourceArg};
use crate::metrics::Metrics;
use crate::server::{self, tls, AdmissionLimits, AppState, ConnectionLimits, Stage};
use crate::snapshot::{BuildOptions, SnapshotStore};
use crate::sources::cluster::{ClusterHandle, ClusterOptions, ClusterSource};
use crate::sources::file::{FilePolicy, FileSource};

/// Start the runtime and serve until SIGTERM or ctrl-c.
pub fn run(args: ServeArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Evaluation and policy compilation run on the blocking pool; depth limits keep
        // their recursion small, and a larger stack keeps a margin beyond the limits.
        .thread_stack_size(THREAD_STACK)
        .build()
    {
        Ok(r) => r,
        Err(e) => return super::fail("cannot start the async runtime", e),
    };
    let result = runtime.block_on(serve(args));
    // A policy reload or an evaluation still running (it would stop at its deadline) must
    // not hold the process after the server has drained: the runtime waits for them
    // no longer than this.
    runtime.shutdown_timeout(Duration::from_millis(500));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => super::fail("serve", e),
    }
}

/// Stack of the runtime's threads.
const THREAD_STACK: usize = 8 * 1024 * 1024;

/// Where the serving certificate comes from, resolved from the flags.
fn resolve_certs(args: &ServeArgs) -> anyhow::Result<(PathBuf, PathBuf)> {
    if let (Some(c), Some(k)) = (&args.tls_cert, &args.tls_key) {
        return Ok((c.clone(), k.clone()));
    }
    let (dir, announce) = match &args.cert_dir {
        Some(d) => (d.clone(), false),
        None => {
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0);
            let d = std::env::temp_dir()
                .join(format!("portcullis-certs-{}-{stamp}", std::process::id()));
            (d, true)
        }
    };
    let (cert, key, made) = crate::certs::ensure_dir(&dir, &args.dns_names)?;
    if made {
        tracing::info!(dir = %dir.display(), "generated a CA and serving certificate");
    }
    if announce {
        announce_certs(&dir, args);
    }
    Ok((cert, key))
}

fn announce_certs(dir: &Path, args: &ServeArgs) {
    let port = args.addr.port();
    eprintln!(
        "portcullis: self-signed CA and certificate in {dir}\n\
         try:  curl --cacert {dir}/ca.crt -H 'Content-Type: application/json' \
         --data @tests/fixtures/reviews/pod-untrusted-registry.json https://localhost:{port}/validate",
        dir = dir.display()
    );
}

/// The running policy source, held for as long as the server runs.
#[allow(dead_code)] // never read: held so that it lives, and for cluster mode stops on drop
enum RunningSource {
    File(tokio::task::JoinHandle<()>),
    Cluster(ClusterHandle, Option<AbortOnDrop>, Option<AbortOnDrop>),
}

/// A background task stopped when the server stops.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The cluster audit loop, when `--audit-interval` is not 0.
fn start_audit(
    args: &ServeArgs,
    client: kube::Client,
    store: &Arc<SnapshotStore>,
    metrics: &Arc<Metrics>,
    events: &crate::events::EventSink,
    leadership: Option<crate::leader::Leadership>,
) -> Option<AbortOnDrop> {
    if args.audit_interval == 0 {
        tracing::info!("audit loop disabled (--audit-interval 0)");
        return None;
    }
    let options = SweepOptions {
        report: AuditOptions {
            limit: args.constraint_violations_limit,
        },
        chunk_size: args.audit_chunk_size,
        write_status: true,
        pod: args.pod_name.clone(),
        events: events.clone(),
        policy_report_limit: args
            .policy_reports
            .then_some(args.policy_report_results_limit),
        write_policy_reports: args.policy_reports,
    };
    tracing::info!(
        interval_s = args.audit_interval,
        "audit loop: sweeping existing objects and writing constraint status"
    );
    let (store, metrics) = (store.clone(), metrics.clone());
    let interval = Duration::from_secs(args.audit_interval);
    let spawn = move || {
        periodic::spawn(
            client.clone(),
            store.clone(),
            metrics.clone(),
            interval,
            options.clone(),
        )
    };
    // With leader election, only the leader audits.
    Some(AbortOnDrop(match leadership {
        Some(leadership) => crate::leader::while_leading(leadership, spawn),
        None => spawn(),
    }))
}

/// The Event writer, when `--emit-admission-events` or `--emit-audit-events` asks for it;
/// it stops once the server and the audit loop have let go of the sink.
fn start_events(
    args: &ServeArgs,
    client: kube::Client,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<crate::events::EventSink> {
    if !args.emit_admission_events && !args.emit_audit_events {
        return Ok(crate::events::EventSink::disabled());
    }
    if !(args.events_per_second.is_finite() && args.events_per_second > 0.0)
        || args.events_burst == 0
    {
        anyhow::bail!("--events-per-second must be more than 0 and --events-burst at least 1");
    }
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_string());
    let options = crate::events::EventOptions {
        admission: args.emit_admission_events,
        audit: args.emit_audit_events,
        placement: crate::events::Placement {
            namespace,
            admission_involved_namespace: args.admission_events_involved_namespace,
            audit_involved_namespace: args.audit_events_involved_namespace,
        },
        limits: crate::events::Limits {
            per_second: args.events_per_second,
            burst: args.events_burst,
            ..crate::events::Limits::default()
        },
        ..crate::events::EventOptions::default()
    };
    tracing::info!(admission = options.admission, audit = options.audit,
        namespace = %options.placement.namespace, "emitting Kubernetes Events for violations");
    Ok(crate::events::spawn(client, options, metrics.clone()).0)
}

/// The status garbage collector, when `--status-gc-interval` is not 0 and the Pod name
/// is known (it keeps the entries of the Pods listed beside this one); with leader
/// election, on the leader only.
fn start_status_gc(
    args: &ServeArgs,
    client: kube::Client,
    leadership: Option<crate::leader::Leadership>,
) -> Option<AbortOnDrop> {
    use crate::sources::cluster::status_gc::{self, GcOptions};
    if args.status_gc_interval == 0 {
        return None;
    }
    let Some(pod) = args.pod_name.clone() else {
        tracing::info!("status garbage collection off: no Pod name (--pod-name / POD_NAME)");
        return None;
    };
    let options = GcOptions {
        namespace: args
            .namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_string()),
        pod,
        selector: args.status_gc_selector.clone(),
        interval: Duration::from_secs(args.status_gc_interval),
    };
    let spawn = move || status_gc::spawn(client.clone(), options.clone());
    Some(AbortOnDrop(match leadership {
        Some(leadership) => crate::leader::while_leading(leadership, spawn),
        None => spawn(),
    }))
}

/// Start the policy source the flags choose; both publish into `store` when their first
/// load succeeds (file mode: at once unless the directory has errors; cluster mode: when
/// its watchers have synced).
async fn start_source(
    args: &ServeArgs,
    store: &Arc<SnapshotStore>,
    shadow_store: Option<Arc<SnapshotStore>>,
    metrics: &Arc<Metrics>,
    lifecycle: &server::Lifecycle,
) -> anyhow::Result<(RunningSource, crate::events::EventSink)> {
    let build = BuildOptions {
        engine: crate::cli::engine_choice(args.engine),
    };
    match args.source {
        SourceArg::File => {
            if !args.policies.is_dir() {
                anyhow::bail!(
                    "policy directory {} does not exist (use --policies DIR)",
                    args.policies.display()
                );
            }
            let source = FileSource::new(&args.policies, build).with_policy(FilePolicy {
                allow_partial_load: args.allow_partial_load,
                settle: args.policy_settle,
                removal_hold: args.removal_hold,
            });
            if args.emit_admission_events
                || args.emit_audit_events
                || args.policy_reports
                || args.generate_vap
            {
                anyhow::bail!(
                    "Events, policy reports and generated ValidatingAdmissionPolicies are \
                     written to a cluster: use --source cluster"
                );
            }
            // The first load runs in the watcher: the server listens at once, answering
            // /healthz, and /readyz turns true when a policy set serves.
            Ok((
                RunningSource::File(source.spawn_watch(
                    store.clone(),
                    metrics.clone(),
                    Duration::from_secs(args.poll_seconds.max(1)),
                )),
                crate::events::EventSink::disabled(),
            ))
        }
        SourceArg::Cluster => {
            let options = ClusterOptions {
                build,
                namespace: args.namespace.clone(),
                status_id: args.pod_name.clone(),
                manage_crds: args.manage_crds,
                generate_vap: args.generate_vap,
                shadow_store,
                ..ClusterOptions::default()
            };
            let source = ClusterSource::from_environment(options).await?;
            tracing::info!(namespace = ?args.namespace, manage_crds = args.manage_crds,
                "cluster mode: watching Gatekeeper objects; ready once listed");
            let leadership = super::serve_coordination::start_election(
                args,
                source.client(),
                metrics,
                lifecycle,
            )?;
            let source = source.with_leadership(leadership.clone());
            let events = start_events(args, source.client(), metrics)?;
            let audit = start_audit(
                args,
                source.client(),
                store,
                metrics,
                &events,
                leadership.clone(),
            );
            let status_gc = start_status_gc(args, source.client(), leadership);
            Ok((
                RunningSource::Cluster(
                    source.spawn(store.clone(), metrics.clone()),
                    audit,
                    status_gc,
                ),
                events,
            ))
        }
    }
}

/// Admission and connection limits from the flags.
fn limits(args: &ServeArgs) -> anyhow::Result<(AdmissionLimits, ConnectionLimits)> {
    if args.eval_timeout.is_zero() {
        anyhow::bail!("--eval-timeout must be more than 0");
    }
    if args.max_connections == 0 || args.max_concurrent_streams == 0 {
        anyhow::bail!("--max-connections and --max-concurrent-streams must be at least 1");
    }
    let admission = AdmissionLimits {
        max_body: args.max_body_bytes,
        body_read_timeout: args.body_read_timeout,
        eval_timeout: args.eval_timeout,
        eval_workers: args
            .eval_workers
            .unwrap_or_else(server::gate::default_workers)
            .max(1),
        max_inflight_bytes: args.max_inflight_memory,
        validate_failure_policy: args.validate_failure_policy,
        mutate_failure_policy: args.mutate_failure_policy,
    };
    let connections = ConnectionLimits {
        max_connections: args.max_connections,
        tls_handshake_timeout: args.tls_handshake_timeout,
        header_read_timeout: args.header_read_timeout,
        idle_timeout: args.idle_timeout,
        // A request holds its connection for its body, its evaluation, and its answer.
        request_timeout: args.body_read_timeout + args.eval_timeout + Duration::from_secs(5),
        h2_max_concurrent_streams: args.max_concurrent_streams,
    };
    Ok((admission, connections))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let (admission, connections) = limits(&args)?;
    let metrics = Arc::new(Metrics::new());
    let store = Arc::new(SnapshotStore::default());
    let lifecycle = server::Lifecycle::new();
    // Cluster mode's shadow-labelled objects: their set, for the shadow evaluator.
    let shadow_store = super::preview::cluster_shadow_store(&args)?;
    let (_source, events) =
        start_source(&args, &store, shadow_store.clone(), &metrics, &lifecycle).await?;
    let (tls, _cert_watch) = if args.cert_rotation {
        super::serve_coordination::start_cert_rotation(&args).await?
    } else {
        let (cert, key) = resolve_certs(&args)?;
        let tls = tls::TlsHandle::new(tls::load_files(&cert, &key)?);
        let watch = tls::watch(cert, key, tls.clone(), Duration::from_secs(30));
        (tls, watch)
    };

    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|source| server::ServerError::Bind {
            addr: args.addr,
            source,
        })?;
    let metrics_listener = tokio::net::TcpListener::bind(args.metrics_addr)
        .await
        .map_err(|source| server::ServerError::Bind {
            addr: args.metrics_addr,
            source,
        })?;
    // Policy impact preview: recording and the shadow set.
    let (tap, _shadow_watch) = super::preview::start(&args, &metrics, &admission, shadow_store)?;
    let mut state = AppState::new(store, metrics.clone()).with_limits(admission);
    state.enforcement = args.enforcement;
    state.events = events;
    state.tap = tap;
    state.lifecycle = lifecycle.clone();
    {
        let lifecycle = lifecycle.clone();
        let delay = args.shutdown_delay;
        tokio::spawn(async move {
            server::lifecycle::signal().await;
            lifecycle.shut_down(delay).await;
        });
    }
    {
        let lifecycle = lifecycle.clone();
        tokio::spawn(server::serve_metrics(
            metrics_listener,
            metrics.clone(),
            async move { lifecycle.reached(Stage::Closing).await },
        ));
    }
    tracing::info!(
        addr = %args.addr, metrics = %args.metrics_addr,
        enforcement = ?args.enforcement, source = ?args.source, policies = %args.policies.display(),
        eval_timeout_s = args.eval_timeout.as_secs_f64(),
        "portcullis serving"
    );
    server::serve_https(
        listener,
        server::app(state),
        tls,
        connections,
        lifecycle,
        metrics,
        args.shutdown_grace,
    )
    .await?;
    tracing::info!("stopped");
    Ok(())
}
