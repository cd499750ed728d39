//! The baseline for the load benchmark: the least an admission webhook can do over the same
//! stack (tokio, hyper, axum, rustls with ring, portcullis's own listener): terminate TLS, parse the review,
//! echo the uid and allow. portcullis is measured against this in the same run.
//!
//! Usage: trivial-webhook ADDR CERT KEY

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

use std::sync::Arc;

use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

/// The same allocator as portcullis, so that the comparison measures policy work only.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

async fn allow(body: axum::body::Bytes) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Ok(review) = serde_json::from_slice::<Value>(&body) else {
        return (axum::http::StatusCode::BAD_REQUEST, "bad review").into_response();
    };
    let uid = review
        .pointer("/request/uid")
        .cloned()
        .unwrap_or(Value::Null);
    let api = review.get("apiVersion").cloned().unwrap_or(Value::Null);
    axum::Json(json!({
        "apiVersion": api, "kind": "AdmissionReview",
        "response": {"uid": uid, "allowed": true}
    }))
    .into_response()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(cert), Some(key)) = (args.next(), args.next(), args.next()) else {
        return Err("usage: trivial-webhook ADDR CERT KEY".into());
    };
    let config = portcullis::server::tls::load_files(cert.as_ref(), key.as_ref())?;
    let tls = portcullis::server::tls::TlsHandle::new(config);
    let app = Router::new()
        .route("/validate", post(allow))
        .route("/mutate", post(allow))
        .layer(axum::extract::DefaultBodyLimit::max(6 << 20));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    portcullis::server::serve_https(
        listener,
        app,
        tls,
        portcullis::server::ConnectionLimits::default(),
        portcullis::server::Lifecycle::new(),
        Arc::new(portcullis::metrics::Metrics::new()),
        std::time::Duration::from_secs(1),
    )
    .await?;
    Ok(())
}
