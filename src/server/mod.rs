//! The HTTPS admission server: router, handlers, TLS with in-place certificate reload,
//! the plain-HTTP metrics listener and graceful shutdown.

mod handlers;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;

use crate::decision::ServerEnforcement;
use crate::metrics::Metrics;
use crate::policy::SnapshotStore;

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
    /// Largest accepted request body in bytes.
    pub max_body: usize,
}

impl AppState {
    /// State with defaults around a store.
    pub fn new(store: Arc<SnapshotStore>, metrics: Arc<Metrics>) -> Self {
        AppState {
            store,
            metrics,
            enforcement: ServerEnforcement::Deny,
            max_body: DEFAULT_MAX_BODY,
        }
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

/// Serve `router` over HTTPS on an already bound listener until `handle` shuts it down.
pub async fn serve_https(
    listener: std::net::TcpListener,
    router: Router,
    tls: axum_server::tls_rustls::RustlsConfig,
    handle: axum_server::Handle<SocketAddr>,
) -> Result<(), ServerError> {
    listener.set_nonblocking(true)?;
    let mut server = axum_server::from_tcp_rustls(listener, tls)?.handle(handle);
    // Keep-alive connections from kube-apiserver are long-lived; idle ones are cheap.
    server
        .http_builder()
        .http2()
        .max_concurrent_streams(250)
        .keep_alive_interval(Some(Duration::from_secs(30)));
    server
        .serve(router.into_make_service())
        .await
        .map_err(ServerError::Io)
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

/// Resolves on SIGTERM or ctrl-c, whichever comes first.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
