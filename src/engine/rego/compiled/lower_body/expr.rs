//! Lowering of expressions: constants, references (with their generators), calls,
//! comprehensions and operators.

use regorus::unstable::{ArithOp, BinOp, BoolOp, Expr as AstExpr, Query as AstQuery, Ref};
use regorus::Value as RValue;

use super::super::builtins;
use super::super::ir::{
    Arith, Callee, Cmp, Const, Expr, Pattern, Query, RuleId, RuleKind, Step, Stmt,
};
use super::super::lower::{dotted, unsupported, Unsupported};
use super::{name_of, unbound, Body, R};

/// A component of a flattened reference.
enum AstStep<'e> {
    Dot(&'e str),
    Brack(&'e Ref<AstExpr>),
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

impl Body<'_, '_> {
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
                let first = self.next_slot();
                let (t, q) = self.comprehension(&[term], query)?;
                let [t] = <[Expr; 1]>::try_from(t).map_err(|_| Unsupported("term".into()))?;
                self.maybe_fold_comprehension(Expr::ArrayCompr(Box::new(t), q), first)
            }
            AstExpr::SetCompr { term, query, .. } => {
                let first = self.next_slot();
                let (t, q) = self.comprehension(&[term], query)?;
                let [t] = <[Expr; 1]>::try_from(t).map_err(|_| Unsupported("term".into()))?;
                self.maybe_fold_comprehension(Expr::SetCompr(Box::new(t), q), first)
            }
            AstExpr::ObjectCompr {
                key, value, query, ..
            } => {
                let first = self.next_slot();
                let (t, q) = self.comprehension(&[key, value], query)?;
                let [k, v] = <[Expr; 2]>::try_from(t).map_err(|_| Unsupported("term".into()))?;
                self.maybe_fold_comprehension(Expr::ObjectCompr(Box::new(k), Box::new(v), q), first)
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

    pub(super) fn call(
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
        if let Some(part) = input_part(&name, &args) {
            return Ok(part);
        }
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

    /// A rule read as a value. A function of no arguments named without parentheses is
    /// evaluated the way regorus evaluates it (`canonicalize_runtime_default_profile` in
    /// the library); only a single definition is supported.
    fn rule_ref(&mut self, id: RuleId) -> R<Expr> {
        match self.ctx.names.kinds[id] {
            RuleKind::Function(0) if self.ctx.names.defs.get(id) == Some(&1) => {
                self.deps.push(id);
                Ok(Expr::ByName(id))
            }
            RuleKind::Function(_) => unsupported("function used as a value"),
            _ => {
                self.deps.push(id);
                Ok(Expr::Rule(id))
            }
        }
    }
}

fn make_ref(base: Expr, path: Vec<Step>) -> Expr {
    if path.is_empty() {
        base
    } else {
        Expr::Ref(Box::new(base), path)
    }
}

/// `object.get(input, "parameters", default)` as `input.parameters` (and the same for
/// `review`). `input` always holds both keys (see the evaluator's `Expr::Input`), so the
/// default is never taken and the two read the same value; the default must be a literal,
/// which is always defined (an undefined argument would make the call undefined). The
/// library's `is_exempt` starts so; read as `input.parameters`, its exemption list is folded
/// when a constraint binds instead of building `input` and making two calls per container.
fn input_part(name: &str, args: &[Expr]) -> Option<Expr> {
    fn literal(e: &Expr) -> bool {
        match e {
            Expr::Const(_) => true,
            Expr::Array(items) | Expr::Set(items) => items.iter().all(literal),
            Expr::Object(fields) => fields.iter().all(|(k, v)| literal(k) && literal(v)),
            _ => false,
        }
    }
    match (name, args) {
        ("object.get", [Expr::Input, Expr::Const(Const::Str(key)), default])
            if literal(default) =>
        {
            match &**key {
                "parameters" => Some(Expr::Params),
                "review" => Some(Expr::Review),
                _ => None,
            }
        }
        _ => None,
    }
}
