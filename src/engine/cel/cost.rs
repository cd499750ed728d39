//! The deadline and the cost budget of one CEL evaluation.
//!
//! The `cel` crate expands `all`, `exists`, `exists_one`, `map` and `filter` at parse time
//! into comprehension nodes that its interpreter loops over with no hook of its own. So each
//! compiled expression is *instrumented* ([`instrument`]): the loops get calls of guard
//! functions, registered in the environment ([`register`]), placed where the interpreter
//! evaluates them once per iteration and where an error stops the loop at once:
//!
//! - `@tick(c)` around a loop's condition (or, for `map`/`filter`, around the filter
//!   predicate): one unit per iteration;
//! - `@element(e)` around each element `map`/`filter` append: [`ENTRY_COST`] plus the size of
//!   the element (a list or map holding what the loop builds, so its memory is paid for);
//! - `@value(v)` around a loop step that builds a value without appending, and around every
//!   chain of `+` (string and list concatenation, e.g. in variables that double a string):
//!   the size of what it built;
//! - `@rangeSize(n)` around the argument of `lists.range(n)`: the entries of the list it is
//!   about to build, before it builds it;
//! - `s.replace(..)` becomes `s.@replace(..)`, which charges the length of its result before
//!   building it, and otherwise replaces as the strings extension does (a call with
//!   arguments of the wrong types fails naming `@replace` instead of `replace`).
//!
//! Each guard returns its argument unchanged and lets its errors through, so semantics do
//! not change; the shapes the interpreter optimises (in-place appends for `map`/`filter`,
//! deferred errors in `all`/`exists`) are kept. The guards charge a per-evaluation [`Meter`]
//! kept in a thread-local for the duration of one evaluation (an evaluation runs on one
//! thread, with no await in it), and check the request's deadline through a [`Pacer`].
//! Once the deadline or the budget is exceeded every guard fails at once, which ends every
//! loop still running; the stop is recorded in the meter, so an error that CEL would absorb
//! (`err || true`) cannot hide it: the evaluation is refused as a whole.
//!
//! Not charged before the fact: `join` (a long separator times a long list) and `split('')`
//! or `findAll` (an entry per character or match). Their results are charged when a loop
//! appends them or a `+` chain concatenates them, but one call builds in full first; their
//! size is bounded by the size of the inputs (the request and the parameters), times the
//! separator's length for `join`.
//!
//! A guard is an ordinary function call for the interpreter, about 60 ns in a release build:
//! `pod-security-policy/privileged-containers` evaluates in 13.2 µs guarded against 11.9 µs
//! unguarded, `host-namespaces` (no loop) in 1.53 µs against 1.48 µs
//! (`conformance_tests::timing_of_library_templates`, shared machine, noisy).

use std::cell::RefCell;

use cel::common::ast::{operators, CallExpr, EntryExpr, Expr, IdedExpr};
use cel::common::types::{CelInt, CelString, DYN_TYPE, INT_TYPE, STRING_TYPE};
use cel::common::value::{BuiltinRef, CowVal, Val};
use cel::{DeclarationError, Env, ExecutionError};

use crate::deadline::{Deadline, Pacer};

/// Guard around the condition of a loop (or the predicate of `filter`): an iteration.
const TICK: &str = "@tick";
/// Guard around an element `map` or `filter` appends to the list they build.
const ELEMENT: &str = "@element";
/// Guard around a value built by a loop step or a chain of `+`.
const VALUE: &str = "@value";
/// Guard around the size given to `lists.range`, charged before the list is built (a
/// charge after the fact would come after `lists.range(1000000000000)` had run out of
/// memory).
const RANGE_SIZE: &str = "@rangeSize";
/// What `s.replace(from, to)` and `s.replace(from, to, n)` are rewritten to: the strings
/// extension's replacement, charged for its result before building it (`s.replace('', s)`
/// squares the length of `s`).
const REPLACE: &str = "@replace";

