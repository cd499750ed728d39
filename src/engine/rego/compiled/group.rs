//! Definitions of a partial rule that begin alike, grouped so that their common beginning
//! is solved once.
//!
//! The library writes one partial rule as many definitions that each start by enumerating
//! the same thing: `k8scontainerlimits` has eight bodies of `general_violation`, six of them
//! opening with `container := input.review.object.spec[field][_]; not is_exempt(container)`.
//! Solved one by one, the eight walk every field of the spec eight times. A partial set or
//! object is the union of its definitions' solutions in whatever order they come, so the
//! definitions that begin with the same statements can share them: the common prefix is
//! solved once and, at each of its solutions, every member's remaining statements run in
//! the same frame. The values are the same; only the order in which they are found
//! changes, which a set or an object does not keep. (When two members would fail with
//! different errors, the one met first may differ; either way the rule fails.)
//!
//! Statements are compared structurally. Equal prefixes bind the same slots (they are
//! lowered from the same text in the same way), so each member's remaining statements find
//! the prefix's variables where they expect them. A call of a regorus builtin is never
//! taken as equal to another (it carries its source position), which only leaves such
//! definitions apart.

use super::eval::small_int;
use super::ir::{Callee, Const, Expr, Group, Pattern, Program, RuleKind, Step, Stmt};

/// Groups a definition may join: the latest ones. Alike definitions are written together
/// (the library's are adjacent), and the bound keeps grouping linear in the template's size:
/// a template of a thousand definitions that all differ is compared a thousand times, not
/// half a million.
pub(super) const CANDIDATES: usize = 16;

/// Group the definitions of every partial set and object rule of `program`.
pub(super) fn group(program: &mut Program) {
    for rule in &mut program.rules {
        if !matches!(rule.kind, RuleKind::Set | RuleKind::Object) {
            continue;
        }
        // Each group with its first member's query, which the others are compared with.
        let mut groups: Vec<(Group, &[Stmt])> = Vec::new();
        for (i, def) in rule.defs.iter().enumerate() {
            let query = def.clauses.first().map_or(&[][..], |c| &c.query[..]);
            let joined = groups
                .iter_mut()
                .rev()
                .take(CANDIDATES)
                .find(|(g, first)| g.prefix > 0 && common(first, query) > 0);
            match joined {
                Some((g, first)) => {
                    g.prefix = g.prefix.min(common(first, query));
                    g.slots = g.slots.max(def.slots);
                    g.defs.push(i);
                }
                None => groups.push((
                    Group {
                        defs: vec![i],
                        prefix: query.len(),
                        slots: def.slots,
                    },
                    query,
                )),
            }
        }
        let groups = groups
            .into_iter()
            .map(|(mut g, _)| {
                // A group of one solves its definition as written.
                if g.defs.len() == 1 {
                    g.prefix = 0;
                }
                g
            })
            .collect();
        rule.groups = groups;
    }
}

/// How many leading statements two queries have in common.
fn common(a: &[Stmt], b: &[Stmt]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| same_stmt(x, y)).count()
}

fn same_stmt(a: &Stmt, b: &Stmt) -> bool {
    match (a, b) {
        (Stmt::Expr(x), Stmt::Expr(y)) => same_expr(x, y),
        (Stmt::Bind(p, x), Stmt::Bind(q, y)) => same_pattern(p, q) && same_expr(x, y),
        (
            Stmt::Iter { coll, key, val },
            Stmt::Iter {
                coll: c2,
                key: k2,
                val: v2,
            },
        ) => same_expr(coll, c2) && same_pattern(key, k2) && same_pattern(val, v2),
        (Stmt::Not(x), Stmt::Not(y)) => same_query(x, y),
        (
            Stmt::Every {
                key,
                val,
                domain,
                query,
            },
            Stmt::Every {
                key: k2,
                val: v2,
                domain: d2,
                query: q2,
            },
        ) => key == k2 && val == v2 && same_expr(domain, d2) && same_query(query, q2),
        _ => false,
    }
}

fn same_query(a: &[Stmt], b: &[Stmt]) -> bool {
    a.len() == b.len() && common(a, b) == a.len()
}

