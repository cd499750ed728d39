//! Certificate material for the webhook: a CA and a serving certificate signed by it.
//!
//! kube-apiserver verifies the webhook against the `caBundle` of its configuration, so the
//! CA is what an operator pastes there; the serving certificate can then be rotated without
//! touching the webhook configuration.

#![deny(clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// Errors of making, reading or writing certificates.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// Key or certificate generation failed.
    #[error("certificate generation failed: {0}")]
    Generate(String),
    /// A certificate or key file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
}

/// PEM-encoded CA and serving certificate with its key.
#[derive(Debug, Clone)]
pub struct CertBundle {
    /// The CA certificate (the webhook configuration's caBundle).
    pub ca_pem: String,
    /// The serving certificate.
    pub cert_pem: String,
    /// The serving certificate's private key (PKCS#8).
    pub key_pem: String,
    /// When the serving certificate expires (`YYYY-MM-DD`, UTC).
    pub not_after: String,
}

/// File names inside a certificate directory, as Kubernetes TLS secrets name them.
pub const CA_FILE: &str = "ca.crt";
/// Serving certificate file name.
pub const CERT_FILE: &str = "tls.crt";
/// Serving key file name.
pub const KEY_FILE: &str = "tls.key";

fn gen_err(e: rcgen::Error) -> CertError {
    CertError::Generate(e.to_string())
}

/// Validity of certificates made without an explicit `--days`.
pub const DEFAULT_VALIDITY_DAYS: u32 = 365;

/// Make a new CA and a serving certificate for `localhost`, `127.0.0.1`, `::1` and every
/// name in `dns_names` (IP literals become IP SANs), valid for
/// [`DEFAULT_VALIDITY_DAYS`] from now.
pub fn generate(dns_names: &[String]) -> Result<CertBundle, CertError> {
    generate_valid_for(dns_names, DEFAULT_VALIDITY_DAYS)
}

/// [`generate`] with the serving certificate valid for `days` from now (the CA a day
/// longer, so the pair never expires CA first). Validity starts five minutes back, for
/// clients whose clocks run a little behind.
pub fn generate_valid_for(dns_names: &[String], days: u32) -> Result<CertBundle, CertError> {
    let now = time::OffsetDateTime::now_utc();
    let not_before = now - time::Duration::minutes(5);
    let not_after = now + time::Duration::days(i64::from(days.max(1)));
    let ca_key = KeyPair::generate().map_err(gen_err)?;
    let ca_params = ca_params(&ca_key, not_before, not_after + time::Duration::days(1))?;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(gen_err)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let (leaf_cert, leaf_key) = serving(&issuer, dns_names, not_before, not_after)?;
    Ok(CertBundle {
        ca_pem: ca_cert.pem(),
        cert_pem: leaf_cert,
        key_pem: leaf_key,
        not_after: not_after.date().to_string(),
    })
}

/// The parameters of a CA certificate for `ca_key`. Everything a signed certificate takes
/// from its issuer (subject name, key identifier, key usages) follows from the key alone,
/// so the CA can sign again later from its stored key (see [`sign_serving`]).
fn ca_params(
    ca_key: &KeyPair,
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
) -> Result<CertificateParams, CertError> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(gen_err)?;
    let mut ca_dn = DistinguishedName::new();
    // While a CA is rotated, clients trust the old and the new one at once (the caBundle
    // holds both). With one subject name for both, clients that pick the issuer by name
    // (OpenSSL) may try the wrong CA and fail the signature check; a name of its own per
    // CA, and the authority key identifier in the leaf, let every client find the issuer.
    let tag: String = ca_key
        .public_key_raw()
        .iter()
        .rev()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    ca_dn.push(DnType::CommonName, format!("portcullis webhook CA {tag}"));
    ca_params.distinguished_name = ca_dn;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.not_before = not_before;
    ca_params.not_after = not_after;
    Ok(ca_params)
}

/// A serving certificate and its key (PEM) for `localhost`, `127.0.0.1`, `::1` and
/// `dns_names`, signed by `issuer`.
fn serving(
    issuer: &Issuer<'_, KeyPair>,
    dns_names: &[String],
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
) -> Result<(String, String), CertError> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    for n in dns_names {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    let leaf_key = KeyPair::generate().map_err(gen_err)?;
    let mut leaf = CertificateParams::new(names.clone()).map_err(gen_err)?;
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        names.last().cloned().unwrap_or_else(|| "localhost".into()),
    );
    leaf.distinguished_name = dn;
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    leaf.not_before = not_before;
    leaf.not_after = not_after;
    let leaf_cert = leaf.signed_by(&leaf_key, issuer).map_err(gen_err)?;
    Ok((leaf_cert.pem(), leaf_key.serialize_pem()))
}

/// A CA certificate and its private key (PEM), for in-process certificate rotation, which
/// keeps the key to sign later serving certificates.
#[derive(Debug, Clone)]
pub struct CaMaterial {
    /// The CA certificate.
    pub cert_pem: String,
    /// Its private key (PKCS#8).
    pub key_pem: String,
}

/// Clients with a clock a little behind must already accept a new certificate.
const BACKDATE: time::Duration = time::Duration::minutes(5);

