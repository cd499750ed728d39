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
use super::ir::{Expr, Pattern, Program, Query, Step, Stmt};
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
    let mut each = |i: u32, e: &Expr| {
        let cx = Ctx::new(prog, &null, params, None, &[], deadline);
        cx.binding();
        let v = cx.eval(e, &mut Vec::new());
        if let (Ok(v), false) = (v, cx.touched()) {
            if let Some(slot) = folds.get_mut(i as usize) {
                *slot = match v {
                    Some(v) => Fold::Value(v.to_rvalue()),
                    None => Fold::Undefined,
                };
            }
        }
    };
    for rule in &prog.rules {
        if let Some(d) = &rule.default {
            expr(d, &mut each);
        }
        for def in &rule.defs {
            def.params.iter().for_each(|p| pattern(p, &mut each));
            if let Some(k) = &def.key {
                expr(k, &mut each);
            }
            for c in &def.clauses {
                query(&c.query, &mut each);
                if let Some(v) = &c.value {
                    expr(v, &mut each);
                }
            }
        }
    }
    folds
}

type Visit<'f> = dyn FnMut(u32, &Expr) + 'f;

fn query(q: &Query, f: &mut Visit<'_>) {
    for s in q {
        match s {
            Stmt::Expr(e) => expr(e, f),
            Stmt::Bind(p, e) => {
                pattern(p, f);
                expr(e, f);
            }
            Stmt::Iter { coll, key, val } => {
                expr(coll, f);
                pattern(key, f);
                pattern(val, f);
            }
            Stmt::Not(q) => query(q, f),
            Stmt::Every {
                domain, query: q, ..
            } => {
                expr(domain, f);
                query(q, f);
            }
        }
    }
}

fn pattern(p: &Pattern, f: &mut Visit<'_>) {
    match p {
        Pattern::Wild | Pattern::Bind(_) => {}
        Pattern::Eq(e) => expr(e, f),
        Pattern::Array(items) => items.iter().for_each(|p| pattern(p, f)),
        Pattern::Object(fields) => fields.iter().for_each(|(k, p)| {
            expr(k, f);
            pattern(p, f);
        }),
    }
}

fn expr(e: &Expr, f: &mut Visit<'_>) {
    match e {
        Expr::Folded(i, inner) => {
            f(*i, inner);
            expr(inner, f);
        }
        Expr::Const(_)
        | Expr::Local(_)
        | Expr::Input
        | Expr::Review
        | Expr::Params
        | Expr::Inventory
        | Expr::Rule(_)
        | Expr::ByName(_) => {}
        Expr::Ref(b, steps) => {
            expr(b, f);
            for s in steps {
                if let Step::Index(i) = s {
                    expr(i, f);
                }
            }
        }
        Expr::Call(_, args) | Expr::Array(args) | Expr::Set(args) => {
            args.iter().for_each(|a| expr(a, f))
        }
        Expr::Object(fields) => fields.iter().for_each(|(k, v)| {
            expr(k, f);
            expr(v, f);
        }),
        Expr::ArrayCompr(t, q) | Expr::SetCompr(t, q) => {
            expr(t, f);
            query(q, f);
        }
        Expr::ObjectCompr(k, v, q) => {
            expr(k, f);
            expr(v, f);
            query(q, f);
        }
        Expr::Arith(_, l, r) | Expr::Cmp(_, l, r) | Expr::SetOp(_, l, r) => {
            expr(l, f);
            expr(r, f);
        }
        Expr::In(k, v, c) => {
            if let Some(k) = k {
                expr(k, f);
            }
            expr(v, f);
            expr(c, f);
        }
    }
}
