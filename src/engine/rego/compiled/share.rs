//! Which calls give the same result for every constraint of a template, found when the
//! template is lowered.
//!
//! Constraints of one template differ only in `input.parameters`. A request evaluated
//! against several of them (the library's `k8scontainerlimits` under three constraints,
//! say) would canonify every container's quantities once per constraint, though nothing
//! of that work reads the parameters. A call is marked [`Callee::Shared`] when
//!
//! - the function is *review-only*: none of its definitions, nor any rule or function
//!   they name, transitively, reads `input.parameters`, `input` as a whole or a folded
//!   (parameter-derived) expression; and
//! - its arguments at that call site are *review-derived*: computed from constants, the
//!   review and the inventory, and from variables bound only from such expressions.
//!
//! Such a call's result is a function of the review alone (Rego is pure and the compiled
//! path calls only deterministic builtins), so [`super::eval`] keeps it for the whole
//! request, across constraints. A rule without arguments is shared under the first
//! condition alone ([`Program::shared_rules`]).
//!
//! The analysis is conservative: a variable bound anywhere in a body from a
//! parameter-derived expression, or bound by a pattern holding one, is parameter-derived
//! everywhere in that body, and a function's own parameters are parameter-derived (its
//! callers may pass the parameters), so calls inside a function on its arguments are
//! never shared; only the outermost call is.

use super::ir::{Callee, Def, Expr, Pattern, Program, Query, RuleId, RuleKind, Step, Stmt};
use super::walk::{walk_def, walk_expr, walk_expr_shallow};

/// Mark the shared calls and rules of `prog`.
pub(crate) fn mark(prog: &mut Program) {
    let review_only = review_only(prog);
    prog.shared_rules = prog
        .rules
        .iter()
        .enumerate()
        .map(|(id, r)| review_only[id] && !matches!(r.kind, RuleKind::Function(_)))
        .collect();
    let mut any = prog.shared_rules.iter().any(|s| *s);
    for rule in &mut prog.rules {
        let function = matches!(rule.kind, RuleKind::Function(_));
        for def in &mut rule.defs {
            let tainted = tainted_slots(def, function, &review_only);
            let t = Taint {
                slots: &tainted,
                review_only: &review_only,
            };
            def.params
                .iter_mut()
                .for_each(|p| t.pattern_mut(p, &mut any));
            if let Some(k) = &mut def.key {
                t.expr_mut(k, &mut any);
            }
            for c in &mut def.clauses {
                t.query_mut(&mut c.query, &mut any);
                if let Some(v) = &mut c.value {
                    t.expr_mut(v, &mut any);
                }
            }
        }
        // A default is a constant expression of its own: nothing to share there.
    }
    prog.shares = any;
}

/// Whether each rule is review-only (see the module documentation).
fn review_only(prog: &Program) -> Vec<bool> {
    let mut ok: Vec<bool> = prog
        .rules
        .iter()
        .map(|r| {
            let mut reads = false;
            let mut f = |e: &Expr| {
                if matches!(e, Expr::Params | Expr::Input | Expr::Folded(..)) {
                    reads = true;
                }
            };
            if let Some(d) = &r.default {
                walk_expr(d, &mut f);
            }
            r.defs.iter().for_each(|d| walk_def(d, &mut f));
            !reads
        })
        .collect();
    // Rules form no cycles, so this settles in at most as many rounds as rules.
    loop {
        let mut changed = false;
        for (id, rule) in prog.rules.iter().enumerate() {
            if !ok[id] {
                continue;
            }
            let mut uses_other = false;
            let mut f = |e: &Expr| {
                let dep = match e {
                    Expr::Rule(d) | Expr::ByName(d) | Expr::Call(Callee::User(d), _) => Some(*d),
                    Expr::Call(Callee::Shared(d), _) => Some(*d),
                    _ => None,
                };
                if dep.is_some_and(|d| !ok.get(d).copied().unwrap_or(false)) {
                    uses_other = true;
                }
            };
            if let Some(d) = &rule.default {
                walk_expr(d, &mut f);
            }
            rule.defs.iter().for_each(|d| walk_def(d, &mut f));
            if uses_other {
                ok[id] = false;
                changed = true;
            }
        }
        if !changed {
            return ok;
        }
    }
}

/// The slots of a body that may hold a parameter-derived value.
fn tainted_slots(def: &Def, function: bool, review_only: &[bool]) -> Vec<bool> {
    let mut slots = vec![false; def.slots as usize];
    if function {
        for p in &def.params {
            bind_all(p, &mut slots);
        }
    }
    loop {
        let before = slots.iter().filter(|s| **s).count();
        for c in &def.clauses {
            spread_query(&c.query, &mut slots, review_only);
        }
        if let Some(k) = &def.key {
            spread_expr(k, &mut slots, review_only);
        }
        for c in &def.clauses {
            if let Some(v) = &c.value {
                spread_expr(v, &mut slots, review_only);
            }
        }
        if slots.iter().filter(|s| **s).count() == before {
            return slots;
        }
    }
}

