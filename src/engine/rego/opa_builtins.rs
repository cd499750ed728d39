//! OPA builtins that regorus 0.14 lacks, for both paths.
//!
//! Gatekeeper compiles templates with every builtin of its OPA version, the deprecated ones
//! included (OPA refuses those only in Rego v1 modules, see [`DEPRECATED`]). regorus has
//! none of the deprecated builtins, nor `net.cidr_intersects` or
//! `net.cidr_contains_matches`, nor the newer `array.flatten` and `strings.split_n`; a
//! template calling one would load and then fail every request. The implementations below follow OPA's
//! (argument checks included), seen from Gatekeeper's non-strict evaluation: where OPA
//! raises a builtin error the answer is undefined ([`Value::Undefined`]), and only this
//! crate's size limits are errors.
//!
//! `net.cidr_expand` is here too, as an override: regorus enumerates any prefix, so
//! `net.cidr_expand("::/0")` would try to build 2^128 strings (it is refused past the
//! collection limit before anything is built), and it returns an array where OPA returns
//! a set.
//!
//! `crypto.md5`, `crypto.sha1`, `crypto.sha256` and the `crypto.hmac.*` family are here
//! as well, on `ring` (and MD5 of this crate's own, which `ring` lacks).
//!
//! The interpreter calls these as extensions ([`register`]); the compiled path calls
//! [`call`] on converted arguments, weighted on its pacer like its other builtins. Each is
//! linear in its arguments, but `net.cidr_expand` (linear in its capped result) and
//! `net.cidr_contains_matches` (in the capped product of its operands' sizes).

use regorus::{Engine, Value};

mod crypto;
mod md5;
mod net;
#[cfg(test)]
mod tests;

/// Builtins OPA marks deprecated: callable from Rego v0, refused in a v1 module.
/// (`re_match` is served by the regex cache; the rest are here.)
pub(crate) const DEPRECATED: &[&str] = &[
    "all",
    "any",
    "cast_array",
    "cast_boolean",
    "cast_null",
    "cast_object",
    "cast_set",
    "cast_string",
    "net.cidr_overlap",
    "re_match",
    "set_diff",
];

/// A builtin's implementation: undefined for a builtin error, `Err` only for a size limit.
pub(crate) type Run = fn(&[Value]) -> anyhow::Result<Value>;

/// One builtin: name, number of arguments, implementation.
type Builtin = (&'static str, u8, Run);

pub(crate) const BUILTINS: &[Builtin] = &[
    ("any", 1, any),
    ("all", 1, all),
    ("set_diff", 2, set_diff),
    ("cast_array", 1, cast_array),
    ("cast_set", 1, cast_set),
    ("cast_string", 1, |a| {
        Ok(keep(a, |v| matches!(v, Value::String(_))))
    }),
    ("cast_boolean", 1, |a| {
        Ok(keep(a, |v| matches!(v, Value::Bool(_))))
    }),
    ("cast_null", 1, |a| {
        Ok(keep(a, |v| matches!(v, Value::Null)))
    }),
    ("cast_object", 1, |a| {
        Ok(keep(a, |v| matches!(v, Value::Object(_))))
    }),
    // OPA registers the deprecated name on the same function as `net.cidr_contains`.
    // Newer builtins of Gatekeeper's OPA.
    ("array.flatten", 1, flatten),
    ("strings.split_n", 3, split_n),
    ("net.cidr_overlap", 2, net::cidr_contains),
    ("net.cidr_intersects", 2, net::cidr_intersects),
    ("net.cidr_expand", 1, net::cidr_expand),
    ("net.cidr_contains_matches", 2, net::cidr_contains_matches),
    ("crypto.sha1", 1, |a| {
        crypto::digest(a, &ring::digest::SHA1_FOR_LEGACY_USE_ONLY)
    }),
    ("crypto.sha256", 1, |a| {
        crypto::digest(a, &ring::digest::SHA256)
    }),
    ("crypto.hmac.sha1", 2, |a| {
        crypto::hmac(a, ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY)
    }),
    ("crypto.hmac.sha256", 2, |a| {
        crypto::hmac(a, ring::hmac::HMAC_SHA256)
    }),
    ("crypto.hmac.sha512", 2, |a| {
        crypto::hmac(a, ring::hmac::HMAC_SHA512)
    }),
    ("crypto.hmac.equal", 2, crypto::hmac_equal),
    ("crypto.md5", 1, crypto::md5),
    ("crypto.hmac.md5", 2, crypto::hmac_md5),
];

/// The builtin named `name` taking `arity` arguments.
pub(crate) fn lookup(name: &str, arity: usize) -> Option<Run> {
    BUILTINS
        .iter()
        .find(|(n, a, _)| *n == name && usize::from(*a) == arity)
        .map(|b| b.2)
}

/// Run the builtin `name` (undefined for an unknown name or arity).
pub(crate) fn call(name: &str, args: &[Value]) -> anyhow::Result<Value> {
    match lookup(name, args.len()) {
        Some(run) => run(args),
        None => Ok(Value::Undefined),
    }
}

/// Register them on an engine (extensions are looked up before regorus's builtins).
pub(super) fn register(engine: &mut Engine) -> anyhow::Result<()> {
    for &(name, nargs, run) in BUILTINS {
        engine.add_extension(
            name.to_string(),
            nargs,
            Box::new(move |args: Vec<Value>| run(&args)),
        )?;
    }
    Ok(())
}

/// The elements of an array or set; `None` for any other value.
fn elements(v: &Value) -> Option<Box<dyn Iterator<Item = &Value> + '_>> {
    match v {
        Value::Array(a) => Some(Box::new(a.iter())),
        Value::Set(s) => Some(Box::new(s.iter())),
        _ => None,
    }
}

