//! The certificate material kept in the rotation Secret, and when and how it is renewed
//! (pure: the time is passed in).
//!
//! The Secret is a `kubernetes.io/tls` Secret with:
//!
//! - `tls.crt`, `tls.key`: the serving certificate and key every replica serves;
//! - `ca.crt`: the trust bundle written into the webhook configurations' `caBundle`: the
//!   CA that signs now first, then the previous CA while a CA rotation is under way, so
//!   that replicas still serving a certificate of the old CA stay trusted until they have
//!   picked up the new one;
//! - `ca.key`: the signing CA's key, so that serving certificates are renewed under the
//!   same CA without touching the webhook configurations.
//!
//! Renewal follows the defaults of Gatekeeper's certificate rotator: a CA valid ten years, a
//! serving certificate valid one year, each renewed once less than 90 days remain.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;

use super::der::{self, CertInfo};
use crate::certs::{self, CertError};

/// `ca.crt`: the trust bundle.
pub const CA_BUNDLE_KEY: &str = "ca.crt";
/// `ca.key`: the signing CA's key.
pub const CA_KEY_KEY: &str = "ca.key";
/// `tls.crt`: the serving certificate.
pub const CERT_KEY: &str = "tls.crt";
/// `tls.key`: the serving key.
pub const KEY_KEY: &str = "tls.key";

/// Validity of a new CA (Gatekeeper's: ten years).
pub const DEFAULT_CA_VALIDITY: time::Duration = time::Duration::days(3650);
/// Validity of a new serving certificate (Gatekeeper's: one year).
pub const DEFAULT_CERT_VALIDITY: time::Duration = time::Duration::days(365);
/// Renew a certificate once less than this remains (Gatekeeper's: 90 days).
pub const DEFAULT_LOOKAHEAD: time::Duration = time::Duration::days(90);

/// How long certificates live and when they are renewed.
#[derive(Debug, Clone, Copy)]
pub struct Validity {
    /// A new CA's validity.
    pub ca: time::Duration,
    /// A new serving certificate's validity (cut to the CA's remaining validity).
    pub cert: time::Duration,
    /// Renew once less than this remains.
    pub lookahead: time::Duration,
}

impl Default for Validity {
    fn default() -> Self {
        Validity {
            ca: DEFAULT_CA_VALIDITY,
            cert: DEFAULT_CERT_VALIDITY,
            lookahead: DEFAULT_LOOKAHEAD,
        }
    }
}

impl Validity {
    /// Refuse a lookahead that would renew a new certificate at once, forever.
    ///
    /// # Errors
    /// What is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.lookahead >= self.cert || self.lookahead >= self.ca {
            return Err(
                "the renewal lookahead must be shorter than the CA's and the certificate's validity"
                    .into(),
            );
        }
        if self.lookahead <= time::Duration::ZERO {
            return Err("the renewal lookahead must be more than 0".into());
        }
        Ok(())
    }
}

/// The Secret's certificate material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Material {
    /// CA certificates (PEM), the signing CA first.
    pub bundle: Vec<String>,
    /// The signing CA's key.
    pub ca_key: String,
    /// The serving certificate.
    pub cert: String,
    /// The serving key.
    pub key: String,
}

/// What a check decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// Nothing to do.
    Keep,
    /// A new serving certificate under the same CA.
    Serving,
    /// A new CA and serving certificate; the old CA stays in the bundle.
    Ca,
}

impl Material {
    /// New material: a CA and a serving certificate for `dns_names`.
    pub fn create(dns_names: &[String], validity: Validity) -> Result<Self, CertError> {
        let ca = certs::generate_ca(validity.ca)?;
        let (cert, key) = certs::sign_serving(&ca.key_pem, dns_names, validity.cert)?;
        Ok(Material {
            bundle: vec![ca.cert_pem],
            ca_key: ca.key_pem,
            cert,
            key,
        })
    }

    /// Read the material of a Secret's data; `None` if anything is missing or unreadable.
    pub fn from_data(data: &BTreeMap<String, ByteString>) -> Option<Self> {
        let text = |k: &str| {
            data.get(k)
                .and_then(|b| String::from_utf8(b.0.clone()).ok())
                .filter(|s| !s.trim().is_empty())
        };
        let bundle = split_pem(&text(CA_BUNDLE_KEY)?);
        if bundle.is_empty() {
            return None;
        }
        Some(Material {
            bundle,
            ca_key: text(CA_KEY_KEY)?,
            cert: text(CERT_KEY)?,
            key: text(KEY_KEY)?,
        })
    }