/// A new CA valid for `valid_for` from now.
pub fn generate_ca(valid_for: time::Duration) -> Result<CaMaterial, CertError> {
    let now = time::OffsetDateTime::now_utc();
    let key = KeyPair::generate().map_err(gen_err)?;
    let params = ca_params(&key, now - BACKDATE, now + valid_for)?;
    let cert = params.self_signed(&key).map_err(gen_err)?;
    Ok(CaMaterial {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A serving certificate and key (PEM) for `dns_names` (besides the loopback names), valid
/// for `valid_for` from now, signed by the CA whose key is `ca_key_pem` (as made by
/// [`generate_ca`]).
pub fn sign_serving(
    ca_key_pem: &str,
    dns_names: &[String],
    valid_for: time::Duration,
) -> Result<(String, String), CertError> {
    let now = time::OffsetDateTime::now_utc();
    let ca_key = KeyPair::from_pem(ca_key_pem).map_err(gen_err)?;
    // The dates of these parameters are not used: only the CA's name, key identifier and
    // usages go into the signed certificate.
    let params = ca_params(&ca_key, now, now)?;
    let issuer = Issuer::new(params, ca_key);
    serving(&issuer, dns_names, now - BACKDATE, now + valid_for)
}

impl CertBundle {
    /// The caBundle value for a webhook configuration: base64 of the CA PEM.
    pub fn ca_bundle(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.ca_pem.as_bytes())
    }

    /// Write `ca.crt`, `tls.crt` and `tls.key` into `dir` (created if needed; the key 0600).
    pub fn write_to(&self, dir: &Path) -> Result<(), CertError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CertError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        for (name, body) in [
            (CA_FILE, &self.ca_pem),
            (CERT_FILE, &self.cert_pem),
            (KEY_FILE, &self.key_pem),
        ] {
            let path = dir.join(name);
            write_private(&path, body.as_bytes(), name == KEY_FILE).map_err(io(&path))?;
        }
        Ok(())
    }
}

fn write_private(path: &Path, body: &[u8], private: bool) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        std::io::Write::write_all(&mut f, body)?;
    }
    #[cfg(not(unix))]
    let _ = private;
    // Rename so a watcher never sees a half-written file.
    std::fs::rename(&tmp, path)
}

/// Use `dir/tls.crt` + `dir/tls.key` when both exist; otherwise generate a CA and serving
/// certificate for `dns_names`, write them there and return them. Returns the paths of the
/// certificate and key, and whether they were generated.
pub fn ensure_dir(dir: &Path, dns_names: &[String]) -> Result<(PathBuf, PathBuf, bool), CertError> {
    let cert = dir.join(CERT_FILE);
    let key = dir.join(KEY_FILE);
    if cert.exists() && key.exists() {
        return Ok((cert, key, false));
    }
    generate(dns_names)?.write_to(dir)?;
    Ok((cert, key, true))
}

#[cfg(test)]
mod validity_tests {
    #[test]
    fn validity_is_counted_from_now() {
        let b = super::generate_valid_for(&[], 30).expect("generates");
        let today = time::OffsetDateTime::now_utc().date();
        let expected = (today + time::Duration::days(30)).to_string();
        let next = (today + time::Duration::days(31)).to_string();
        assert!(
            b.not_after == expected || b.not_after == next,
            "{} not 30 days from {today}",
            b.not_after
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_parseable_chain_with_requested_names() {
        let b = generate(&["portcullis.portcullis-system.svc".into()]).expect("generate");
        assert!(b.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(b.key_pem.contains("PRIVATE KEY"));
        use rustls_pki_types::pem::PemObject;
        let der = rustls_pki_types::CertificateDer::from_pem_slice(b.cert_pem.as_bytes())
            .expect("leaf parses");
        // The DNS name is encoded verbatim in the SAN extension.
        let raw = der.as_ref();
        let needle = b"portcullis.portcullis-system.svc";
        assert!(raw.windows(needle.len()).any(|w| w == needle));
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b.ca_bundle())
            .expect("base64");
        assert_eq!(decoded, b.ca_pem.as_bytes());
    }

    /// During a rotation clients trust two CAs; OpenSSL (as in Python, curl and most
    /// sidecars) must verify either leaf against the pair in either order.
    #[test]
    fn leaves_verify_against_both_cas_of_a_rotation_in_openssl() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = generate(&[]).expect("old");
        let new = generate(&[]).expect("new");
        assert_ne!(old.ca_pem, new.ca_pem);
        for (name, first, second) in [("a", &old, &new), ("b", &new, &old)] {
            let trust = dir.path().join(format!("trust-{name}.pem"));
            std::fs::write(&trust, format!("{}{}", first.ca_pem, second.ca_pem)).expect("write");
            for (i, bundle) in [&old, &new].iter().enumerate() {
                let leaf = dir.path().join(format!("leaf-{name}-{i}.pem"));
                std::fs::write(&leaf, &bundle.cert_pem).expect("write");
                let out = std::process::Command::new("openssl")
                    .arg("verify")
                    .arg("-CAfile")
                    .arg(&trust)
                    .arg(&leaf)
                    .output()
                    .expect("the openssl command line tool runs");
                assert!(
                    out.status.success(),
                    "order {name}, leaf {i}: {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }

    #[test]
    fn ensure_dir_keeps_existing_material() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_, _, made) = ensure_dir(dir.path(), &[]).expect("first");
        assert!(made);
        let before = std::fs::read(dir.path().join(CERT_FILE)).expect("read");
        let (_, _, made) = ensure_dir(dir.path(), &[]).expect("second");
        assert!(!made);
        assert_eq!(
            before,
            std::fs::read(dir.path().join(CERT_FILE)).expect("read")
        );
    }
}
