//! Values of the compiled evaluator.
//!
//! A value either borrows the request (or the constraint's parameters, or the program's
//! constants) or owns what evaluation built. Arrays and objects of the request stay
//! `&serde_json::Value` ([`V::Json`]) and are never converted: a template that reads three
//! fields of a Pod touches three nodes, not the whole document. Scalars are unpacked when
//! read, strings borrowed.
//!
//! Numbers are regorus numbers (kept inside a [`regorus::Value::Number`]): their arithmetic,
//! comparison and printing then agree with the interpreter bit for bit, including integers
//! past 64 bits (the library multiplies memory quantities by 10^21).
//!
//! Ordering follows regorus's `Value` order (null < bool < number < string < array < set <
//! object; arrays, sets and objects compare element by element), and applies across the
//! borrowed and owned forms alike, so a borrowed array equals the same array built in Rego.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use regorus::Value as RValue;
use serde_json::Value as Json;

/// A string, borrowed or owned.
#[derive(Clone, Debug)]
pub(crate) enum Str<'a> {
    /// Borrowed from the request, the parameters or the program.
    B(&'a str),
    /// Built during evaluation.
    O(Rc<str>),
}

impl Str<'_> {
    /// The text.
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Str::B(s) => s,
            Str::O(s) => s,
        }
    }
}

/// A number: always an `RValue::Number`.
#[derive(Clone, Debug)]
pub(crate) struct Num(pub(crate) RValue);