/// Units one evaluation may spend: one per loop iteration, one per byte of string built, and
/// [`ENTRY_COST`] per list or map entry built.
///
/// Ten million units bound what `map`/`filter` and concatenation build to about 10 MB per
/// evaluation, and the iterations of one evaluation to well under a second of CPU when no
/// deadline applies (audit, CLI). Kubernetes allows one CEL expression of a
/// ValidatingAdmissionPolicy 1,000,000 of its cost units, a unit being roughly one list
/// element visited or a few bytes traversed; these units are finer (a byte, or an iteration
/// that may do anything), hence the larger figure. The most expensive evaluation of the
/// Gatekeeper library's test suites spends well under 1% of it (measured in
/// `conformance_tests::library_suites_pass_on_the_cel_engine`).
pub(super) const MAX_COST: u64 = 10_000_000;

/// Units charged per list or map entry built: the 16-byte box an entry is held by and the
/// value it points to, 32 bytes or more.
pub(super) const ENTRY_COST: u64 = 48;

/// Units charged per iteration.
const ITERATION_COST: u64 = 1;

/// A charge at least this large reads the clock at once instead of waiting for the pacer:
/// building that much takes long enough to make the reading cheap in comparison.
const LARGE_CHARGE: u64 = 4096;

/// Why an evaluation was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// The request's deadline passed.
    Deadline,
    /// The evaluation spent more than [`MAX_COST`].
    Budget,
}

impl Stop {
    fn error(self, function: &str) -> ExecutionError {
        let why = match self {
            Stop::Deadline => "evaluation deadline exceeded".to_string(),
            Stop::Budget => format!("evaluation cost exceeded the limit of {MAX_COST} units"),
        };
        ExecutionError::function_error(function, why)
    }
}

struct State {
    pacer: Pacer,
    spent: u64,
    stop: Option<Stop>,
}

thread_local! {
    /// The meter of the evaluation running on this thread, if any.
    static METER: RefCell<Option<State>> = const { RefCell::new(None) };
}

#[cfg(test)]
thread_local! {
    /// The most units one evaluation on this thread has spent (the tests measure the library
    /// with it).
    pub(super) static MOST_SPENT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The meter of one evaluation, active on the current thread until dropped. Evaluations
/// outside any meter (there are none in the engine; tests that build programs by hand) run
/// unguarded.
pub(super) struct Meter {
    previous: Option<State>,
}

impl Meter {
    /// Start metering the evaluations of this thread against `deadline`.
    pub(super) fn start(deadline: Deadline) -> Self {
        let state = State {
            pacer: deadline.pacer(),
            spent: 0,
            stop: None,
        };
        let previous = METER.try_with(|m| m.replace(Some(state))).ok().flatten();
        Meter { previous }
    }

    /// Why the evaluation was stopped, if it was.
    pub(super) fn stopped(&self) -> Option<Stop> {
        METER
            .try_with(|m| m.borrow().as_ref().and_then(|s| s.stop))
            .ok()
            .flatten()
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        #[cfg(test)]
        {
            let spent = METER
                .try_with(|m| m.borrow().as_ref().map_or(0, |s| s.spent))
                .unwrap_or(0);
            let _ = MOST_SPENT.try_with(|most| most.set(most.get().max(spent)));
        }
        let previous = self.previous.take();
        let _ = METER.try_with(|m| m.replace(previous));
    }
}

/// Charge `units` to the running evaluation; fails once it is over budget or past its
/// deadline, and from then on.
fn charge(units: u64, function: &str) -> Result<(), ExecutionError> {
    let outcome = METER.try_with(|m| {
        let mut meter = m.borrow_mut();
        let Some(state) = meter.as_mut() else {
            return Ok(());
        };
        if let Some(stop) = state.stop {
            return Err(stop);
        }
        state.spent = state.spent.saturating_add(units);
        let stop = if state.spent > MAX_COST {
            Some(Stop::Budget)
        } else if units >= LARGE_CHARGE {
            state.pacer.deadline().check().err().map(|_| Stop::Deadline)
        } else {
            state.pacer.tick().err().map(|_| Stop::Deadline)
        };
        state.stop = stop;
        stop.map_or(Ok(()), Err)
    });
    match outcome {
        Ok(Err(stop)) => Err(stop.error(function)),
        _ => Ok(()),
    }
}

/// The units a value built by the interpreter is charged: its bytes, or [`ENTRY_COST`] per
/// entry of a list or map (its own entries only: nested containers are either built by
/// guarded steps of their own or shared with the input).
fn size(val: &dyn Val) -> u64 {
    let n = match val.as_builtin() {
        BuiltinRef::String(s) => s.inner().len(),
        BuiltinRef::Bytes(b) => b.inner().len(),
        BuiltinRef::List(l) => return entries(l.inner().len()),
        BuiltinRef::Map(m) => return entries(m.inner().len()),
        _ => 0,
    };
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn entries(n: usize) -> u64 {
    u64::try_from(n)
        .unwrap_or(u64::MAX)
        .saturating_mul(ENTRY_COST)
}

/// The single argument of a guard, handed back unchanged.
fn argument<'b, 'v>(
    function: &str,
    mut args: Vec<CowVal<'b, 'v>>,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    match (args.pop(), args.is_empty()) {
        (Some(arg), true) => Ok(arg),
        _ => Err(ExecutionError::function_error(
            function,
            "expects one argument",
        )),
    }
}

fn tick<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    charge(ITERATION_COST, TICK)?;
    argument(TICK, args)
}

fn element<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let arg = argument(ELEMENT, args)?;
    charge(ENTRY_COST.saturating_add(size(arg.as_ref())), ELEMENT)?;
    Ok(arg)
}

