//! The walk every mutator shares: follow a location through an object, honour the
//! `pathTests`, create missing parents and keyed list elements, and hand the last field to
//! a kind-specific setter.
//!
//! Semantics follow Gatekeeper's core mutation function: a missing object field is created
//! (as an object or list, from the next step), a missing `[key: value]` element is appended
//! with its key field set, a glob `[key: *]` never creates anything, and nothing created on
//! the way is kept unless the setter changed something beneath it.

use std::cell::Cell;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::path::{Node, Path};
use crate::deadline::{Deadline, Pacer};

/// What applying a mutator may spend: the request's deadline, checked through a pacer at
/// every list element a walk visits (a glob location visits every element of a list the
/// tenant wrote), and the number of places one application may change.
#[derive(Debug)]
pub struct Budget {
    /// Paces the request's deadline.
    pub pacer: Pacer,
    /// Places one application may change (see [`super::MutationLimits`]).
    pub max_changes: usize,
    /// Bytes of JSON one application may write into the object, counting each change as
    /// the field name and the value it sets ([`Setter::weight`]).
    pub max_written: usize,
}

impl Budget {
    /// Under `deadline`, at most `max_changes` changes and `max_written` bytes written
    /// per application.
    pub fn new(deadline: Deadline, max_changes: usize, max_written: usize) -> Self {
        Budget {
            pacer: deadline.pacer(),
            max_changes,
            max_written,
        }
    }

    /// No deadline and no limits: [`super::Mutator::apply`] outside admission.
    pub fn unlimited() -> Self {
        Budget::new(Deadline::NONE, usize::MAX, usize::MAX)
    }
}

/// Length of `v` as compact JSON, without building the text.
pub fn json_len(v: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing JSON values to a counter cannot fail.
    let _ = serde_json::to_writer(&mut count, v);
    count.0
}

/// Why a walk stopped without finishing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalkError {
    /// The object's shape does not fit the location; the text says where.
    Shape(String),
    /// The deadline passed.
    Deadline,
    /// The mutator changed more places than [`Budget::max_changes`].
    TooManyChanges,
    /// The mutator wrote more bytes than [`Budget::max_written`].
    TooMuchWritten,
}

impl From<String> for WalkError {
    fn from(e: String) -> Self {
        WalkError::Shape(e)
    }
}

impl From<crate::deadline::DeadlineExceeded> for WalkError {
    fn from(_: crate::deadline::DeadlineExceeded) -> Self {
        WalkError::Deadline
    }
}

/// A `pathTests[].condition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// The sub path must exist for the mutation to happen.
    MustExist,
    /// The sub path must be absent for the mutation to happen.
    MustNotExist,
}

impl Condition {
    /// Parse the wire form.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "MustExist" => Ok(Condition::MustExist),
            "MustNotExist" => Ok(Condition::MustNotExist),
            other => Err(format!(
                "{other:?} is not a valid path test condition (MustExist, MustNotExist)"
            )),
        }
    }
}

/// Conditions indexed by the depth of the last node of each sub path.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tester {
    tests: BTreeMap<usize, Condition>,
}

impl Tester {
    /// Check the tests against the location: each sub path must be a prefix of it, one
    /// node may not be both MustExist and MustNotExist, and nothing below a MustNotExist
    /// node may be required to exist.
    pub fn new(location: &Path, tests: &[(Path, Condition)]) -> Result<Self, String> {
        let mut map = BTreeMap::new();
        for (sub, cond) in tests {
            if sub.nodes.is_empty() {
                return Err("pathTests subPath must not be empty".to_string());
            }
            if !sub.is_prefix_of(location) {
                return Err(format!(
                    "pathTests subPath {:?} is not a prefix of location {:?}",
                    sub.to_string(),
                    location.to_string()
                ));
            }
            let depth = sub.nodes.len() - 1;
            if let Some(prev) = map.insert(depth, *cond) {
                if prev != *cond {
                    return Err(format!(
                        "pathTests subPath {:?} is marked both MustExist and MustNotExist",
                        sub.to_string()
                    ));
                }
            }
        }
        let lowest_must_not = map
            .iter()
            .find(|(_, c)| **c == Condition::MustNotExist)
            .map(|(d, _)| *d);
        let highest_must = map
            .iter()
            .rev()
            .find(|(_, c)| **c == Condition::MustExist)
            .map(|(d, _)| *d);
        if let (Some(not), Some(must)) = (lowest_must_not, highest_must) {
            if must > not {
                return Err(format!(
                    "pathTests mark {:?} MustExist but its parent {:?} MustNotExist",
                    Path {
                        nodes: location.nodes[..=must].to_vec()
                    }
                    .to_string(),
                    Path {
                        nodes: location.nodes[..=not].to_vec()
                    }
                    .to_string()
                ));
            }
        }
        Ok(Tester { tests: map })
    }

