//! The few fields of an X.509 certificate that renewal decisions need (validity end,
//! issuer and subject names), read from its DER with bounds checked at every step: the
//! certificates come from a Secret anyone with write access to it could have edited.

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

/// Read one certificate.
pub fn parse(der: &[u8]) -> Option<CertInfo> {
    let (tag, cert, _) = tlv(der)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, tbs, _) = tlv(cert)?;
    if tag != SEQUENCE {
        return None;
    }
    let mut rest = tbs;
    let (mut tag, mut value, mut next) = tlv(rest)?;
    if tag == VERSION {
        rest = next;
        (tag, value, next) = tlv(rest)?;
    }
    let _serial = (tag == INTEGER).then_some(value)?;
    let (_, _signature_algorithm, next) = tlv(next)?;
    let issuer_start = next;
    let (_, _, after_issuer) = tlv(next)?;
    let issuer = issuer_start.get(..issuer_start.len() - after_issuer.len())?;
    let (tag, validity, next) = tlv(after_issuer)?;
    if tag != SEQUENCE {
        return None;
    }
    let (_, _, after_not_before) = tlv(validity)?;
    let (time_tag, not_after, _) = tlv(after_not_before)?;
    let not_after = parse_time(time_tag, not_after)?;
    let (_, _, after_subject) = tlv(next)?;
    let subject = next.get(..next.len() - after_subject.len())?;
    Some(CertInfo {
        not_after,
        issuer: issuer.to_vec(),
        subject: subject.to_vec(),
    })
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
/// `[0] EXPLICIT Version`.
const VERSION: u8 = 0xa0;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// One tag-length-value: (tag, value, what follows). Single-byte tags only, which is all
/// a certificate's outer structure uses; definite lengths only, as DER requires.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let bytes = rest.get(..n)?;
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, rest.get(n..)?)
    };
    Some((tag, rest.get(..len)?, rest.get(len..)?))
}

/// `UTCTime` (`YYMMDDHHMMSSZ`, years 1950–2049) or `GeneralizedTime` (`YYYYMMDDHHMMSSZ`).
fn parse_time(tag: u8, value: &[u8]) -> Option<time::OffsetDateTime> {
    let text = std::str::from_utf8(value).ok()?;
    let digits = text.strip_suffix('Z')?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |range: std::ops::Range<usize>| digits.get(range)?.parse::<i32>().ok();
    let (year, rest) = match (tag, digits.len()) {
        (UTC_TIME, 12) => {
            let yy = num(0..2)?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, 2)
        }
        (GENERALIZED_TIME, 14) => (num(0..4)?, 4),
        _ => return None,
    };
    let field = |i: usize| num(rest + 2 * i..rest + 2 * i + 2);
    let month = time::Month::try_from(u8::try_from(field(0)?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(year, month, u8::try_from(field(1)?).ok()?).ok()?;
    let clock = time::Time::from_hms(
        u8::try_from(field(2)?).ok()?,
        u8::try_from(field(3)?).ok()?,
        u8::try_from(field(4)?).ok()?,
    )
    .ok()?;
    Some(time::PrimitiveDateTime::new(date, clock).assume_utc())
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
    fn both_time_forms_parse() {
        let utc = parse_time(UTC_TIME, b"491231235959Z").unwrap();
        assert_eq!(utc.year(), 2049);
        let utc = parse_time(UTC_TIME, b"500101000000Z").unwrap();
        assert_eq!(utc.year(), 1950);
        let gen = parse_time(GENERALIZED_TIME, b"20610315120000Z").unwrap();
        assert_eq!((gen.year(), gen.month() as u8, gen.day()), (2061, 3, 15));
        assert!(parse_time(UTC_TIME, b"491331235959Z").is_none(), "month 13");
        assert!(parse_time(UTC_TIME, b"4912312359+0Z").is_none());
        assert!(parse_time(GENERALIZED_TIME, b"491231235959Z").is_none());
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
