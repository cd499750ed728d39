//! Results kept for a whole request, across the constraints of one template: the calls
//! and rules [`super::super::share`] found to depend on the review alone.
//!
//! One evaluation's values borrow the request, the program and the constraint's
//! parameters for the evaluation's lifetime; what is kept here outlives the evaluation,
//! so it holds only what owns itself: scalars and strings (a string borrowed from the
//! request is copied, up to [`MAX_COPY`] bytes). A result that is a document of the
//! request or a built collection is not kept; each constraint computes it again, as
//! without sharing. Keys name documents and borrowed strings by address, which is sound
//! because a shared call's arguments come only from the request, the inventory and the
//! program's constants (the analysis sees to that), all alive and unchanged for the
//! whole request, the program kept alive by the memo itself ([`RequestMemo`]).
//!
//! Memory: every entry was first computed, and held, by an evaluation's own memo; the
//! memo of a template stops taking entries at [`MAX_ENTRIES`] and copies at most
//! [`MAX_COPIED`] bytes of strings, so a hostile request cannot make it grow past a bound
//! set here, and the request's deadline still bounds the work.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;

use smallvec::SmallVec;

use super::super::ir::RuleId;
use super::super::value::{Str, V};
use super::super::Compiled;
use super::memo::small_int;

/// Longest borrowed string copied into a kept result; a longer one is not kept.
pub(crate) const MAX_COPY: usize = 4096;

/// Most bytes of borrowed strings one template's memo copies for one request; past it,
/// results that would need a copy are not kept.
pub(crate) const MAX_COPIED: usize = 1 << 20;

/// Most entries (calls and rules) one template's memo keeps for one request.
pub(crate) const MAX_ENTRIES: usize = 1 << 16;

/// An argument of a shared call as a key that outlives one evaluation.
#[derive(PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) enum SharedKey {
    Null,
    Bool(bool),
    Int(i64),
    /// Any other number by its printed form.
    Num(String),
    /// A string borrowed from the request or the program, by address and length.
    At(usize, usize),
    /// A string built during evaluation, by content.
    Owned(Rc<str>),
    /// A document of the request or the inventory, by address.
    Doc(usize),
}

impl SharedKey {
    /// The key of an argument; `None` for a collection built during evaluation (such a
    /// call is not shared).
    fn of(v: &V<'_>) -> Option<SharedKey> {
        Some(match v {
            V::Null => SharedKey::Null,
            V::Bool(b) => SharedKey::Bool(*b),
            V::Num(n) => match small_int(&n.0) {
                Some(i) => SharedKey::Int(i),
                None => SharedKey::Num(format!("{:?}", n.0)),
            },
            V::Str(Str::B(s)) => SharedKey::At(s.as_ptr() as usize, s.len()),
            V::Str(Str::O(s)) => SharedKey::Owned(s.clone()),
            V::Json(j) => SharedKey::Doc(std::ptr::from_ref(*j) as usize),
            V::Arr(_) | V::Set(_) | V::Obj(_) => return None,
        })
    }
}

/// A call's key: the function and its arguments.
pub(crate) type CallKey = (RuleId, SmallVec<[SharedKey; 3]>);

/// The key of a call, when every argument has one.
pub(crate) fn call_key(id: RuleId, args: &[V<'_>]) -> Option<CallKey> {
    let mut keys = SmallVec::new();
    for a in args {
        keys.push(SharedKey::of(a)?);
    }
    Some((id, keys))
}

/// The bytes [`owned`] copies to keep `v` (`None`: it cannot be kept).
fn copy_cost(v: &V<'_>) -> Option<usize> {
    match v {
        V::Null | V::Bool(_) | V::Num(_) | V::Str(Str::O(_)) => Some(0),
        V::Str(Str::B(s)) if s.len() <= MAX_COPY => Some(s.len()),
        _ => None,
    }
}

/// A value that owns itself, if it can be made one (see [`copy_cost`]).
fn owned(v: &V<'_>) -> Option<V<'static>> {
    Some(match v {
        V::Null => V::Null,
        V::Bool(b) => V::Bool(*b),
        V::Num(n) => V::Num(n.clone()),
        V::Str(Str::O(s)) => V::Str(Str::O(s.clone())),
        V::Str(Str::B(s)) if s.len() <= MAX_COPY => V::Str(Str::O(Rc::from(*s))),
        _ => return None,
    })
}

/// One template's kept results for one request.
#[derive(Default)]
pub(crate) struct TemplateMemo {
    calls: RefCell<BTreeMap<CallKey, Option<V<'static>>>>,
    rules: RefCell<HashMap<RuleId, Option<V<'static>>>>,
    entries: Cell<usize>,
    copied: Cell<usize>,
}

impl TemplateMemo {
    /// A kept call result (`Some(None)`: the call is undefined).
    pub(crate) fn call(&self, key: &CallKey) -> Option<Option<V<'static>>> {
        self.calls.borrow().get(key).cloned()
    }

    /// Keep a call result, when it owns itself and the memo has room.
    pub(crate) fn keep_call(&self, key: CallKey, v: &Option<V<'_>>) {
        let Some(v) = self.keepable(v) else {
            return;
        };
        if self.calls.borrow_mut().insert(key, v).is_none() {
            self.entries.set(self.entries.get() + 1);
        }
    }

    /// A kept rule value.
    pub(crate) fn rule(&self, id: RuleId) -> Option<Option<V<'static>>> {
        self.rules.borrow().get(&id).cloned()
    }

    /// Keep a rule value, when it owns itself and the memo has room.
    pub(crate) fn keep_rule(&self, id: RuleId, v: &Option<V<'_>>) {
        let Some(v) = self.keepable(v) else {
            return;
        };
        if self.rules.borrow_mut().insert(id, v).is_none() {
            self.entries.set(self.entries.get() + 1);
        }
    }

    fn keepable(&self, v: &Option<V<'_>>) -> Option<Option<V<'static>>> {
        if self.entries.get() >= MAX_ENTRIES {
            return None;
        }
        let Some(v) = v else {
            return Some(None);
        };
        let copied = self.copied.get().checked_add(copy_cost(v)?)?;
        if copied > MAX_COPIED {
            return None;
        }
        let kept = owned(v)?;
        self.copied.set(copied);
        Some(Some(kept))
    }

    /// Number of kept results.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.get()
    }
}