    /// The Secret's data.
    pub fn to_data(&self) -> BTreeMap<String, ByteString> {
        let bytes = |s: &str| ByteString(s.as_bytes().to_vec());
        BTreeMap::from([
            (CA_BUNDLE_KEY.to_string(), bytes(&self.bundle_pem())),
            (CA_KEY_KEY.to_string(), bytes(&self.ca_key)),
            (CERT_KEY.to_string(), bytes(&self.cert)),
            (KEY_KEY.to_string(), bytes(&self.key)),
        ])
    }

    /// The trust bundle as one PEM text.
    pub fn bundle_pem(&self) -> String {
        self.bundle.concat()
    }

    /// What to renew at `now`, for a certificate that must name `dns_names`.
    pub fn renewal(
        &self,
        now: time::OffsetDateTime,
        lookahead: time::Duration,
        dns_names_ok: bool,
    ) -> Renewal {
        let Some(ca) = self.bundle.first().and_then(|c| der::first(c)) else {
            return Renewal::Ca;
        };
        if ca.not_after - now < lookahead {
            return Renewal::Ca;
        }
        let Some(leaf) = der::first(&self.cert) else {
            return Renewal::Serving;
        };
        if leaf.issuer != ca.subject || leaf.not_after - now < lookahead || !dns_names_ok {
            return Renewal::Serving;
        }
        if crate::server::tls::server_config(self.cert.as_bytes(), self.key.as_bytes()).is_err() {
            return Renewal::Serving;
        }
        Renewal::Keep
    }

    /// The material after `renewal` at `now`.
    pub fn renewed(
        &self,
        renewal: Renewal,
        dns_names: &[String],
        validity: Validity,
        now: time::OffsetDateTime,
    ) -> Result<Self, CertError> {
        match renewal {
            Renewal::Keep => Ok(self.clone()),
            Renewal::Serving => {
                // Never past the CA's own end.
                let ca_left = self
                    .bundle
                    .first()
                    .and_then(|c| der::first(c))
                    .map_or(validity.cert, |ca| ca.not_after - now);
                let (cert, key) =
                    certs::sign_serving(&self.ca_key, dns_names, validity.cert.min(ca_left))?;
                Ok(Material {
                    bundle: live(&self.bundle, now),
                    ca_key: self.ca_key.clone(),
                    cert,
                    key,
                })
            }
            Renewal::Ca => {
                let mut next = Material::create(dns_names, validity)?;
                // The CA being replaced stays trusted while replicas switch over; older
                // ones go.
                if let Some(old) = self.bundle.first() {
                    if is_live(old, now) && !next.bundle.contains(old) {
                        next.bundle.push(old.clone());
                    }
                }
                Ok(next)
            }
        }
    }
}

/// The CA a Secret not made by rotation holds in `ca.crt` (as Helm's `generate` mode or
/// `portcullis cert` write it), if readable and not expired: kept in the new bundle while
/// replicas move from its certificate to the new one.
pub fn previous_cas(data: &BTreeMap<String, ByteString>, now: time::OffsetDateTime) -> Vec<String> {
    data.get(CA_BUNDLE_KEY)
        .and_then(|b| std::str::from_utf8(&b.0).ok())
        .map(split_pem)
        .unwrap_or_default()
        .into_iter()
        .filter(|c| is_live(c, now))
        .take(1)
        .collect()
}

/// Whether a certificate is readable and not expired at `now`.
fn is_live(pem: &str, now: time::OffsetDateTime) -> bool {
    der::first(pem).is_some_and(|c: CertInfo| c.not_after > now)
}

/// The certificates of a bundle that have not expired (the signing CA is kept regardless:
/// a bundle is never empty).
fn live(bundle: &[String], now: time::OffsetDateTime) -> Vec<String> {
    bundle
        .iter()
        .enumerate()
        .filter(|(i, c)| *i == 0 || is_live(c, now))
        .map(|(_, c)| c.clone())
        .collect()
}

