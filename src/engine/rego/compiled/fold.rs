//! Bind-time evaluation of the expressions that depend only on constants and
//! `input.parameters` ([`Expr::Folded`]).
//!
//! Gatekeeper templates parse their parameters on every request: `k8scontainerlimits`
//! canonifies `input.parameters.cpu` and `.memory` again for every container. A constraint's
//! parameters are fixed when it binds, so each such expression is evaluated then, once, and
//! the hot path reads the result. An expression whose evaluation reaches the review (a
//! function that reads `input` as a whole, say) or fails is left to run per request as
//! written, so folding never changes a result.

use regorus::Value as RValue;
use serde_json::Value as Json;

use super::eval::Ctx;
use super::ir::{Expr, Program};
use super::walk::{walk_def, walk_expr};
use crate::deadline::Deadline;

/// The bind-time result of one folded expression.
#[derive(Debug, Clone)]
pub(crate) enum Fold {
    /// Not folded: evaluate the expression per request.
    No,
    /// Undefined for these parameters.
    Undefined,
    /// This value.
    Value(RValue),
}

/// Time the folds of one constraint may take together. The library's folds (a quantity
/// parsed from the parameters, a list of prefixes) take microseconds; an expression that
/// takes longer (an expensive comprehension over a long parameter list) is not worth
/// folding, and must not hold up loading the constraint.
pub(crate) const BIND_BUDGET: std::time::Duration = std::time::Duration::from_millis(250);

/// Evaluate every folded expression of `prog` under `params`.
pub(crate) fn bind(prog: &Program, params: &Json) -> Vec<Fold> {
    let mut folds = vec![Fold::No; prog.folds as usize];
    let null = Json::Null;
    // An expression cut off by the budget stays unfolded: it is evaluated per request,
    // under the request's deadline.
    let deadline = Deadline::after(BIND_BUDGET);
    // A folded comprehension binds its own variables in its definition's frame; a frame as
    // large as any definition's holds them. Every other slot stays unbound, and reading one
    // counts as reaching the review (nothing folded reads a variable it does not bind).
    let slots = prog
        .rules
        .iter()
        .flat_map(|r| r.defs.iter().map(|d| d.slots))
        .max()
        .unwrap_or(0);
    let mut each = |i: u32, e: &Expr| {
        let cx = Ctx::new(prog, &null, params, None, &[], deadline);
        cx.binding();
        let v = cx.eval(e, &mut vec![None; slots as usize]);
        if let (Ok(v), false) = (v, cx.touched()) {
            if let Some(slot) = folds.get_mut(i as usize) {
                *slot = match v {
                    Some(v) => Fold::Value(v.to_rvalue()),
                    None => Fold::Undefined,
                };
            }
        }
    };
    let mut folded = |e: &Expr| {
        if let Expr::Folded(i, inner) = e {
            each(*i, inner);
        }
    };
    for rule in &prog.rules {
        if let Some(d) = &rule.default {
            walk_expr(d, &mut folded);
        }
        rule.defs.iter().for_each(|d| walk_def(d, &mut folded));
    }
    folds
}
