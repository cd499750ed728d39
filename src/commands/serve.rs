//! `portcullis serve`: the HTTPS admission webhook.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::audit::periodic::{self, SweepOptions};
use crate::audit::AuditOptions;
use crate::cli::{ServeArgs, SourceArg};
use crate::metrics::Metrics;
use crate::policy::{BuildOptions, SnapshotStore};
use crate::server::{self, tls, AppState};
use crate::sources::cluster::{ClusterHandle, ClusterOptions, ClusterSource};
use crate::sources::file::FileSource;

/// Start the runtime and serve until SIGTERM or ctrl-c.
pub fn run(args: ServeArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return super::fail("cannot start the async runtime", e),
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => super::fail("serve", e),
    }
}

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
    Cluster(ClusterHandle, Option<AbortOnDrop>),
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
    };
    tracing::info!(
        interval_s = args.audit_interval,
        "audit loop: sweeping existing objects and writing constraint status"
    );
    Some(AbortOnDrop(periodic::spawn(
        client,
        store.clone(),
        metrics.clone(),
        Duration::from_secs(args.audit_interval),
        options,
    )))
}

/// Start the policy source the flags choose. File mode loads once before serving (so the
/// server is ready at once); cluster mode publishes when its watchers have synced.
async fn start_source(
    args: &ServeArgs,
    store: &Arc<SnapshotStore>,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<RunningSource> {
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
            let source = FileSource::new(&args.policies, build);
            {
                let (s, st, m) = (source.clone(), store.clone(), metrics.clone());
                tokio::task::spawn_blocking(move || s.reload(&st, &m)).await?;
            }
            Ok(RunningSource::File(source.spawn_watch(
                store.clone(),
                metrics.clone(),
                Duration::from_secs(args.poll_seconds.max(1)),
            )))
        }
        SourceArg::Cluster => {
            let options = ClusterOptions {
                build,
                namespace: args.namespace.clone(),
                status_id: args.pod_name.clone(),
                ..ClusterOptions::default()
            };
            let source = ClusterSource::from_environment(options).await?;
            tracing::info!(namespace = ?args.namespace, "cluster mode: watching Gatekeeper objects; ready once listed");
            let audit = start_audit(args, source.client(), store, metrics);
            Ok(RunningSource::Cluster(
                source.spawn(store.clone(), metrics.clone()),
                audit,
            ))
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::new());
    let store = Arc::new(SnapshotStore::default());
    let _source = start_source(&args, &store, &metrics).await?;
    let (cert, key) = resolve_certs(&args)?;
    let rustls =
        axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(tls::load_files(&cert, &key)?));
    let _cert_watch = tls::watch(cert, key, rustls.clone(), Duration::from_secs(30));

    let listener =
        std::net::TcpListener::bind(args.addr).map_err(|source| server::ServerError::Bind {
            addr: args.addr,
            source,
        })?;
    let metrics_listener = tokio::net::TcpListener::bind(args.metrics_addr)
        .await
        .map_err(|source| server::ServerError::Bind {
            addr: args.metrics_addr,
            source,
        })?;
    let mut state = AppState::new(store, metrics.clone());
    state.enforcement = args.enforcement;
    state.max_body = args.max_body_bytes;
    let handle = axum_server::Handle::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    {
        let handle = handle.clone();
        tokio::spawn(async move {
            server::shutdown_signal().await;
            tracing::info!("shutting down: finishing in-flight requests");
            handle.graceful_shutdown(Some(Duration::from_secs(10)));
            let _ = stop_tx.send(true);
        });
    }
    let mut rx = stop_rx.clone();
    tokio::spawn(server::serve_metrics(
        metrics_listener,
        metrics,
        async move {
            let _ = rx.wait_for(|v| *v).await;
        },
    ));
    tracing::info!(
        addr = %args.addr, metrics = %args.metrics_addr,
        enforcement = ?args.enforcement, source = ?args.source, policies = %args.policies.display(),
        "portcullis serving"
    );
    server::serve_https(listener, server::app(state), rustls, handle).await?;
    Ok(())
}
