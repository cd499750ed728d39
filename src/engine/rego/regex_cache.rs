//! `regex.*` builtins backed by a process-wide cache of compiled patterns.
//!
//! regorus 0.14 only caches compiled regexes when built with its `cache` feature, which this
//! crate leaves off; without it every `regex.match` call compiles its pattern again. Compiling
//! builds a lazy DFA and costs tens of microseconds, far more than the match itself: the
//! `canonify_cpu`/`canonify_mem` helpers of `k8scontainerlimits` call `regex.match` several
//! times per container, and compilation was about a quarter of that template's time. The
//! patterns a policy uses are few and fixed (literals in the template, or constraint
//! parameters), so a small cache hits almost always.
//!
//! The extensions below replace the builtins that compile a pattern and keep their regorus
//! semantics exactly, as seen from a non-strict engine (the only kind this crate builds):
//! the same `regex` crate and size limit, a wrong argument type or an invalid pattern gives
//! undefined, and a pattern over the size limit is a hard error. An undefined argument never
//! reaches an extension: the interpreter answers undefined itself.
//!
//! Patterns are read as Go's RE2 (which OPA runs) reads them, through the cache the CEL
//! engine shares ([`crate::engine::regex`]). `regex.template_match` is OPA's: the
//! template becomes one regex anchored at both ends ([`template_regex`]).

use regex::{Regex, RegexBuilder};

use crate::engine::regex::{compiled, go_pattern, Bad, SIZE_LIMIT};
use regorus::{Engine, Value};

/// The result of a builtin whose pattern is `pattern`, computed by `then` on the compiled
/// regex; undefined for a non-string pattern or a bad one, an error over the size limit.
fn with_pattern(pattern: &Value, then: impl FnOnce(&Regex) -> Value) -> anyhow::Result<Value> {
    let Value::String(pattern) = pattern else {
        return Ok(Value::Undefined);
    };
    match compiled(pattern) {
        Ok(re) => Ok(then(&re)),
        Err(Bad::Syntax) => Ok(Value::Undefined),
        Err(Bad::TooBig) => {
            anyhow::bail!("regex: pattern exceeds the compiled size limit of {SIZE_LIMIT} bytes")
        }
    }
}

/// `n` of `regex.find_n` and friends: a negative count means all matches; a count that is
/// not an integer makes the call undefined (checked after the pattern, as regorus does).
fn count(n: &Value) -> Option<usize> {
    let Value::Number(n) = n else { return None };
    if !n.is_integer() {
        return None;
    }
    Some(match n.as_i64() {
        Some(i) if i >= 0 => usize::try_from(i).unwrap_or(usize::MAX),
        _ => usize::MAX,
    })
}

fn strings<'a>(items: impl Iterator<Item = &'a str>) -> Value {
    Value::from(items.map(Value::from).collect::<Vec<_>>())
}

/// `regex.match(pattern, value)`.
fn regex_match(args: &[Value]) -> anyhow::Result<Value> {
    let [pattern, Value::String(value)] = args else {
        return Ok(Value::Undefined);
    };
    with_pattern(pattern, |re| Value::Bool(re.is_match(value)))
}

/// `regex.find_n(pattern, value, n)`: up to `n` matched substrings.
fn find_n(args: &[Value]) -> anyhow::Result<Value> {
    let [pattern, Value::String(value), n @ Value::Number(_)] = args else {
        return Ok(Value::Undefined);
    };
    with_pattern(pattern, |re| match count(n) {
        Some(n) => strings(re.find_iter(value).take(n).map(|m| m.as_str())),
        None => Value::Undefined,
    })
}

/// `regex.find_all_string_submatch_n(pattern, value, n)`: up to `n` matches, each as the
/// array of its groups (an unmatched group is the empty string).
fn find_all_submatch_n(args: &[Value]) -> anyhow::Result<Value> {
    let [pattern, Value::String(value), n @ Value::Number(_)] = args else {
        return Ok(Value::Undefined);
    };
    with_pattern(pattern, |re| {
        let Some(n) = count(n) else {
            return Value::Undefined;
        };
        let matches = re
            .captures_iter(value)
            .take(n)
            .map(|c| strings(c.iter().map(|g| g.map_or("", |m| m.as_str()))))
            .collect::<Vec<_>>();
        Value::from(matches)
    })
}

