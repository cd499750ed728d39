//! Keys of the per-evaluation memo of function calls.

use std::rc::Rc;

use super::super::value::{Str, V};

/// A function argument as a memo key: scalars by their exact form, documents and built
/// collections by identity. Equal documents at two places are two keys (a second call
/// is computed again, which is only slower), and comparing keys never walks a document.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum MemoKey<'a> {
    Null,
    Bool(bool),
    /// A non-zero integer below 2^53 in magnitude, which prints the same whatever its
    /// representation, so it needs no formatting (the frequent case: indices, counts).
    Int(i64),
    /// Any other number by its printed form.
    Num(String),
    Str(&'a str),
    Owned(Rc<str>),
    /// A borrowed document by address (it outlives the evaluation).
    Doc(usize),
    /// A collection built during evaluation by address, kept alive by the key so that the
    /// address cannot be reused by another value while the memo exists.
    Built(usize, Keep<'a>),
}

/// A value held by a memo key, ignored by comparisons (its address is the key).
pub(super) struct Keep<'a>(#[allow(dead_code)] V<'a>);

impl PartialEq for Keep<'_> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Keep<'_> {}

impl PartialOrd for Keep<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Keep<'_> {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl<'a> MemoKey<'a> {
    pub(super) fn of(v: &V<'a>) -> MemoKey<'a> {
        match v {
            V::Null => MemoKey::Null,
            V::Bool(b) => MemoKey::Bool(*b),
            V::Num(n) => match small_int(&n.0) {
                Some(i) => MemoKey::Int(i),
                None => MemoKey::Num(format!("{:?}", n.0)),
            },
            V::Str(Str::B(s)) => MemoKey::Str(s),
            V::Str(Str::O(s)) => MemoKey::Owned(s.clone()),
            V::Json(j) => MemoKey::Doc(std::ptr::from_ref(*j) as usize),
            V::Arr(a) => MemoKey::Built(Rc::as_ptr(a) as *const u8 as usize, Keep(v.clone())),
            V::Set(s) => MemoKey::Built(Rc::as_ptr(s) as *const u8 as usize, Keep(v.clone())),
            V::Obj(o) => MemoKey::Built(Rc::as_ptr(o) as *const u8 as usize, Keep(v.clone())),
        }
    }
}

/// An integer whose printed form is its decimal digits in every representation regorus
/// has (an integral float below 2^53 prints exactly; `-0.0` prints as `-0`, so zero is
/// left to the printed key, as are larger floats, which print rounded).
pub(crate) fn small_int(n: &regorus::Value) -> Option<i64> {
    const LIMIT: u64 = 1 << 53;
    let i = n.as_number().ok()?.as_i64()?;
    (i != 0 && i.unsigned_abs() < LIMIT).then_some(i)
}

#[cfg(test)]
mod tests {
    use super::small_int;
    use regorus::Value;

    #[test]
    fn only_integers_that_print_alike_skip_formatting() {
        assert_eq!(small_int(&Value::from(7u64)), Some(7));
        assert_eq!(small_int(&Value::from(7.0f64)), Some(7));
        assert_eq!(small_int(&Value::from(-3i64)), Some(-3));
        assert_eq!(small_int(&Value::from(i64::MIN)), None);
        assert_eq!(small_int(&Value::from(-0.0f64)), None);
        assert_eq!(small_int(&Value::from(0u64)), None);
        assert_eq!(small_int(&Value::from(1.5f64)), None);
        assert_eq!(small_int(&Value::from((1u64 << 60) as f64)), None);
    }
}
