//! Connections from an attacker in the cluster network, over real TLS: too many, silent,
//! sending half a request header, never finishing a body, or idling forever. Each is ended
//! by the server within its limit, and ordinary requests keep working.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the point

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis::decision::ServerEnforcement;
use portcullis::metrics::Metrics;
use portcullis::server::ConnectionLimits;
use portcullis::snapshot::{PolicySnapshot, SnapshotStore};
use tokio::io::AsyncWriteExt;

use common::{read_until_closed, Https, Proto};

fn server(connections: ConnectionLimits) -> (Https, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new());
    let store = Arc::new(SnapshotStore::with(PolicySnapshot::default()));
    let https = common::serve_store_with(
        store,
        metrics.clone(),
        ServerEnforcement::Deny,
        common::test_limits(),
        connections,
    );
    (https, metrics)
}

fn short() -> ConnectionLimits {
    ConnectionLimits {
        tls_handshake_timeout: Duration::from_millis(500),
        header_read_timeout: Duration::from_millis(500),
        idle_timeout: Duration::from_millis(1500),
        ..ConnectionLimits::default()
    }
}

fn closed(metrics: &Metrics, reason: &str) -> f64 {
    common::metric_value(
        &metrics.encode(),
        &format!("portcullis_connections_closed_total{{reason=\"{reason}\"}}"),
    )
}

const REQUEST_HEAD: &str = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_a_request_header_is_cut_off_at_the_header_timeout() {
    let (https, metrics) = server(short());
    let mut tls = common::raw_tls(&https.base, &https.ca_pem).await;
    let started = Instant::now();
    tls.write_all(b"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-")
        .await
        .expect("write");
    let out = read_until_closed(&mut tls, Duration::from_secs(5)).await;
    let took = started.elapsed();
    assert!(out.is_ok(), "the server closes the connection");
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "closed after the header timeout, took {took:?}"
    );
    assert_eq!(closed(&metrics, "header_timeout"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_speaks_is_closed() {
    let (https, metrics) = server(short());
    // Completes the handshake, then says nothing.
    let mut tls = common::raw_tls(&https.base, &https.ca_pem).await;
    assert!(read_until_closed(&mut tls, Duration::from_secs(5))
        .await
        .is_ok());
    // Does not even start the handshake.
    let port = https.base.rsplit(':').next().expect("port").to_string();
    let mut tcp = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .expect("connect");
    assert!(read_until_closed(&mut tcp, Duration::from_secs(5))
        .await
        .is_ok());
    assert_eq!(closed(&metrics, "header_timeout"), 1.0);
    assert_eq!(closed(&metrics, "handshake_timeout"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_are_kept_past_the_header_timeout_and_closed_when_idle() {
    use tokio::io::AsyncReadExt;
    let (https, metrics) = server(short());
    let mut tls = common::raw_tls(&https.base, &https.ca_pem).await;
    let mut buf = vec![0u8; 4096];
    tls.write_all(REQUEST_HEAD.as_bytes()).await.expect("write");
    let n = tls.read(&mut buf).await.expect("read");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Idle longer than the header timeout, shorter than the idle timeout: still open.
    tokio::time::sleep(Duration::from_millis(800)).await;
    tls.write_all(REQUEST_HEAD.as_bytes()).await.expect("write");
    let n = tls.read(&mut buf).await.expect("read");
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "keep-alive survives a pause shorter than the idle timeout"
    );
    let started = Instant::now();
    assert!(read_until_closed(&mut tls, Duration::from_secs(5))
        .await
        .is_ok());
    assert!(started.elapsed() >= Duration::from_millis(1200));
    assert_eq!(closed(&metrics, "idle"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_are_closed_at_once_and_the_rest_serve() {
    let (https, metrics) = server(ConnectionLimits {
        max_connections: 3,
        ..ConnectionLimits::default()
    });
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(common::raw_tls(&https.base, &https.ca_pem).await);
    }
    // The fourth is accepted by the kernel and closed by the server before any handshake.
    let port = https.base.rsplit(':').next().expect("port").to_string();
    let mut extra = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .expect("connect");
    let out = read_until_closed(&mut extra, Duration::from_secs(2)).await;
    assert_eq!(out, Ok(Vec::new()), "closed without a byte");
    assert_eq!(
        common::metric_value(&metrics.encode(), "portcullis_connections_refused_total"),
        1.0
    );
    held.pop();
    let c = common::client(&https.ca_pem, Proto::Http1);
    let ok = common::eventually(Duration::from_secs(5), || {
        let (c, url) = (c.clone(), format!("{}/healthz", https.base));
        async move { c.get(&url).send().await.is_ok_and(|r| r.status() == 200) }
    })
    .await;
    assert!(ok, "a freed slot serves again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_arrives_gets_408() {
    use tokio::io::AsyncReadExt;
    let metrics = Arc::new(Metrics::new());
    let store = Arc::new(SnapshotStore::with(PolicySnapshot::default()));
    let https = common::serve_store_with(
        store,
        metrics,
        ServerEnforcement::Deny,
        portcullis::server::AdmissionLimits {
            body_read_timeout: Duration::from_millis(400),
            ..common::test_limits()
        },
        ConnectionLimits::default(),
    );
    let mut tls = common::raw_tls(&https.base, &https.ca_pem).await;
    tls.write_all(
        b"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"kind\":",
    )
    .await
    .expect("write");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf))
        .await
        .expect("answered")
        .expect("read");
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_streams_per_connection_are_capped() {
    let (https, _metrics) = server(ConnectionLimits {
        h2_max_concurrent_streams: 7,
        ..ConnectionLimits::default()
    });
    // The SETTINGS frame carries the cap: read it with a raw HTTP/2 preface.
    let port = https.base.rsplit(':').next().expect("port").to_string();
    let tcp = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .expect("connect");
    let connector =
        tokio_rustls::TlsConnector::from(common::tls_client_config(&https.ca_pem, &[b"h2"]));
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    let mut tls = connector.connect(name, tcp).await.expect("handshake");
    tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .expect("preface");
    let mut buf = vec![0u8; 256];
    let n = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut tls, &mut buf),
    )
    .await
    .expect("settings")
    .expect("read");
    // A SETTINGS frame (type 4) holding SETTINGS_MAX_CONCURRENT_STREAMS (3) = 7.
    assert!(
        n >= 9 && buf[3] == 4,
        "first frame is SETTINGS: {:?}",
        &buf[..n]
    );
    let len = usize::from(buf[0]) << 16 | usize::from(buf[1]) << 8 | usize::from(buf[2]);
    let settings = &buf[9..9 + len.min(n - 9)];
    let max = settings
        .chunks(6)
        .find(|s| s.len() == 6 && s[0] == 0 && s[1] == 3)
        .map(|s| u32::from_be_bytes([s[2], s[3], s[4], s[5]]));
    assert_eq!(max, Some(7));
}
