//! OPA builtins that regorus 0.14 lacks, for both paths.
//!
//! Gatekeeper compiles templates with every builtin of its OPA version, the deprecated ones
//! included (OPA refuses those only in Rego v1 modules, see [`DEPRECATED`]). regorus has
//! none of the deprecated builtins, nor `net.cidr_intersects`; a template calling one
//! would load and then fail every request. The implementations below follow OPA's
//! (argument checks included), seen from Gatekeeper's non-strict evaluation: where OPA
//! raises a builtin error the answer is undefined ([`Value::Undefined`]), and only this
//! crate's size limits are errors.
//!
//! `net.cidr_expand` is here too, as an override: regorus enumerates any prefix, so
//! `net.cidr_expand("::/0")` would try to build 2^128 strings (it is refused past the
//! collection limit before anything is built), and it returns an array where OPA returns
//! a set.
//!
//! `crypto.sha1`, `crypto.sha256` and the `crypto.hmac.*` family (but MD5) are here as
//! well, on `ring`.
//!
//! The interpreter calls these as extensions ([`register`]); the compiled path calls
//! [`call`] on converted arguments, weighted on its pacer like its other builtins. Each is
//! linear in its arguments (or, for `net.cidr_expand`, in its capped result).

use std::net::IpAddr;

use ipnet::IpNet;
use regorus::{Engine, Value};

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

/// Most addresses `net.cidr_expand` may list: the evaluators' collection limit.
pub(crate) const MAX_EXPAND: u128 = 1_000_000;

/// Most pairs `net.cidr_contains_matches` may compare (each a few nanoseconds once both
/// sides are parsed): its work is the product of its operands' sizes, which the compiled
/// path's pacer, weighting by their sum, would not see.
pub(crate) const MAX_MATCH_PAIRS: usize = 10_000_000;

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
    ("net.cidr_overlap", 2, cidr_contains),
    ("net.cidr_intersects", 2, cidr_intersects),
    ("net.cidr_expand", 1, cidr_expand),
    ("net.cidr_contains_matches", 2, cidr_contains_matches),
    ("crypto.sha1", 1, |a| {
        digest(a, &ring::digest::SHA1_FOR_LEGACY_USE_ONLY)
    }),
    ("crypto.sha256", 1, |a| digest(a, &ring::digest::SHA256)),
    ("crypto.hmac.sha1", 2, |a| {
        hmac(a, ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY)
    }),
    ("crypto.hmac.sha256", 2, |a| {
        hmac(a, ring::hmac::HMAC_SHA256)
    }),
    ("crypto.hmac.sha512", 2, |a| {
        hmac(a, ring::hmac::HMAC_SHA512)
    }),
    ("crypto.hmac.equal", 2, hmac_equal),
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

/// The `cast_*` checks: the argument itself when it has the type, else undefined.
fn keep(a: &[Value], is: fn(&Value) -> bool) -> Value {
    match a.first() {
        Some(v) if is(v) => v.clone(),
        _ => Value::Undefined,
    }
}