/// `any(collection)`: some element is `true` (OPA: an array or a set, else an error).
fn any(a: &[Value]) -> anyhow::Result<Value> {
    Ok(match a.first().and_then(elements) {
        Some(mut items) => Value::Bool(items.any(|v| *v == Value::Bool(true))),
        None => Value::Undefined,
    })
}

/// `all(collection)`: every element is `true`; true for an empty collection.
fn all(a: &[Value]) -> anyhow::Result<Value> {
    Ok(match a.first().and_then(elements) {
        Some(mut items) => Value::Bool(items.all(|v| *v == Value::Bool(true))),
        None => Value::Undefined,
    })
}

/// `set_diff(a, b)`: the elements of set `a` not in set `b`.
fn set_diff(a: &[Value]) -> anyhow::Result<Value> {
    let (Some(Value::Set(x)), Some(Value::Set(y))) = (a.first(), a.get(1)) else {
        return Ok(Value::Undefined);
    };
    Ok(Value::from(
        x.iter()
            .filter(|v| !y.contains(v))
            .cloned()
            .collect::<std::collections::BTreeSet<_>>(),
    ))
}

/// `cast_array`: an array as it is, a set as an array of its elements in order.
fn cast_array(a: &[Value]) -> anyhow::Result<Value> {
    Ok(match a.first() {
        Some(v @ Value::Array(_)) => v.clone(),
        Some(Value::Set(s)) => Value::from(s.iter().cloned().collect::<Vec<_>>()),
        _ => Value::Undefined,
    })
}

/// `cast_set`: a set as it is, an array as the set of its elements.
fn cast_set(a: &[Value]) -> anyhow::Result<Value> {
    Ok(match a.first() {
        Some(v @ Value::Set(_)) => v.clone(),
        Some(Value::Array(items)) => Value::from(
            items
                .iter()
                .cloned()
                .collect::<std::collections::BTreeSet<_>>(),
        ),
        _ => Value::Undefined,
    })
}

/// `array.flatten(arr)`: the elements of `arr`, those that are arrays spliced in (one
/// level only).
fn flatten(a: &[Value]) -> anyhow::Result<Value> {
    let Some(Value::Array(items)) = a.first() else {
        return Ok(Value::Undefined);
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items.iter() {
        match item {
            Value::Array(inner) => out.extend(inner.iter().cloned()),
            other => out.push(other.clone()),
        }
    }
    Ok(Value::from(out))
}

/// `strings.split_n(x, delimiter, n)`: the first `n` parts of `x` split on `delimiter`, the
/// last `-n` when `n` is negative, none when it is zero. An empty delimiter splits between
/// characters (and an empty string into no parts), as Go's `strings.Split`.
fn split_n(a: &[Value]) -> anyhow::Result<Value> {
    let (Some(text), Some(delim), Some(Value::Number(n))) =
        (string(a.first()), string(a.get(1)), a.get(2))
    else {
        return Ok(Value::Undefined);
    };
    let Some(n) = n.as_i64().filter(|_| n.is_integer()) else {
        return Ok(Value::Undefined);
    };
    let parts: Vec<&str> = if delim.is_empty() {
        text.char_indices()
            .map(|(i, c)| &text[i..i + c.len_utf8()])
            .collect()
    } else {
        text.split(delim).collect()
    };
    let len = parts.len();
    let keep = if n >= 0 {
        &parts[..len.min(usize::try_from(n).unwrap_or(usize::MAX))]
    } else {
        let back = usize::try_from(n.unsigned_abs()).unwrap_or(usize::MAX);
        &parts[len.saturating_sub(back)..]
    };
    Ok(Value::from(
        keep.iter().map(|p| Value::from(*p)).collect::<Vec<_>>(),
    ))
}

/// The `cast_*` checks: the argument itself when it has the type, else undefined.
fn keep(a: &[Value], is: fn(&Value) -> bool) -> Value {
    match a.first() {
        Some(v) if is(v) => v.clone(),
        _ => Value::Undefined,
    }
}

/// The text of a string value.
fn string(v: Option<&Value>) -> Option<&str> {
    match v {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}
