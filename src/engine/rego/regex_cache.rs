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

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use regex::{Regex, RegexBuilder};
use regorus::{Engine, Value};

/// regorus's limit on a compiled program (bytes): bounds compile time and memory alike.
const SIZE_LIMIT: usize = 100 * 1024;

/// Distinct patterns kept. Constraint parameters are user input, so the cache must not grow
/// without bound; when full it is emptied and refilled, which costs one compilation per
/// pattern still in use and needs no bookkeeping on the hit path.
const CAPACITY: usize = 512;

/// Why a pattern could not be used.
enum Bad {
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
fn compiled(pattern: &str) -> Result<Arc<Regex>, Bad> {
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
    let re = RegexBuilder::new(pattern)
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

const BUILTINS: [Builtin; 6] = [
    ("regex.match", 2, regex_match),
    // OPA's deprecated name for `regex.match`, registered on the same function.
    ("re_match", 2, regex_match),
    ("regex.find_n", 3, find_n),
    ("regex.find_all_string_submatch_n", 3, find_all_submatch_n),
    ("regex.split", 2, split),
    ("regex.replace", 3, replace),
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