/// One pass of taint propagation through the bindings of a query.
fn spread_query(q: &Query, slots: &mut Vec<bool>, review_only: &[bool]) {
    for s in q {
        match s {
            Stmt::Expr(e) => spread_expr(e, slots, review_only),
            Stmt::Bind(p, e) => {
                spread_expr(e, slots, review_only);
                spread_pattern(p, slots, review_only);
                let t = Taint { slots, review_only };
                if t.expr(e) || t.pattern(p) {
                    bind_all(p, slots);
                }
            }
            Stmt::Iter { coll, key, val } => {
                spread_expr(coll, slots, review_only);
                spread_pattern(key, slots, review_only);
                spread_pattern(val, slots, review_only);
                let t = Taint { slots, review_only };
                if t.expr(coll) || t.pattern(key) || t.pattern(val) {
                    bind_all(key, slots);
                    bind_all(val, slots);
                }
            }
            Stmt::Not(q) => spread_query(q, slots, review_only),
            Stmt::Every {
                key,
                val,
                domain,
                query,
            } => {
                spread_expr(domain, slots, review_only);
                let t = Taint { slots, review_only };
                if t.expr(domain) {
                    if let Some(k) = key {
                        mark_slot(slots, *k);
                    }
                    mark_slot(slots, *val);
                }
                spread_query(query, slots, review_only);
            }
        }
    }
}

/// Taint propagation inside the queries an expression holds (comprehensions bind
/// variables of the same frame).
fn spread_expr(e: &Expr, slots: &mut Vec<bool>, review_only: &[bool]) {
    let mut queries: Vec<&Query> = Vec::new();
    walk_expr_shallow(e, &mut |x| match x {
        Expr::ArrayCompr(_, q) | Expr::SetCompr(_, q) | Expr::ObjectCompr(_, _, q) => {
            queries.push(q)
        }
        _ => {}
    });
    for q in queries {
        spread_query(q, slots, review_only);
    }
}

fn spread_pattern(p: &Pattern, slots: &mut Vec<bool>, review_only: &[bool]) {
    match p {
        Pattern::Wild | Pattern::Bind(_) => {}
        Pattern::Eq(e) => spread_expr(e, slots, review_only),
        Pattern::Array(items) => items
            .iter()
            .for_each(|p| spread_pattern(p, slots, review_only)),
        Pattern::Object(fields) => fields.iter().for_each(|(k, p)| {
            spread_expr(k, slots, review_only);
            spread_pattern(p, slots, review_only);
        }),
    }
}

fn mark_slot(slots: &mut [bool], s: u32) {
    if let Some(x) = slots.get_mut(s as usize) {
        *x = true;
    }
}

/// Taint every variable a pattern binds.
fn bind_all(p: &Pattern, slots: &mut Vec<bool>) {
    match p {
        Pattern::Bind(s) => mark_slot(slots, *s),
        Pattern::Array(items) => items.iter().for_each(|p| bind_all(p, slots)),
        Pattern::Object(fields) => fields.iter().for_each(|(_, p)| bind_all(p, slots)),
        Pattern::Wild | Pattern::Eq(_) => {}
    }
}

/// Which expressions are parameter-derived, given the tainted slots of their body.
struct Taint<'t> {
    slots: &'t [bool],
    review_only: &'t [bool],
}

