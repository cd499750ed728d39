//! Evaluation of a compiled program against one review.
//!
//! Queries are solved by depth-first search with continuations: each statement binds what
//! it can and calls the rest of the query once per solution, undoing its bindings after.
//! Expressions are evaluated directly ([`Ctx::eval`]); `None` is Rego's undefined. Rules
//! without arguments are evaluated at most once per review and kept in a cache.
//!
//! Conflicts and errors follow the regorus interpreter in non-strict mode: a complete rule
//! or function with two different values is an error, a builtin's type error is undefined,
//! and a function body that fails with an error is ignored when another body of the same
//! function gives a value.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use serde_json::Value as Json;

use super::fold::Fold;
use super::ir::{Clause, Def, Expr, Pattern, Program, Rule, RuleId, RuleKind, Slot, Stmt};
use super::value::V;
use crate::deadline::{Deadline, DeadlineExceeded, Pacer};
use memo::MemoKey;

mod expr;
mod memo;
mod shared;

pub(crate) use expr::constant;
pub(crate) use memo::small_int;
pub(crate) use shared::{RequestMemo, TemplateMemo};

/// Why an evaluation stopped without a value.
#[derive(Debug, Clone)]
pub(crate) enum EvalError {
    /// The program failed (conflicting values, arithmetic on non-numbers, a value past
    /// its size limit, ...).
    Failed(String),
    /// The request's deadline passed. Never ignored where other errors are (a function
    /// body that fails while another gives a value): it ends the whole evaluation.
    Deadline,
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EvalError::Failed(m) => f.write_str(m),
            EvalError::Deadline => f.write_str("evaluation deadline exceeded"),
        }
    }
}

impl From<DeadlineExceeded> for EvalError {
    fn from(_: DeadlineExceeded) -> Self {
        EvalError::Deadline
    }
}

type Res<T> = Result<T, EvalError>;

fn fail<T>(msg: impl Into<String>) -> Res<T> {
    Err(EvalError::Failed(msg.into()))
}

/// Most elements a collection built during evaluation may hold (a comprehension, a set
/// or object rule, a builtin's result). Each element costs some 50 to 100 bytes, so this
/// is 50 to 100 MB: far beyond any policy's need (a Pod of 60,000 containers, each
/// violating, makes a `violation` set of 60,000), and the memory one evaluation may take
/// before its deadline is met.
pub(crate) const MAX_COLLECTION_LEN: usize = 1_000_000;

/// Most bytes a string built during evaluation may hold. Go's `fmt` (and so OPA's
/// `sprintf`) refuses widths past 10^6 digits' worth; 16 MiB is above anything a
/// well-formed builtin call makes from a request the admission gate accepts.
pub(crate) const MAX_STRING_BYTES: usize = 16 << 20;

/// Work (elements visited by a builtin) from which a call reads the clock at once rather
/// than counting one step of the pacer: one such call may take as long as
/// [`crate::deadline::Pacer::EVERY`] ordinary steps.
const HEAVY_WORK: usize = 1024;

/// Whether the search goes on after a solution.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Look for more solutions.
    Go,
    /// One solution was enough.
    Stop,
}

/// Memoized function results: by function (indexed by rule, made on the first call, since
/// most evaluations call few of a template's rules), then by arguments. Each function's map
/// holds only its own calls, so a lookup compares arguments, never rule ids.
type Memo<'a> = Vec<BTreeMap<smallvec::SmallVec<[MemoKey<'a>; 3]>, Option<V<'a>>>>;

/// The arguments of a call.
type Args<'a> = smallvec::SmallVec<[V<'a>; 4]>;

/// The distinct values of a body: nearly always one.
type Outs<'a> = smallvec::SmallVec<[V<'a>; 2]>;

/// Values a body may give before their distinctness is checked with a set.
const LINEAR_DISTINCT: usize = 8;

/// The variables of one rule body.
pub(crate) type Frame<'a> = Vec<Option<V<'a>>>;

