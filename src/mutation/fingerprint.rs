//! A keyed 128-bit fingerprint of a JSON value, to tell whether a pass of mutators ended
//! where it began without keeping a copy of the object as it began.
//!
//! The fixed-point loop stops when a pass changes nothing or when its changes cancel out
//! (two mutators setting the same field in turn). Checking the second meant copying the
//! whole object at the start of every pass that changed something: one deep copy per pass
//! on top of the working copy, which for a tenant's object of a million list elements is
//! hundreds of megabytes. The fingerprint is computed in one paced walk and takes 16
//! bytes. It is made of two SipHash digests with keys drawn at random once per process, so
//! a tenant, who never sees the keys, cannot build an object whose fingerprint collides;
//! the chance of an accidental collision is 2⁻¹²⁸.
//!
//! Equal values always have equal fingerprints: numbers are hashed by the same variant and
//! value that `serde_json`'s `==` compares, and object fields in their stored order, which
//! is the sorted order of `serde_json`'s default map. Only `-0.0` against `0.0` (equal
//! under `==`, different bits) gives a different fingerprint, which can cost one more pass
//! but never ends the loop early.

use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

use serde_json::Value;

use crate::deadline::{DeadlineExceeded, Pacer};

/// The two hashers' keys, drawn once per process.
fn keys() -> &'static (std::hash::RandomState, std::hash::RandomState) {
    static KEYS: OnceLock<(std::hash::RandomState, std::hash::RandomState)> = OnceLock::new();
    KEYS.get_or_init(|| (std::hash::RandomState::new(), std::hash::RandomState::new()))
}

/// The fingerprint of `value`; every node is a step of `pacer`.
///
/// # Errors
/// [`DeadlineExceeded`] when the pacer's deadline passes during the walk.
pub fn fingerprint(value: &Value, pacer: &Pacer) -> Result<u128, DeadlineExceeded> {
    let (a, b) = keys();
    let mut pair = Pair(a.build_hasher(), b.build_hasher());
    feed(value, &mut pair, pacer)?;
    Ok((u128::from(pair.0.finish()) << 64) | u128::from(pair.1.finish()))
}

/// Both hashers, fed the same bytes.
struct Pair<H>(H, H);

impl<H: Hasher> Pair<H> {
    fn bytes(&mut self, b: &[u8]) {
        self.0.write(b);
        self.1.write(b);
    }

    fn word(&mut self, n: u64) {
        self.bytes(&n.to_le_bytes());
    }
}

/// Each node is a tag byte and its contents, lengths first, so two different values never
/// feed the same byte sequence.
fn feed<H: Hasher>(v: &Value, h: &mut Pair<H>, pacer: &Pacer) -> Result<(), DeadlineExceeded> {
    pacer.tick()?;
    match v {
        Value::Null => h.bytes(&[0]),
        Value::Bool(b) => h.bytes(&[1, u8::from(*b)]),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                h.bytes(&[2]);
                h.word(u);
            } else if let Some(i) = n.as_i64() {
                h.bytes(&[3]);
                h.word(u64::from_le_bytes(i.to_le_bytes()));
            } else {
                h.bytes(&[4]);
                h.word(n.as_f64().unwrap_or(0.0).to_bits());
            }
        }
        Value::String(s) => {
            h.bytes(&[5]);
            h.word(s.len() as u64);
            h.bytes(s.as_bytes());
        }
        Value::Array(items) => {
            h.bytes(&[6]);
            h.word(items.len() as u64);
            for item in items {
                feed(item, h, pacer)?;
            }
        }
        Value::Object(map) => {
            h.bytes(&[7]);
            h.word(map.len() as u64);
            for (k, item) in map {
                h.word(k.len() as u64);
                h.bytes(k.as_bytes());
                feed(item, h, pacer)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use serde_json::json;

    use super::*;
    use crate::deadline::Deadline;

    fn fp(v: &Value) -> u128 {
        match fingerprint(v, &Deadline::NONE.pacer()) {
            Ok(f) => f,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn equal_values_agree_and_different_ones_differ() {
        let a = json!({"spec": {"containers": [{"name": "a", "n": 1}], "x": null}});
        assert_eq!(fp(&a), fp(&a.clone()));
        for other in [
            json!({"spec": {"containers": [{"name": "a", "n": 2}], "x": null}}),
            json!({"spec": {"containers": [{"name": "a", "n": 1.0}], "x": null}}),
            json!({"spec": {"containers": [{"name": "a", "n": -1}], "x": null}}),
            json!({"spec": {"containers": [{"name": "a", "n": "1"}], "x": null}}),
            json!({"spec": {"containers": [{"name": "a", "n": 1}], "x": false}}),
            json!({"spec": {"containers": [{"name": "a", "n": 1}, {}], "x": null}}),
            json!({"spec": {"containers": [{"name": "a", "n": 1}]}}),
        ] {
            assert_ne!(fp(&a), fp(&other), "{other}");
        }
        // Lengths come first: moving a character between strings changes the fingerprint.
        assert_ne!(fp(&json!(["ab", "c"])), fp(&json!(["a", "bc"])));
        assert_ne!(fp(&json!({"ab": "c"})), fp(&json!({"a": "bc"})));
    }

    #[test]
    fn stops_at_the_deadline() {
        let big = Value::Array((0..10_000).map(|i| json!(i)).collect());
        let past = Deadline::at(Instant::now() - Duration::from_millis(1));
        assert_eq!(fingerprint(&big, &past.pacer()), Err(DeadlineExceeded));
    }
}
