//! Bounding text that came from outside before it goes into answers and logs.
//!
//! Object names, kinds, image references and whole messages are chosen by whoever sends the
//! request; echoing them unbounded would let one request write megabytes into the API
//! server's answer, its events and this server's logs.

#![deny(clippy::indexing_slicing)]

use std::borrow::Cow;

/// Longest piece of request-controlled text put into a log line or an error message.
pub const MAX_FIELD_CHARS: usize = 256;

/// `s` cut to at most `max` characters, with an ellipsis when cut.
pub fn clip(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        Some((at, _)) => Cow::Owned(format!("{}…", &s[..at])),
        None => Cow::Borrowed(s),
    }
}

/// A request field cut to [`MAX_FIELD_CHARS`] for logs and errors.
pub fn field(s: &str) -> Cow<'_, str> {
    clip(s, MAX_FIELD_CHARS)
}

/// Cut `s` in place to at most `max` characters, ending it with an ellipsis when cut.
pub fn truncate(s: &mut String, max: usize) {
    if let Some((at, _)) = s.char_indices().nth(max) {
        s.truncate(at);
        s.push('…');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_on_character_boundaries() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcd", 3), "abc…");
        assert_eq!(clip("ééé", 2), "éé…");
        let mut s = "x".repeat(10);
        truncate(&mut s, 4);
        assert_eq!(s, "xxxx…");
        assert_eq!(
            field(&"y".repeat(10_000)).chars().count(),
            MAX_FIELD_CHARS + 1
        );
    }
}
