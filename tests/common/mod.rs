//! Shared harness for integration tests: a real portcullis server on an ephemeral
//! loopback port with freshly generated certificates, and HTTPS clients that verify the CA.

#![allow(dead_code)]

pub mod cluster;
pub mod fake_apiserver;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use portcullis::decision::ServerEnforcement;
use portcullis::metrics::Metrics;
use portcullis::server::{
    self, tls, AdmissionLimits, AppState, ConnectionLimits, Lifecycle, Stage,
};
use portcullis::snapshot::{BuildOptions, SnapshotStore};
use portcullis::sources::file::{FilePolicy, FileSource, Reload};
use serde_json::{json, Value};

/// A running server and what a test needs to talk to it.
pub struct TestServer {
    pub base: String,
    pub ca_pem: String,
    pub policy_dir: tempfile::TempDir,
    pub cert_dir: tempfile::TempDir,
    pub metrics: Arc<Metrics>,
    pub store: Arc<SnapshotStore>,
    pub lifecycle: Lifecycle,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.lifecycle.advance(Stage::Closing);
    }
}

/// The repository's policy library directory.
pub fn library_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/library")
}

/// Gatekeeper's library in the conformance corpus (`../shared/conformance` or
/// `PORTCULLIS_CONFORMANCE`). Panics when it is missing, so that a test needing it cannot
/// pass by skipping, unless `PORTCULLIS_SKIP_CONFORMANCE=1` asks to skip (then `None`).
pub fn conformance_library() -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = std::env::var_os("PORTCULLIS_CONFORMANCE")
        .map(PathBuf::from)
        .into_iter()
        .chain([Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance")])
        .collect();
    if let Some(found) = candidates
        .iter()
        .map(|c| c.join("gatekeeper-library/library"))
        .find(|p| p.is_dir())
    {
        return Some(found);
    }
    if std::env::var("PORTCULLIS_SKIP_CONFORMANCE").as_deref() == Ok("1") {
        eprintln!("skipping: PORTCULLIS_SKIP_CONFORMANCE=1 and no conformance corpus found");
        return None;
    }
    panic!("the conformance corpus is missing (looked in {candidates:?})");
}

/// Copy every file of `from` into `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        if entry.path().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
}

/// Start a server over a policy directory holding the library templates plus `extra`
/// files (name, YAML text).
pub async fn start(extra: &[(&str, &str)], enforcement: ServerEnforcement) -> TestServer {
    let policy_dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&library_dir(), policy_dir.path());
    for (name, text) in extra {
        std::fs::write(policy_dir.path().join(name), text).expect("write policy");
    }
    let metrics = Arc::new(Metrics::new());
    let store = Arc::new(SnapshotStore::default());
    let source =
        FileSource::new(policy_dir.path(), BuildOptions::default()).with_policy(FilePolicy {
            settle: Duration::from_millis(100),
            ..FilePolicy::default()
        });
    assert_eq!(
        source.reload(&store, &metrics),
        Reload::Published,
        "initial policy set must load"
    );
    source
        .clone()
        .spawn_watch(store.clone(), metrics.clone(), Duration::from_millis(200));
    let https = serve_store(store.clone(), metrics.clone(), enforcement);
    TestServer {
        base: https.base,
        ca_pem: https.ca_pem,
        policy_dir,
        cert_dir: https.cert_dir,
        metrics,
        store,
        lifecycle: https.lifecycle,
    }
}

/// The HTTPS half of a test server, whatever feeds its store.
pub struct Https {
    pub base: String,
    pub ca_pem: String,
    pub cert_dir: tempfile::TempDir,
    pub lifecycle: Lifecycle,
}

/// Serve the webhook over HTTPS on an ephemeral loopback port, deciding with `store`,
/// with a freshly generated CA and certificate. Stops when `handle` shuts down.
pub fn serve_store(
    store: Arc<SnapshotStore>,
    metrics: Arc<Metrics>,
    enforcement: ServerEnforcement,
) -> Https {
    serve_store_with(
        store,
        metrics,
        enforcement,
        test_limits(),
        ConnectionLimits::default(),
    )
}

