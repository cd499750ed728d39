//! Walks over the IR's expressions, shared by the analyses that run when a template loads
//! (folding what depends only on parameters, finding calls that can be shared).

use super::ir::{Def, Expr, Pattern, Query, Step, Stmt};

/// Visit every expression of a definition, nested ones included.
pub(super) fn walk_def(d: &Def, f: &mut dyn FnMut(&Expr)) {
    d.params.iter().for_each(|p| walk_pattern(p, f));
    if let Some(k) = &d.key {
        walk_expr(k, f);
    }
    for c in &d.clauses {
        walk_query(&c.query, f);
        if let Some(v) = &c.value {
            walk_expr(v, f);
        }
    }
}

fn walk_query(q: &Query, f: &mut dyn FnMut(&Expr)) {
    for s in q {
        match s {
            Stmt::Expr(e) => walk_expr(e, f),
            Stmt::Bind(p, e) => {
                walk_pattern(p, f);
                walk_expr(e, f);
            }
            Stmt::Iter { coll, key, val } => {
                walk_expr(coll, f);
                walk_pattern(key, f);
                walk_pattern(val, f);
            }
            Stmt::Not(q) => walk_query(q, f),
            Stmt::Every { domain, query, .. } => {
                walk_expr(domain, f);
                walk_query(query, f);
            }
        }
    }
}

fn walk_pattern(p: &Pattern, f: &mut dyn FnMut(&Expr)) {
    match p {
        Pattern::Wild | Pattern::Bind(_) => {}
        Pattern::Eq(e) => walk_expr(e, f),
        Pattern::Array(items) => items.iter().for_each(|p| walk_pattern(p, f)),
        Pattern::Object(fields) => fields.iter().for_each(|(k, p)| {
            walk_expr(k, f);
            walk_pattern(p, f);
        }),
    }
}

/// Visit `e` and every expression inside it, comprehension queries included.
pub(super) fn walk_expr(e: &Expr, f: &mut dyn FnMut(&Expr)) {
    f(e);
    match e {
        Expr::Folded(_, inner) => walk_expr(inner, f),
        Expr::ArrayCompr(t, q) | Expr::SetCompr(t, q) => {
            walk_expr(t, f);
            walk_query(q, f);
        }
        Expr::ObjectCompr(k, v, q) => {
            walk_expr(k, f);
            walk_expr(v, f);
            walk_query(q, f);
        }
        _ => children(e, &mut |c| walk_expr(c, f)),
    }
}

/// Visit `e` and the expressions inside it, but not into comprehension queries.
pub(super) fn walk_expr_shallow<'e>(e: &'e Expr, f: &mut dyn FnMut(&'e Expr)) {
    f(e);
    match e {
        Expr::Folded(_, inner) => walk_expr_shallow(inner, f),
        Expr::ArrayCompr(t, _) | Expr::SetCompr(t, _) => walk_expr_shallow(t, f),
        Expr::ObjectCompr(k, v, _) => {
            walk_expr_shallow(k, f);
            walk_expr_shallow(v, f);
        }
        _ => children(e, &mut |c| walk_expr_shallow(c, f)),
    }
}

/// The direct sub-expressions of an expression other than a comprehension or fold.
fn children<'e>(e: &'e Expr, f: &mut dyn FnMut(&'e Expr)) {
    match e {
        Expr::Ref(b, steps) => {
            f(b);
            for s in steps {
                if let Step::Index(i) = s {
                    f(i);
                }
            }
        }
        Expr::Call(_, items) | Expr::Array(items) | Expr::Set(items) => items.iter().for_each(f),
        Expr::Object(fields) => fields.iter().for_each(|(k, v)| {
            f(k);
            f(v);
        }),
        Expr::Arith(_, l, r) | Expr::Cmp(_, l, r) | Expr::SetOp(_, l, r) => {
            f(l);
            f(r);
        }
        Expr::In(k, v, c) => {
            if let Some(k) = k {
                f(k);
            }
            f(v);
            f(c);
        }
        _ => {}
    }
}
