//! rustls server configuration (ring provider, TLS 1.2 and 1.3, ALPN h2 + http/1.1) and
//! in-place reload when the certificate or key file changes, so that cert-manager or a
//! Secret update rotates the serving certificate without a restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// TLS setup errors.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The PEM content is unusable (the one PEM error of the crate: `certs` only writes PEM,
    /// reading it is TLS setup's business).
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// rustls refused the certificate/key pair.
    #[error("TLS configuration rejected: {0}")]
    Config(String),
}

/// The serving TLS configuration, swapped in place when the certificate is reloaded: every
/// new connection takes the current one, connections already open keep theirs.
#[derive(Debug, Clone)]
pub struct TlsHandle(Arc<ArcSwap<ServerConfig>>);

impl TlsHandle {
    /// A handle serving `config`.
    pub fn new(config: ServerConfig) -> Self {
        TlsHandle(Arc::new(ArcSwap::from_pointee(config)))
    }

    /// The configuration for a new connection.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.0.load_full()
    }

    /// Serve `config` from now on.
    pub fn replace(&self, config: ServerConfig) {
        self.0.store(Arc::new(config));
    }
}

/// Build a rustls server configuration from PEM certificate chain and key.
pub fn server_config(cert_pem: &[u8], key_pem: &[u8]) -> Result<ServerConfig, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Config(format!("certificate PEM: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::Config("no certificate in PEM".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| TlsError::Config(format!("private key PEM: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Load the configuration from certificate and key files.
pub fn load_files(cert: &Path, key: &Path) -> Result<ServerConfig, TlsError> {
    let c = read(cert)?;
    let k = read(key)?;
    server_config(&c, &k).map_err(|e| TlsError::Pem {
        path: cert.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Watch the certificate and key and reload `config` in place when they change. A broken
/// pair is logged and the previous certificate keeps serving. The returned watcher must be
/// kept alive. Polling every `poll` is the fallback for file systems without events.
pub fn watch(
    cert: PathBuf,
    key: PathBuf,
    config: TlsHandle,
    poll: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut last = fingerprint(&[&cert, &key]);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
        let dirs: Vec<PathBuf> = [&cert, &key]
            .iter()
            .filter_map(|p| p.parent().map(Path::to_path_buf))
            .collect();
        let _watcher = crate::sources::watch_dirs(&dirs, tx);
        loop {
            tokio::select! {
                _ = rx.recv() => {}
                _ = tokio::time::sleep(poll) => {}
            }
            // Let writers finish a burst of changes (Secret updates swap several files).
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = fingerprint(&[&cert, &key]);
            if now == last {
                continue;
            }
            last = now;
            match load_files(&cert, &key) {
                Ok(c) => {
                    config.replace(c);
                    tracing::info!(cert = %cert.display(), "serving certificate reloaded");
                }
                Err(e) => {
                    tracing::error!(error = %e, "certificate reload rejected; previous certificate keeps serving")
                }
            }
        }
    })
}

/// Content hash of the files, so that touching without change does not reload.
fn fingerprint(paths: &[&PathBuf]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for p in paths {
        std::fs::read(p).ok().hash(&mut h);
    }
    h.finish()
}