impl Taint<'_> {
    fn rule(&self, id: RuleId) -> bool {
        !self.review_only.get(id).copied().unwrap_or(false)
    }

    /// Whether the value of `e` may depend on the parameters.
    fn expr(&self, e: &Expr) -> bool {
        match e {
            Expr::Params | Expr::Input | Expr::Folded(..) => true,
            Expr::Const(_) | Expr::Review | Expr::Inventory => false,
            Expr::Local(s) => self.slots.get(*s as usize).copied().unwrap_or(true),
            Expr::Rule(id) | Expr::ByName(id) => self.rule(*id),
            Expr::Call(callee, args) => {
                let by_callee = match callee {
                    Callee::User(id) | Callee::Shared(id) => self.rule(*id),
                    Callee::Native(_) | Callee::Regorus { .. } => false,
                };
                by_callee || args.iter().any(|a| self.expr(a))
            }
            Expr::Ref(b, steps) => {
                self.expr(b)
                    || steps.iter().any(|s| match s {
                        Step::Field(_) => false,
                        Step::Index(i) => self.expr(i),
                    })
            }
            Expr::Array(items) | Expr::Set(items) => items.iter().any(|i| self.expr(i)),
            Expr::Object(fields) => fields.iter().any(|(k, v)| self.expr(k) || self.expr(v)),
            Expr::ArrayCompr(t, q) | Expr::SetCompr(t, q) => self.expr(t) || self.query(q),
            Expr::ObjectCompr(k, v, q) => self.expr(k) || self.expr(v) || self.query(q),
            Expr::Arith(_, l, r) | Expr::Cmp(_, l, r) | Expr::SetOp(_, l, r) => {
                self.expr(l) || self.expr(r)
            }
            Expr::In(k, v, c) => {
                k.as_ref().is_some_and(|k| self.expr(k)) || self.expr(v) || self.expr(c)
            }
        }
    }

    /// Whether any expression of a query may depend on the parameters (what a
    /// comprehension collects may then depend on them too).
    fn query(&self, q: &Query) -> bool {
        q.iter().any(|s| match s {
            Stmt::Expr(e) => self.expr(e),
            Stmt::Bind(p, e) => self.pattern(p) || self.expr(e),
            Stmt::Iter { coll, key, val } => {
                self.expr(coll) || self.pattern(key) || self.pattern(val)
            }
            Stmt::Not(q) => self.query(q),
            Stmt::Every { domain, query, .. } => self.expr(domain) || self.query(query),
        })
    }

    /// Whether a pattern holds a parameter-derived expression (a key, a value compared).
    fn pattern(&self, p: &Pattern) -> bool {
        match p {
            Pattern::Wild | Pattern::Bind(_) => false,
            Pattern::Eq(e) => self.expr(e),
            Pattern::Array(items) => items.iter().any(|p| self.pattern(p)),
            Pattern::Object(fields) => fields.iter().any(|(k, p)| self.expr(k) || self.pattern(p)),
        }
    }

    /// Mark the shareable calls of an expression; `any` notes that one was found.
    fn expr_mut(&self, e: &mut Expr, any: &mut bool) {
        if let Expr::Call(callee, args) = e {
            if let Callee::User(id) = *callee {
                if !self.rule(id) && !args.iter().any(|a| self.expr(a)) {
                    *callee = Callee::Shared(id);
                    *any = true;
                }
            }
        }
        match e {
            // A folded expression's own form runs only when binding gave no value; it
            // reads the parameters, so nothing in it is shared.
            Expr::Folded(..)
            | Expr::Const(_)
            | Expr::Local(_)
            | Expr::Input
            | Expr::Review
            | Expr::Params
            | Expr::Inventory
            | Expr::Rule(_)
            | Expr::ByName(_) => {}
            Expr::Ref(b, steps) => {
                self.expr_mut(b, any);
                for s in steps {
                    if let Step::Index(i) = s {
                        self.expr_mut(i, any);
                    }
                }
            }
            Expr::Call(_, items) | Expr::Array(items) | Expr::Set(items) => {
                items.iter_mut().for_each(|i| self.expr_mut(i, any))
            }
            Expr::Object(fields) => fields.iter_mut().for_each(|(k, v)| {
                self.expr_mut(k, any);
                self.expr_mut(v, any);
            }),
            Expr::ArrayCompr(t, q) | Expr::SetCompr(t, q) => {
                self.expr_mut(t, any);
                self.query_mut(q, any);
            }
            Expr::ObjectCompr(k, v, q) => {
                self.expr_mut(k, any);
                self.expr_mut(v, any);
                self.query_mut(q, any);
            }
            Expr::Arith(_, l, r) | Expr::Cmp(_, l, r) | Expr::SetOp(_, l, r) => {
                self.expr_mut(l, any);
                self.expr_mut(r, any);
            }
            Expr::In(k, v, c) => {
                if let Some(k) = k {
                    self.expr_mut(k, any);
                }
                self.expr_mut(v, any);
                self.expr_mut(c, any);
            }
        }
    }

    fn query_mut(&self, q: &mut Query, any: &mut bool) {
        for s in q {
            match s {
                Stmt::Expr(e) => self.expr_mut(e, any),
                Stmt::Bind(p, e) => {
                    self.pattern_mut(p, any);
                    self.expr_mut(e, any);
                }
                Stmt::Iter { coll, key, val } => {
                    self.expr_mut(coll, any);
                    self.pattern_mut(key, any);
                    self.pattern_mut(val, any);
                }
                Stmt::Not(q) => self.query_mut(q, any),
                Stmt::Every { domain, query, .. } => {
                    self.expr_mut(domain, any);
                    self.query_mut(query, any);
                }
            }
        }
    }

    fn pattern_mut(&self, p: &mut Pattern, any: &mut bool) {
        match p {
            Pattern::Wild | Pattern::Bind(_) => {}
            Pattern::Eq(e) => self.expr_mut(e, any),
            Pattern::Array(items) => items.iter_mut().for_each(|p| self.pattern_mut(p, any)),
            Pattern::Object(fields) => fields.iter_mut().for_each(|(k, p)| {
                self.expr_mut(k, any);
                self.pattern_mut(p, any);
            }),
        }
    }
}
