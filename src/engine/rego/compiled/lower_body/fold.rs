//! Which expressions depend only on constants and `input.parameters`, and their
//! self-contained form for bind-time evaluation (see [`super::super::fold`]).

use super::super::ir::{Expr, Pattern, Slot, Step};
use super::super::walk::walk_expr;
use super::Body;

impl Body<'_, '_> {
    /// Remember that `p`, a plain variable, holds the static expression `v`.
    pub(super) fn note_static(&mut self, p: &Pattern, v: &Expr) {
        if let Pattern::Bind(s) = p {
            if self.is_static(v) {
                self.statics[*s as usize] = Some(self.inline(v));
            }
        }
    }

    /// Whether an expression depends only on constants and `input.parameters`.
    pub(super) fn is_static(&self, e: &Expr) -> bool {
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
    pub(super) fn inline(&self, e: &Expr) -> Expr {
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

    /// A comprehension, folded at bind time when it reads nothing but constants, the
    /// parameters and its own variables (the slots from `first` on, declared inside it):
    /// `{k | k := input.parameters.labels[_].key}` is built once per constraint instead of
    /// once per request (or per container). What it calls is checked when it is folded:
    /// a rule or function that reaches the review leaves it unfolded (see
    /// [`super::super::fold`]).
    pub(super) fn maybe_fold_comprehension(&mut self, compr: Expr, first: Slot) -> Expr {
        let mut own = true;
        walk_expr(&compr, &mut |e| {
            own &= match e {
                Expr::Local(s) => *s >= first,
                Expr::Review | Expr::Input | Expr::Inventory => false,
                _ => true,
            }
        });
        if own {
            Expr::Folded(self.ctx.next_fold(), Box::new(compr))
        } else {
            compr
        }
    }

    /// A call, folded at bind time when its arguments are static.
    pub(super) fn maybe_fold(&mut self, call: Expr) -> Expr {
        if self.is_static(&call) {
            let inlined = self.inline(&call);
            Expr::Folded(self.ctx.next_fold(), Box::new(inlined))
        } else {
            call
        }
    }
}