fn string(v: Option<&Value>) -> Option<&str> {
    match v {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

/// A CIDR as OPA (Go's `net.ParseCIDR`) and regorus's `net.cidr_contains` read it.
fn cidr(v: Option<&Value>) -> Option<IpNet> {
    string(v)?.parse::<IpNet>().ok()
}

/// `net.cidr_contains(cidr, cidr_or_ip)` as regorus computes it (the address or every
/// address of the second network inside the first); undefined for an unparsable operand.
fn cidr_contains(a: &[Value]) -> anyhow::Result<Value> {
    let (Some(net), Some(other)) = (cidr(a.first()), string(a.get(1))) else {
        return Ok(Value::Undefined);
    };
    Ok(if other.contains('/') {
        match other.parse::<IpNet>() {
            Ok(sub) => Value::Bool(net.contains(&sub)),
            Err(_) => Value::Undefined,
        }
    } else {
        match other.parse::<IpAddr>() {
            Ok(ip) => Value::Bool(net.contains(&ip)),
            Err(_) => Value::Undefined,
        }
    })
}

/// `net.cidr_intersects(a, b)`: either network holds the other's first address.
fn cidr_intersects(a: &[Value]) -> anyhow::Result<Value> {
    let (Some(x), Some(y)) = (cidr(a.first()), cidr(a.get(1))) else {
        return Ok(Value::Undefined);
    };
    Ok(Value::Bool(
        x.contains(&y.network()) || y.contains(&x.network()),
    ))
}

/// `net.cidr_expand(cidr)`: the set of every address of the network, from its first to
/// its last (a set, as OPA makes it; regorus makes an array); refused past
/// [`MAX_EXPAND`] addresses, before any is made.
fn cidr_expand(a: &[Value]) -> anyhow::Result<Value> {
    let Some(net) = cidr(a.first()) else {
        return Ok(Value::Undefined);
    };
    let host_bits = u32::from(net.max_prefix_len() - net.prefix_len());
    let count = 1u128.checked_shl(host_bits).unwrap_or(u128::MAX);
    if count > MAX_EXPAND {
        anyhow::bail!(
            "net.cidr_expand: {net} has {} addresses; the limit is {MAX_EXPAND}",
            if count == u128::MAX {
                "2^128".to_string()
            } else {
                count.to_string()
            }
        );
    }
    let addresses: std::collections::BTreeSet<Value> = match net {
        IpNet::V4(n) => {
            let first = u32::from(n.network());
            (0..count as u32)
                .map(|i| Value::from(std::net::Ipv4Addr::from(first + i).to_string()))
                .collect()
        }
        IpNet::V6(n) => {
            let first = u128::from(n.network());
            (0..count)
                .map(|i| Value::from(std::net::Ipv6Addr::from(first + i).to_string()))
                .collect()
        }
    };
    Ok(Value::from(addresses))
}

/// The (CIDR text, index) terms of a `net.cidr_contains_matches` operand: a string is its
/// own index; an array's elements are indexed by position, a set's by themselves, an
/// object's values by their keys; an element is a string or a non-empty array whose first
/// element is the CIDR. `None` for an element of another kind (OPA's error); any other
/// operand has no terms.
fn match_terms(v: &Value) -> Option<Vec<(Value, Value)>> {
    let term = |x: &Value| -> Option<Value> {
        match x {
            Value::String(_) => Some(x.clone()),
            Value::Array(a) => a.first().cloned(),
            _ => None,
        }
    };
    Some(match v {
        Value::String(_) => vec![(v.clone(), v.clone())],
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, x)| Some((term(x)?, Value::from(i as u64))))
            .collect::<Option<_>>()?,
        Value::Set(s) => s
            .iter()
            .map(|x| Some((term(x)?, x.clone())))
            .collect::<Option<_>>()?,
        Value::Object(o) => o
            .iter()
            .map(|(k, x)| Some((term(x)?, k.clone())))
            .collect::<Option<_>>()?,
        _ => Vec::new(),
    })
}

/// An address or a network, as the second operand of `net.cidr_contains` reads it.
enum Inner {
    Ip(IpAddr),
    Net(IpNet),
}

/// `net.cidr_contains_matches(cidrs, cidrs_or_ips)`: the set of `[index1, index2]` pairs
/// where the first operand's CIDR contains the second's address or network. OPA walks the
/// pairs and stops at the first error (an element of the wrong kind, an unparsable CIDR or
/// address), which makes the call undefined; with an empty side there is no pair and so no
/// parse error. Past [`MAX_MATCH_PAIRS`] pairs, or a result over the collection limit, it
/// is refused.
fn cidr_contains_matches(a: &[Value]) -> anyhow::Result<Value> {
    let (Some(left), Some(right)) = (a.first(), a.get(1)) else {
        return Ok(Value::Undefined);
    };
    let Some(left) = match_terms(left) else {
        return Ok(Value::Undefined);
    };
    if left.is_empty() {
        return Ok(Value::new_set());
    }
    let Some(right) = match_terms(right) else {
        return Ok(Value::Undefined);
    };
    if right.is_empty() {
        return Ok(Value::new_set());
    }
    let pairs = left.len().saturating_mul(right.len());
    if pairs > MAX_MATCH_PAIRS {
        anyhow::bail!(
            "net.cidr_contains_matches: {pairs} pairs to compare; the limit is {MAX_MATCH_PAIRS}"
        );
    }
    let mut nets = Vec::with_capacity(left.len());
    for (text, index) in &left {
        match cidr(Some(text)) {
            Some(n) => nets.push((n, index)),
            None => return Ok(Value::Undefined),
        }
    }
    let mut inner = Vec::with_capacity(right.len());
    for (text, index) in &right {
        let Some(t) = string(Some(text)) else {
            return Ok(Value::Undefined);
        };
        let parsed = if t.contains('/') {
            t.parse::<IpNet>().ok().map(Inner::Net)
        } else {
            t.parse::<IpAddr>().ok().map(Inner::Ip)
        };
        match parsed {
            Some(p) => inner.push((p, index)),
            None => return Ok(Value::Undefined),
        }
    }
    let mut out = std::collections::BTreeSet::new();
    for (net, i) in &nets {
        for (x, j) in &inner {
            let hit = match x {
                Inner::Ip(ip) => net.contains(ip),
                Inner::Net(sub) => net.contains(sub),
            };
            if hit {
                out.insert(Value::from(vec![(*i).clone(), (*j).clone()]));
                if out.len() as u128 > MAX_EXPAND {
                    anyhow::bail!(
                        "net.cidr_contains_matches: more than {MAX_EXPAND} matches; the limit \
                         is {MAX_EXPAND}"
                    );
                }
            }
        }
    }
    Ok(Value::from(out))
}