    /// A tester with one condition at a depth (AssignMetadata never overwrites).
    pub fn single(depth: usize, cond: Condition) -> Self {
        Tester {
            tests: BTreeMap::from([(depth, cond)]),
        }
    }

    fn exists_ok(&self, depth: usize) -> bool {
        self.tests.get(&depth) != Some(&Condition::MustNotExist)
    }

    fn missing_ok(&self, depth: usize) -> bool {
        self.tests.get(&depth) != Some(&Condition::MustExist)
    }
}

/// What a mutator kind does at the end of the location.
pub trait Setter {
    /// Set `obj[key]`; returns whether the object changed (or, when `commit` is false,
    /// would change: nothing is written then). One function serves both so that the
    /// dry run the fixed-point loop relies on can never disagree with the real change.
    fn set(&self, obj: &mut Map<String, Value>, key: &str, commit: bool) -> Result<bool, String>;

    /// The whole element to put at a location ending in `[key: value]`; `None` when this
    /// kind cannot target a keyed list element.
    fn list_element(&self) -> Option<&Value>;

    /// At most how many bytes of JSON one change writes, the field name aside: what
    /// [`Budget::max_written`] counts, so that a large value assigned in many places is
    /// stopped before the object has grown by all of them.
    fn weight(&self) -> usize;
}

/// Walk `path` through `obj` and apply `setter`; returns whether `obj` changed. With
/// `commit` false `obj` is left as it is and the result says whether it would change,
/// which lets the caller find out whether a pass changes anything before doing any work
/// for it. Each list element visited is a step of `budget`'s pacer; each place the setter
/// changes counts against its changes.
pub fn apply(
    path: &Path,
    tester: &Tester,
    setter: &dyn Setter,
    obj: &mut Value,
    commit: bool,
    budget: &Budget,
) -> Result<bool, WalkError> {
    if path.nodes.is_empty() {
        return Err(WalkError::Shape(
            "attempting to mutate an empty location".to_string(),
        ));
    }
    Walk {
        path,
        tester,
        setter,
        commit,
        budget,
        changes: Cell::new(0),
        weight: setter.weight(),
        written: Cell::new(0),
    }
    .step(obj, 0)
}

struct Walk<'a> {
    path: &'a Path,
    tester: &'a Tester,
    setter: &'a dyn Setter,
    /// False for a dry run: fresh parents are still built (they are private until
    /// inserted) but nothing reaches the walked object.
    commit: bool,
    budget: &'a Budget,
    /// Places changed so far by this application.
    changes: Cell<usize>,
    /// [`Setter::weight`] of the setter.
    weight: usize,
    /// Bytes written so far by this application.
    written: Cell<usize>,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

