//! Partial set rules specialized to the constant their reference asks for.
//!
//! The library writes `violation[..] { general_violation[{"msg": msg, "field": "containers"}] }`
//! over `general_violation[{"msg": msg, "field": field}] { c := input.review.object.spec[field][_]; .. }`.
//! Built in full, `general_violation` walks every field of the Pod's spec (volumes, tolerations,
//! the security context, ...) and runs every body on each element, to keep only the elements
//! found under `containers`. OPA does not do that work: it unifies the rule's head with the
//! reference before it evaluates a body, so `field` is `"containers"` from the start and
//! `spec[field]` is one lookup. This pass gives the compiled path the same order: for each
//! enumeration of a partial set rule whose pattern holds a constant at some key, a copy of the
//! rule is made (once per rule and constants) in which
//!
//! - a definition whose head has another constant at that key, or no such key, is left out
//!   (none of its members could match the pattern);
//! - a definition whose head has a variable there, bound by the body's first enumeration
//!   `coll[v]` at its top level, binds `v` to the constant and reads `coll[constant]` instead of
//!   enumerating `coll` (the same element, or none, with the same key);
//! - any other definition is kept as written.
//!
//! The reference still unifies each member with its pattern, so the copy only needs to keep
//! every member that could match, which it does. As in OPA, a body that the head's constant
//! excludes is not evaluated at all, so an error it would have raised is not raised.

use super::eval::constant;
use super::ir::{
    Const, Def, Expr, Pattern, Program, Query, Rule, RuleId, RuleKind, Slot, Step, Stmt,
};

/// The constants a reference fixes: `(key, value)` pairs, sorted by key.
type Fixed = Vec<(String, Const)>;

/// A copy made: of which rule, for which constants.
struct Made {
    rule: RuleId,
    fixed: Fixed,
    copy: RuleId,
}

/// Definitions the copies may hold in any template; a larger template may copy as many as
/// it has.
pub(super) const MIN_BUDGET: usize = 256;

/// Specialize the enumerations of partial set rules in `program`. The copies hold at most as
/// many definitions as the program had (or [`MIN_BUDGET`]), so a large template at most
/// doubles in size.
pub(super) fn specialize(program: &mut Program) {
    let own: usize = program.rules.iter().map(|r| r.defs.len()).sum();
    let mut budget = own.max(MIN_BUDGET);
    let mut made: Vec<Made> = Vec::new();
    // Rules added on the way are visited too: a copy may itself enumerate a rule by constant.
    let mut id = 0;
    while id < program.rules.len() {
        let mut defs = std::mem::take(&mut program.rules[id].defs);
        for def in &mut defs {
            for clause in &mut def.clauses {
                retarget(&mut clause.query, program, &mut made, &mut budget);
            }
        }
        program.rules[id].defs = defs;
        id += 1;
    }
}

/// Point every enumeration of a partial set rule by constants in `q` (and in its `not` and
/// `every` bodies) at the rule's copy for those constants.
fn retarget(q: &mut Query, program: &mut Program, made: &mut Vec<Made>, budget: &mut usize) {
    for stmt in q.iter_mut() {
        match stmt {
            Stmt::Iter {
                coll: coll @ Expr::Rule(_),
                key,
                ..
            } => {
                let Expr::Rule(rule) = *coll else { continue };
                if rule == program.entry
                    || program.rules.get(rule).map(|r| r.kind) != Some(RuleKind::Set)
                {
                    continue;
                }
                let fixed = fixed(key);
                if fixed.is_empty() {
                    continue;
                }
                if let Some(m) = made
                    .iter()
                    .find(|m| m.rule == rule && same_fixed(&m.fixed, &fixed))
                {
                    *coll = Expr::Rule(m.copy);
                    continue;
                }
                let Some(copy) = copy_for(&program.rules[rule], &fixed, budget) else {
                    continue;
                };
                program.rules.push(copy);
                let copy = program.rules.len() - 1;
                made.push(Made { rule, fixed, copy });
                *coll = Expr::Rule(copy);
            }
            Stmt::Not(sub) | Stmt::Every { query: sub, .. } => retarget(sub, program, made, budget),
            _ => {}
        }
    }
}

