//! Expression evaluation: the hot path of the compiled evaluator.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use regorus::Value as RValue;

use super::super::builtins::{borrowed, set_of};
use super::super::fold::Fold;
use super::super::ir::{Arith, Callee, Cmp, Const, Expr};
use super::super::value::{Num, V};
use super::{capped, fail, Args, Ctx, EvalError, Flow, Frame, Res, MAX_STRING_BYTES};

impl<'a> Ctx<'a> {
    /// Evaluate a deterministic expression; `None` is undefined. The frequent, small
    /// cases are handled here; the rest in functions of their own, so that this hot
    /// function keeps a small stack frame.
    pub(crate) fn eval(&self, e: &'a Expr, fr: &mut Frame<'a>) -> Res<Option<V<'a>>> {
        match e {
            Expr::Const(c) => Ok(Some(constant(c))),
            Expr::Local(s) => match fr.get(*s as usize) {
                Some(Some(v)) => Ok(Some(v.clone())),
                // Unbound, or past the frame: undefined. At bind time that is a variable
                // the folded expression does not bind itself, so its value would depend
                // on more than the parameters.
                _ => {
                    self.touch();
                    Ok(None)
                }
            },
            Expr::Review => {
                self.touch();
                Ok(Some(V::json(self.review)))
            }
            Expr::Folded(i, inner) => match self.folds.get(*i as usize) {
                // A folded value's strings borrow the bound value rather than being
                // copied per request (the library folds `input.parameters.cpu` and the
                // like).
                Some(Fold::Value(v)) => Ok(V::from_kept_rvalue(v)),
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
        // A field of a local (`container.resources`, the frequent case) is read from the
        // frame without a copy of the local first.
        let (first, steps) = match (base, steps) {
            (Expr::Local(s), [super::super::ir::Step::Field(f), rest @ ..]) => {
                let local = match fr.get(*s as usize) {
                    Some(Some(local)) => local,
                    // Unbound or past the frame (as in `eval`).
                    _ => {
                        self.touch();
                        return Ok(None);
                    }
                };
                let next = match local {
                    V::Set(_) => local.get(&borrowed(f)),
                    _ => local.field(f),
                };
                (next, rest)
            }
            _ => (self.eval(base, fr)?, steps),
        };
        let Some(mut v) = first else {
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
        let out = match callee {
            Callee::User(id) => return self.call_user(*id, vals),
            Callee::Shared(id) => return self.call_shared(*id, vals),
            Callee::Native(n) => {
                self.work(vals.iter().map(weight).sum())?;
                (n.run)(&vals).map_err(EvalError::Failed)?
            }
            Callee::Regorus { run, params, span } => {
                self.work(vals.iter().map(weight).sum())?;
                let rargs: Vec<RValue> = vals.iter().map(V::to_rvalue).collect();
                match (run.0)(span, params, &rargs, false) {
                    Ok(v) => V::from_rvalue(&v),
                    Err(_) => None,
                }
            }
        };
        if let Some(v) = &out {
            built(v)?;
        }
        Ok(out)
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
            // `[]` and `{}` (the defaults of `object.get`, called per container in the
            // library) borrow one shared empty document instead of allocating.
            Expr::Array(items) if items.is_empty() => Some(V::Json(&EMPTY_ARRAY)),
            Expr::Object(fields) if fields.is_empty() => Some(V::Json(&EMPTY_OBJECT)),
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
                        return capped(out.len(), "array comprehension");
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
                        return capped(out.len(), "set comprehension");
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
                            capped(out.len(), "object comprehension")
                        }
                    }
                })?;
                Some(V::Obj(Rc::new(out)))
            }
            Expr::Arith(op, l, r) => {
                let (Some(a), Some(b)) = (self.eval(l, fr)?, self.eval(r, fr)?) else {
                    return Ok(None);
                };
                self.work(weight(&a) + weight(&b))?;
                arith(*op, &a, &b)?
            }
            Expr::Cmp(op, l, r) => {
                let (Some(a), Some(b)) = (self.eval(l, fr)?, self.eval(r, fr)?) else {
                    return Ok(None);
                };
                // Comparing two collections walks them.
                self.work(weight(&a).min(weight(&b)))?;
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
                // `or`/`and` on a non-set is a builtin error in OPA: undefined.
                let (Some(a), Some(b)) = (set_of(&a), set_of(&b)) else {
                    return Ok(None);
                };
                self.work(a.len() + b.len())?;
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
                self.work(c.as_ref().map_or(0, weight))?;
                Some(V::Bool(membership(k, v, c)))
            }
        })
    }
}

/// The empty array, as a document (a borrowed array is the same value as a built one).
static EMPTY_ARRAY: serde_json::Value = serde_json::Value::Array(Vec::new());

/// The empty object, as a document.
static EMPTY_OBJECT: std::sync::LazyLock<serde_json::Value> =
    std::sync::LazyLock::new(|| serde_json::Value::Object(serde_json::Map::new()));

/// The work of visiting a value once: its elements, or its bytes over a hundred (a
/// builtin reading a string costs about a step per hundred bytes).
pub(super) fn weight(v: &V<'_>) -> usize {
    match v {
        V::Str(s) => s.as_str().len() / 100,
        V::Json(serde_json::Value::Array(a)) => a.len(),
        V::Json(serde_json::Value::Object(o)) => o.len(),
        V::Arr(a) => a.len(),
        V::Set(s) => s.len(),
        V::Obj(o) => o.len(),
        _ => 0,
    }
}

/// Refuse a builtin's result past the size limits.
fn built(v: &V<'_>) -> Res<()> {
    match v {
        V::Str(s) if s.as_str().len() > MAX_STRING_BYTES => fail(format!(
            "a builtin built a string of {} bytes; the limit is {MAX_STRING_BYTES}",
            s.as_str().len()
        )),
        V::Arr(a) => capped(a.len(), "a builtin").map(|_| ()),
        V::Set(s) => capped(s.len(), "a builtin").map(|_| ()),
        V::Obj(o) => capped(o.len(), "a builtin").map(|_| ()),
        _ => Ok(()),
    }
}

/// The value of a constant (strings borrowed from the program).
pub(crate) fn constant(c: &Const) -> V<'_> {
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

/// Arithmetic as OPA evaluates it for Gatekeeper: `-` on sets is difference, numbers go
/// through regorus's own number type; what OPA reports as a builtin error (division or
/// modulo by zero, modulo of a non-integer, an operand of the wrong type) is undefined,
/// as in non-strict evaluation. (regorus's interpreter raises an error for the last two.)
fn arith<'a>(op: Arith, a: &V<'a>, b: &V<'a>) -> Res<Option<V<'a>>> {
    if let (Arith::Sub, V::Set(_), _) | (Arith::Sub, _, V::Set(_)) = (op, a, b) {
        let (Some(x), Some(y)) = (set_of(a), set_of(b)) else {
            return Ok(None);
        };
        return Ok(Some(V::Set(Rc::new(x.difference(&y).cloned().collect()))));
    }
    let (V::Num(Num(RValue::Number(x))), V::Num(Num(RValue::Number(y)))) = (a, b) else {
        return Ok(None);
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
        Arith::Mod if !x.is_integer() || !y.is_integer() => return Ok(None),
        Arith::Mod => x.clone().modulo(y),
    };
    Ok(n.ok().map(|n| V::num(RValue::Number(n))))
}