fn hex(bytes: &[u8]) -> Value {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    Value::from(out)
}

/// `crypto.sha1` / `crypto.sha256`: the lowercase hex digest of a string's bytes.
fn digest(a: &[Value], algorithm: &'static ring::digest::Algorithm) -> anyhow::Result<Value> {
    Ok(match string(a.first()) {
        Some(s) => hex(ring::digest::digest(algorithm, s.as_bytes()).as_ref()),
        None => Value::Undefined,
    })
}

/// `crypto.hmac.*(message, key)`: the lowercase hex HMAC.
fn hmac(a: &[Value], algorithm: ring::hmac::Algorithm) -> anyhow::Result<Value> {
    let (Some(message), Some(key)) = (string(a.first()), string(a.get(1))) else {
        return Ok(Value::Undefined);
    };
    let key = ring::hmac::Key::new(algorithm, key.as_bytes());
    Ok(hex(ring::hmac::sign(&key, message.as_bytes()).as_ref()))
}

/// `crypto.hmac.equal(a, b)`: the two strings' bytes compared in constant time.
fn hmac_equal(a: &[Value]) -> anyhow::Result<Value> {
    let (Some(x), Some(y)) = (string(a.first()), string(a.get(1))) else {
        return Ok(Value::Undefined);
    };
    let (x, y) = (x.as_bytes(), y.as_bytes());
    // As Go's `hmac.Equal`: lengths may leak, contents do not.
    let same = x.len() == y.len() && x.iter().zip(y).fold(0u8, |d, (p, q)| d | (p ^ q)) == 0;
    Ok(Value::Bool(same))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value {
        Value::from(x)
    }
    fn arr(items: Vec<Value>) -> Value {
        Value::from(items)
    }
    fn set(items: Vec<Value>) -> Value {
        Value::from(items.into_iter().collect::<std::collections::BTreeSet<_>>())
    }
    fn run(name: &str, args: &[Value]) -> Value {
        call(name, args).expect("no limit error")
    }
    const T: Value = Value::Bool(true);
    const F: Value = Value::Bool(false);

    #[test]
    fn any_and_all_over_arrays_and_sets() {
        assert_eq!(run("any", &[arr(vec![F, T])]), T);
        assert_eq!(run("any", &[arr(vec![F, s("true")])]), F);
        assert_eq!(run("any", &[set(vec![])]), F);
        assert_eq!(run("any", &[set(vec![T, F])]), T);
        assert_eq!(run("all", &[arr(vec![])]), T);
        assert_eq!(run("all", &[arr(vec![T, T])]), T);
        assert_eq!(run("all", &[set(vec![T, Value::from(1i64)])]), F);
        // An object or a scalar is a builtin error in OPA: undefined here.
        assert_eq!(run("any", &[Value::new_object()]), Value::Undefined);
        assert_eq!(run("all", &[s("x")]), Value::Undefined);
    }

    #[test]
    fn set_diff_and_casts() {
        let a = set(vec![s("a"), s("b")]);
        assert_eq!(
            run("set_diff", &[a.clone(), set(vec![s("b")])]),
            set(vec![s("a")])
        );
        assert_eq!(run("set_diff", &[a.clone(), arr(vec![])]), Value::Undefined);
        assert_eq!(
            run("cast_array", std::slice::from_ref(&a)),
            arr(vec![s("a"), s("b")])
        );
        assert_eq!(run("cast_array", &[s("a")]), Value::Undefined);
        assert_eq!(run("cast_set", &[arr(vec![s("b"), s("a"), s("b")])]), a);
        assert_eq!(run("cast_set", &[Value::Null]), Value::Undefined);
        assert_eq!(run("cast_string", &[s("x")]), s("x"));
        assert_eq!(run("cast_string", &[Value::from(1i64)]), Value::Undefined);
        assert_eq!(run("cast_boolean", &[F]), F);
        assert_eq!(run("cast_boolean", &[s("true")]), Value::Undefined);
        assert_eq!(run("cast_null", &[Value::Null]), Value::Null);
        assert_eq!(run("cast_null", &[F]), Value::Undefined);
        assert_eq!(
            run("cast_object", &[Value::new_object()]),
            Value::new_object()
        );
        assert_eq!(run("cast_object", &[arr(vec![])]), Value::Undefined);
    }

    #[test]
    fn cidrs() {
        let ov = |a: &str, b: &str| run("net.cidr_overlap", &[s(a), s(b)]);
        assert_eq!(ov("10.0.0.0/8", "10.1.2.3"), T);
        assert_eq!(ov("10.0.0.0/8", "10.1.0.0/16"), T);
        assert_eq!(ov("10.0.0.0/16", "10.0.0.0/8"), F);
        assert_eq!(ov("10.0.0.0/8", "11.0.0.1"), F);
        assert_eq!(ov("fd00::/8", "fd00::1"), T);
        assert_eq!(ov("10.0.0.0/8", "bogus"), Value::Undefined);
        assert_eq!(ov("bogus", "10.0.0.1"), Value::Undefined);
        let int = |a: &str, b: &str| run("net.cidr_intersects", &[s(a), s(b)]);
        assert_eq!(int("10.0.0.0/16", "10.0.0.0/8"), T);
        assert_eq!(int("10.0.0.0/24", "10.0.1.0/24"), F);
        assert_eq!(int("10.0.0.0/24", "x"), Value::Undefined);
        assert_eq!(
            run("net.cidr_expand", &[s("192.168.0.1/30")]),
            set(["192.168.0.0", "192.168.0.1", "192.168.0.2", "192.168.0.3"]
                .map(s)
                .to_vec())
        );
        assert_eq!(
            run("net.cidr_expand", &[s("10.0.0.1/32")]),
            set(vec![s("10.0.0.1")])
        );
        assert_eq!(
            run("net.cidr_expand", &[s("10.0.0.0/31")]),
            set(vec![s("10.0.0.0"), s("10.0.0.1")])
        );
        assert_eq!(
            run("net.cidr_expand", &[s("fd00::/127")]),
            set(vec![s("fd00::"), s("fd00::1")])
        );
        // Too many addresses is a limit error, decided before anything is built.
        assert!(call("net.cidr_expand", &[s("::/0")]).is_err());
        assert!(call("net.cidr_expand", &[s("10.0.0.0/8")]).is_err());
    }

    #[test]
    fn cidr_contains_matches_indexes_like_opa() {
        let m = |a: Value, b: Value| run("net.cidr_contains_matches", &[a, b]);
        let pair = |i: Value, j: Value| arr(vec![i, j]);
        assert_eq!(
            m(s("10.0.0.0/8"), s("10.1.2.3")),
            set(vec![pair(s("10.0.0.0/8"), s("10.1.2.3"))])
        );
        let cidrs = arr(vec![
            s("10.0.0.0/8"),
            arr(vec![s("192.168.0.0/16"), s("home")]),
        ]);
        let ips = set(vec![s("10.1.1.1"), s("192.168.1.0/24"), s("8.8.8.8")]);
        assert_eq!(
            m(cidrs.clone(), ips),
            set(vec![
                pair(Value::from(0u64), s("10.1.1.1")),
                pair(Value::from(1u64), s("192.168.1.0/24")),
            ])
        );
        let mut keyed = std::collections::BTreeMap::new();
        keyed.insert(s("k"), s("10.9.9.9"));
        assert_eq!(
            m(cidrs.clone(), Value::from(keyed)),
            set(vec![pair(Value::from(0u64), s("k"))])
        );
        // An unparsable element or one of the wrong kind is OPA's error: undefined.
        assert_eq!(m(cidrs.clone(), arr(vec![s("bogus")])), Value::Undefined);
        assert_eq!(m(cidrs.clone(), arr(vec![arr(vec![])])), Value::Undefined);
        // No pair, no parse: an empty side gives the empty set.
        assert_eq!(m(arr(vec![s("bogus")]), arr(vec![])), Value::new_set());
        assert_eq!(m(Value::from(1i64), s("x")), Value::new_set());
        // Too many pairs is a limit error, decided before any parse.
        let many = arr((0..4000)
            .map(|i| s(&format!("10.0.{}.{}/32", i / 256, i % 256)))
            .collect());
        assert!(call("net.cidr_contains_matches", &[many.clone(), many]).is_err());
    }

    #[test]
    fn digests_and_hmacs() {
        // Known answers (FIPS 180 and RFC 4231 test vectors).
        assert_eq!(
            run("crypto.sha256", &[s("abc")]),
            s("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(
            run("crypto.sha1", &[s("abc")]),
            s("a9993e364706816aba3e25717850c26c9cd0d89d")
        );
        assert_eq!(
            run(
                "crypto.hmac.sha256",
                &[s("what do ya want for nothing?"), s("Jefe")]
            ),
            s("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
        assert_eq!(run("crypto.sha256", &[Value::from(1i64)]), Value::Undefined);
        assert_eq!(run("crypto.hmac.equal", &[s("ab"), s("ab")]), T);
        assert_eq!(run("crypto.hmac.equal", &[s("ab"), s("ac")]), F);
        assert_eq!(run("crypto.hmac.equal", &[s("ab"), s("abc")]), F);
    }
}