impl Walk<'_> {
    fn is_last(&self, depth: usize) -> bool {
        depth + 1 == self.path.nodes.len()
    }

    /// Count one changed place, where `key` bytes of field name were written besides the
    /// value; refuse once there are more changes or bytes than the budget allows.
    fn changed(&self, key: usize) -> Result<bool, WalkError> {
        let n = self.changes.get() + 1;
        self.changes.set(n);
        if n > self.budget.max_changes {
            return Err(WalkError::TooManyChanges);
        }
        let bytes = self
            .written
            .get()
            .saturating_add(self.weight)
            .saturating_add(key);
        self.written.set(bytes);
        if bytes > self.budget.max_written {
            return Err(WalkError::TooMuchWritten);
        }
        Ok(true)
    }

    fn mismatch(&self, depth: usize, want: &str, got: &Value) -> String {
        format!(
            "location {:?} expects {want} at {:?} but the object has a {}",
            self.path.to_string(),
            Path {
                nodes: self.path.nodes[..=depth].to_vec()
            }
            .to_string(),
            type_name(got)
        )
    }

    /// A fresh value for the node after `depth`, with the key set when `depth` is a
    /// keyed list selector.
    fn create_missing(&self, depth: usize) -> Result<Value, String> {
        let mut next = match self.path.nodes.get(depth + 1) {
            Some(Node::List { .. }) => Value::Array(Vec::new()),
            _ => Value::Object(Map::new()),
        };
        if let Node::List { key, value } = &self.path.nodes[depth] {
            let Some(value) = value else {
                return Err("a glob list selector cannot create elements".to_string());
            };
            match next.as_object_mut() {
                Some(m) => {
                    m.insert(key.clone(), value.to_json());
                }
                None => return Err("two consecutive list selectors are not allowed".into()),
            }
        }
        Ok(next)
    }

    fn step(&self, current: &mut Value, depth: usize) -> Result<bool, WalkError> {
        match &self.path.nodes[depth] {
            Node::Object(field) => self.step_object(current, depth, field),
            Node::List { key, value } => {
                let Value::Array(items) = current else {
                    return Err(self.mismatch(depth, "a list", current).into());
                };
                if self.is_last(depth) {
                    return self.set_element(items, depth, key, value.as_ref());
                }
                self.step_list(items, depth, key, value.as_ref())
            }
        }
    }

    fn step_object(
        &self,
        current: &mut Value,
        depth: usize,
        field: &str,
    ) -> Result<bool, WalkError> {
        let Value::Object(map) = current else {
            return Err(self.mismatch(depth, "an object", current).into());
        };
        let exists = map.contains_key(field);
        if exists && !self.tester.exists_ok(depth) || !exists && !self.tester.missing_ok(depth) {
            return Ok(false);
        }
        if self.is_last(depth) {
            return match self.setter.set(map, field, self.commit)? {
                true => self.changed(field.len()),
                false => Ok(false),
            };
        }
        if let Some(next) = map.get_mut(field) {
            return self.step(next, depth + 1);
        }
        let mut next = self.create_missing(depth)?;
        let changed = self.step(&mut next, depth + 1)?;
        if changed && self.commit {
            map.insert(field.to_string(), next);
        }
        Ok(changed)
    }

    fn step_list(
        &self,
        items: &mut Vec<Value>,
        depth: usize,
        key: &str,
        value: Option<&super::path::KeyValue>,
    ) -> Result<bool, WalkError> {
        let pacer = &self.budget.pacer;
        let Some(want) = value else {
            if !self.tester.exists_ok(depth) {
                return Ok(false);
            }
            let mut changed = false;
            for item in items.iter_mut() {
                pacer.tick()?;
                changed |= self.step(item, depth + 1)?;
            }
            return Ok(changed);
        };
        let mut found: Vec<usize> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            pacer.tick()?;
            if item.get(key).is_some_and(|v| want.matches(v)) {
                found.push(i);
            }
        }
        if found.is_empty() {
            if !self.tester.missing_ok(depth) {
                return Ok(false);
            }
            let mut next = self.create_missing(depth)?;
            let changed = self.step(&mut next, depth + 1)?;
            if changed && self.commit {
                items.push(next);
            }
            return Ok(changed);
        }
        if !self.tester.exists_ok(depth) {
            return Ok(false);
        }
        let mut changed = false;
        for i in found {
            pacer.tick()?;
            if let Some(item) = items.get_mut(i) {
                changed |= self.step(item, depth + 1)?;
            }
        }
        Ok(changed)
    }

    fn set_element(
        &self,
        items: &mut Vec<Value>,
        depth: usize,
        key: &str,
        value: Option<&super::path::KeyValue>,
    ) -> Result<bool, WalkError> {
        let Some(want) = value else {
            return Err(WalkError::Shape(
                "the last node of a location cannot be a glob".to_string(),
            ));
        };
        let Some(new) = self.setter.list_element() else {
            return Err(WalkError::Shape(
                "this mutator kind cannot set a keyed list element".to_string(),
            ));
        };
        if !new.get(key).is_some_and(|v| want.matches(v)) {
            return Err(WalkError::Shape(format!(
                "the assigned element must keep the key {key:?} equal to the location's key"
            )));
        }
        for item in items.iter_mut() {
            self.budget.pacer.tick()?;
            let Value::Object(obj) = item else {
                return Err(self.mismatch(depth, "a list of objects", item).into());
            };
            if obj.get(key).is_some_and(|v| want.matches(v)) {
                if !self.tester.exists_ok(depth) {
                    return Ok(false);
                }
                if *item == *new {
                    return Ok(false);
                }
                if self.commit {
                    *item = new.clone();
                }
                return self.changed(0);
            }
        }
        if !self.tester.missing_ok(depth) {
            return Ok(false);
        }
        if self.commit {
            items.push(new.clone());
        }
        self.changed(0)
    }
}
