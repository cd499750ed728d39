//! Builtins of the compiled evaluator.
//!
//! The ones Gatekeeper's templates call on every container are implemented here on
//! borrowed values, each one a transcription of the regorus 0.14 builtin the interpreter
//! runs (argument checks included: a wrong type gives undefined, as a non-strict regorus
//! engine does). `sprintf`, `units.parse_bytes`, `numbers.range*` and the `regex.*` family are this crate's own
//! overrides (see
//! [`super::super::builtins`] and [`super::super::regex_cache`]), exactly as the
//! interpreter path registers them. Every other builtin is regorus's own, called through
//! [`regorus::unstable::BUILTINS`] with converted arguments (see [`super::ir::Callee`]).

use std::collections::BTreeSet;
use std::rc::Rc;

use regorus::Value as RValue;

use super::eval::MAX_COLLECTION_LEN;
use super::value::{Str, V};
use crate::engine::rego::{builtins as overrides, opa_builtins, regex_cache};

/// A builtin's result: a value, undefined (`None`), or an error that fails the query.
/// Only a size limit of this crate is an error: what OPA reports as a builtin error
/// (a wrong operand type, an unparsable string) is undefined, as in Gatekeeper's
/// non-strict evaluation.
pub(crate) type Out<'a> = Result<Option<V<'a>>, String>;

/// A builtin implemented on [`V`].
#[derive(Clone, Copy)]
pub(crate) struct Native {
    /// Its Rego name.
    pub(crate) name: &'static str,
    /// The implementation; it receives exactly its number of arguments, all defined.
    pub(crate) run: for<'a> fn(&[V<'a>]) -> Out<'a>,
}

