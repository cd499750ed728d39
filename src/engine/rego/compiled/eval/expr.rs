//! Expression evaluation: the hot path of the compiled evaluator.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use regorus::Value as RValue;

use super::super::builtins::{borrowed, set_of};
use super::super::fold::Fold;
use super::super::ir::{Arith, Callee, Cmp, Const, Expr};
use super::super::value::{Num, Str, V};
use super::{fail, Args, Ctx, EvalError, Flow, Frame, Res};

impl<'a> Ctx<'a> {
    /// Evaluate a deterministic expression; `None` is undefined. The frequent, small
    /// cases are handled here; the rest in functions of their own, so that this hot
    /// function keeps a small stack frame.
    pub(crate) fn eval(&self, e: &'a Expr, fr: &mut Frame<'a>) -> Res<Option<V<'a>>> {
        match e {
            Expr::Const(c) => Ok(Some(constant(c))),
            Expr::Local(s) => match fr.get(*s as usize) {
                Some(v) => Ok(v.clone()),
                None => {
                    self.touch();
                    Ok(None)
                }
            },
            Expr::Review => {
                self.touch();
                Ok(Some(V::json(self.review)))
            }
            Expr::Folded(i, inner) => match self.folds.get(*i as usize) {
                // A folded string borrows the bound value rather than copying it per
                // request (the library folds `input.parameters.cpu` and the like).
                Some(Fold::Value(RValue::String(s))) => Ok(Some(V::Str(Str::B(s)))),
                Some(Fold::Value(v)) => Ok(V::from_rvalue(v)),
                Some(Fold::Undefined) => Ok(None),
                _ => self.eval(inner, fr),
            },
            Expr::Params => Ok(Some(V::json(self.params))),
            Expr::Ref(base, steps) => self.eval_ref(base, steps, fr),
            Expr::Call(callee, args) => self.eval_call(callee, args, fr),
            _ => self.eval_other(e, fr),
        }
    }

    #[inline(never)]
    fn eval_ref(
        &self,
        base: &'a Expr,
        steps: &'a [super::super::ir::Step],
        fr: &mut Frame<'a>,
    ) -> Res<Option<V<'a>>> {
        let Some(mut v) = self.eval(base, fr)? else {
            return Ok(None);
        };
        for step in steps {
            let next = match step {
                super::super::ir::Step::Field(f) => match &v {
                    V::Set(_) => v.get(&borrowed(f)),
                    _ => v.field(f),
                },
                super::super::ir::Step::Index(i) => match self.eval(i, fr)? {
                    Some(k) => v.get(&k),
                    None => None,
                },
            };
            match next {
                Some(n) => v = n,
                None => return Ok(None),
            }
        }
        Ok(Some(v))
    }

    #[inline(never)]
    fn eval_call(
        &self,
        callee: &'a Callee,
        args: &'a [Expr],
        fr: &mut Frame<'a>,
    ) -> Res<Option<V<'a>>> {
        // Calls have a handful of arguments: keep them on the stack.
        let mut vals: Args<'a> = Args::new();
        for a in args {
            match self.eval(a, fr)? {
                Some(v) => vals.push(v),
                None => return Ok(None),
            }
        }
        Ok(match callee {
            Callee::Native(n) => (n.run)(&vals).map_err(EvalError)?,
            Callee::User(id) => self.call_user(*id, vals)?,
            Callee::Regorus { run, params, span } => {
                let rargs: Vec<RValue> = vals.iter().map(V::to_rvalue).collect();
                match (run.0)(span, params, &rargs, false) {
                    Ok(v) => V::from_rvalue(&v),
                    Err(_) => None,
                }
            }
        })
    }

    #[inline(never)]
    fn eval_other(&self, e: &'a Expr, fr: &mut Frame<'a>) -> Res<Option<V<'a>>> {
        Ok(match e {
            Expr::Input => Some({
                self.touch();
                self.input
                    .get_or_init(|| {
                        let mut m = BTreeMap::new();
                        m.insert(borrowed("parameters"), V::json(self.params));
                        m.insert(borrowed("review"), V::json(self.review));
                        V::Obj(Rc::new(m))
                    })
                    .clone()
            }),
            Expr::ByName(id) => self.by_name(*id)?,
            Expr::Inventory => {
                self.touch();
                self.inventory.map(V::json)
            }
            Expr::Const(_) | Expr::Local(_) | Expr::Review | Expr::Params => {
                return self.eval(e, fr)
            }
            Expr::Ref(..) | Expr::Call(..) | Expr::Folded(..) => return self.eval(e, fr),
            Expr::Rule(id) => self.rule(*id)?,
            Expr::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    match self.eval(i, fr)? {
                        Some(v) => out.push(v),
                        None => return Ok(None),
                    }
                }
                Some(V::Arr(Rc::new(out)))
            }
            Expr::Set(items) => {
                let mut out = BTreeSet::new();
                for i in items {
                    match self.eval(i, fr)? {
                        Some(v) => out.insert(v),
                        None => return Ok(None),
                    };
                }
                Some(V::Set(Rc::new(out)))
            }
            Expr::Object(fields) => {
                let mut out = BTreeMap::new();
                for (k, v) in fields {
                    let (Some(k), Some(v)) = (self.eval(k, fr)?, self.eval(v, fr)?) else {
                        return Ok(None);
                    };
                    out.insert(k, v);
                }
                Some(V::Obj(Rc::new(out)))
            }
            Expr::ArrayCompr(term, q) => {
                let mut out = Vec::new();
                self.run(q, fr, &mut |cx, fr| {
                    if let Some(v) = cx.eval(term, fr)? {
                        out.push(v);
                    }
                    Ok(Flow::Go)
                })?;
                Some(V::Arr(Rc::new(out)))
            }
            Expr::SetCompr(term, q) => {
                let mut out = BTreeSet::new();
                self.run(q, fr, &mut |cx, fr| {
                    if let Some(v) = cx.eval(term, fr)? {
                        out.insert(v);
                    }
                    Ok(Flow::Go)
                })?;
                Some(V::Set(Rc::new(out)))
            }
            Expr::ObjectCompr(key, value, q) => {
                let mut out: BTreeMap<V<'a>, V<'a>> = BTreeMap::new();
                self.run(q, fr, &mut |cx, fr| {
                    let (Some(k), Some(v)) = (cx.eval(key, fr)?, cx.eval(value, fr)?) else {
                        return Ok(Flow::Go);
                    };
                    match out.get(&k) {
                        Some(old) if *old != v => fail("object comprehension: conflicting keys"),
                        _ => {
                            out.insert(k, v);
                            Ok(Flow::Go)
                        }
                    }
                })?;
                Some(V::Obj(Rc::new(out)))
            }
            Expr::Arith(op, l, r) => {
                let (Some(a), Some(b)) = (self.eval(l, fr)?, self.eval(r, fr)?) else {
                    return Ok(None);
                };
                arith(*op, &a, &b)?
            }
            Expr::Cmp(op, l, r) => {
                let (Some(a), Some(b)) = (self.eval(l, fr)?, self.eval(r, fr)?) else {
                    return Ok(None);
                };
                Some(V::Bool(match op {
                    Cmp::Eq => a == b,
                    Cmp::Ne => a != b,
                    Cmp::Lt => a < b,
                    Cmp::Le => a <= b,
                    Cmp::Gt => a > b,
                    Cmp::Ge => a >= b,
                }))
            }
            Expr::SetOp(union, l, r) => {
                let (Some(a), Some(b)) = (self.eval(l, fr)?, self.eval(r, fr)?) else {
                    return Ok(None);
                };
                let (Some(a), Some(b)) = (set_of(&a), set_of(&b)) else {
                    return fail("set operation on a value that is not a set");
                };
                let out: BTreeSet<V<'a>> = if *union {
                    a.union(&b).cloned().collect()
                } else {
                    a.intersection(&b).cloned().collect()
                };
                Some(V::Set(Rc::new(out)))
            }
            Expr::In(key, value, coll) => {
                let k = match key {
                    Some(k) => Some(self.eval(k, fr)?),
                    None => None,
                };
                let v = self.eval(value, fr)?;
                let c = self.eval(coll, fr)?;
                Some(V::Bool(membership(k, v, c)))
            }
        })
    }
}

