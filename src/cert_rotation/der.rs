//! The few fields of an X.509 certificate that renewal decisions need (validity end,
//! issuer and subject names), read with the `x509-cert` crate's strict DER decoder: the
//! certificates come from a Secret anyone with write access to it could have edited, so
//! anything malformed is refused, never trusted in part.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// What renewal needs to know of a certificate.
#[derive(Debug, Clone, PartialEq)]
pub struct CertInfo {
    /// End of validity.
    pub not_after: time::OffsetDateTime,
    /// The issuer's name (DER), to match a certificate to the CA that signed it.
    pub issuer: Vec<u8>,
    /// The subject's name (DER).
    pub subject: Vec<u8>,
}

/// Every certificate of a PEM text, in order; `None` if any block is not a certificate
/// this reader understands.
pub fn parse_pem(pem: &str) -> Option<Vec<CertInfo>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .map(|der| der.ok().and_then(|d| parse(d.as_ref())))
        .collect()
}

/// The first certificate of a PEM text.
pub fn first(pem: &str) -> Option<CertInfo> {
    parse_pem(pem).and_then(|v| v.into_iter().next())
}

/// Read one certificate (the whole input must be the certificate).
pub fn parse(der: &[u8]) -> Option<CertInfo> {
    use x509_cert::der::{Decode, Encode};
    let cert = x509_cert::Certificate::from_der(der).ok()?;
    let tbs = &cert.tbs_certificate;
    let seconds = tbs.validity.not_after.to_unix_duration().as_secs();
    Some(CertInfo {
        not_after: time::OffsetDateTime::from_unix_timestamp(i64::try_from(seconds).ok()?).ok()?,
        issuer: tbs.issuer.to_der().ok()?,
        subject: tbs.subject.to_der().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_end_of_validity_and_the_names_of_generated_certificates() {
        let ca = crate::certs::generate_ca(time::Duration::days(3650)).unwrap();
        let (leaf, _) =
            crate::certs::sign_serving(&ca.key_pem, &[], time::Duration::days(30)).unwrap();
        let ca_info = first(&ca.cert_pem).unwrap();
        let leaf_info = first(&leaf).unwrap();
        let now = time::OffsetDateTime::now_utc();
        let days = |t: time::OffsetDateTime| (t - now).whole_days();
        assert!(
            (3649..=3650).contains(&days(ca_info.not_after)),
            "{ca_info:?}"
        );
        assert!((29..=30).contains(&days(leaf_info.not_after)));
        assert_eq!(leaf_info.issuer, ca_info.subject, "the leaf names its CA");
        assert_eq!(ca_info.issuer, ca_info.subject, "the CA is self-signed");
        assert_ne!(leaf_info.subject, ca_info.subject);
    }

    #[test]
    fn garbage_and_truncation_are_refused_without_panic() {
        let ca = crate::certs::generate_ca(time::Duration::days(1)).unwrap();
        let der = CertificateDer::from_pem_slice(ca.cert_pem.as_bytes()).unwrap();
        let bytes = der.as_ref();
        for len in 0..bytes.len() {
            assert!(parse(&bytes[..len]).is_none(), "truncated at {len}");
        }
        assert!(parse(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_none());
        assert!(parse_pem("not pem").is_some_and(|v| v.is_empty()));
        assert!(first("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").is_none());
    }
}