impl std::fmt::Debug for Native {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// `(name, arity, implementation)`.
type Entry = (&'static str, usize, for<'a> fn(&[V<'a>]) -> Out<'a>);

const NATIVES: &[Entry] = &[
    ("count", 1, count),
    ("startswith", 2, |a| {
        str2(a, |x, y| V::Bool(x.starts_with(y)))
    }),
    ("endswith", 2, |a| str2(a, |x, y| V::Bool(x.ends_with(y)))),
    ("contains", 2, |a| str2(a, |x, y| V::Bool(x.contains(y)))),
    ("trim_suffix", 2, trim_suffix),
    ("trim_prefix", 2, trim_prefix),
    ("replace", 3, replace),
    ("lower", 1, |a| str1(a, |s| V::string(s.to_lowercase()))),
    ("upper", 1, |a| str1(a, |s| V::string(s.to_uppercase()))),
    ("concat", 2, concat),
    ("split", 2, split),
    ("substring", 3, substring),
    ("to_number", 1, to_number),
    ("is_number", 1, |a| {
        Ok(Some(V::Bool(matches!(a[0], V::Num(_)))))
    }),
    ("is_string", 1, |a| {
        Ok(Some(V::Bool(matches!(a[0], V::Str(_)))))
    }),
    ("is_boolean", 1, |a| {
        Ok(Some(V::Bool(matches!(a[0], V::Bool(_)))))
    }),
    ("is_null", 1, |a| Ok(Some(V::Bool(matches!(a[0], V::Null))))),
    ("type_name", 1, type_name),
    ("is_array", 1, |a| is_kind(a, super::value::Kind::Arr)),
    ("is_set", 1, |a| is_kind(a, super::value::Kind::Set)),
    ("is_object", 1, |a| is_kind(a, super::value::Kind::Obj)),
    ("object.get", 3, object_get),
    ("strings.any_prefix_match", 2, |a| {
        any_match(a, |s, b| s.starts_with(b))
    }),
    ("strings.any_suffix_match", 2, |a| {
        any_match(a, |s, b| s.ends_with(b))
    }),
    ("sprintf", 2, sprintf),
    ("regex.match", 2, regex_match),
    ("re_match", 2, regex_match),
    ("regex.find_n", 3, |a| regex_other("regex.find_n", a)),
    ("regex.find_all_string_submatch_n", 3, |a| {
        regex_other("regex.find_all_string_submatch_n", a)
    }),
    ("regex.split", 2, |a| regex_other("regex.split", a)),
    ("regex.replace", 3, |a| regex_other("regex.replace", a)),
    ("regex.template_match", 4, |a| {
        regex_other("regex.template_match", a)
    }),
    ("units.parse_bytes", 1, parse_bytes),
    ("numbers.range", 2, range),
    ("numbers.range_step", 3, range),
    ("any", 1, |a| added("any", a)),
    ("array.flatten", 1, |a| added("array.flatten", a)),
    ("strings.split_n", 3, |a| added("strings.split_n", a)),
    ("all", 1, |a| added("all", a)),
    ("set_diff", 2, |a| added("set_diff", a)),
    ("cast_array", 1, |a| added("cast_array", a)),
    ("cast_set", 1, |a| added("cast_set", a)),
    ("cast_string", 1, |a| added("cast_string", a)),
    ("cast_boolean", 1, |a| added("cast_boolean", a)),
    ("cast_null", 1, |a| added("cast_null", a)),
    ("cast_object", 1, |a| added("cast_object", a)),
    ("net.cidr_overlap", 2, |a| added("net.cidr_overlap", a)),
    ("net.cidr_intersects", 2, |a| {
        added("net.cidr_intersects", a)
    }),
    ("net.cidr_expand", 1, |a| added("net.cidr_expand", a)),
    ("net.cidr_contains_matches", 2, |a| {
        added("net.cidr_contains_matches", a)
    }),
    ("crypto.sha1", 1, |a| added("crypto.sha1", a)),
    ("crypto.sha256", 1, |a| added("crypto.sha256", a)),
    ("crypto.hmac.sha1", 2, |a| added("crypto.hmac.sha1", a)),
    ("crypto.hmac.sha256", 2, |a| added("crypto.hmac.sha256", a)),
    ("crypto.hmac.sha512", 2, |a| added("crypto.hmac.sha512", a)),
    ("crypto.hmac.equal", 2, |a| added("crypto.hmac.equal", a)),
    ("crypto.md5", 1, |a| added("crypto.md5", a)),
    ("crypto.hmac.md5", 2, |a| added("crypto.hmac.md5", a)),
];

/// The builtin implemented here with that name and arity. (A test checks that every
/// builtin of [`opa_builtins`] has its entry.)
pub(crate) fn native(name: &str, arity: usize) -> Option<Native> {
    NATIVES
        .iter()
        .find(|(n, a, _)| *n == name && *a == arity)
        .map(|&(name, _, run)| Native { name, run })
}

/// Names this crate overrides on the interpreter: never routed to regorus's versions.
pub(crate) fn overridden(name: &str) -> bool {
    matches!(
        name,
        "sprintf" | "to_number" | "count" | "units.parse_bytes"
    ) || name.starts_with("regex.")
        || name.starts_with("numbers.range")
        || opa_builtins::BUILTINS.iter().any(|b| b.0 == name)
}

/// Whether a regorus builtin gives the same answer for the same arguments every time,
/// so that calling it from here cannot differ from the interpreter's call. Clocks,
/// randomness, the network and tracing are refused.
pub(crate) fn deterministic(name: &str) -> bool {
    const IMPURE: &[&str] = &[
        "time.now_ns",
        "rand.",
        "uuid.",
        "http.",
        "opa.runtime",
        "trace",
        "print",
        "io.",
        "net.lookup",
        "crypto.",
    ];
    !IMPURE.iter().any(|p| name.starts_with(p))
}

fn str1<'a>(a: &[V<'a>], f: impl FnOnce(&str) -> V<'a>) -> Out<'a> {
    Ok(a[0].as_str().map(f))
}

fn str2<'a>(a: &[V<'a>], f: impl FnOnce(&str, &str) -> V<'a>) -> Out<'a> {
    match (a[0].as_str(), a[1].as_str()) {
        (Some(x), Some(y)) => Ok(Some(f(x, y))),
        _ => Ok(None),
    }
}

fn is_kind<'a>(a: &[V<'a>], kind: super::value::Kind) -> Out<'a> {
    Ok(Some(V::Bool(a[0].kind() == kind)))
}

/// `type_name`: the kind of a value, without converting it (the type check before every
/// `some .. in` calls it on the collection).
fn type_name<'a>(a: &[V<'a>]) -> Out<'a> {
    use super::value::Kind;
    Ok(Some(borrowed(match a[0].kind() {
        Kind::Null => "null",
        Kind::Bool => "boolean",
        Kind::Num => "number",
        Kind::Str => "string",
        Kind::Arr => "array",
        Kind::Set => "set",
        Kind::Obj => "object",
    })))
}

/// `count`: elements of a collection, or characters of a string (as OPA, and the
/// interpreter's override).
fn count<'a>(a: &[V<'a>]) -> Out<'a> {
    let n = match &a[0] {
        V::Str(s) => s.as_str().chars().count(),
        other => match other.kind() {
            super::value::Kind::Arr | super::value::Kind::Set | super::value::Kind::Obj => {
                other.len().unwrap_or(0)
            }
            _ => return Ok(None),
        },
    };
    Ok(Some(V::num(RValue::from(n as u64))))
}