/// `regex.split(pattern, value)`.
fn split(args: &[Value]) -> anyhow::Result<Value> {
    let [pattern, Value::String(value)] = args else {
        return Ok(Value::Undefined);
    };
    with_pattern(pattern, |re| strings(re.split(value)))
}

/// `regex.replace(value, pattern, replacement)`: every match replaced, `$name` expanded.
fn replace(args: &[Value]) -> anyhow::Result<Value> {
    let [Value::String(value), pattern, Value::String(with)] = args else {
        return Ok(Value::Undefined);
    };
    with_pattern(pattern, |re| {
        Value::from(re.replace_all(value, with.as_ref()).as_ref())
    })
}

/// The regex OPA builds for `regex.template_match(template, _, start, end)`: the text
/// outside the (single-byte) delimiters quoted, each delimited part a group, anchored at
/// both ends; delimiters nest, and the outermost pairs delimit. `None` where OPA raises an
/// error (a delimiter that is not one byte, unbalanced delimiters, a part that is not a
/// valid pattern on its own), which is undefined with non-strict builtin errors.
fn template_regex(template: &str, start: &str, end: &str) -> Option<Vec<String>> {
    let ([open], [close]) = (start.as_bytes(), end.as_bytes()) else {
        return None;
    };
    let (mut level, mut from) = (0i64, 0usize);
    let mut parts = Vec::new();
    for (i, b) in template.bytes().enumerate() {
        if b == *open {
            level += 1;
            if level == 1 {
                from = i;
            }
        } else if b == *close {
            level -= 1;
            if level == 0 {
                parts.push((from, i + 1));
            } else if level < 0 {
                return None;
            }
        }
    }
    if level != 0 {
        return None;
    }
    // The patterns to compile: each part alone (as OPA checks them), then the whole.
    let mut patterns = Vec::with_capacity(parts.len() + 1);
    let mut whole = String::from("^");
    let mut done = 0usize;
    for (a, b) in parts {
        // Single-byte delimiters that are not ASCII would split a character.
        let inner = template.get(a + 1..b - 1)?;
        whole.push_str(&regex::escape(template.get(done..a)?));
        whole.push('(');
        whole.push_str(inner);
        whole.push(')');
        patterns.push(format!("^{inner}$"));
        done = b;
    }
    whole.push_str(&regex::escape(template.get(done..)?));
    whole.push('$');
    patterns.push(whole);
    Some(patterns)
}

/// `regex.template_match(template, value, start, end)`.
fn template_match(args: &[Value]) -> anyhow::Result<Value> {
    let [Value::String(template), Value::String(value), Value::String(start), Value::String(end)] =
        args
    else {
        return Ok(Value::Undefined);
    };
    let Some(mut patterns) = template_regex(template, start, end) else {
        return Ok(Value::Undefined);
    };
    let Some(whole) = patterns.pop() else {
        return Ok(Value::Undefined);
    };
    // The whole pattern first: it bounds the parts' total size. Each part is then checked
    // alone, as OPA does, without filling the cache with patterns used once.
    let answer = with_pattern(&Value::from(whole.as_str()), |re| {
        Value::Bool(re.is_match(value))
    })?;
    let parts_valid = patterns.iter().all(|p| {
        RegexBuilder::new(&go_pattern(p))
            .size_limit(SIZE_LIMIT)
            .build()
            .is_ok()
    });
    Ok(if parts_valid {
        answer
    } else {
        Value::Undefined
    })
}