/// What is called with each solution of a query.
type Cont<'k, 'a> = &'k mut dyn FnMut(&Ctx<'a>, &mut Frame<'a>) -> Res<Flow>;

/// What is called with each solution of a definition of a partial rule.
type PartialCont<'k, 'a> =
    &'k mut dyn FnMut(&Ctx<'a>, &'a Def, &'a Clause, &mut Frame<'a>) -> Res<Flow>;

/// Stack left below which a nested rule runs on a new segment. One rule's own
/// expressions, bounded by the source limits of [`crate::engine::rego::nesting`], take
/// about 1 MiB at most on a debug build (a few times less in release).
const STACK_RED_ZONE: usize = 2 << 20;

/// Size of a new stack segment (address space, committed only as it is used).
const STACK_SEGMENT: usize = 8 << 20;

/// Bound on nested rule and function evaluations. Rego has no recursion and the compiler
/// refuses cycles, so the nesting is bounded by the number of rules, which the loader
/// bounds ([`crate::engine::rego::MAX_RULES`]); this is a second fence, above it so that
/// both paths evaluate the same templates. Nesting runs on stack segments of its own
/// (see [`Ctx::deeper`]).
const MAX_DEPTH: u32 = 1024;

/// One evaluation: the program, the documents it reads and the rule cache.
pub(crate) struct Ctx<'a> {
    prog: &'a Program,
    review: &'a Json,
    params: &'a Json,
    inventory: Option<&'a Json>,
    cache: RefCell<Vec<Option<Option<V<'a>>>>>,
    depth: Cell<u32>,
    /// `input` as one object, built on first use (`object.get(input, ..)` in the library).
    input: std::cell::OnceCell<V<'a>>,
    /// Results of user function calls by function and arguments. Functions are pure
    /// within one evaluation, and the library calls the same ones again and again (the
    /// parameters' quantities are parsed once per container and per rule body).
    memo: RefCell<Memo<'a>>,
    /// Frames of finished calls, reused to spare an allocation per call.
    frames: RefCell<Vec<Frame<'a>>>,
    /// Bind-time results of the folded expressions.
    folds: &'a [Fold],
    /// Evaluating at bind time: reading the review (or `input` as a whole, or the
    /// inventory) is noted in `touched` and makes the result unusable.
    binding: Cell<bool>,
    touched: Cell<bool>,
    /// The request's deadline, read every so many steps (iterations, calls, solutions).
    pacer: Pacer,
    /// Results kept across the constraints of the template for this request (see
    /// [`super::share`]); none at bind time.
    shared: Option<&'a TemplateMemo>,
}

impl<'a> Ctx<'a> {
    /// An evaluation of `prog` on `input.review`, `input.parameters` and `data.inventory`.
    pub(crate) fn new(
        prog: &'a Program,
        review: &'a Json,
        params: &'a Json,
        inventory: Option<&'a Json>,
        folds: &'a [Fold],
        deadline: Deadline,
    ) -> Self {
        Ctx {
            prog,
            review,
            params,
            inventory,
            cache: RefCell::new(vec![None; prog.rules.len()]),
            depth: Cell::new(0),
            input: std::cell::OnceCell::new(),
            memo: RefCell::new(Vec::new()),
            frames: RefCell::new(Vec::new()),
            folds,
            binding: Cell::new(false),
            touched: Cell::new(false),
            pacer: deadline.pacer(),
            shared: None,
        }
    }

    /// Keep and reuse shared results in `memo` (see [`super::share`]).
    pub(crate) fn with_shared(mut self, memo: Option<&'a TemplateMemo>) -> Self {
        self.shared = memo;
        self
    }

    /// Count one step of evaluation against the deadline.
    #[inline]
    pub(crate) fn tick(&self) -> Res<()> {
        Ok(self.pacer.tick()?)
    }