/// The string unchanged when the affix is absent: the same string value, still borrowed.
fn trim_suffix<'a>(a: &[V<'a>]) -> Out<'a> {
    let (Some(s), Some(x)) = (a[0].as_str(), a[1].as_str()) else {
        return Ok(None);
    };
    Ok(Some(match s.strip_suffix(x) {
        Some(t) => V::string(t),
        None => a[0].clone(),
    }))
}

fn trim_prefix<'a>(a: &[V<'a>]) -> Out<'a> {
    let (Some(s), Some(x)) = (a[0].as_str(), a[1].as_str()) else {
        return Ok(None);
    };
    Ok(Some(match s.strip_prefix(x) {
        Some(t) => V::string(t),
        None => a[0].clone(),
    }))
}

/// `replace(s, old, new)`, refused when the result would pass the string size limit
/// (an empty `old` puts `new` between every two characters).
fn replace<'a>(a: &[V<'a>]) -> Out<'a> {
    match (a[0].as_str(), a[1].as_str(), a[2].as_str()) {
        (Some(s), Some(old), Some(new)) => {
            let hits = if old.is_empty() {
                s.chars().count() + 1
            } else {
                s.matches(old).count()
            };
            let size = hits.saturating_mul(new.len()).saturating_add(s.len());
            if size > super::eval::MAX_STRING_BYTES {
                return Err(format!(
                    "replace: the result would have {size} bytes; the limit is {}",
                    super::eval::MAX_STRING_BYTES
                ));
            }
            Ok(Some(V::string(s.replace(old, new))))
        }
        _ => Ok(None),
    }
}

/// The strings of an array or set; `None` when it is neither or holds a non-string.
fn strings(v: &V<'_>) -> Option<Vec<String>> {
    let mut out = Vec::new();
    match v.kind() {
        super::value::Kind::Arr | super::value::Kind::Set => {}
        _ => return None,
    }
    let ok = v
        .each(|_, x| {
            match x.as_str() {
                Some(s) => out.push(s.to_string()),
                None => return Err(()),
            }
            Ok(true)
        })
        .is_ok();
    ok.then_some(out)
}

fn concat<'a>(a: &[V<'a>]) -> Out<'a> {
    let (Some(sep), Some(items)) = (a[0].as_str(), strings(&a[1])) else {
        return Ok(None);
    };
    Ok(Some(V::string(items.join(sep))))
}

/// `split(s, delimiter)` as Go's `strings.Split` (and regorus): an empty delimiter splits
/// into characters, with no empty string at either end. The parts of a string borrowed from
/// the request borrow it too. Refused past [`MAX_COLLECTION_LEN`] parts while they are
/// made, so a long string split by `""` never builds more than the limit.
fn split<'a>(a: &[V<'a>]) -> Out<'a> {
    let (V::Str(s), Some(d)) = (&a[0], a[1].as_str()) else {
        return Ok(None);
    };
    let parts = match s {
        Str::B(s) => capped_parts(pieces(s, d).map(|p| V::Str(Str::B(p))))?,
        Str::O(s) => capped_parts(pieces(s, d).map(V::string))?,
    };
    Ok(Some(V::Arr(Rc::new(parts))))
}

/// The pieces of `s` between delimiters `d`; each character when `d` is empty.
fn pieces<'s: 'd, 'd>(s: &'s str, d: &'d str) -> Box<dyn Iterator<Item = &'s str> + 'd> {
    if d.is_empty() {
        Box::new(s.matches(|_: char| true))
    } else {
        Box::new(s.split(d))
    }
}

/// The values in order, refused once there are more than [`MAX_COLLECTION_LEN`].
fn capped_parts<'a>(values: impl Iterator<Item = V<'a>>) -> Result<Vec<V<'a>>, String> {
    let mut out = Vec::new();
    for v in values {
        if out.len() == MAX_COLLECTION_LEN {
            return Err(format!(
                "split: more than {MAX_COLLECTION_LEN} parts; the limit is {MAX_COLLECTION_LEN}"
            ));
        }
        out.push(v);
    }
    Ok(out)
}

/// `substring(s, offset, length)`: characters; a negative length means to the end, a
/// negative offset is undefined, a non-integer offset or length gives `""` (as regorus).
fn substring<'a>(a: &[V<'a>]) -> Out<'a> {
    let (Some(s), V::Num(off), V::Num(len)) = (a[0].as_str(), &a[1], &a[2]) else {
        return Ok(None);
    };
    let (RValue::Number(off), RValue::Number(len)) = (&off.0, &len.0) else {
        return Ok(None);
    };
    match (off.as_i64(), len.as_i64()) {
        (Some(o), _) if o < 0 => Ok(None),
        (Some(o), Some(l)) => {
            let start = s.chars().skip(o as usize);
            let l = if l < 0 { s.len() } else { l as usize };
            Ok(Some(V::string(start.take(l).collect::<String>())))
        }
        _ => Ok(Some(V::string(""))),
    }
}

