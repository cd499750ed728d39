//! Regular expressions as policies mean them, compiled once and shared.
//!
//! Rego (OPA) and Kubernetes CEL both run Go's RE2, so a pattern is read as RE2 reads it,
//! not as Rust's `regex` does by default ([`go_pattern`]): `\d`, `\w`, `\s` and `\b` are
//! ASCII-only in Go, and a `{` that does not start a repetition is a literal. Compiling
//! builds a lazy DFA and costs tens of microseconds, far more than a match, so both engines
//! share one bounded cache of compiled patterns ([`compiled`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use regex::{Regex, RegexBuilder};

/// regorus's limit on a compiled program (bytes): bounds compile time and memory alike.
pub(crate) const SIZE_LIMIT: usize = 100 * 1024;

/// Distinct patterns kept. Constraint parameters are user input, so the cache must not grow
/// without bound; when full it is emptied and refilled, which costs one compilation per
/// pattern still in use and needs no bookkeeping on the hit path.
pub(crate) const CAPACITY: usize = 512;

/// Why a pattern could not be used.
pub(crate) enum Bad {
    /// Not a valid pattern: the builtin's answer is undefined.
    Syntax,
    /// Over [`SIZE_LIMIT`]: regorus raises this even in non-strict mode, so do we.
    TooBig,
}

/// The compiled form of `pattern`, from the cache when it was compiled before.
/// The cached `Regex` is shared behind an `Arc` rather than cloned: a clone of a `Regex`
/// gets a pool of matching caches of its own, so its first search allocates a fresh cache
/// (lazy DFA and all), which cost more than the match. The shared one keeps its warm
/// caches. The lock is held only for the lookup or the insert, never while compiling.
pub(crate) fn compiled(pattern: &str) -> Result<Arc<Regex>, Bad> {
    static CACHE: OnceLock<Mutex<HashMap<Box<str>, Arc<Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    // A poisoned lock only means another thread panicked mid-insert; the map is still valid.
    let lock = || {
        cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    };
    if let Some(re) = lock().get(pattern) {
        return Ok(Arc::clone(re));
    }
    let re = RegexBuilder::new(&go_pattern(pattern))
        .size_limit(SIZE_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => Bad::TooBig,
            _ => Bad::Syntax,
        })?;
    let re = Arc::new(re);
    let mut map = lock();
    if map.len() >= CAPACITY {
        map.clear();
    }
    map.insert(pattern.into(), Arc::clone(&re));
    Ok(re)
}

/// `\d`, `\w`, `\s` (and their negations) as Go's RE2 defines them: ASCII only (`\s` is
/// `[\t\n\f\r ]`, without `\v`). The first form stands alone, the second inside a class.
fn perl_class(c: char) -> Option<(&'static str, &'static str)> {
    Some(match c {
        'd' => ("[0-9]", "0-9"),
        'D' => ("[^0-9]", "[^0-9]"),
        'w' => ("[0-9A-Za-z_]", "0-9A-Za-z_"),
        'W' => ("[^0-9A-Za-z_]", "[^0-9A-Za-z_]"),
        's' => (r"[\t\n\f\r ]", r"\t\n\f\r "),
        'S' => (r"[^\t\n\f\r ]", r"[^\t\n\f\r ]"),
        _ => return None,
    })
}

/// Whether `rest` (the text after a `{`) is a repetition `n}`, `n,}` or `n,m}` as Go reads
/// it; otherwise Go takes the `{` as a literal, where Rust's `regex` refuses the pattern.
fn is_repetition(rest: &str) -> bool {
    let Some(end) = rest.find('}') else {
        return false;
    };
    let body = &rest[..end];
    let (min, max) = body.split_once(',').unwrap_or((body, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(min) && (max.is_empty() || digits(max))
}

/// A Go (RE2) pattern rewritten into the Rust `regex` pattern that matches the same
/// strings: the Perl classes and word boundaries made ASCII-only, a `{` that is not a
/// repetition escaped. Everything else (Unicode classes `\pL`, POSIX classes, flags) reads
/// the same in both. The rewrite is linear and adds at most a few bytes per escape, so the
/// size limit still bounds what is compiled.
pub(crate) fn go_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    // Depth of `[` classes open (nested POSIX classes such as `[[:alpha:]]` count too).
    let mut class = 0usize;
    let mut chars = pattern.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                let Some((_, e)) = chars.next() else {
                    out.push('\\');
                    break;
                };
                match (perl_class(e), e) {
                    (Some((alone, inside)), _) => {
                        out.push_str(if class > 0 { inside } else { alone })
                    }
                    (None, 'b' | 'B') if class == 0 => {
                        out.push_str(if e == 'b' { r"(?-u:\b)" } else { r"(?-u:\B)" });
                    }
                    (None, 'Q') => {
                        // `\Q...\E`: a literal text, which Rust's `regex` does not know.
                        let rest = &pattern[i + 2..];
                        let (lit, after) = rest.split_once(r"\E").unwrap_or((rest, ""));
                        out.push_str(&regex::escape(lit));
                        let skip = pattern.len() - after.len();
                        while chars.peek().is_some_and(|&(j, _)| j < skip) {
                            chars.next();
                        }
                    }
                    _ => {
                        out.push('\\');
                        out.push(e);
                    }
                }
            }
            '[' => {
                if class > 0 && pattern[i..].starts_with("[:") {
                    // A POSIX class inside a class: copy it through its `:]`.
                    let len = pattern[i + 2..].find(":]").map_or(1, |n| n + 4);
                    out.push_str(&pattern[i..i + len]);
                    while chars.peek().is_some_and(|&(j, _)| j < i + len) {
                        chars.next();
                    }
                    continue;
                }
                out.push('[');
                if class == 0 {
                    class = 1;
                    // A `]` first in the class (after an optional `^`) is a literal.
                    if chars.peek().is_some_and(|&(_, n)| n == '^') {
                        chars.next();
                        out.push('^');
                    }
                    if chars.peek().is_some_and(|&(_, n)| n == ']') {
                        chars.next();
                        out.push_str(r"\]");
                    }
                } else {
                    // Go reads a `[` inside a class as a literal; Rust as a nested class.
                    out.pop();
                    out.push_str(r"\[");
                }
            }
            ']' if class > 0 => {
                class = 0;
                out.push(']');
            }
            '{' if class == 0 => {
                if is_repetition(&pattern[i + 1..]) {
                    // Copy the repetition through its `}`.
                    let len = pattern[i..].find('}').map_or(1, |n| n + 1);
                    out.push_str(&pattern[i..i + len]);
                    while chars.peek().is_some_and(|&(j, _)| j < i + len) {
                        chars.next();
                    }
                } else {
                    out.push_str(r"\{");
                }
            }
            '}' if class == 0 => out.push_str(r"\}"),
            '&' | '~' if class > 0 => {
                // Rust gives `&&` and `~~` inside a class a meaning Go does not.
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}