/// `regex.match` on plain strings, for the compiled evaluator: `None` for an invalid
/// pattern (undefined), an error over the size limit, as [`regex_match`].
pub(super) fn is_match(pattern: &str, value: &str) -> anyhow::Result<Option<bool>> {
    match compiled(pattern) {
        Ok(re) => Ok(Some(re.is_match(value))),
        Err(Bad::Syntax) => Ok(None),
        Err(Bad::TooBig) => {
            anyhow::bail!("regex: pattern exceeds the compiled size limit of {SIZE_LIMIT} bytes")
        }
    }
}

/// Run the override named `name` on regorus values (undefined for an unknown name).
pub(super) fn call(name: &str, args: &[Value]) -> anyhow::Result<Value> {
    match BUILTINS
        .iter()
        .find(|(n, nargs, _)| *n == name && usize::from(*nargs) == args.len())
    {
        Some((_, _, run)) => run(args),
        None => Ok(Value::Undefined),
    }
}

/// The number of arguments of the override named `name`, if there is one.
pub(super) fn arity(name: &str) -> Option<usize> {
    BUILTINS
        .iter()
        .find(|b| b.0 == name)
        .map(|b| usize::from(b.1))
}

/// One overridden builtin: its name, number of arguments and implementation.
type Builtin = (&'static str, u8, fn(&[Value]) -> anyhow::Result<Value>);

const BUILTINS: [Builtin; 7] = [
    ("regex.match", 2, regex_match),
    // OPA's deprecated name for `regex.match`, registered on the same function.
    ("re_match", 2, regex_match),
    ("regex.find_n", 3, find_n),
    ("regex.find_all_string_submatch_n", 3, find_all_submatch_n),
    ("regex.split", 2, split),
    ("regex.replace", 3, replace),
    ("regex.template_match", 4, template_match),
];

/// Register the cached `regex.*` builtins on an engine (extensions win over builtins).
pub(super) fn register(engine: &mut Engine) -> anyhow::Result<()> {
    for (name, nargs, run) in BUILTINS {
        engine.add_extension(
            name.to_string(),
            nargs,
            Box::new(move |args: Vec<Value>| run(&args)),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::regex::CAPACITY;

    fn s(x: &str) -> Value {
        Value::from(x)
    }

    #[test]
    fn match_and_bad_arguments() {
        let m = |p: &str, v: &str| regex_match(&[s(p), s(v)]).ok();
        assert_eq!(m("^[0-9]+(\\.[0-9]+)?$", "2.5"), Some(Value::Bool(true)));
        assert_eq!(m("^[0-9]+(\\.[0-9]+)?$", "2Gi"), Some(Value::Bool(false)));
        // Invalid pattern and wrong types are undefined, as in a non-strict engine.
        assert_eq!(m("(", "x"), Some(Value::Undefined));
        let typed = regex_match(&[s("a"), Value::from(1i64)]).ok();
        assert_eq!(typed, Some(Value::Undefined));
        // A pattern over the size limit is an error, not a silent `false`.
        assert!(regex_match(&[s("\\w{1000}\\w{1000}\\w{1000}"), s("x")]).is_err());
    }

    #[test]
    fn find_split_replace() {
        let all = find_n(&[s("[0-9]+"), s("a1b22c333"), Value::from(-1i64)]).ok();
        assert_eq!(all, Some(strings(["1", "22", "333"].into_iter())));
        let two = find_n(&[s("[0-9]+"), s("a1b22c333"), Value::from(2i64)]).ok();
        assert_eq!(two, Some(strings(["1", "22"].into_iter())));
        let frac = find_n(&[s("x"), s("x"), Value::from(1.5f64)]).ok();
        assert_eq!(frac, Some(Value::Undefined));
        let groups = find_all_submatch_n(&[s("(a)(x)?"), s("aa"), Value::from(-1i64)]).ok();
        let one = strings(["a", "a", ""].into_iter());
        assert_eq!(groups, Some(Value::from(vec![one.clone(), one])));
        let parts = split(&[s(",\\s*"), s("a, b,c")]).ok();
        assert_eq!(parts, Some(strings(["a", "b", "c"].into_iter())));
        let replaced = replace(&[s("a-b-c"), s("-(\\w)"), s("+$1")]).ok();
        assert_eq!(replaced, Some(s("a+b+c")));
        assert_eq!(
            replace(&[s("x"), s("("), s("y")]).ok(),
            Some(Value::Undefined)
        );
    }

    #[test]
    fn patterns_read_as_go_reads_them() {
        let m = |p: &str, v: &str| regex_match(&[s(p), s(v)]).ok();
        let (t, f) = (Some(Value::Bool(true)), Some(Value::Bool(false)));
        // ASCII Perl classes and word boundaries, outside and inside classes.
        assert_eq!(m(r"^\w+$", "Ngïnx"), f);
        assert_eq!(m(r"^[\w.]+$", "a.b_1"), t);
        assert_eq!(m(r"^[\w.]+$", "ï"), f);
        assert_eq!(m(r"[\W]", "ï"), t);
        assert_eq!(m(r"\d", "٣"), f);
        assert_eq!(m(r"[^\d]", "٣"), t);
        assert_eq!(m(r"^\s$", "\u{b}"), f);
        assert_eq!(m(r"^\s$", "\u{c}"), t);
        assert_eq!(m(r"\bx", "ïx"), t);
        assert_eq!(m(r"\Bx", "ax"), t);
        // Unicode classes, POSIX classes, repetitions and case folding are unchanged.
        assert_eq!(m(r"^\pL+$", "Ngïnx"), t);
        assert_eq!(m(r"^[[:alpha:]]+$", "abc"), t);
        assert_eq!(m(r"^a{2,3}$", "aaa"), t);
        assert_eq!(m("(?i)k", "\u{212a}"), t);
        // A `{` that is no repetition is a literal in Go; Rust's `regex` would refuse it.
        assert_eq!(m("^a{b}c$", "a{b}c"), t);
        assert_eq!(m("^x{$", "x{"), t);
        assert_eq!(m(r"\Qa.b\E$", "a.b"), t);
        assert_eq!(m(r"\Qa.b\E$", "axb"), f);
        assert_eq!(m("[a&&b]", "&"), t);
        assert_eq!(m("[]a]", "]"), t);
    }

    #[test]
    fn template_match_as_opa() {
        let tm =
            |t: &str, v: &str, a: &str, b: &str| template_match(&[s(t), s(v), s(a), s(b)]).ok();
        let (t, f, u) = (
            Some(Value::Bool(true)),
            Some(Value::Bool(false)),
            Some(Value::Undefined),
        );
        assert_eq!(tm("{[a-z]+}/{.*}", "nginx", "{", "}"), f);
        assert_eq!(tm("{[a-z]+}/{.*}", "nginx/x:1", "{", "}"), t);
        assert_eq!(tm("urn:foo:{.*}", "urn:foo:bar:baz", "{", "}"), t);
        assert_eq!(tm("a.{[0-9]+}", "aX12", "{", "}"), f);
        assert_eq!(tm("a.{[0-9]+}", "a.12", "{", "}"), t);
        assert_eq!(tm("{a{b}c}", "abc", "{", "}"), f);
        assert_eq!(tm("<[a-z]+>x", "abcx", "<", ">"), t);
        assert_eq!(tm(r"{\w+}", "ï", "{", "}"), f);
        // OPA's errors: unbalanced, a delimiter of two bytes, a part invalid alone.
        assert_eq!(tm("{a", "a", "{", "}"), u);
        assert_eq!(tm("{a}", "a", "{{", "}"), u);
        assert_eq!(tm("{a)(b}", "ab", "{", "}"), u);
    }

    #[test]
    fn cache_stays_bounded() {
        for i in 0..CAPACITY + 10 {
            let p = format!("^p{i}$");
            assert_eq!(
                regex_match(&[s(&p), s(&p[1..p.len() - 1])]).ok(),
                Some(Value::Bool(true))
            );
        }
    }
}