/// `to_number`, by the interpreter path's override (Go's float syntax, as OPA).
fn to_number<'a>(a: &[V<'a>]) -> Out<'a> {
    Ok(match &a[0] {
        V::Num(_) => Some(a[0].clone()),
        other => V::from_rvalue(&overrides::to_number(&other.to_rvalue())),
    })
}

/// `object.get(obj, key, default)`; an array key is a path.
fn object_get<'a>(a: &[V<'a>]) -> Out<'a> {
    if a[0].kind() != super::value::Kind::Obj {
        return Ok(None);
    }
    if let Some(path) = a[1].array_items() {
        let mut v = a[0].clone();
        for k in &path {
            match v.get(k) {
                Some(x) => v = x,
                None => return Ok(Some(a[2].clone())),
            }
        }
        return Ok(Some(v));
    }
    Ok(Some(a[0].get(&a[1]).unwrap_or_else(|| a[2].clone())))
}

/// `strings.any_prefix_match` / `any_suffix_match`: a string or a collection of strings
/// on either side.
fn any_match<'a>(a: &[V<'a>], test: fn(&str, &str) -> bool) -> Out<'a> {
    let side = |v: &V<'_>| -> Option<Vec<String>> {
        match v {
            V::Str(s) => Some(vec![s.as_str().to_string()]),
            other => strings(other),
        }
    };
    let (Some(search), Some(base)) = (side(&a[0]), side(&a[1])) else {
        return Ok(None);
    };
    Ok(Some(V::Bool(
        search.iter().any(|s| base.iter().any(|b| test(s, b))),
    )))
}

/// `sprintf`, formatted like Go by the interpreter path's override.
fn sprintf<'a>(a: &[V<'a>]) -> Out<'a> {
    let (Some(format), Some(items)) = (a[0].as_str(), a[1].array_items()) else {
        return Ok(None);
    };
    let items: Vec<RValue> = items.iter().map(V::to_rvalue).collect();
    Ok(Some(V::string(overrides::go_sprintf(format, &items))))
}

/// `units.parse_bytes`, exact and truncated as the interpreter path's override.
fn parse_bytes<'a>(a: &[V<'a>]) -> Out<'a> {
    let out =
        crate::engine::rego::units::parse_bytes(&[a[0].to_rvalue()]).map_err(|e| e.to_string())?;
    Ok(V::from_rvalue(&out))
}

/// `numbers.range` / `numbers.range_step`, refused past their length limit by the
/// interpreter path's override.
fn range<'a>(a: &[V<'a>]) -> Out<'a> {
    let args: Vec<RValue> = a.iter().map(V::to_rvalue).collect();
    let Some((from, step, len)) = overrides::range_of(&args).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    Ok(Some(V::Arr(Rc::new(
        (0..len).map(|i| V::int(from + i * step)).collect(),
    ))))
}

/// `regex.match` on the shared cache of compiled patterns.
fn regex_match<'a>(a: &[V<'a>]) -> Out<'a> {
    let (Some(pattern), Some(value)) = (a[0].as_str(), a[1].as_str()) else {
        return Ok(None);
    };
    regex_cache::is_match(pattern, value)
        .map(|m| m.map(V::Bool))
        .map_err(|e| e.to_string())
}

/// The other `regex.*` overrides, on converted arguments.
fn regex_other<'a>(name: &str, a: &[V<'a>]) -> Out<'a> {
    let args: Vec<RValue> = a.iter().map(V::to_rvalue).collect();
    let out = regex_cache::call(name, &args).map_err(|e| e.to_string())?;
    Ok(V::from_rvalue(&out))
}

/// The OPA builtins regorus lacks (see [`opa_builtins`]), on converted arguments.
fn added<'a>(name: &str, a: &[V<'a>]) -> Out<'a> {
    let args: Vec<RValue> = a.iter().map(V::to_rvalue).collect();
    let out = opa_builtins::call(name, &args).map_err(|e| e.to_string())?;
    Ok(V::from_rvalue(&out))
}

#[cfg(test)]
#[test]
fn every_added_builtin_is_native() {
    for (name, arity, _) in opa_builtins::BUILTINS {
        assert!(native(name, usize::from(*arity)).is_some(), "{name}");
    }
}

/// A set of values (for set operations).
pub(crate) fn set_of<'a>(v: &V<'a>) -> Option<Rc<BTreeSet<V<'a>>>> {
    match v {
        V::Set(s) => Some(s.clone()),
        _ => None,
    }
}

/// A string value borrowed from the program or the input.
pub(crate) fn borrowed(s: &str) -> V<'_> {
    V::Str(Str::B(s))
}