/// The value of a constant (strings borrowed from the program).
fn constant(c: &Const) -> V<'_> {
    match c {
        Const::Null => V::Null,
        Const::Bool(b) => V::Bool(*b),
        Const::Num(n) => V::Num(Num(n.clone())),
        Const::Str(s) => borrowed(s),
    }
}

/// `v in c` / `k, v in c` as regorus evaluates it: never undefined, `false` for anything
/// that is not a collection or an undefined operand.
fn membership<'a>(key: Option<Option<V<'a>>>, value: Option<V<'a>>, coll: Option<V<'a>>) -> bool {
    let (Some(v), Some(c)) = (value, coll) else {
        return false;
    };
    match key {
        Some(Some(k)) => {
            c.kind() != super::super::value::Kind::Set && c.get(&k).is_some_and(|x| x == v)
        }
        Some(None) => false,
        None => {
            if let V::Set(s) = &c {
                return s.contains(&v);
            }
            let mut found = false;
            let _ = c.each(|_, x| {
                found = x == v;
                Ok::<bool, ()>(!found)
            });
            found
        }
    }
}

/// Arithmetic as regorus does it: `-` on sets is difference, numbers go through regorus's
/// own number type, division or modulo by zero is undefined, a non-number is an error.
fn arith<'a>(op: Arith, a: &V<'a>, b: &V<'a>) -> Res<Option<V<'a>>> {
    if let (Arith::Sub, V::Set(_), _) | (Arith::Sub, _, V::Set(_)) = (op, a, b) {
        let (Some(x), Some(y)) = (set_of(a), set_of(b)) else {
            return fail("set difference with a value that is not a set");
        };
        return Ok(Some(V::Set(Rc::new(x.difference(&y).cloned().collect()))));
    }
    let (V::Num(Num(RValue::Number(x))), V::Num(Num(RValue::Number(y)))) = (a, b) else {
        return fail("arithmetic on a value that is not a number");
    };
    let zero = RValue::from(0u64);
    let is_zero = matches!(&b, V::Num(Num(n)) if *n == zero);
    let n = match op {
        Arith::Add => x.add(y),
        Arith::Sub => x.sub(y),
        Arith::Mul => x.mul(y),
        Arith::Div if is_zero => return Ok(None),
        Arith::Div => x.clone().divide(y),
        Arith::Mod if is_zero => return Ok(None),
        Arith::Mod if !x.is_integer() || !y.is_integer() => {
            return fail("modulo on floating-point number")
        }
        Arith::Mod => x.clone().modulo(y),
    };
    match n {
        Ok(n) => Ok(Some(V::num(RValue::Number(n)))),
        Err(e) => fail(e.to_string()),
    }
}
