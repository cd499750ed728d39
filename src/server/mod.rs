//! The HTTPS admission server: router, handlers, TLS with in-place certificate reload,
//! the plain-HTTP metrics listener and graceful shutdown.

#![deny(clippy::indexing_slicing)]

mod connection;
pub mod gate;
mod handlers;
mod judge;
pub mod lifecycle;
mod pool;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;

use crate::decision::ServerEnforcement;
use crate::metrics::Metrics;
use crate::snapshot::SnapshotStore;
pub use gate::{AdmissionLimits, Gate};
pub use lifecycle::{Lifecycle, Stage};

/// Default maximum request body: kube-apiserver caps objects at about 3 MiB, and a review
/// carries object and oldObject.
pub const DEFAULT_MAX_BODY: usize = 6 * 1024 * 1024;

/// Shared state of the handlers.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The serving policy snapshot.
    pub store: Arc<SnapshotStore>,
    /// Metrics registry.
    pub metrics: Arc<Metrics>,
    /// Server-wide enforcement.
    pub enforcement: ServerEnforcement,
    /// Memory budget, evaluation slots, deadline and failure policies.
    pub gate: Arc<Gate>,
    /// Where the server is in its life (`/readyz` fails once shutdown begins).
    pub lifecycle: Lifecycle,
    /// Where violations become Kubernetes Events (`--emit-admission-events`; off by default).
    pub events: crate::events::EventSink,
    /// Policy impact preview: what judged reviews are handed to (recording, shadow set).
    pub tap: Arc<crate::impact::Tap>,
}

impl AppState {
    /// State with default limits around a store.
    pub fn new(store: Arc<SnapshotStore>, metrics: Arc<Metrics>) -> Self {
        AppState {
            store,
            metrics,
            enforcement: ServerEnforcement::Deny,
            gate: Arc::new(Gate::new(AdmissionLimits::default())),
            lifecycle: Lifecycle::new(),
            events: crate::events::EventSink::disabled(),
            tap: Arc::default(),
        }
    }

    /// The same state with other admission limits.
    pub fn with_limits(mut self, limits: AdmissionLimits) -> Self {
        self.gate = Arc::new(Gate::new(limits));
        self
    }
}

/// The admission router: `POST /validate`, `POST /mutate`, `GET /healthz`, `GET /readyz`,
/// and Gatekeeper's own paths `POST /v1/admit` and `POST /v1/mutate`, so that webhook
/// configurations written for Gatekeeper work unchanged. Exposed so that tests and
/// benchmarks drive exactly what the server runs.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/validate", post(handlers::validate))
        .route("/mutate", post(handlers::mutate))
        .route("/v1/admit", post(handlers::validate))
        .route("/v1/mutate", post(handlers::mutate))
        .route("/healthz", get(handlers::healthz))
        .route("/readyz", get(handlers::readyz))
        .fallback(handlers::not_found)
        .with_state(state)
}

/// The metrics router: `GET /metrics`.
pub fn metrics_app(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(handlers::metrics))
        .with_state(metrics)
}

/// Errors of starting or running the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// TLS setup failed.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The server stopped with an I/O error.
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

/// Limits on connections: how many, and how long each may hold resources without work.
/// Every one is a `serve` flag; the defaults suit a webhook called by a few API servers over
/// long-lived connections, and bound what an attacker in the cluster network can hold.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Open connections at most; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Time to complete the TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// Time for a request's headers to arrive, counted from their first byte (from the
    /// handshake for a connection's first request). HTTP/1.1.
    pub header_read_timeout: Duration,
    /// An idle connection (no request in flight) is closed gracefully after this long.
    pub idle_timeout: Duration,
    /// Longest an HTTP/1.1 connection may spend on one request before it is dropped (a
    /// backstop: handlers bound body reading and evaluation themselves).
    pub request_timeout: Duration,
    /// Concurrent HTTP/2 streams per connection.
    pub h2_max_concurrent_streams: u32,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 1024,
            tls_handshake_timeout: Duration::from_secs(5),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(90),
            request_timeout: Duration::from_secs(30),
            h2_max_concurrent_streams: 100,
        }
    }
}

/// Serve `router` over HTTPS on `listener` until the lifecycle reaches
/// [`Stage::Closing`], then let open connections finish for at most `grace`.
///
/// Connections beyond `limits.max_connections` are accepted and closed at once (counted in
/// `portcullis_connections_refused_total`): refusing fast lets the API server retry another
/// replica, where waiting would hold its request until its own timeout.
pub async fn serve_https(
    listener: tokio::net::TcpListener,
    router: Router,
    tls: tls::TlsHandle,
    limits: ConnectionLimits,
    lifecycle: Lifecycle,
    metrics: Arc<Metrics>,
    grace: Duration,
) -> Result<(), ServerError> {
    let max = limits
        .max_connections
        .clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
    let slots = Arc::new(tokio::sync::Semaphore::new(max));
    let shared = connection::Shared {
        router,
        limits,
        lifecycle: lifecycle.clone(),
        metrics: metrics.clone(),
    };
    let closing = lifecycle.reached(Stage::Closing);
    tokio::pin!(closing);
    loop {
        let (tcp, _peer) = tokio::select! {
            biased;
            _ = &mut closing => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait for connections to end.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            metrics.connections_refused.inc();
            drop(tcp);
            continue;
        };
        let shared = shared.clone();
        let config = tls.current();
        let open = metrics.connections_open.clone();
        open.inc();
        tokio::spawn(async move {
            connection::serve(tcp, config, shared).await;
            open.dec();
            drop(permit);
        });
    }
    drop(listener);
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(grace, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            open = max - slots.available_permits(),
            "shutdown grace period over with connections still open"
        );
    }
    Ok(())
}

/// Serve the metrics router over plain HTTP.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    axum::serve(listener, metrics_app(metrics))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServerError::Io)
}