fn value<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let arg = argument(VALUE, args)?;
    charge(size(arg.as_ref()).max(ITERATION_COST), VALUE)?;
    Ok(arg)
}

fn range_size<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let arg = argument(RANGE_SIZE, args)?;
    if let Some(n) = arg.downcast_ref::<CelInt>() {
        let n = u64::try_from(*n.inner()).unwrap_or(0);
        charge(n.saturating_mul(ENTRY_COST).max(ITERATION_COST), RANGE_SIZE)?;
    }
    Ok(arg)
}

/// `s.replace(from, to)` (every occurrence) and `s.replace(from, to, n)` (the first `n`, or
/// every one when `n` is negative), as the strings extension defines them, charged for the
/// length of the result before it is built.
fn replace<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let text = |i: usize| {
        args.get(i)
            .and_then(|a| a.downcast_ref::<CelString>())
            .map(|s| s.inner())
            .ok_or_else(|| ExecutionError::function_error("replace", "expects string arguments"))
    };
    let (s, from, to) = (text(0)?, text(1)?, text(2)?);
    let limit = match args.get(3) {
        None => None,
        Some(n) => match n.downcast_ref::<CelInt>() {
            Some(n) => usize::try_from(*n.inner()).ok(),
            None => {
                return Err(ExecutionError::function_error(
                    "replace",
                    "expects an int count",
                ))
            }
        },
    };
    let found = if from.is_empty() {
        s.chars().count().saturating_add(1)
    } else {
        s.matches(from).count()
    };
    let count = limit.map_or(found, |n| n.min(found));
    let length = (s.len() - count * from.len()).saturating_add(count.saturating_mul(to.len()));
    charge(
        u64::try_from(length)
            .unwrap_or(u64::MAX)
            .max(ITERATION_COST),
        REPLACE,
    )?;
    let replaced = match limit {
        Some(n) => s.replacen(from, to, n),
        None => s.replace(from, to),
    };
    Ok(CowVal::owned(CelString::from(replaced)))
}