/// Admission limits of test servers: the defaults with a 256 KiB body limit.
pub fn test_limits() -> AdmissionLimits {
    AdmissionLimits {
        max_body: 256 * 1024,
        ..AdmissionLimits::default()
    }
}

/// [`serve_store`] with given admission and connection limits.
pub fn serve_store_with(
    store: Arc<SnapshotStore>,
    metrics: Arc<Metrics>,
    enforcement: ServerEnforcement,
    admission: AdmissionLimits,
    connections: ConnectionLimits,
) -> Https {
    let (cert_dir, ca_pem, tls, (cert, key)) = self_signed();
    tls::watch(cert, key, tls.clone(), Duration::from_millis(200));
    let mut state = AppState::new(store, metrics).with_limits(admission);
    state.enforcement = enforcement;
    let lifecycle = state.lifecycle.clone();
    Https {
        base: serve_state(state, tls, connections),
        ca_pem,
        cert_dir,
        lifecycle,
    }
}

/// A fresh CA and serving certificate (for `localhost`) in a temporary directory: the
/// directory, the CA's PEM, a TLS configuration serving the pair, and the pair's files.
pub fn self_signed() -> (
    tempfile::TempDir,
    String,
    tls::TlsHandle,
    (PathBuf, PathBuf),
) {
    let cert_dir = tempfile::tempdir().expect("tempdir");
    let (cert, key, _) = portcullis::certs::ensure_dir(cert_dir.path(), &[]).expect("certs");
    let ca_pem = std::fs::read_to_string(cert_dir.path().join("ca.crt")).expect("ca");
    let tls = tls::TlsHandle::new(tls::load_files(&cert, &key).expect("tls"));
    (cert_dir, ca_pem, tls, (cert, key))
}

/// Serve `state`'s webhook over HTTPS with `tls` on an ephemeral loopback port until its
/// lifecycle closes; the base URL (`https://localhost:PORT`).
pub fn serve_state(state: AppState, tls: tls::TlsHandle, connections: ConnectionLimits) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    let (lifecycle, metrics) = (state.lifecycle.clone(), state.metrics.clone());
    tokio::spawn(server::serve_https(
        listener,
        server::app(state),
        tls,
        connections,
        lifecycle,
        metrics,
        Duration::from_secs(5),
    ));
    format!("https://localhost:{port}")
}

/// Which HTTP version a client speaks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Proto {
    Http1,
    Http2,
}

/// An HTTPS client trusting only the test CA, negotiating `proto` by ALPN.
pub fn client(ca_pem: &str, proto: Proto) -> reqwest::Client {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("ca pem")).expect("add root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = match proto {
        Proto::Http1 => vec![b"http/1.1".to_vec()],
        Proto::Http2 => vec![b"h2".to_vec()],
    };
    let builder = reqwest::Client::builder()
        .use_preconfigured_tls(cfg)
        .timeout(Duration::from_secs(10));
    let builder = match proto {
        Proto::Http1 => builder.http1_only(),
        Proto::Http2 => builder.http2_prior_knowledge(),
    };
    builder.build().expect("client")
}

/// An AdmissionReview for `object` as kube-apiserver would send it.
pub fn review(api_version: &str, uid: &str, operation: &str, object: Value) -> Value {
    let api = object["apiVersion"].as_str().unwrap_or("v1");
    let (group, version) = api.split_once('/').unwrap_or(("", api));
    let ns = object["metadata"]["namespace"].as_str().unwrap_or("");
    let mut req = json!({
        "uid": uid,
        "kind": {"group": group, "version": version, "kind": object["kind"]},
        "resource": {"group": group, "version": version, "resource": "things"},
        "name": object["metadata"]["name"],
        "operation": operation,
        "userInfo": {"username": "tester"},
    });
    if !ns.is_empty() {
        req["namespace"] = json!(ns);
    }
    if operation == "DELETE" {
        req["oldObject"] = object;
    } else {
        req["object"] = object;
    }
    json!({"apiVersion": api_version, "kind": "AdmissionReview", "request": req})
}