/// A Rego value during one evaluation.
#[derive(Clone, Debug)]
pub(crate) enum V<'a> {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number.
    Num(Num),
    /// A string.
    Str(Str<'a>),
    /// An array or object of a borrowed JSON document (never a scalar).
    Json(&'a Json),
    /// An array built during evaluation.
    Arr(Rc<Vec<V<'a>>>),
    /// A set.
    Set(Rc<BTreeSet<V<'a>>>),
    /// An object built during evaluation.
    Obj(Rc<BTreeMap<V<'a>, V<'a>>>),
}

/// Shape of a value, for type checks and ordering between kinds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) enum Kind {
    Null,
    Bool,
    Num,
    Str,
    Arr,
    Set,
    Obj,
}

impl<'a> V<'a> {
    /// A JSON node as a value: scalars unpacked, arrays and objects borrowed.
    pub(crate) fn json(j: &'a Json) -> V<'a> {
        match j {
            Json::Null => V::Null,
            Json::Bool(b) => V::Bool(*b),
            Json::Number(n) => V::Num(Num(super::super::convert::number(n))),
            Json::String(s) => V::Str(Str::B(s)),
            Json::Array(_) | Json::Object(_) => V::Json(j),
        }
    }

    /// An owned string value.
    pub(crate) fn string(s: impl Into<Rc<str>>) -> V<'a> {
        V::Str(Str::O(s.into()))
    }

    /// A number value from a regorus number value.
    pub(crate) fn num(n: RValue) -> V<'a> {
        V::Num(Num(n))
    }

    /// An integer.
    pub(crate) fn int(i: i64) -> V<'a> {
        V::Num(Num(RValue::from(i)))
    }

    /// The kind of the value.
    pub(crate) fn kind(&self) -> Kind {
        match self {
            V::Null => Kind::Null,
            V::Bool(_) => Kind::Bool,
            V::Num(_) => Kind::Num,
            V::Str(_) => Kind::Str,
            V::Json(Json::Array(_)) | V::Arr(_) => Kind::Arr,
            V::Set(_) => Kind::Set,
            V::Json(_) | V::Obj(_) => Kind::Obj,
        }
    }

    /// The string, when the value is one.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            V::Str(s) => Some(s.as_str()),
            _ => None,
        }
    }

    /// True for the boolean `false` (the only value that fails an expression statement).
    pub(crate) fn is_false(&self) -> bool {
        matches!(self, V::Bool(false))
    }

    /// Number of elements of a collection, or characters of a string.
    pub(crate) fn len(&self) -> Option<usize> {
        Some(match self {
            V::Str(s) => s.as_str().chars().count(),
            V::Json(Json::Array(a)) => a.len(),
            V::Json(Json::Object(o)) => o.len(),
            V::Arr(a) => a.len(),
            V::Set(s) => s.len(),
            V::Obj(o) => o.len(),
            _ => return None,
        })
    }

    /// `self[key]`: an array element by integer index, an object field, or a set member
    /// (which indexes to itself). `None` is undefined.
    pub(crate) fn get(&self, key: &V<'a>) -> Option<V<'a>> {
        match self {
            V::Json(Json::Array(a)) => index(key, a.len()).map(|i| V::json(&a[i])),
            V::Arr(a) => index(key, a.len()).map(|i| a[i].clone()),
            V::Json(Json::Object(o)) => o.get(key.as_str()?).map(V::json),
            V::Obj(o) => o.get(key).cloned(),
            V::Set(s) => s.contains(key).then(|| key.clone()),
            _ => None,
        }
    }

    /// `self.field` for a string field (the fast path of [`V::get`]).
    pub(crate) fn field(&self, name: &str) -> Option<V<'a>> {
        match self {
            V::Json(Json::Object(o)) => o.get(name).map(V::json),
            V::Obj(o) => o.get(&V::Str(Str::B(name))).cloned(),
            _ => None,
        }
    }

    /// Visit each `(key, value)` of a collection in regorus's order (array index, sorted
    /// object keys, sorted set members which are their own keys); stops when `f` says so.
    pub(crate) fn each<E>(
        &self,
        mut f: impl FnMut(V<'a>, V<'a>) -> Result<bool, E>,
    ) -> Result<bool, E> {
        match self {
            V::Json(Json::Array(a)) => {
                for (i, x) in a.iter().enumerate() {
                    if !f(V::int(i as i64), V::json(x))? {
                        return Ok(false);
                    }
                }
            }
            V::Json(Json::Object(o)) => {
                for (k, x) in o {
                    if !f(V::Str(Str::B(k)), V::json(x))? {
                        return Ok(false);
                    }
                }
            }
            V::Arr(a) => {
                for (i, x) in a.iter().enumerate() {
                    if !f(V::int(i as i64), x.clone())? {
                        return Ok(false);
                    }
                }
            }
            V::Obj(o) => {
                for (k, x) in o.iter() {
                    if !f(k.clone(), x.clone())? {
                        return Ok(false);
                    }
                }
            }
            V::Set(s) => {
                for x in s.iter() {
                    if !f(x.clone(), x.clone())? {
                        return Ok(false);
                    }
                }
            }
            _ => {}
        }
        Ok(true)
    }

    /// The elements of an array (borrowed or owned) as values.
    pub(crate) fn array_items(&self) -> Option<Vec<V<'a>>> {
        match self {
            V::Json(Json::Array(a)) => Some(a.iter().map(V::json).collect()),
            V::Arr(a) => Some(a.as_ref().clone()),
            _ => None,
        }
    }

    /// The value as a regorus value (for regorus builtins, `sprintf` and the results).
    pub(crate) fn to_rvalue(&self) -> RValue {
        match self {
            V::Null => RValue::Null,
            V::Bool(b) => RValue::Bool(*b),
            V::Num(n) => n.0.clone(),
            V::Str(s) => RValue::from(s.as_str()),
            V::Json(j) => super::super::convert::to_rego(j),
            V::Arr(a) => RValue::from(a.iter().map(V::to_rvalue).collect::<Vec<_>>()),
            V::Set(s) => RValue::from(s.iter().map(V::to_rvalue).collect::<BTreeSet<_>>()),
            V::Obj(o) => RValue::from(
                o.iter()
                    .map(|(k, v)| (k.to_rvalue(), v.to_rvalue()))
                    .collect::<BTreeMap<_, _>>(),
            ),
        }
    }

    /// A regorus value (a builtin's result) as an owned value; `None` for undefined.
    pub(crate) fn from_rvalue(v: &RValue) -> Option<V<'a>> {
        V::convert(v, &|s| Str::O(Rc::from(s)))
    }

    /// A regorus value that outlives the evaluation (a folded one) as a value whose
    /// strings borrow it: a folded list of twenty names costs one allocation per request,
    /// not twenty-one.
    pub(crate) fn from_kept_rvalue(v: &'a RValue) -> Option<V<'a>> {
        V::convert(v, &|s| Str::B(s))
    }

    fn convert<'r>(v: &'r RValue, string: &impl Fn(&'r str) -> Str<'a>) -> Option<V<'a>> {
        Some(match v {
            RValue::Undefined => return None,
            RValue::Null => V::Null,
            RValue::Bool(b) => V::Bool(*b),
            RValue::Number(_) => V::Num(Num(v.clone())),
            RValue::String(s) => V::Str(string(s)),
            RValue::Array(a) => V::Arr(Rc::new(
                a.iter()
                    .map(|x| V::convert(x, string))
                    .collect::<Option<Vec<_>>>()?,
            )),
            RValue::Set(s) => V::Set(Rc::new(
                s.iter()
                    .map(|x| V::convert(x, string))
                    .collect::<Option<BTreeSet<_>>>()?,
            )),
            RValue::Object(o) => V::Obj(Rc::new(
                o.iter_sorted()
                    .map(|(k, v)| Some((V::convert(k, string)?, V::convert(v, string)?)))
                    .collect::<Option<BTreeMap<_, _>>>()?,
            )),
        })
    }
}