/// The constants an object pattern requires: `{"field": "containers", "msg": msg}` fixes
/// `field`.
fn fixed(p: &Pattern) -> Fixed {
    let Pattern::Object(fields) = p else {
        return Vec::new();
    };
    let mut out: Fixed = fields
        .iter()
        .filter_map(|(k, v)| match (k, v) {
            (Expr::Const(Const::Str(k)), Pattern::Eq(Expr::Const(c))) => {
                Some((k.to_string(), c.clone()))
            }
            _ => None,
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The copy of `rule` for the constants `fixed`, or `None` when it would change nothing or
/// exceed the budget.
fn copy_for(rule: &Rule, fixed: &Fixed, budget: &mut usize) -> Option<Rule> {
    // Charged before anything is copied, whether the copy is kept or not: what a
    // template's copies cost at load is then bounded by its own size, however many
    // references it makes.
    if rule.defs.len() > *budget {
        return None;
    }
    *budget -= rule.defs.len();
    let mut changed = false;
    let mut defs = Vec::with_capacity(rule.defs.len());
    for def in &rule.defs {
        match specialized(def, fixed) {
            Some(Some(d)) => {
                changed = true;
                defs.push(d);
            }
            Some(None) => changed = true,
            None => defs.push(def.clone()),
        }
    }
    if !changed {
        return None;
    }
    Some(Rule {
        name: rule.name.clone(),
        kind: rule.kind,
        defs,
        default: rule.default.clone(),
        groups: Vec::new(),
    })
}

/// A definition for the constants `fixed`: `Some(None)` when none of its members can match,
/// `Some(Some(def))` when it was narrowed, `None` when it stays as written.
fn specialized(def: &Def, fixed: &Fixed) -> Option<Option<Def>> {
    let Some(Expr::Object(head)) = &def.key else {
        return None;
    };
    let mut narrowed = def.clone();
    let mut changed = false;
    for (name, value) in fixed {
        let at = head
            .iter()
            .find(|(k, _)| matches!(k, Expr::Const(Const::Str(s)) if **s == **name));
        match at {
            // A member without the key, or with another constant there, never matches.
            None => return Some(None),
            Some((_, Expr::Const(c))) if !equal_values(c, value) => return Some(None),
            // A partial set's definition has one clause (no `else`).
            Some((_, Expr::Local(v))) => {
                if let [clause] = narrowed.clauses.as_mut_slice() {
                    changed |= narrow(&mut clause.query, *v, value);
                }
            }
            Some(_) => {}
        }
    }
    changed.then_some(Some(narrowed))
}

/// Bind `v` to `value` where the query's first top-level enumeration binds it as a key,
/// reading that one element instead of enumerating. Whether it did: nothing changes when
/// `v` is bound otherwise.
fn narrow(q: &mut Query, v: Slot, value: &Const) -> bool {
    let Some(at) = q.iter().position(|s| binds(s, v)) else {
        return false;
    };
    let Some(Stmt::Iter {
        coll,
        key: Pattern::Bind(k),
        val,
    }) = q.get(at)
    else {
        return false;
    };
    if *k != v {
        return false;
    }
    let element = match coll {
        Expr::Ref(base, steps) => {
            let mut steps = steps.clone();
            steps.push(Step::Index(Expr::Const(value.clone())));
            Expr::Ref(base.clone(), steps)
        }
        other => Expr::Ref(
            Box::new(other.clone()),
            vec![Step::Index(Expr::Const(value.clone()))],
        ),
    };
    let val = val.clone();
    q.splice(
        at..=at,
        [
            Stmt::Bind(Pattern::Bind(v), Expr::Const(value.clone())),
            Stmt::Bind(val, element),
        ],
    );
    true
}

/// Whether a top-level statement binds slot `v`.
fn binds(s: &Stmt, v: Slot) -> bool {
    match s {
        Stmt::Bind(p, _) => pattern_binds(p, v),
        Stmt::Iter { key, val, .. } => pattern_binds(key, v) || pattern_binds(val, v),
        Stmt::Expr(_) | Stmt::Not(_) | Stmt::Every { .. } => false,
    }
}

fn pattern_binds(p: &Pattern, v: Slot) -> bool {
    match p {
        Pattern::Bind(s) => *s == v,
        Pattern::Array(items) => items.iter().any(|p| pattern_binds(p, v)),
        Pattern::Object(fields) => fields.iter().any(|(_, p)| pattern_binds(p, v)),
        Pattern::Wild | Pattern::Eq(_) => false,
    }
}

fn same_fixed(a: &Fixed, b: &Fixed) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((k, x), (l, y))| k == l && equal_values(x, y))
}

/// Constants equal as Rego values (numbers by value: `1` and `1.0` are one key).
fn equal_values(a: &Const, b: &Const) -> bool {
    constant(a) == constant(b)
}
