//! Gatekeeper's wildcard patterns for `namespaces`, `excludedNamespaces` and `name`.
//!
//! A pattern is a literal with an optional `*` at its start, its end, or both:
//! `kube-*` is a prefix test, `*-system` a suffix test, `*gate*` a substring test and a
//! pattern without `*` must equal the candidate. Gatekeeper's CRDs restrict patterns to
//! `^\*?[-:a-z0-9]*\*?$`; [`validate_glob`] enforces the same rule so a policy accepted here
//! is one the Gatekeeper API server would also accept.

use super::plan::{str_ends_with, str_eq, str_starts_with};

/// Gatekeeper's namespace/name wildcard: exact, or one `*` at the start or the end.
///
/// Used on the hot path, so it never allocates: it only slices the pattern.
pub fn glob_match(pattern: &str, value: &str) -> bool {
    let leading = pattern.strip_prefix('*');
    let trailing = pattern.strip_suffix('*');
    match (leading, trailing) {
        // `*` alone, `**` and `*text*`: substring test (the empty core matches anything).
        (Some(rest), Some(_)) => {
            let core = rest.strip_suffix('*').unwrap_or(rest);
            value.contains(core)
        }
        (Some(suffix), None) => value.ends_with(suffix),
        (None, Some(prefix)) => value.starts_with(prefix),
        (None, None) => pattern == value,
    }
}

/// Gatekeeper's rule for a name created from `metadata.generateName`: only a pattern with a
/// trailing `*` can match it, because the API server appends random characters to the end.
/// A leading-only or exact pattern never matches a generated name's prefix.
pub fn glob_match_generate_name(pattern: &str, generate_name: &str) -> bool {
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(rest), Some(_)) => {
            let core = rest.strip_suffix('*').unwrap_or(rest);
            generate_name.contains(core)
        }
        (None, Some(prefix)) => generate_name.starts_with(prefix),
        _ => false,
    }
}

/// A pattern with its wildcard shape decided at load, so matching a request is one slice
/// comparison ([`str_eq`]) instead of re-parsing the pattern and calling `memcmp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Glob {
    /// No `*`: the candidate must equal it.
    Exact(String),
    /// A trailing `*`: the candidate must start with it.
    Prefix(String),
    /// A leading `*`: the candidate must end with it.
    Suffix(String),
    /// Both (or a lone `*`/`**`, whose empty core is in every candidate).
    Contains(String),
}

impl Glob {
    /// Classify a pattern the way [`glob_match`] reads it.
    pub(super) fn compile(pattern: &str) -> Self {
        match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
            (Some(rest), Some(_)) => {
                Glob::Contains(rest.strip_suffix('*').unwrap_or(rest).to_string())
            }
            (Some(suffix), None) => Glob::Suffix(suffix.to_string()),
            (None, Some(prefix)) => Glob::Prefix(prefix.to_string()),
            (None, None) => Glob::Exact(pattern.to_string()),
        }
    }

    /// Same answer as [`glob_match`] on the source pattern.
    #[inline]
    pub(super) fn matches(&self, value: &str) -> bool {
        match self {
            Glob::Exact(p) => str_eq(p, value),
            Glob::Prefix(p) => str_starts_with(value, p),
            Glob::Suffix(p) => str_ends_with(value, p),
            Glob::Contains(p) => p.is_empty() || value.contains(p.as_str()),
        }
    }

    /// Same answer as [`glob_match_generate_name`] on the source pattern.
    pub(super) fn matches_generate_name(&self, generate_name: &str) -> bool {
        match self {
            Glob::Contains(p) => generate_name.contains(p.as_str()),
            Glob::Prefix(p) => str_starts_with(generate_name, p),
            Glob::Exact(_) | Glob::Suffix(_) => false,
        }
    }
}

