//! Lowering of one rule definition: variables to slots, statements in source order, and
//! references with unbound variables hoisted into [`Stmt::Iter`] generators.
//!
//! Statements are not reordered. OPA and regorus schedule a body's statements so that each
//! variable is bound before it is read; the library's templates are written in an order
//! that already satisfies this, and a body that would need reordering (a variable read
//! before the statement binding it) is refused rather than guessed at.

use std::collections::HashMap;

use regorus::unstable::{
    ArithOp, AssignOp, BinOp, BoolOp, Expr as AstExpr, Literal, LiteralStmt, Query as AstQuery, Ref,
};
use regorus::Value as RValue;

use super::builtins;
use super::ir::{
    Arith, Callee, Cmp, Const, Expr, Pattern, Query, RuleId, RuleKind, Slot, Step, Stmt,
};
use super::lower::{dotted, unsupported, ModCtx, Unsupported};

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

/// A component of a flattened reference.
enum AstStep<'e> {
    Dot(&'e str),
    Brack(&'e Ref<AstExpr>),
}

fn name_of(v: &RValue) -> R<&str> {
    v.as_string()
        .map(|s| s.as_ref())
        .map_err(|e| Unsupported(e.to_string()))
}

fn constant(v: &RValue) -> R<Const> {
    Ok(match v {
        RValue::Null => Const::Null,
        RValue::Bool(b) => Const::Bool(*b),
        RValue::Number(_) => Const::Num(v.clone()),
        RValue::String(s) => Const::Str(s.as_ref().into()),
        _ => return unsupported("composite constant"),
    })
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

    /// Remember that `p`, a plain variable, holds the static expression `v`.
    fn note_static(&mut self, p: &Pattern, v: &Expr) {
        if let Pattern::Bind(s) = p {
            if self.is_static(v) {
                self.statics[*s as usize] = Some(self.inline(v));
            }
        }
    }

    /// Whether an expression depends only on constants and `input.parameters`.
    fn is_static(&self, e: &Expr) -> bool {
        match e {
            Expr::Const(_) | Expr::Params | Expr::Folded(..) => true,
            Expr::Local(s) => self.statics.get(*s as usize).is_some_and(Option::is_some),
            Expr::Ref(b, steps) => {
                self.is_static(b)
                    && steps.iter().all(|s| match s {
                        Step::Field(_) => true,
                        Step::Index(i) => self.is_static(i),
                    })
            }
            Expr::Array(items) | Expr::Set(items) => items.iter().all(|i| self.is_static(i)),
            Expr::Object(fields) => fields
                .iter()
                .all(|(k, v)| self.is_static(k) && self.is_static(v)),
            Expr::Call(_, args) => args.iter().all(|a| self.is_static(a)),
            Expr::Arith(_, l, r) | Expr::Cmp(_, l, r) | Expr::SetOp(_, l, r) => {
                self.is_static(l) && self.is_static(r)
            }
            _ => false,
        }
    }

    /// A static expression with its variables replaced by their definitions.
    fn inline(&self, e: &Expr) -> Expr {
        match e {
            Expr::Local(s) => match self.statics.get(*s as usize) {
                Some(Some(def)) => def.clone(),
                _ => e.clone(),
            },
            Expr::Ref(b, steps) => Expr::Ref(
                Box::new(self.inline(b)),
                steps
                    .iter()
                    .map(|s| match s {
                        Step::Field(f) => Step::Field(f.clone()),
                        Step::Index(i) => Step::Index(self.inline(i)),
                    })
                    .collect(),
            ),
            Expr::Array(items) => Expr::Array(items.iter().map(|i| self.inline(i)).collect()),
            Expr::Set(items) => Expr::Set(items.iter().map(|i| self.inline(i)).collect()),
            Expr::Object(fields) => Expr::Object(
                fields
                    .iter()
                    .map(|(k, v)| (self.inline(k), self.inline(v)))
                    .collect(),
            ),
            Expr::Call(c, args) => {
                Expr::Call(c.clone(), args.iter().map(|a| self.inline(a)).collect())
            }
            Expr::Arith(op, l, r) => {
                Expr::Arith(*op, Box::new(self.inline(l)), Box::new(self.inline(r)))
            }
            Expr::Cmp(op, l, r) => {
                Expr::Cmp(*op, Box::new(self.inline(l)), Box::new(self.inline(r)))
            }
            Expr::SetOp(u, l, r) => {
                Expr::SetOp(*u, Box::new(self.inline(l)), Box::new(self.inline(r)))
            }
            other => other.clone(),
        }
    }

    /// A call, folded at bind time when its arguments are static.
    fn maybe_fold(&mut self, call: Expr) -> Expr {
        if self.is_static(&call) {
            let inlined = self.inline(&call);
            Expr::Folded(self.ctx.next_fold(), Box::new(inlined))
        } else {
            call
        }
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

    /// A deterministic expression; generators it needs are pushed on `pre`.
    pub(crate) fn value(&mut self, e: &AstExpr, pre: &mut Query) -> R<Expr> {
        Ok(match e {
            AstExpr::String { value, .. }
            | AstExpr::RawString { value, .. }
            | AstExpr::Number { value, .. }
            | AstExpr::Bool { value, .. }
            | AstExpr::Null { value, .. } => Expr::Const(constant(value)?),
            AstExpr::Var { .. } | AstExpr::RefDot { .. } | AstExpr::RefBrack { .. } => {
                self.reference(e, pre)?
            }
            AstExpr::Array { items, .. } => Expr::Array(self.values(items, pre)?),
            AstExpr::Set { items, .. } => Expr::Set(self.values(items, pre)?),
            AstExpr::Object { fields, .. } => {
                let mut out = Vec::with_capacity(fields.len());
                for (_, k, v) in fields {
                    let k = self.value(k, pre)?;
                    out.push((k, self.value(v, pre)?));
                }
                Expr::Object(out)
            }
            AstExpr::ArrayCompr { term, query, .. } => {
                let (t, q) = self.comprehension(&[term], query)?;
                let [t] = <[Expr; 1]>::try_from(t).map_err(|_| Unsupported("term".into()))?;
                Expr::ArrayCompr(Box::new(t), q)
            }
            AstExpr::SetCompr { term, query, .. } => {
                let (t, q) = self.comprehension(&[term], query)?;
                let [t] = <[Expr; 1]>::try_from(t).map_err(|_| Unsupported("term".into()))?;
                Expr::SetCompr(Box::new(t), q)
            }
            AstExpr::ObjectCompr {
                key, value, query, ..
            } => {
                let (t, q) = self.comprehension(&[key, value], query)?;
                let [k, v] = <[Expr; 2]>::try_from(t).map_err(|_| Unsupported("term".into()))?;
                Expr::ObjectCompr(Box::new(k), Box::new(v), q)
            }
            AstExpr::Call {
                fcn, params, span, ..
            } => self.call(fcn, params, span, pre)?,
            // regorus only negates numeric literals (anything else fails at run time).
            AstExpr::UnaryExpr { expr, .. } => match expr.as_ref() {
                AstExpr::Number { value, .. } => Expr::Arith(
                    Arith::Sub,
                    Box::new(Expr::Const(Const::Num(RValue::from(0u64)))),
                    Box::new(Expr::Const(constant(value)?)),
                ),
                _ => return unsupported("unary minus on a non-literal"),
            },
            AstExpr::BinExpr { op, lhs, rhs, .. } => {
                let (l, r) = (self.value(lhs, pre)?, self.value(rhs, pre)?);
                Expr::SetOp(matches!(op, BinOp::Union), Box::new(l), Box::new(r))
            }
            AstExpr::BoolExpr { op, lhs, rhs, .. } => {
                let (l, r) = (self.value(lhs, pre)?, self.value(rhs, pre)?);
                let op = match op {
                    BoolOp::Eq => Cmp::Eq,
                    BoolOp::Ne => Cmp::Ne,
                    BoolOp::Lt => Cmp::Lt,
                    BoolOp::Le => Cmp::Le,
                    BoolOp::Gt => Cmp::Gt,
                    BoolOp::Ge => Cmp::Ge,
                };
                Expr::Cmp(op, Box::new(l), Box::new(r))
            }
            AstExpr::ArithExpr { op, lhs, rhs, .. } => {
                let (l, r) = (self.value(lhs, pre)?, self.value(rhs, pre)?);
                let op = match op {
                    ArithOp::Add => Arith::Add,
                    ArithOp::Sub => Arith::Sub,
                    ArithOp::Mul => Arith::Mul,
                    ArithOp::Div => Arith::Div,
                    ArithOp::Mod => Arith::Mod,
                };
                Expr::Arith(op, Box::new(l), Box::new(r))
            }
            AstExpr::Membership {
                key,
                value,
                collection,
                ..
            } => {
                let k = key.as_ref().map(|k| self.value(k, pre)).transpose()?;
                let v = self.value(value, pre)?;
                let c = self.value(collection, pre)?;
                Expr::In(k.map(Box::new), Box::new(v), Box::new(c))
            }
            AstExpr::AssignExpr { .. } => return unsupported("assignment inside an expression"),
            #[allow(unreachable_patterns)]
            _ => return unsupported("expression kind"),
        })
    }

    fn values(&mut self, items: &[Ref<AstExpr>], pre: &mut Query) -> R<Vec<Expr>> {
        items.iter().map(|i| self.value(i, pre)).collect()
    }

    /// A comprehension's terms and query, in a scope of its own; the terms' generators go
    /// at the end of the query.
    fn comprehension(
        &mut self,
        terms: &[&Ref<AstExpr>],
        query: &AstQuery,
    ) -> R<(Vec<Expr>, Query)> {
        let saved = self.enter(true);
        let mut q = Vec::new();
        self.query(query, &mut q)?;
        let mut out = Vec::with_capacity(terms.len());
        for t in terms {
            out.push(self.value(t, &mut q)?);
        }
        self.leave(saved);
        Ok((out, q))
    }

    fn call(
        &mut self,
        fcn: &AstExpr,
        params: &[Ref<AstExpr>],
        span: &regorus::unstable::Span,
        pre: &mut Query,
    ) -> R<Expr> {
        let path = dotted(fcn).ok_or_else(|| Unsupported("call of a computed function".into()))?;
        if self.lookup(&path[0]).is_some() {
            return unsupported("call through a local variable");
        }
        let user = if path.len() == 1 {
            self.ctx.local_rule(&path[0])
        } else {
            None
        }
        .or_else(|| {
            let full: Vec<String> = match self.ctx.imports.get(&path[0]) {
                Some(p) => p.iter().chain(&path[1..]).cloned().collect(),
                None if path[0] == "data" => path[1..].to_vec(),
                None => return None,
            };
            self.ctx
                .data_rule(&full)
                .and_then(|(id, used)| (used == full.len()).then_some(id))
        });
        let args = self.values(params, pre)?;
        if let Some(id) = user {
            if self.ctx.names.kinds[id] != RuleKind::Function(params.len()) {
                return unsupported(format!(
                    "call of {} with {} arguments",
                    path.join("."),
                    params.len()
                ));
            }
            self.deps.push(id);
            return Ok(self.maybe_fold(Expr::Call(Callee::User(id), args)));
        }
        let name = path.join(".");
        if let Some(native) = builtins::native(&name, params.len()) {
            return Ok(self.maybe_fold(Expr::Call(Callee::Native(native), args)));
        }
        if builtins::overridden(&name) {
            return unsupported(format!("{name} with {} arguments", params.len()));
        }
        match regorus::unstable::BUILTINS.get(name.as_str()) {
            Some(&(run, n)) if usize::from(n) == params.len() && builtins::deterministic(&name) => {
                Ok(Expr::Call(
                    Callee::Regorus {
                        run: (run, n),
                        params: params.to_vec(),
                        span: span.clone(),
                    },
                    args,
                ))
            }
            _ => unsupported(format!("function {name}/{}", params.len())),
        }
    }

    /// A reference (or a bare variable): resolved base, fields, indexes and generators.
    fn reference(&mut self, e: &AstExpr, pre: &mut Query) -> R<Expr> {
        let mut steps = Vec::new();
        let mut cur = e;
        loop {
            match cur {
                AstExpr::RefDot { refr, field, .. } => {
                    steps.push(AstStep::Dot(name_of(&field.1)?));
                    cur = refr;
                }
                AstExpr::RefBrack { refr, index, .. } => {
                    steps.push(AstStep::Brack(index));
                    cur = refr;
                }
                _ => break,
            }
        }
        steps.reverse();
        let mut i = 0;
        let base = match cur {
            AstExpr::Var { value, .. } => {
                let name = name_of(value)?;
                match self.lookup(name) {
                    Some(s) if self.is_bound(s) => Expr::Local(s),
                    Some(_) => return unbound(name),
                    None => self.global(name, &steps, &mut i)?,
                }
            }
            other => self.value(other, pre)?,
        };
        let mut cur = base;
        let mut path: Vec<crate::engine::rego::compiled::ir::Step> = Vec::new();
        for step in &steps[i..] {
            let index = match step {
                AstStep::Dot(f) => {
                    path.push(Step::Field((*f).into()));
                    continue;
                }
                AstStep::Brack(index) => index,
            };
            if let AstExpr::String { value, .. } = index.as_ref() {
                path.push(Step::Field(name_of(value)?.into()));
                continue;
            }
            if !self.is_pattern(index) {
                let v = self.value(index, pre)?;
                path.push(Step::Index(v));
                continue;
            }
            let coll = make_ref(cur, std::mem::take(&mut path));
            let key = self.pattern(index, pre, false)?;
            let t = self.temp();
            pre.push(Stmt::Iter {
                coll,
                key,
                val: Pattern::Bind(t),
            });
            cur = Expr::Local(t);
        }
        Ok(make_ref(cur, path))
    }

    /// A global name at the start of a reference; `i` advances past the steps it used.
    fn global(&mut self, name: &str, steps: &[AstStep<'_>], i: &mut usize) -> R<Expr> {
        let field = |s: Option<&AstStep<'_>>| -> Option<String> {
            match s? {
                AstStep::Dot(f) => Some((*f).to_string()),
                AstStep::Brack(e) => match e.as_ref() {
                    AstExpr::String { value, .. } => value.as_string().ok().map(|s| s.to_string()),
                    _ => None,
                },
            }
        };
        if name == "input" {
            return Ok(match field(steps.first()).as_deref() {
                Some("review") => {
                    *i = 1;
                    Expr::Review
                }
                Some("parameters") => {
                    *i = 1;
                    Expr::Params
                }
                _ => Expr::Input,
            });
        }
        if let Some(id) = self.ctx.local_rule(name) {
            return self.rule_ref(id);
        }
        let mut path: Vec<String> = match (name, self.ctx.imports.get(name)) {
            ("data", _) => Vec::new(),
            (_, Some(p)) => p.clone(),
            _ => return unbound(name),
        };
        // `path` is the import's path (or nothing for `data`) followed by the constant
        // fields of the reference; `*i` counts the fields taken from the reference.
        let prefix = path.len();
        while let Some(f) = field(steps.get(*i)) {
            path.push(f);
            *i += 1;
        }
        if path.first().map(String::as_str) == Some("inventory") && prefix <= 1 {
            // Keep the steps after `data.inventory` (or after an `inventory` alias).
            *i = 1 - prefix;
            return Ok(Expr::Inventory);
        }
        match self.ctx.data_rule(&path) {
            Some((id, used)) if used >= prefix => {
                *i = used - prefix;
                self.rule_ref(id)
            }
            _ => unsupported(format!("reference to data.{}", path.join("."))),
        }
    }

    fn rule_ref(&mut self, id: RuleId) -> R<Expr> {
        if matches!(self.ctx.names.kinds[id], RuleKind::Function(_)) {
            return unsupported("function used as a value");
        }
        self.deps.push(id);
        Ok(Expr::Rule(id))
    }
}

fn make_ref(base: Expr, path: Vec<Step>) -> Expr {
    if path.is_empty() {
        base
    } else {
        Expr::Ref(Box::new(base), path)
    }
}