/// Declare the guard functions in the shared environment.
///
/// # Errors
/// A declaration clash (a programming error).
pub(super) fn register(env: &mut Env) -> Result<(), DeclarationError> {
    env.add_overload(TICK, "portcullis_tick", vec![DYN_TYPE], tick)?;
    env.add_overload(ELEMENT, "portcullis_element", vec![DYN_TYPE], element)?;
    env.add_overload(VALUE, "portcullis_value", vec![DYN_TYPE], value)?;
    env.add_overload(
        RANGE_SIZE,
        "portcullis_range_size",
        vec![DYN_TYPE],
        range_size,
    )?;
    env.add_member_overload(
        REPLACE,
        "portcullis_replace",
        STRING_TYPE,
        vec![STRING_TYPE, STRING_TYPE],
        replace,
    )?;
    env.add_member_overload(
        REPLACE,
        "portcullis_replace_n",
        STRING_TYPE,
        vec![STRING_TYPE, STRING_TYPE, INT_TYPE],
        replace,
    )?;
    Ok(())
}

/// Wrap `expr` in a call of the guard `function`.
fn wrap(expr: &mut IdedExpr, function: &str) {
    let inner = std::mem::take(expr);
    *expr = IdedExpr {
        id: inner.id,
        expr: Expr::Call(CallExpr {
            func_name: function.to_owned(),
            target: None,
            args: vec![inner],
        }),
    };
}

fn is_ident(expr: &IdedExpr, name: &str) -> bool {
    matches!(&expr.expr, Expr::Ident(n) if n == name)
}

/// A call of `+` whose left operand is a comprehension's accumulator (`@result + [x]` of
/// `map`/`filter`, `@result + 1` of `exists_one`): part of a loop step, guarded there.
fn is_accumulating_add(call: &CallExpr) -> bool {
    call.func_name == operators::ADD
        && call.target.is_none()
        && matches!(call.args.first().map(|a| &a.expr), Some(Expr::Ident(n)) if n.starts_with('@'))
}

/// Add the guards to a parsed expression (see the module documentation). Walks the tree
/// with an explicit stack; the tree's depth has been checked, and grows by at most one level
/// per loop and per chain of `+`.
pub(super) fn instrument(expr: &mut IdedExpr) {
    // Each entry: a node, and whether its parent is a `+` (only the top of a chain of `+` is
    // guarded: the intermediate results are dropped as the chain goes on).
    let mut stack: Vec<(&mut IdedExpr, bool)> = vec![(expr, false)];
    while let Some((node, in_add)) = stack.pop() {
        let is_add = matches!(&node.expr, Expr::Call(c) if c.func_name == operators::ADD
            && c.target.is_none() && c.args.len() == 2 && !is_accumulating_add(c));
        if is_add && !in_add {
            // Guard the top of the chain, then walk the chain itself as part of a chain.
            wrap(node, VALUE);
            if let Expr::Call(guard) = &mut node.expr {
                stack.extend(guard.args.iter_mut().map(|a| (a, true)));
            }
            continue;
        }
        match &mut node.expr {
            Expr::Call(call) => {
                let is_range = call.func_name == "range"
                    && call.args.len() == 1
                    && call.target.as_deref().is_some_and(|t| is_ident(t, "lists"));
                if is_range {
                    if let Some(n) = call.args.first_mut() {
                        wrap(n, RANGE_SIZE);
                    }
                }
                if call.func_name == "replace"
                    && call.target.is_some()
                    && matches!(call.args.len(), 2 | 3)
                {
                    call.func_name = REPLACE.to_owned();
                }
                if let Some(target) = call.target.as_deref_mut() {
                    stack.push((target, false));
                }
                for arg in &mut call.args {
                    stack.push((arg, is_add));
                }
            }
            Expr::Comprehension(c) => {
                guard_loop(c);
                for e in [
                    &mut c.iter_range,
                    &mut c.accu_init,
                    &mut c.loop_cond,
                    &mut c.loop_step,
                    &mut c.result,
                ] {
                    stack.push((e, false));
                }
            }
            Expr::List(list) => stack.extend(list.elements.iter_mut().map(|e| (e, false))),
            Expr::Map(map) => {
                for entry in &mut map.entries {
                    match &mut entry.expr {
                        EntryExpr::MapEntry(e) => {
                            stack.push((&mut e.key, false));
                            stack.push((&mut e.value, false));
                        }
                        EntryExpr::StructField(f) => stack.push((&mut f.value, false)),
                    }
                }
            }
            Expr::Struct(st) => {
                for entry in &mut st.entries {
                    match &mut entry.expr {
                        EntryExpr::MapEntry(e) => {
                            stack.push((&mut e.key, false));
                            stack.push((&mut e.value, false));
                        }
                        EntryExpr::StructField(f) => stack.push((&mut f.value, false)),
                    }
                }
            }
            Expr::Select(select) => stack.push((&mut select.operand, false)),
            Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
        }
    }
}