/// Reject a pattern Gatekeeper's CRD schema would refuse: a `*` anywhere but the first or
/// last position, or a character outside `-`, `:`, lowercase ASCII letters and digits.
/// Checked once at load time so matching can stay a cheap string test.
pub fn validate_glob(pattern: &str) -> Result<(), String> {
    let core = pattern.strip_prefix('*').unwrap_or(pattern);
    let core = core.strip_suffix('*').unwrap_or(core);
    if let Some(bad) = core
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == ':'))
    {
        if bad == '*' {
            return Err(format!(
                "pattern {pattern:?}: `*` is only allowed at the start or the end"
            ));
        }
        return Err(format!(
            "pattern {pattern:?}: character {bad:?} is not allowed (use lowercase letters, \
             digits, `-`, `:` and a leading or trailing `*`)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_patterns_need_equality() {
        assert!(glob_match("kube-system", "kube-system"));
        assert!(!glob_match("kube-system", "gatekeeper-system"));
        assert!(!glob_match("kube-", "kube-system"));
        assert!(!glob_match("-kube-", "test-kube-test"));
        assert!(glob_match("", ""));
        assert!(!glob_match("", "default"));
    }

    #[test]
    fn trailing_star_is_a_prefix_test() {
        assert!(glob_match("kube-*", "kube-system"));
        assert!(glob_match("kube-*", "kube-"));
        assert!(!glob_match("kube-*", "gatekeeper-system"));
        assert!(!glob_match("kube-*", "kube"));
    }

    #[test]
    fn leading_star_is_a_suffix_test() {
        assert!(glob_match("*-system", "kube-system"));
        assert!(!glob_match("*-system", "kube-public"));
        assert!(!glob_match("*-system", "system"));
    }

    #[test]
    fn both_stars_are_a_substring_test() {
        assert!(glob_match("*-kube-*", "test-kube-test"));
        assert!(!glob_match("*-kube-*", "my-kub-controller"));
        assert!(glob_match("*--*", "my--namespace"));
        assert!(glob_match("*kube*", "kube"));
    }

    #[test]
    fn lone_stars_match_everything() {
        for pattern in ["*", "**"] {
            assert!(glob_match(pattern, ""));
            assert!(glob_match(pattern, "my:namespace"));
        }
    }

    #[test]
    fn generate_name_needs_a_trailing_star() {
        assert!(glob_match_generate_name("kube-*", "kube-"));
        assert!(glob_match_generate_name("kube-*", "kube-system-"));
        assert!(!glob_match_generate_name("kube-*", "gatekeeper-"));
        assert!(!glob_match_generate_name("*-system", "kube-system"));
        assert!(!glob_match_generate_name("kube-system", "kube-system"));
        assert!(glob_match_generate_name("*kube*", "my-kube-"));
        assert!(glob_match_generate_name("*", ""));
        assert!(!glob_match_generate_name("", ""));
    }

    #[test]
    fn compiled_globs_agree_with_the_string_forms() {
        let patterns = [
            "",
            "*",
            "**",
            "kube-*",
            "*-system",
            "*kube*",
            "kube-system",
            "*--*",
            "k",
            "-",
        ];
        let values = [
            "",
            "kube",
            "kube-",
            "kube-system",
            "my-kube-",
            "test-kube-test",
            "system",
            "k",
            "my--ns",
            "-",
            "é-system",
        ];
        for p in patterns {
            let g = Glob::compile(p);
            for v in values {
                assert_eq!(g.matches(v), glob_match(p, v), "{p:?} on {v:?}");
                assert_eq!(
                    g.matches_generate_name(v),
                    glob_match_generate_name(p, v),
                    "{p:?} on generateName {v:?}"
                );
            }
        }
    }

    #[test]
    fn validation_accepts_gatekeeper_patterns() {
        for ok in [
            "", "*", "**", "kube-*", "*-system", "*kube*", "a:b", "ns-1", "x",
        ] {
            assert_eq!(validate_glob(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn validation_rejects_inner_stars_and_odd_characters() {
        for bad in ["ku*be", "***", "*a*b*", "a**"] {
            let err = validate_glob(bad).unwrap_err();
            assert!(err.contains("start or the end"), "{bad}: {err}");
        }
        for bad in ["Kube", "a.b", "a_b", "a b", "ns/x", "é"] {
            let err = validate_glob(bad).unwrap_err();
            assert!(err.contains("not allowed"), "{bad}: {err}");
        }
    }
}
