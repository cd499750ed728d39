//! Lowering of one rule definition: variables to slots, statements in source order, and
//! references with unbound variables hoisted into [`Stmt::Iter`] generators.
//!
//! Statements keep their source order unless one reads a variable that a later statement
//! binds: it is then deferred until after that statement, the way OPA and regorus schedule
//! a body. A body whose variables cannot all be bound that way is refused.
//!
//! Expressions are lowered in [`expr`]; the bind-time folding of parameter-only
//! expressions is prepared in [`fold`].

mod expr;
mod fold;

use std::collections::HashMap;

use regorus::unstable::{AssignOp, Expr as AstExpr, Literal, LiteralStmt, Query as AstQuery};
use regorus::Value as RValue;

use super::ir::{Cmp, Expr, Pattern, Query, RuleId, Slot, Stmt};
use super::lower::{unsupported, ModCtx, Unsupported};

type R<T> = Result<T, Unsupported>;

/// Lowering state of one definition: its frame and the names in scope.
pub(crate) struct Body<'c, 'n> {
    ctx: &'c ModCtx<'n>,
    /// Scope levels, innermost last.
    scopes: Vec<Scope>,
    /// Whether each slot is bound at the current point of the lowering.
    bound: Vec<bool>,
    /// For slots bound once to an expression of constants and parameters, that expression
    /// (calls on such slots are folded at bind time with the slot replaced by it).
    statics: Vec<Option<Expr>>,
    /// Implicit variables of nested scopes that were closed, with the level they lived at.
    /// The same name used later by an enclosing scope would be one variable for OPA (which
    /// would schedule the nested scope after it), so that is refused.
    closed: HashMap<String, usize>,
    /// Rules this definition reads or calls.
    pub(crate) deps: Vec<RuleId>,
}

/// One scope level.
#[derive(Clone, Default)]
struct Scope {
    /// Declared names: name, slot, and whether it was declared implicitly (first use).
    names: Vec<(String, Slot, bool)>,
    /// A comprehension, `not` or `every` body: variables of enclosing levels that are
    /// still unbound may not be bound from inside.
    nested: bool,
}

/// What [`Body::snapshot`] saves so that a statement can be lowered tentatively.
struct Snapshot {
    scopes: Vec<Scope>,
    bound: Vec<bool>,
    statics: Vec<Option<Expr>>,
    closed: HashMap<String, usize>,
    deps: usize,
}

/// Start of the message of a refusal that a later statement may lift by binding the
/// variable (the statement is then retried after it).
const UNBOUND: &str = "variable read before it is bound: ";

fn unbound<T>(name: &str) -> R<T> {
    unsupported(format!("{UNBOUND}{name}"))
}

fn name_of(v: &RValue) -> R<&str> {
    v.as_string()
        .map(|s| s.as_ref())
        .map_err(|e| Unsupported(e.to_string()))
}

impl<'c, 'n> Body<'c, 'n> {
    /// A fresh definition in module `ctx`.
    pub(crate) fn new(ctx: &'c ModCtx<'n>) -> Self {
        Body {
            ctx,
            scopes: vec![Scope::default()],
            bound: Vec::new(),
            statics: Vec::new(),
            closed: HashMap::new(),
            deps: Vec::new(),
        }
    }

    /// Slots used so far.
    pub(crate) fn slots(&self) -> u32 {
        self.bound.len() as u32
    }

    fn lookup(&self, name: &str) -> Option<Slot> {
        self.lookup_level(name).map(|(s, _)| s)
    }

    /// The slot of a name and the level of the scope declaring it.
    fn lookup_level(&self, name: &str) -> Option<(Slot, usize)> {
        self.scopes.iter().enumerate().rev().find_map(|(level, s)| {
            s.names
                .iter()
                .rev()
                .find(|(n, _, _)| n == name)
                .map(|(_, slot, _)| (*slot, level))
        })
    }

    fn is_bound(&self, slot: Slot) -> bool {
        self.bound[slot as usize]
    }

    /// A new slot for `name` in the innermost scope (unbound).
    fn declare(&mut self, name: &str, implicit: bool) -> R<Slot> {
        let level = self.scopes.len() - 1;
        if self.closed.get(name).is_some_and(|&l| level < l) {
            return unsupported(format!(
                "variable {name} shared with a nested scope before it"
            ));
        }
        let slot = self.temp();
        self.bound[slot as usize] = false;
        if let Some(scope) = self.scopes.last_mut() {
            scope.names.push((name.to_string(), slot, implicit));
        }
        Ok(slot)
    }

    /// The slot the next new variable gets: every slot from it on is declared later.
    fn next_slot(&self) -> Slot {
        self.bound.len() as Slot
    }

    /// A new anonymous slot, marked bound (it is bound by the statement that makes it).
    fn temp(&mut self) -> Slot {
        self.bound.push(true);
        self.statics.push(None);
        (self.bound.len() - 1) as Slot
    }