/// The PEM blocks of a text, each with its trailing newline.
pub fn split_pem(text: &str) -> Vec<String> {
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let Some(tail) = rest.get(start..) else { break };
        let Some(end) = tail.find(END) else { break };
        let block_end = end + END.len();
        if let Some(block) = tail.get(..block_end) {
            out.push(format!("{block}\n"));
        }
        rest = tail.get(block_end..).unwrap_or("");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc()
    }

    fn fresh() -> Material {
        Material::create(&["svc.ns.svc".into()], Validity::default()).unwrap()
    }

    #[test]
    fn fresh_material_is_kept_and_round_trips_through_secret_data() {
        let m = fresh();
        assert_eq!(m.renewal(now(), DEFAULT_LOOKAHEAD, true), Renewal::Keep);
        assert_eq!(Material::from_data(&m.to_data()), Some(m.clone()));
        let mut partial = m.to_data();
        partial.remove(CA_KEY_KEY);
        assert_eq!(Material::from_data(&partial), None);
    }

    #[test]
    fn certificates_are_renewed_within_the_lookahead() {
        let m = fresh();
        // 300 days on, the one-year serving certificate has 65 days left.
        let later = now() + time::Duration::days(300);
        assert_eq!(m.renewal(later, DEFAULT_LOOKAHEAD, true), Renewal::Serving);
        // 3600 days on, the ten-year CA has 50 days left: it is due itself.
        let much_later = now() + time::Duration::days(3600);
        assert_eq!(m.renewal(much_later, DEFAULT_LOOKAHEAD, true), Renewal::Ca);
        assert_eq!(m.renewal(now(), DEFAULT_LOOKAHEAD, false), Renewal::Serving);
    }

    #[test]
    fn serving_renewal_keeps_the_ca_and_ca_renewal_keeps_the_old_ca_trusted() {
        let m = fresh();
        let names = ["svc.ns.svc".to_string()];
        let serving = m
            .renewed(Renewal::Serving, &names, Validity::default(), now())
            .unwrap();
        assert_eq!(serving.bundle, m.bundle);
        assert_eq!(serving.ca_key, m.ca_key);
        assert_ne!(serving.cert, m.cert);
        assert_eq!(
            serving.renewal(now(), DEFAULT_LOOKAHEAD, true),
            Renewal::Keep
        );
        let leaf = der::first(&serving.cert).unwrap();
        assert_eq!(leaf.issuer, der::first(&m.bundle[0]).unwrap().subject);

        let rotated = m
            .renewed(Renewal::Ca, &names, Validity::default(), now())
            .unwrap();
        assert_eq!(rotated.bundle.len(), 2);
        assert_eq!(rotated.bundle[1], m.bundle[0], "the old CA stays trusted");
        assert_ne!(rotated.bundle[0], m.bundle[0]);
        assert_eq!(
            rotated.renewal(now(), DEFAULT_LOOKAHEAD, true),
            Renewal::Keep
        );
        // A second rotation drops the oldest CA.
        let again = rotated
            .renewed(Renewal::Ca, &names, Validity::default(), now())
            .unwrap();
        assert_eq!(again.bundle.len(), 2);
        assert_eq!(again.bundle[1], rotated.bundle[0]);
    }

    #[test]
    fn a_broken_or_foreign_pair_is_renewed() {
        let m = fresh();
        let other = fresh();
        let mut foreign = m.clone();
        foreign.cert = other.cert.clone();
        foreign.key = other.key.clone();
        assert_eq!(
            foreign.renewal(now(), DEFAULT_LOOKAHEAD, true),
            Renewal::Serving
        );
        let mut mismatched = m.clone();
        mismatched.key = other.key;
        assert_eq!(
            mismatched.renewal(now(), DEFAULT_LOOKAHEAD, true),
            Renewal::Serving
        );
        let mut garbage = m;
        garbage.bundle = vec!["junk".into()];
        assert_eq!(garbage.renewal(now(), DEFAULT_LOOKAHEAD, true), Renewal::Ca);
    }

    #[test]
    fn a_foreign_secrets_ca_stays_trusted_and_junk_is_dropped() {
        let helm = crate::certs::generate(&[]).unwrap();
        let data = BTreeMap::from([
            (
                CA_BUNDLE_KEY.to_string(),
                ByteString(helm.ca_pem.clone().into_bytes()),
            ),
            (CERT_KEY.to_string(), ByteString(helm.cert_pem.into_bytes())),
        ]);
        assert_eq!(
            Material::from_data(&data),
            None,
            "no ca.key: not rotation's"
        );
        assert_eq!(previous_cas(&data, now()), vec![helm.ca_pem]);
        assert!(previous_cas(&data, now() + time::Duration::days(400)).is_empty());
        let junk = BTreeMap::from([(CA_BUNDLE_KEY.to_string(), ByteString(b"junk".to_vec()))]);
        assert!(previous_cas(&junk, now()).is_empty());
    }

    #[test]
    fn lookahead_must_be_shorter_than_validity() {
        Validity::default().validate().unwrap();
        let bad = Validity {
            lookahead: time::Duration::days(400),
            ..Validity::default()
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn pem_blocks_split() {
        let a = fresh();
        let b = fresh();
        let text = format!("{}{}", a.bundle[0], b.bundle[0]);
        assert_eq!(
            split_pem(&text),
            vec![a.bundle[0].clone(), b.bundle[0].clone()]
        );
        assert!(split_pem("nothing").is_empty());
    }
}