/// The kept results of one request, by template. Each entry holds its template's
/// program, so that the program (whose constants kept keys name by address) outlives it.
#[derive(Default)]
pub(crate) struct RequestMemo {
    templates: RefCell<HashMap<usize, Kept>>,
}

/// A template (by its program's address) with its memo.
type Kept = (Arc<Compiled>, Rc<TemplateMemo>);

impl std::fmt::Debug for RequestMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestMemo")
            .field("templates", &self.templates.borrow().len())
            .finish()
    }
}

impl RequestMemo {
    /// The memo of `template` for this request (made on first use), or `None` when the
    /// template shares nothing.
    pub(crate) fn template(&self, template: &Arc<Compiled>) -> Option<Rc<TemplateMemo>> {
        if !template.program.shares {
            return None;
        }
        let addr = Arc::as_ptr(template) as usize;
        let mut map = self.templates.borrow_mut();
        let entry = map
            .entry(addr)
            .or_insert_with(|| (Arc::clone(template), Rc::default()));
        Some(Rc::clone(&entry.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: i64) -> CallKey {
        call_key(0, &[V::int(i + 1)]).expect("an integer has a key")
    }

    #[test]
    fn the_memo_stops_at_its_entry_limit() {
        let memo = TemplateMemo::default();
        for i in 0..(MAX_ENTRIES as i64 + 100) {
            memo.keep_call(key(i), &Some(V::Bool(true)));
        }
        assert_eq!(memo.len(), MAX_ENTRIES);
        assert!(memo.call(&key(0)).is_some());
        assert!(memo.call(&key(MAX_ENTRIES as i64 + 50)).is_none());
    }

    #[test]
    fn borrowed_strings_are_copied_within_a_budget_and_documents_are_not_kept() {
        let memo = TemplateMemo::default();
        let text = "x".repeat(MAX_COPY);
        let fits = MAX_COPIED / MAX_COPY;
        for i in 0..(fits as i64 + 10) {
            memo.keep_call(key(i), &Some(V::Str(Str::B(&text))));
        }
        assert_eq!(memo.len(), fits, "copies stop at the byte budget");
        // What needs no copy is still kept; a longer string or a document never is.
        memo.keep_call(key(-1), &None);
        memo.keep_call(key(-2), &Some(V::int(7)));
        let long = "y".repeat(MAX_COPY + 1);
        let fresh = TemplateMemo::default();
        fresh.keep_call(key(1), &Some(V::Str(Str::B(&long))));
        let doc = serde_json::json!({"a": 1});
        fresh.keep_call(key(2), &Some(V::Json(&doc)));
        fresh.keep_call(key(3), &Some(V::Arr(Rc::new(vec![V::Null]))));
        assert_eq!(memo.len(), fits + 2);
        assert_eq!(fresh.len(), 0);
        // A kept string owns its text.
        drop(text);
        assert!(matches!(
            memo.call(&key(0)),
            Some(Some(V::Str(Str::O(s)))) if s.len() == MAX_COPY
        ));
    }

    #[test]
    fn built_collections_as_arguments_are_not_shared() {
        assert!(call_key(0, &[V::Arr(Rc::new(Vec::new()))]).is_none());
        assert!(call_key(0, &[V::string("a"), V::Null]).is_some());
    }
}