fn same_pattern(a: &Pattern, b: &Pattern) -> bool {
    match (a, b) {
        (Pattern::Wild, Pattern::Wild) => true,
        (Pattern::Bind(x), Pattern::Bind(y)) => x == y,
        (Pattern::Eq(x), Pattern::Eq(y)) => same_expr(x, y),
        (Pattern::Array(x), Pattern::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_pattern(p, q))
        }
        (Pattern::Object(x), Pattern::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k, p), (l, q))| same_expr(k, l) && same_pattern(p, q))
        }
        _ => false,
    }
}

fn same_exprs(a: &[Expr], b: &[Expr]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_expr(x, y))
}

fn same_expr(a: &Expr, b: &Expr) -> bool {
    match (a, b) {
        (Expr::Const(x), Expr::Const(y)) => same_const(x, y),
        (Expr::Local(x), Expr::Local(y)) => x == y,
        (Expr::Input, Expr::Input)
        | (Expr::Review, Expr::Review)
        | (Expr::Params, Expr::Params)
        | (Expr::Inventory, Expr::Inventory) => true,
        (Expr::Ref(x, s), Expr::Ref(y, t)) => {
            same_expr(x, y)
                && s.len() == t.len()
                && s.iter().zip(t).all(|(s, t)| match (s, t) {
                    (Step::Field(f), Step::Field(g)) => f == g,
                    (Step::Index(i), Step::Index(j)) => same_expr(i, j),
                    _ => false,
                })
        }
        (Expr::Rule(x), Expr::Rule(y)) | (Expr::ByName(x), Expr::ByName(y)) => x == y,
        (Expr::Call(c, x), Expr::Call(d, y)) => same_callee(c, d) && same_exprs(x, y),
        (Expr::Array(x), Expr::Array(y)) | (Expr::Set(x), Expr::Set(y)) => same_exprs(x, y),
        (Expr::Object(x), Expr::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k, v), (l, w))| same_expr(k, l) && same_expr(v, w))
        }
        (Expr::ArrayCompr(t, q), Expr::ArrayCompr(u, r))
        | (Expr::SetCompr(t, q), Expr::SetCompr(u, r)) => same_expr(t, u) && same_query(q, r),
        (Expr::ObjectCompr(k, v, q), Expr::ObjectCompr(l, w, r)) => {
            same_expr(k, l) && same_expr(v, w) && same_query(q, r)
        }
        (Expr::Arith(o, x, y), Expr::Arith(p, z, w)) => {
            std::mem::discriminant(o) == std::mem::discriminant(p)
                && same_expr(x, z)
                && same_expr(y, w)
        }
        (Expr::Cmp(o, x, y), Expr::Cmp(p, z, w)) => {
            std::mem::discriminant(o) == std::mem::discriminant(p)
                && same_expr(x, z)
                && same_expr(y, w)
        }
        (Expr::SetOp(o, x, y), Expr::SetOp(p, z, w)) => {
            o == p && same_expr(x, z) && same_expr(y, w)
        }
        (Expr::In(k, v, c), Expr::In(l, w, d)) => {
            let keys = match (k, l) {
                (None, None) => true,
                (Some(k), Some(l)) => same_expr(k, l),
                _ => false,
            };
            keys && same_expr(v, w) && same_expr(c, d)
        }
        // Each folded expression has its own bind-time value.
        (Expr::Folded(i, _), Expr::Folded(j, _)) => i == j,
        _ => false,
    }
}

fn same_const(a: &Const, b: &Const) -> bool {
    match (a, b) {
        (Const::Null, Const::Null) => true,
        (Const::Bool(x), Const::Bool(y)) => x == y,
        // Numbers that compare equal may still print apart; small integers never do.
        (Const::Num(x), Const::Num(y)) => match (small_int(x), small_int(y)) {
            (Some(a), Some(b)) => a == b,
            _ => x == y && format!("{x:?}") == format!("{y:?}"),
        },
        (Const::Str(x), Const::Str(y)) => x == y,
        _ => false,
    }
}

fn same_callee(a: &Callee, b: &Callee) -> bool {
    match (a, b) {
        (Callee::Native(x), Callee::Native(y)) => x.name == y.name,
        (Callee::User(x), Callee::User(y)) | (Callee::Shared(x), Callee::Shared(y)) => x == y,
        // A regorus builtin keeps its call's source expressions: never merged.
        _ => false,
    }
}