    /// Count a step that visited `work` elements: a heavy one reads the clock at once.
    pub(crate) fn work(&self, work: usize) -> Res<()> {
        if work >= HEAVY_WORK {
            Ok(self.pacer.deadline().check()?)
        } else {
            self.tick()
        }
    }

    /// Mark this evaluation as the bind-time one (see [`super::fold`]).
    pub(crate) fn binding(&self) {
        self.binding.set(true);
    }

    /// Whether a bind-time evaluation read the review, `input` or the inventory.
    pub(crate) fn touched(&self) -> bool {
        self.touched.get()
    }

    fn touch(&self) {
        if self.binding.get() {
            self.touched.set(true);
        }
    }

    /// The value of `violation`.
    pub(crate) fn violations(&self) -> Res<Option<V<'a>>> {
        self.rule(self.prog.entry)
    }

    /// An empty frame of `n` slots.
    fn frame(&self, n: u32) -> Frame<'a> {
        let mut fr = self.frames.borrow_mut().pop().unwrap_or_default();
        fr.clear();
        fr.resize(n as usize, None);
        fr
    }

    /// Give a frame back for reuse.
    fn recycle(&self, mut fr: Frame<'a>) {
        fr.clear();
        self.frames.borrow_mut().push(fr);
    }

    /// Run `f` one rule or call deeper, on a fresh stack segment when this one runs low:
    /// the nesting of rules follows the policy (a chain of rules each naming the next),
    /// and a stack overflow would abort the process.
    fn deeper<T>(&self, f: impl FnOnce() -> Res<T>) -> Res<T> {
        self.enter()?;
        let r = stacker::maybe_grow(STACK_RED_ZONE, STACK_SEGMENT, f);
        self.leave();
        r
    }

    fn enter(&self) -> Res<()> {
        self.tick()?;
        let d = self.depth.get() + 1;
        if d > MAX_DEPTH {
            return fail("rule evaluation nested too deeply");
        }
        self.depth.set(d);
        Ok(())
    }

    fn leave(&self) {
        self.depth.set(self.depth.get().saturating_sub(1));
    }

    /// The value of a rule without arguments, computed once per evaluation.
    fn rule(&self, id: RuleId) -> Res<Option<V<'a>>> {
        if let Some(v) = self.cache.borrow().get(id).and_then(Clone::clone) {
            return Ok(v);
        }
        let shared = match self.shared {
            Some(m) if self.prog.shared_rules.get(id).copied().unwrap_or(false) => Some(m),
            _ => None,
        };
        let kept = shared.and_then(|m| m.rule(id));
        let v = match kept {
            Some(v) => {
                self.tick()?;
                v
            }
            None => {
                let v = self.deeper(|| self.compute(id))?;
                if let Some(m) = shared {
                    m.keep_rule(id, &v);
                }
                v
            }
        };
        if let Some(slot) = self.cache.borrow_mut().get_mut(id) {
            *slot = Some(v.clone());
        }
        Ok(v)
    }

    fn compute(&self, id: RuleId) -> Res<Option<V<'a>>> {
        let rule = &self.prog.rules[id];
        match rule.kind {
            RuleKind::Complete => {
                let mut out: Option<V<'a>> = None;
                let only_true = all_true(&rule.defs);
                for def in &rule.defs {
                    let mut fr = self.frame(def.slots);
                    let v = self.clauses(&def.clauses, &mut fr, only_true)?;
                    self.recycle(fr);
                    for v in v {
                        match &out {
                            Some(o) if *o != v => {
                                return fail(format!(
                                    "{}: complete rules should not produce multiple outputs",
                                    rule.name
                                ))
                            }
                            _ => out = Some(v),
                        }
                    }
                    if only_true && out.is_some() {
                        break;
                    }
                }
                match (out, &rule.default) {
                    (None, Some(d)) => self.eval(d, &mut Vec::new()),
                    (out, _) => Ok(out),
                }
            }
            RuleKind::Set => {
                let mut set = BTreeSet::new();
                self.partial(rule, &mut |cx, def, _, fr| {
                    if let Some(key) = &def.key {
                        if let Some(k) = cx.eval(key, fr)? {
                            set.insert(k);
                            capped(set.len(), &rule.name)?;
                        }
                    }
                    Ok(Flow::Go)
                })?;
                Ok(Some(V::Set(Rc::new(set))))
            }
            RuleKind::Object => {
                let mut map: BTreeMap<V<'a>, V<'a>> = BTreeMap::new();
                self.partial(rule, &mut |cx, def, clause, fr| {
                    let (Some(key), Some(value)) = (&def.key, &clause.value) else {
                        return Ok(Flow::Go);
                    };
                    let (Some(k), Some(v)) = (cx.eval(key, fr)?, cx.eval(value, fr)?) else {
                        return Ok(Flow::Go);
                    };
                    match map.get(&k) {
                        Some(old) if *old != v => {
                            fail(format!("{}: object keys must be unique", rule.name))
                        }
                        _ => {
                            map.insert(k, v);
                            capped(map.len(), &rule.name)
                        }
                    }
                })?;
                Ok(Some(V::Obj(Rc::new(map))))
            }
            RuleKind::Function(_) => fail(format!("{}: function used as a value", rule.name)),
        }
    }

    /// Call `k` with every solution of every definition of a partial set or object rule
    /// (a partial rule's definitions have one clause each). The definitions of a group
    /// solve their common beginning once, in a frame they share, and each goes on from
    /// every solution of it (see [`super::group`]).
    fn partial(&self, rule: &'a Rule, k: PartialCont<'_, 'a>) -> Res<()> {
        for g in &rule.groups {
            let Some(first) = g.defs.first().and_then(|&i| rule.defs.get(i)) else {
                continue;
            };
            let Some(prefix) = first.clauses.first().and_then(|c| c.query.get(..g.prefix)) else {
                continue;
            };
            let mut fr = self.frame(g.slots);
            self.run(prefix, &mut fr, &mut |cx, fr| {
                for def in g.defs.iter().filter_map(|&i| rule.defs.get(i)) {
                    let Some(clause) = def.clauses.first() else {
                        continue;
                    };
                    let rest = clause.query.get(g.prefix..).unwrap_or_default();
                    cx.run(rest, fr, &mut |cx, fr| k(cx, def, clause, fr))?;
                }
                Ok(Flow::Go)
            })?;
            self.recycle(fr);
        }
        Ok(())
    }

    /// The distinct values of the first clause of an `else` chain that has a solution.
    /// `first_only`: every value is `true`, so one solution is enough.
    fn clauses(
        &self,
        clauses: &'a [Clause],
        fr: &mut Frame<'a>,
        first_only: bool,
    ) -> Res<Outs<'a>> {
        // Distinct values in first-seen order. Nearly every body gives one value, kept
        // inline; past a few, a set makes each check logarithmic, so a body with many
        // solutions is not quadratic.
        let mut outs: Outs<'a> = Outs::new();
        let mut seen: Option<BTreeSet<V<'a>>> = None;
        for clause in clauses {
            let mut any = false;
            self.run(&clause.query, fr, &mut |cx, fr| {
                any = true;
                let v = match &clause.value {
                    Some(e) => cx.eval(e, fr)?,
                    None => Some(V::Bool(true)),
                };
                if let Some(v) = v {
                    let new = match &mut seen {
                        Some(set) => set.insert(v.clone()),
                        None => !outs.contains(&v),
                    };
                    if new {
                        outs.push(v);
                        if seen.is_none() && outs.len() > LINEAR_DISTINCT {
                            seen = Some(outs.iter().cloned().collect());
                        }
                    }
                }
                Ok(if first_only { Flow::Stop } else { Flow::Go })
            })?;
            if any {
                break;
            }
        }
        Ok(outs)
    }

    /// A function of no arguments named without parentheses (see [`Expr::ByName`]).
    fn by_name(&self, id: RuleId) -> Res<Option<V<'a>>> {
        let rule = &self.prog.rules[id];
        let Some(def) = rule.defs.first() else {
            return Ok(None);
        };
        self.deeper(|| self.by_name_def(rule, def))
    }

    fn by_name_def(
        &self,
        rule: &'a super::ir::Rule,
        def: &'a super::ir::Def,
    ) -> Res<Option<V<'a>>> {
        let mut fr = self.frame(def.slots);
        let mut result = Ok(None);
        for clause in &def.clauses {
            let mut n = 0usize;
            let mut out = None;
            let r = self.run(&clause.query, &mut fr, &mut |cx, fr| {
                n += 1;
                if n == 1 {
                    out = match &clause.value {
                        Some(e) => cx.eval(e, fr)?,
                        None => Some(V::Bool(true)),
                    };
                }
                Ok(Flow::Go)
            });
            if let Err(e) = r {
                result = Err(e);
                break;
            }
            if n > 1 {
                result = fail(format!(
                    "{}: complete rules should not produce multiple outputs",
                    rule.name
                ));
                break;
            }
            if n == 1 {
                result = Ok(out);
                break;
            }
        }
        self.recycle(fr);
        result
    }

    /// Call a user function on defined arguments.
    fn call_user(&self, id: RuleId, args: Args<'a>) -> Res<Option<V<'a>>> {
        let key: smallvec::SmallVec<[MemoKey<'a>; 3]> = args.iter().map(MemoKey::of).collect();
        if let Some(v) = self.memo.borrow().get(id).and_then(|m| m.get(&key)) {
            return Ok(v.clone());
        }
        let v = self.deeper(|| self.call_user_inner(id, &args))?;
        let mut memo = self.memo.borrow_mut();
        if memo.len() <= id {
            memo.resize_with(self.prog.rules.len().max(id + 1), BTreeMap::new);
        }
        if let Some(m) = memo.get_mut(id) {
            m.insert(key, v.clone());
        }
        Ok(v)
    }

    /// Call a user function whose result is the same for every constraint of the template
    /// (see [`super::share`]): from the request's memo when another constraint made it.
    fn call_shared(&self, id: RuleId, args: Args<'a>) -> Res<Option<V<'a>>> {
        let Some(memo) = self.shared else {
            return self.call_user(id, args);
        };
        let Some(key) = shared::call_key(id, &args) else {
            return self.call_user(id, args);
        };
        if let Some(v) = memo.call(&key) {
            self.tick()?;
            return Ok(v);
        }
        let v = self.call_user(id, args)?;
        memo.keep_call(key, &v);
        Ok(v)
    }

    fn call_user_inner(&self, id: RuleId, args: &[V<'a>]) -> Res<Option<V<'a>>> {
        let rule = &self.prog.rules[id];
        let only_true = all_true(&rule.defs);
        let mut results: Outs<'a> = Outs::new();
        let mut first_error: Option<EvalError> = None;
        for def in &rule.defs {
            // A definition for other constants (`mem_multiple("Ki")` among fourteen) is
            // passed over without a frame.
            if !constants_match(&def.params, args) {
                continue;
            }
            let mut fr = self.frame(def.slots);
            let mut matched = true;
            for (p, a) in def.params.iter().zip(args) {
                if !self.unify(p, a.clone(), &mut fr)? {
                    matched = false;
                    break;
                }
            }
            if !matched {
                self.recycle(fr);
                continue;
            }
            let outs = self.clauses(&def.clauses, &mut fr, only_true);
            self.recycle(fr);
            let outs = match outs {
                Ok(o) => o,
                Err(EvalError::Deadline) => return Err(EvalError::Deadline),
                Err(e) => {
                    first_error.get_or_insert(e);
                    continue;
                }
            };
            match outs.len() {
                0 => {}
                1 => results.extend(outs),
                _ => return fail(format!("{}: function produced multiple outputs", rule.name)),
            }
            if only_true && !results.is_empty() {
                break;
            }
        }
        if results.is_empty() {
            if let Some(e) = first_error {
                return Err(e);
            }
            return match &rule.default {
                Some(d) => self.eval(d, &mut Vec::new()),
                None => Ok(None),
            };
        }
        if results.windows(2).any(|w| w[0] != w[1]) {
            return fail(format!(
                "{}: functions must not produce multiple outputs for same inputs",
                rule.name
            ));
        }
        Ok(results.into_iter().next())
    }

    /// Solve `q` from its first statement, calling `k` for each solution. Statements
    /// that bind at most one way are solved in a loop; only generators branch, by
    /// recursion over the rest of the query. Bindings are undone before returning.
    pub(crate) fn run(&self, q: &'a [Stmt], fr: &mut Frame<'a>, k: Cont<'_, 'a>) -> Res<Flow> {
        let mut binds: smallvec::SmallVec<[&'a Pattern; 8]> = smallvec::SmallVec::new();
        let r = self.run_from(q, fr, k, &mut binds);
        for p in binds {
            unbind(p, fr);
        }
        r
    }

    fn run_from(
        &self,
        q: &'a [Stmt],
        fr: &mut Frame<'a>,
        k: Cont<'_, 'a>,
        binds: &mut smallvec::SmallVec<[&'a Pattern; 8]>,
    ) -> Res<Flow> {
        for (i, stmt) in q.iter().enumerate() {
            match stmt {
                Stmt::Expr(e) => match self.eval(e, fr)? {
                    Some(v) if !v.is_false() => {}
                    _ => return Ok(Flow::Go),
                },
                Stmt::Bind(p, e) => {
                    let Some(v) = self.eval(e, fr)? else {
                        return Ok(Flow::Go);
                    };
                    binds.push(p);
                    if !self.unify(p, v, fr)? {
                        return Ok(Flow::Go);
                    }
                }
                // `not expr`, the frequent form, without a nested search.
                Stmt::Not(sub) => {
                    let holds = match sub.as_slice() {
                        [Stmt::Expr(e)] => match self.eval(e, fr)? {
                            Some(v) if !v.is_false() => {
                                self.tick()?;
                                true
                            }
                            _ => false,
                        },
                        _ => self.has_solution(sub, fr)?,
                    };
                    if holds {
                        return Ok(Flow::Go);
                    }
                }
                Stmt::Every {
                    key,
                    val,
                    domain,
                    query,
                } => {
                    if !self.every(*key, *val, domain, query, fr)? {
                        return Ok(Flow::Go);
                    }
                }
                Stmt::Iter { coll, key, val } => {
                    let rest = &q[i + 1..];
                    let Some(c) = self.eval(coll, fr)? else {
                        return Ok(Flow::Go);
                    };
                    let mut flow = Flow::Go;
                    c.each(|kv, vv| {
                        self.tick()?;
                        let ok = self.unify(key, kv, fr)? && self.unify(val, vv, fr)?;
                        if ok {
                            flow = self.run(rest, fr, &mut *k)?;
                        }
                        unbind(key, fr);
                        unbind(val, fr);
                        Ok::<bool, EvalError>(flow == Flow::Go)
                    })?;
                    return Ok(flow);
                }
            }
        }
        self.tick()?;
        k(self, fr)
    }

    /// Whether a query has a solution (for `not`); binds nothing.
    fn has_solution(&self, q: &'a [Stmt], fr: &mut Frame<'a>) -> Res<bool> {
        let mut found = false;
        self.run(q, fr, &mut |_, _| {
            found = true;
            Ok(Flow::Stop)
        })?;
        Ok(found)
    }

    /// `every k, v in domain { query }`: false for a domain that is not a collection (or
    /// undefined), as regorus evaluates it.
    fn every(
        &self,
        key: Option<Slot>,
        val: Slot,
        domain: &'a Expr,
        query: &'a [Stmt],
        fr: &mut Frame<'a>,
    ) -> Res<bool> {
        let d = self.eval(domain, fr)?;
        let holds = match d {
            Some(d)
                if matches!(
                    d.kind(),
                    super::value::Kind::Arr | super::value::Kind::Set | super::value::Kind::Obj
                ) =>
            {
                d.each(|kv, vv| {
                    self.tick()?;
                    if let Some(ks) = key {
                        set(fr, ks, Some(kv));
                    }
                    set(fr, val, Some(vv));
                    self.has_solution(query, fr)
                })?
            }
            _ => false,
        };
        if let Some(ks) = key {
            set(fr, ks, None);
        }
        set(fr, val, None);
        Ok(holds)
    }

    /// Unify a pattern with a value, binding its unbound variables. On `false` the caller
    /// still calls [`unbind`].
    fn unify(&self, p: &'a Pattern, v: V<'a>, fr: &mut Frame<'a>) -> Res<bool> {
        match p {
            Pattern::Wild => Ok(true),
            Pattern::Bind(s) => {
                set(fr, *s, Some(v));
                Ok(true)
            }
            Pattern::Eq(e) => Ok(self.eval(e, fr)?.is_some_and(|x| x == v)),
            Pattern::Array(items) => {
                let Some(vs) = v.array_items() else {
                    return Ok(false);
                };
                if vs.len() != items.len() {
                    return Ok(false);
                }
                for (p, x) in items.iter().zip(vs) {
                    if !self.unify(p, x, fr)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            // As regorus destructures objects: the pattern's keys must be present with
            // unifying values, other keys are ignored (OPA also requires the same key set).
            Pattern::Object(fields) => {
                if v.kind() != super::value::Kind::Obj {
                    return Ok(false);
                }
                for (k, p) in fields {
                    let Some(k) = self.eval(k, fr)? else {
                        return Ok(false);
                    };
                    let Some(x) = v.get(&k) else {
                        return Ok(false);
                    };
                    if !self.unify(p, x, fr)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
        }
    }
}

/// Refuse a collection grown past [`MAX_COLLECTION_LEN`]; `what` names its maker.
pub(crate) fn capped(len: usize, what: &str) -> Res<Flow> {
    if len > MAX_COLLECTION_LEN {
        return fail(format!(
            "{what}: built more than {MAX_COLLECTION_LEN} elements; the limit is \
             {MAX_COLLECTION_LEN}"
        ));
    }
    Ok(Flow::Go)
}

/// Whether the arguments equal every parameter of a definition that is a constant (the
/// other parameters are left to unification).
fn constants_match(params: &[Pattern], args: &[V<'_>]) -> bool {
    params.iter().zip(args).all(|(p, a)| match p {
        Pattern::Eq(Expr::Const(c)) => expr::constant(c) == *a,
        _ => true,
    })
}

/// Whether every clause of every definition has the value `true` (so no conflict is
/// possible and one solution decides).
fn all_true(defs: &[super::ir::Def]) -> bool {
    defs.iter()
        .all(|d| d.clauses.iter().all(|c| c.value.is_none()))
}

/// Write a slot. Frames are sized from the program, so the slot always exists; a write
/// past the end is dropped rather than allowed to panic.
fn set<'a>(fr: &mut Frame<'a>, slot: Slot, v: Option<V<'a>>) {
    if let Some(x) = fr.get_mut(slot as usize) {
        *x = v;
    }
}

/// Reset the variables a pattern binds.
fn unbind(p: &Pattern, fr: &mut Frame<'_>) {
    match p {
        Pattern::Bind(s) => set(fr, *s, None),
        Pattern::Array(items) => items.iter().for_each(|p| unbind(p, fr)),
        Pattern::Object(fields) => fields.iter().for_each(|(_, p)| unbind(p, fr)),
        Pattern::Wild | Pattern::Eq(_) => {}
    }
}