    fn bind(&mut self, slot: Slot) {
        self.bound[slot as usize] = true;
    }

    /// Open a nested scope (`nested`: a comprehension, `not` or `every` body; else an
    /// `else` clause).
    fn enter(&mut self, nested: bool) -> Vec<bool> {
        self.scopes.push(Scope {
            names: Vec::new(),
            nested,
        });
        self.bound.clone()
    }

    /// Close a nested scope: its names go, and slots bound inside are unbound again.
    fn leave(&mut self, saved: Vec<bool>) {
        let level = self.scopes.len() - 1;
        if let Some(scope) = self.scopes.pop() {
            for (name, _, implicit) in scope.names {
                if implicit {
                    self.closed
                        .entry(name)
                        .and_modify(|l| *l = (*l).min(level))
                        .or_insert(level);
                }
            }
        }
        let n = saved.len();
        self.bound[..n].copy_from_slice(&saved);
        for b in &mut self.bound[n..] {
            *b = false;
        }
    }

    /// Whether a nested body lies between scope `level` and the innermost scope.
    fn crosses_nested(&self, level: usize) -> bool {
        self.scopes[level + 1..].iter().any(|s| s.nested)
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            scopes: self.scopes.clone(),
            bound: self.bound.clone(),
            statics: self.statics.clone(),
            closed: self.closed.clone(),
            deps: self.deps.len(),
        }
    }

    fn restore(&mut self, s: Snapshot) {
        self.scopes = s.scopes;
        self.bound = s.bound;
        self.statics = s.statics;
        self.closed = s.closed;
        self.deps.truncate(s.deps);
    }

    /// Whether a non-local name means something global (a rule, import, `input`, `data`).
    fn is_global(&self, name: &str) -> bool {
        matches!(name, "input" | "data")
            || self.ctx.local_rule(name).is_some()
            || self.ctx.imports.contains_key(name)
    }

    /// Whether `e` has unbound variables at term level, i.e. is a unification pattern.
    fn is_pattern(&self, e: &AstExpr) -> bool {
        match e {
            AstExpr::Var { value, .. } => match value.as_string() {
                Ok(n) if n.as_ref() == "_" => true,
                Ok(n) => match self.lookup(n) {
                    Some(slot) => !self.is_bound(slot),
                    None => !self.is_global(n),
                },
                Err(_) => false,
            },
            AstExpr::Array { items, .. } => items.iter().any(|i| self.is_pattern(i)),
            AstExpr::Object { fields, .. } => fields.iter().any(|(_, _, v)| self.is_pattern(v)),
            _ => false,
        }
    }

    /// A function parameter: variables are declared, constants compared.
    pub(crate) fn param(&mut self, e: &AstExpr) -> R<Pattern> {
        let mut pre = Vec::new();
        let p = self.pattern(e, &mut pre, true)?;
        if !pre.is_empty() {
            return unsupported("function parameter with a reference");
        }
        Ok(p)
    }

    /// A body with the head's key and value, in a scope of its own.
    pub(crate) fn clause(
        &mut self,
        query: &AstQuery,
        key: Option<&AstExpr>,
        value: Option<&AstExpr>,
    ) -> R<(Query, Option<Expr>, Option<Expr>)> {
        let saved = self.enter(false);
        let mut q = Vec::new();
        self.query(query, &mut q)?;
        let k = key.map(|k| self.value(k, &mut q)).transpose()?;
        let v = value.map(|v| self.value(v, &mut q)).transpose()?;
        self.leave(saved);
        Ok((q, k, v))
    }

    /// A query's statements in source order, except that a statement reading a variable
    /// a later statement binds is deferred until then (as OPA and regorus schedule them).
    fn query(&mut self, query: &AstQuery, q: &mut Query) -> R<()> {
        let mut pending: Vec<&LiteralStmt> = query.stmts.iter().collect();
        while !pending.is_empty() {
            let mut deferred = Vec::new();
            let mut last_err = None;
            for stmt in pending.iter().copied() {
                let snap = self.snapshot();
                let mut out = Vec::new();
                match self.stmt(stmt, &mut out) {
                    Ok(()) => q.extend(out),
                    Err(e) if e.0.starts_with(UNBOUND) => {
                        self.restore(snap);
                        deferred.push(stmt);
                        last_err = Some(e);
                    }
                    Err(e) => return Err(e),
                }
            }
            if deferred.len() == pending.len() {
                return Err(last_err.unwrap_or_else(|| Unsupported("unsafe statement".into())));
            }
            pending = deferred;
        }
        Ok(())
    }

    fn stmt(&mut self, stmt: &LiteralStmt, q: &mut Query) -> R<()> {
        if !stmt.with_mods.is_empty() {
            return unsupported("with modifiers");
        }
        match &stmt.literal {
            Literal::SomeVars { vars, .. } => {
                for v in vars {
                    self.declare(v.text(), false)?;
                }
            }
            Literal::SomeIn {
                key,
                value,
                collection,
                ..
            } => {
                let coll = self.value(collection, q)?;
                let key = match key {
                    Some(k) => self.pattern(k, q, true)?,
                    None => Pattern::Wild,
                };
                let val = self.pattern(value, q, true)?;
                q.push(Stmt::Iter { coll, key, val });
            }
            Literal::Expr { expr, .. } => self.expr_stmt(expr, q)?,
            Literal::NotExpr { expr, .. } => {
                let saved = self.enter(true);
                let mut sub = Vec::new();
                self.expr_stmt(expr, &mut sub)?;
                self.leave(saved);
                q.push(Stmt::Not(sub));
            }
            Literal::Every {
                key,
                value,
                domain,
                query,
                ..
            } => {
                let domain = self.value(domain, q)?;
                let saved = self.enter(true);
                let key = key
                    .as_ref()
                    .map(|k| self.declare(k.text(), false))
                    .transpose()?;
                let val = self.declare(value.text(), false)?;
                for s in key.iter().chain([&val]) {
                    self.bind(*s);
                }
                let mut sub = Vec::new();
                self.query(query, &mut sub)?;
                self.leave(saved);
                q.push(Stmt::Every {
                    key,
                    val,
                    domain,
                    query: sub,
                });
            }
        }
        Ok(())
    }

    /// An expression statement: an assignment, a unification or a plain expression.
    fn expr_stmt(&mut self, expr: &AstExpr, q: &mut Query) -> R<()> {
        if let AstExpr::AssignExpr { op, lhs, rhs, .. } = expr {
            match op {
                AssignOp::ColEq => {
                    let v = self.value(rhs, q)?;
                    let p = self.pattern(lhs, q, true)?;
                    self.note_static(&p, &v);
                    q.push(Stmt::Bind(p, v));
                }
                AssignOp::Eq => match (self.is_pattern(lhs), self.is_pattern(rhs)) {
                    (true, false) => {
                        let v = self.value(rhs, q)?;
                        let p = self.pattern(lhs, q, false)?;
                        self.note_static(&p, &v);
                        q.push(Stmt::Bind(p, v));
                    }
                    (false, true) => {
                        let v = self.value(lhs, q)?;
                        let p = self.pattern(rhs, q, false)?;
                        q.push(Stmt::Bind(p, v));
                    }
                    (false, false) => {
                        let (l, r) = (self.value(lhs, q)?, self.value(rhs, q)?);
                        q.push(Stmt::Expr(Expr::Cmp(Cmp::Eq, Box::new(l), Box::new(r))));
                    }
                    (true, true) => return unsupported("unification with variables on both sides"),
                },
            }
            return Ok(());
        }
        let v = self.value(expr, q)?;
        q.push(Stmt::Expr(v));
        Ok(())
    }

    /// A unification pattern. `declare`: variables are new (`:=`, `some .. in`, params).
    fn pattern(&mut self, e: &AstExpr, pre: &mut Query, declare: bool) -> R<Pattern> {
        match e {
            AstExpr::Var { value, .. } => {
                let name = name_of(value)?;
                if name == "_" {
                    return Ok(Pattern::Wild);
                }
                if declare {
                    let s = self.declare(name, false)?;
                    self.bind(s);
                    return Ok(Pattern::Bind(s));
                }
                match self.lookup_level(name) {
                    Some((s, _)) if self.is_bound(s) => Ok(Pattern::Eq(Expr::Local(s))),
                    Some((_, level)) if self.crosses_nested(level) => unsupported(format!(
                        "variable {name} of an enclosing body bound inside a nested one"
                    )),
                    Some((s, _)) => {
                        self.bind(s);
                        Ok(Pattern::Bind(s))
                    }
                    None if self.is_global(name) => Ok(Pattern::Eq(self.value(e, pre)?)),
                    None => {
                        let s = self.declare(name, true)?;
                        self.bind(s);
                        Ok(Pattern::Bind(s))
                    }
                }
            }
            AstExpr::Array { items, .. } => Ok(Pattern::Array(
                items
                    .iter()
                    .map(|i| self.pattern(i, pre, declare))
                    .collect::<R<Vec<_>>>()?,
            )),
            AstExpr::Object { fields, .. } => {
                let mut out = Vec::with_capacity(fields.len());
                for (_, k, v) in fields {
                    let k = self.value(k, pre)?;
                    out.push((k, self.pattern(v, pre, declare)?));
                }
                Ok(Pattern::Object(out))
            }
            _ => Ok(Pattern::Eq(self.value(e, pre)?)),
        }
    }
}