/// An array position from an index value: integral numbers in range only.
fn index(key: &V<'_>, len: usize) -> Option<usize> {
    let V::Num(Num(RValue::Number(n))) = key else {
        return None;
    };
    if !n.is_integer() {
        return None;
    }
    let i = usize::try_from(n.as_u64()?).ok()?;
    (i < len).then_some(i)
}

/// Element-wise comparison of two sequences of values.
fn cmp_seq<'a>(mut a: impl Iterator<Item = V<'a>>, mut b: impl Iterator<Item = V<'a>>) -> Ordering {
    loop {
        match (a.next(), b.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => match x.cmp(&y) {
                Ordering::Equal => {}
                other => return other,
            },
        }
    }
}

/// The `(key, value)` pairs of an object, in key order.
fn pairs<'a, 'b>(v: &'b V<'a>) -> Box<dyn Iterator<Item = (V<'a>, V<'a>)> + 'b> {
    match v {
        V::Json(Json::Object(o)) => {
            Box::new(o.iter().map(|(k, x)| (V::Str(Str::B(k)), V::json(x))))
        }
        V::Obj(o) => Box::new(o.iter().map(|(k, x)| (k.clone(), x.clone()))),
        _ => Box::new(std::iter::empty()),
    }
}

/// The elements of an array, in order.
fn items<'a, 'b>(v: &'b V<'a>) -> Box<dyn Iterator<Item = V<'a>> + 'b> {
    match v {
        V::Json(Json::Array(a)) => Box::new(a.iter().map(V::json)),
        V::Arr(a) => Box::new(a.iter().cloned()),
        _ => Box::new(std::iter::empty()),
    }
}

impl Ord for V<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        let (ka, kb) = (self.kind(), other.kind());
        if ka != kb {
            return ka.cmp(&kb);
        }
        match (self, other) {
            (V::Bool(a), V::Bool(b)) => a.cmp(b),
            (V::Num(a), V::Num(b)) => a.0.cmp(&b.0),
            (V::Str(a), V::Str(b)) => a.as_str().cmp(b.as_str()),
            (V::Set(a), V::Set(b)) => a.iter().cmp(b.iter()),
            (V::Json(a), V::Json(b)) if std::ptr::eq(*a, *b) => Ordering::Equal,
            _ => match ka {
                Kind::Arr => cmp_seq(items(self), items(other)),
                Kind::Obj => {
                    let (mut a, mut b) = (pairs(self), pairs(other));
                    loop {
                        match (a.next(), b.next()) {
                            (None, None) => return Ordering::Equal,
                            (None, Some(_)) => return Ordering::Less,
                            (Some(_), None) => return Ordering::Greater,
                            (Some((ka, va)), Some((kb, vb))) => {
                                match ka.cmp(&kb).then_with(|| va.cmp(&vb)) {
                                    Ordering::Equal => {}
                                    other => return other,
                                }
                            }
                        }
                    }
                }
                _ => Ordering::Equal,
            },
        }
    }
}

impl PartialOrd for V<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for V<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for V<'_> {}