/// A Pod with one container.
pub fn pod(ns: &str, name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"owner": "team-a"}},
        "spec": {"containers": [{
            "name": "app", "image": image,
            "resources": {"limits": {"cpu": "500m", "memory": "256Mi"},
                          "requests": {"cpu": "100m", "memory": "128Mi"}}
        }]}
    })
}

/// Post a review and check the response the way kube-apiserver does: HTTP 200, same
/// apiVersion and kind, same uid, a patch only together with patchType.
pub async fn post_review(client: &reqwest::Client, url: &str, body: &Value, proto: Proto) -> Value {
    let resp = client.post(url).json(body).send().await.expect("send");
    assert_eq!(resp.status(), 200, "well-formed reviews get 200");
    let want = match proto {
        Proto::Http1 => reqwest::Version::HTTP_11,
        Proto::Http2 => reqwest::Version::HTTP_2,
    };
    assert_eq!(resp.version(), want);
    let out: Value = resp.json().await.expect("json body");
    assert_eq!(out["apiVersion"], body["apiVersion"], "apiVersion echoed");
    assert_eq!(out["kind"], "AdmissionReview");
    assert_eq!(out["response"]["uid"], body["request"]["uid"], "uid echoed");
    assert!(out["response"]["allowed"].is_boolean());
    if out["response"].get("patch").is_some() {
        assert_eq!(out["response"]["patchType"], "JSONPatch");
        assert!(out["response"]["patch"].is_string(), "patch is base64 text");
    }
    if let Some(w) = out["response"].get("warnings") {
        assert!(w.as_array().expect("array").iter().all(Value::is_string));
    }
    out
}

/// Poll `check` until it holds or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// The value of an unlabelled series in a Prometheus text exposition (0 when absent).
pub fn metric_value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

/// Two distinct free loopback ports for a server binary's `--addr` and `--metrics-addr`.
///
/// Both listeners stay open until both ports are known: asking twice in a row with the
/// first listener already dropped may hand back the same port, and the binary then fails
/// with "Address already in use".
pub fn free_ports() -> (u16, u16) {
    let bind = || std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let (a, b) = (bind(), bind());
    let port = |l: &std::net::TcpListener| l.local_addr().expect("local addr").port();
    (port(&a), port(&b))
}

/// A rustls client configuration trusting only the test CA.
pub fn tls_client_config(ca_pem: &str, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("ca pem")).expect("add root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(cfg)
}

/// A raw TLS connection to a test server (HTTP/1.1 by ALPN), for tests that speak bytes.
pub async fn raw_tls(
    base: &str,
    ca_pem: &str,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let port = base.rsplit(':').next().expect("port");
    let tcp = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .expect("connect");
    let connector =
        tokio_rustls::TlsConnector::from(tls_client_config(ca_pem, &[b"http/1.1".as_slice()]));
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    connector.connect(name, tcp).await.expect("handshake")
}

/// Read until the peer closes (`Ok(bytes read)`) or `limit` passes (`Err(())`).
pub async fn read_until_closed<R: tokio::io::AsyncRead + Unpin>(
    stream: &mut R,
    limit: Duration,
) -> Result<Vec<u8>, ()> {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(limit, read).await.map_err(|_| ())?;
    Ok(out)
}

/// Copy the repository's allowed-repos template and its example constraint into `dir`: a
/// small, good policy set that denies images from untrusted registries.
pub fn copy_allowed_repos(dir: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    std::fs::copy(
        root.join("library/k8sallowedrepos.yaml"),
        dir.join("allowedrepos.yaml"),
    )
    .expect("template");
    std::fs::copy(
        root.join("examples/allowed-repos.yaml"),
        dir.join("allowed-repos.yaml"),
    )
    .expect("constraint");
}
