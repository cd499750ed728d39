//! A keyed 128-bit fingerprint of a JSON value, to tell whether a pass of mutators ended
//! where it began without keeping a copy of the object as it began.
//!
//! The fixed-point loop stops when a pass changes nothing or when its changes cancel out
//! (two mutators setting the same field in turn). Checking the second meant copying the
//! whole object at the start of every pass that changed something: one deep copy per pass
//! on top of the working copy, which for a tenant's object of a million list elements is
//! hundreds of megabytes. The fingerprint is computed in one paced walk and takes 16
//! bytes. It is a 128-bit SipHash-1-3 digest with a key drawn at random once per process,
//! so a tenant, who never sees the key, cannot build an object whose fingerprint collides;
//! the chance of an accidental collision is 2⁻¹²⁸. (One 128-bit digest reads each byte
//! once; the two 64-bit digests it replaced read every byte twice.)
//!
//! Equal values always have equal fingerprints: numbers are hashed by the same variant and
//! value that `serde_json`'s `==` compares, and object fields in their stored order, which
//! is the sorted order of `serde_json`'s default map. Only `-0.0` against `0.0` (equal
//! under `==`, different bits) gives a different fingerprint, which can cost one more pass
//! but never ends the loop early.

use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

use serde_json::Value;
use siphasher::sip128::{Hasher128, SipHasher13};

use crate::deadline::{DeadlineExceeded, Pacer};

/// The hasher's key, drawn once per process (from the standard library's random hasher
/// state, which is seeded from the system's random source).
fn key() -> (u64, u64) {
    static KEY: OnceLock<(u64, u64)> = OnceLock::new();
    *KEY.get_or_init(|| {
        let seed = std::hash::RandomState::new();
        (seed.hash_one(0u8), seed.hash_one(1u8))
    })
}

/// The fingerprint of `value`; every node is a step of `pacer`.
///
/// # Errors
/// [`DeadlineExceeded`] when the pacer's deadline passes during the walk.
pub fn fingerprint(value: &Value, pacer: &Pacer) -> Result<u128, DeadlineExceeded> {
    let (k0, k1) = key();
    let mut sink = Sink {
        hasher: SipHasher13::new_with_keys(k0, k1),
        buffer: [0; BUFFER],
        len: 0,
    };
    feed(value, &mut sink, pacer)?;
    sink.flush();
    Ok(sink.hasher.finish128().as_u128())
}

/// Bytes gathered before the hasher sees them.
const BUFFER: usize = 256;

/// The hasher behind a buffer. A walk feeds many pieces of a few bytes (tags, lengths,
/// short keys); SipHash's cost per call dominates at that size, so pieces are gathered and
/// handed over in blocks. The hasher reads a byte stream, so the digest does not depend on
/// where the blocks are cut.
struct Sink {
    hasher: SipHasher13,
    buffer: [u8; BUFFER],
    len: usize,
}

impl Sink {
    fn flush(&mut self) {
        self.hasher.write(&self.buffer[..self.len]);
        self.len = 0;
    }

    fn bytes(&mut self, b: &[u8]) {
        if self.len + b.len() > BUFFER {
            self.flush();
            if b.len() > BUFFER {
                self.hasher.write(b);
                return;
            }
        }
        self.buffer[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
    }

    fn word(&mut self, n: u64) {
        self.bytes(&n.to_le_bytes());
    }
}

/// Each node is a tag byte and its contents, lengths first, so two different values never
/// feed the same byte sequence.
fn feed(v: &Value, h: &mut Sink, pacer: &Pacer) -> Result<(), DeadlineExceeded> {
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
    fn long_strings_and_many_small_pieces_hash_as_one_stream() {
        // Strings across the buffer's edge, longer than it, and many short pieces.
        let long = "x".repeat(3 * BUFFER + 7);
        let v = json!({"a": [long.clone(), "y".repeat(BUFFER - 3), 1, 2, {"b": long}]});
        assert_eq!(fp(&v), fp(&v.clone()));
        let mut changed = v.clone();
        changed["a"][0] = json!("x".repeat(3 * BUFFER + 6) + "z");
        assert_ne!(fp(&v), fp(&changed));
        // The digest is that of the stream, whatever the block boundaries.
        let (k0, k1) = key();
        let mut sink = Sink {
            hasher: SipHasher13::new_with_keys(k0, k1),
            buffer: [0; BUFFER],
            len: 0,
        };
        let mut whole = SipHasher13::new_with_keys(k0, k1);
        for piece in [&b"ab"[..], &[7; 300], b"c", &[9; 255], b"d"] {
            sink.bytes(piece);
            whole.write(piece);
        }
        sink.flush();
        assert_eq!(sink.hasher.finish128(), whole.finish128());
    }

    #[test]
    fn stops_at_the_deadline() {
        let big = Value::Array((0..10_000).map(|i| json!(i)).collect());
        let past = Deadline::at(Instant::now() - Duration::from_millis(1));
        assert_eq!(fingerprint(&big, &past.pacer()), Err(DeadlineExceeded));
    }
}
