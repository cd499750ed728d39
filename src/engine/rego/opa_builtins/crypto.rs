//! The `crypto.*` digests and HMACs, on `ring` (MD5, which `ring` lacks, on [`super::md5`]).

use regorus::Value;

use super::string;

fn hex(bytes: &[u8]) -> Value {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    Value::from(out)
}

/// `crypto.sha1` / `crypto.sha256`: the lowercase hex digest of a string's bytes.
pub(super) fn digest(
    a: &[Value],
    algorithm: &'static ring::digest::Algorithm,
) -> anyhow::Result<Value> {
    Ok(match string(a.first()) {
        Some(s) => hex(ring::digest::digest(algorithm, s.as_bytes()).as_ref()),
        None => Value::Undefined,
    })
}

/// `crypto.hmac.*(message, key)`: the lowercase hex HMAC.
pub(super) fn hmac(a: &[Value], algorithm: ring::hmac::Algorithm) -> anyhow::Result<Value> {
    let (Some(message), Some(key)) = (string(a.first()), string(a.get(1))) else {
        return Ok(Value::Undefined);
    };
    let key = ring::hmac::Key::new(algorithm, key.as_bytes());
    Ok(hex(ring::hmac::sign(&key, message.as_bytes()).as_ref()))
}

/// `crypto.hmac.equal(a, b)`: the two strings' bytes compared in constant time.
pub(super) fn hmac_equal(a: &[Value]) -> anyhow::Result<Value> {
    let (Some(x), Some(y)) = (string(a.first()), string(a.get(1))) else {
        return Ok(Value::Undefined);
    };
    let (x, y) = (x.as_bytes(), y.as_bytes());
    // As Go's `hmac.Equal`: lengths may leak, contents do not.
    let same = x.len() == y.len() && x.iter().zip(y).fold(0u8, |d, (p, q)| d | (p ^ q)) == 0;
    Ok(Value::Bool(same))
}

/// `crypto.md5`: the lowercase hex MD5 digest of a string's bytes.
pub(super) fn md5(a: &[Value]) -> anyhow::Result<Value> {
    Ok(match string(a.first()) {
        Some(s) => hex(&super::md5::md5(s.as_bytes())),
        None => Value::Undefined,
    })
}

/// `crypto.hmac.md5(message, key)`: the lowercase hex HMAC-MD5.
pub(super) fn hmac_md5(a: &[Value]) -> anyhow::Result<Value> {
    let (Some(message), Some(key)) = (string(a.first()), string(a.get(1))) else {
        return Ok(Value::Undefined);
    };
    Ok(hex(&super::md5::hmac_md5(
        key.as_bytes(),
        message.as_bytes(),
    )))
}
