//! A single pass over a request body that says how much decoding it will cost, before any
//! of that cost is paid.
//!
//! A JSON body decodes into a tree whose size depends less on the body's bytes than on how
//! many values it holds: `[{},{},…]` spends about 80 bytes of tree on every 3 bytes of
//! body. Counting values first lets the server refuse a body of millions of tiny values, and
//! reserve memory for the others in proportion to what they will really take.

/// What a body will cost to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonSize {
    /// An upper bound on the number of JSON values (objects, arrays, scalars; object keys
    /// are counted with their values).
    pub values: usize,
    /// Objects with at least one member: each costs a map node of several hundred bytes.
    pub objects: usize,
    /// An estimate of the memory of the decoded tree, in bytes.
    pub estimated_bytes: usize,
}

/// Bytes of decoded tree per counted value, on top of the body's own bytes (strings are
/// copied once): a 32-byte value plus the slack of growing arrays (measured: 87 bytes per
/// element of `[1,1,…]` at the allocator's peak).
pub const BYTES_PER_VALUE: usize = 96;

/// Bytes per non-empty object: its first map node (measured: about 540 bytes on bodies of
/// one-key objects, the worst case per body byte at 80 times the body).
pub const BYTES_PER_OBJECT: usize = 576;

/// Count the values of `body` without decoding it. Every value but the outermost either
/// follows a `,` or is the first in its container, whose opening `{` or `[` counts it (an
/// empty container counts one too many), so the count bounds the number of values from
/// above. Malformed JSON is measured the same way and refused later by the decoder.
pub fn measure(body: &[u8]) -> JsonSize {
    let mut values: usize = 1;
    let mut objects: usize = 0;
    let mut in_string = false;
    let mut escaped = false;
    // Just after a `{`: is the object empty?
    let mut opened = false;
    for &b in body {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        if opened && !b.is_ascii_whitespace() {
            opened = false;
            if b != b'}' {
                objects += 1;
            }
        }
        match b {
            b'"' => in_string = true,
            b'{' => {
                values += 1;
                opened = true;
            }
            b'[' | b',' => values += 1,
            _ => {}
        }
    }
    JsonSize {
        values,
        objects,
        estimated_bytes: body
            .len()
            .saturating_add(values.saturating_mul(BYTES_PER_VALUE))
            .saturating_add(objects.saturating_mul(BYTES_PER_OBJECT)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(s: &str) -> usize {
        measure(s.as_bytes()).values
    }

    #[test]
    fn counts_values_outside_strings_as_an_upper_bound() {
        assert_eq!(count("1"), 1);
        assert_eq!(count("[1,2,3]"), 4);
        assert_eq!(count(r#"{"a":1,"b":[true,null]}"#), 5);
        assert_eq!(
            count(r#"{"a,b":"[{,}]"}"#),
            2,
            "structure inside strings is text"
        );
        assert_eq!(
            count(r#"["a\"[,", 1]"#),
            3,
            "escaped quotes do not end strings"
        );
        assert_eq!(count(r#"["\\", 1]"#), 3, "an escaped backslash does");
        let empties = format!("[{}]", vec!["{}"; 1000].join(","));
        assert_eq!(
            count(&empties),
            2 + 1000 + 999,
            "the array, its first element, and 999 more"
        );
    }

    #[test]
    fn counts_non_empty_objects() {
        let m = measure(br#"[{}, { }, {"a":1}, { "b": {}}]"#);
        assert_eq!(m.objects, 2);
    }

    #[test]
    fn estimate_covers_the_decoded_tree() {
        let body = format!("[{}]", vec!["{}"; 10_000].join(","));
        let size = measure(body.as_bytes());
        // 10,001 values of at least 32 bytes each in the tree.
        assert!(size.estimated_bytes > 10_001 * 32, "{size:?}");
    }
}