/// Put the guards of one comprehension in place. The guards of nested expressions are added
/// as the walk goes on: those put here wrap their subtrees, which are walked afterwards.
fn guard_loop(c: &mut cel::common::ast::ComprehensionExpr) {
    let accu = c.accu_var.clone();
    if let Some((guard, elements)) = append_step(c, &accu) {
        // `map`/`filter`: the interpreter appends in place when the condition is a literal
        // and the step is `@result + [..]`, optionally behind `p ? .. : @result`; keep that
        // shape and guard inside it.
        if let Some(guard) = guard {
            wrap(guard, TICK);
        }
        for e in elements {
            wrap(e, ELEMENT);
        }
        return;
    }
    wrap(&mut c.loop_cond, TICK);
    // `all`/`exists` fold with `@result && p` / `@result || p`, whose errors the interpreter
    // defers: leave that shape alone (they build nothing). Any other step builds its
    // accumulator anew each iteration: charge what it built.
    let folds = matches!(&c.loop_step.expr, Expr::Call(call)
        if (call.func_name == operators::LOGICAL_AND || call.func_name == operators::LOGICAL_OR)
            && call.target.is_none()
            && call.args.first().is_some_and(|a| is_ident(a, &accu)));
    if !folds {
        wrap(&mut c.loop_step, VALUE);
    }
}

/// The predicate (if any) and the appended elements of a `map`/`filter` loop step:
/// `@result + [e..]` or `p ? @result + [e..] : @result`, with a literal loop condition and
/// `@result` as the result, as the interpreter recognises it.
fn append_step<'c>(
    c: &'c mut cel::common::ast::ComprehensionExpr,
    accu: &str,
) -> Option<(Option<&'c mut IdedExpr>, &'c mut Vec<IdedExpr>)> {
    if !is_ident(&c.result, accu) || !matches!(c.loop_cond.expr, Expr::Literal(_)) {
        return None;
    }
    let conditional = matches!(&c.loop_step.expr, Expr::Call(step)
        if step.target.is_none() && step.func_name == operators::CONDITIONAL);
    if !conditional {
        let elements = appended(&mut c.loop_step, accu)?;
        return Some((None, elements));
    }
    let Expr::Call(step) = &mut c.loop_step.expr else {
        return None;
    };
    let [guard, then, otherwise] = step.args.as_mut_slice() else {
        return None;
    };
    if !is_ident(otherwise, accu) {
        return None;
    }
    let elements = appended(then, accu)?;
    Some((Some(guard), elements))
}

/// The elements of `[e..]` in `@result + [e..]`.
fn appended<'c>(step: &'c mut IdedExpr, accu: &str) -> Option<&'c mut Vec<IdedExpr>> {
    let Expr::Call(call) = &mut step.expr else {
        return None;
    };
    if call.func_name != operators::ADD || call.target.is_some() {
        return None;
    }
    match call.args.as_mut_slice() {
        [lhs, rhs] if is_ident(lhs, accu) => match &mut rhs.expr {
            Expr::List(list) => Some(&mut list.elements),
            _ => None,
        },
        _ => None,
    }
}
