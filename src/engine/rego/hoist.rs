//! Where OPA evaluates the parts of an expression that may be undefined, written into the
//! source so that regorus (both paths read the rewritten text) evaluates them there too.
//!
//! **Negated expressions.** Before evaluating, OPA's compiler moves the parts of an
//! expression that may be undefined out of it into equalities of their own just before it
//! (`__local0__ = g(x)`), and for a negated expression those equalities stay *outside* the
//! negation. So in `not f(g(x))` an undefined `g(x)` makes the whole body fail, where
//! regorus negates the undefined call and succeeds. Measured against OPA (1.20), what
//! moves out is:
//!
//! - every call nested in the expression (`g(x)` in `not f(g(x))`, `count(x)` in
//!   `not count(x) > 0`, `f(2)` in `not f(2).foo`), arithmetic included (`x + 1`);
//! - every reference (or rule name) given as an argument of a call or operator other than
//!   `==` / `=`: `not f(x.y)`, `not startswith(x.y, "a")`, `not x.y > 1`, `not "a" in x.y`,
//!   also inside an array, set or object argument (`not f([x.y])`);
//! - for `==` and `=` (which OPA evaluates as unification), only what lies inside a
//!   composite operand or an index: `not x.y == 1` stays as it is (true when `x.y` is
//!   undefined), `not [x.y] == [1]` and `not x[y.z] == 1` do not.
//!
//! Comprehensions are evaluated in place and never move. Each part that moves is bound to
//! a fresh variable (`__negargN := g(x); not f(__negargN)`) inserted just before the `not`.
//!
//! **Keys of partial rules.** In `containers[c.name] = c { c := ...[_] }` a container
//! without `name` leaves its element out in OPA; regorus's interpreter fails the whole
//! evaluation ("not an object"). A key that is a reference or a call is bound at the end
//! of each body (`containers[__headkeyN] = c { c := ...[_]; __headkeyN := c.name }`), so
//! an undefined key fails that body only.
//!
//! **`some x in E`** where `E` is not a collection (a string, a number) is undefined in
//! OPA; regorus's interpreter fails the evaluation. `E` is bound to a variable and its
//! type checked first: `__someinN := E; {"array", "object", "set"}[type_name(__someinN)];
//! some x in __someinN`.
//!
//! The module is parsed with regorus's parser to find the expressions; a source that does
//! not parse is left unchanged, for the real parse to refuse.

use std::collections::HashSet;

use regorus::unstable::{
    AssignOp, BoolOp, Expr, Literal, Module, Parser, Query, Rule, RuleBody, RuleHead,
};
use regorus::Source;

/// Most bytes the rewrite may add to a module (each moved part adds a name, `:=` and
/// `;`, some 20 bytes); past it further negations are left as written.
const MAX_GROWTH: usize = 1 << 20;

/// Prefix of the variables bound before a negation.
const NEG_PREFIX: &str = "__negarg";

/// Prefix of the variables bound for the collection of `some .. in`.
const SOME_PREFIX: &str = "__somein";

/// Prefix of the variables bound for a partial rule's key.
const KEY_PREFIX: &str = "__headkey";

/// Rewrite `src` (a module in Rego v1 when `v1`, else v0) so that the possibly undefined
/// parts of negated expressions and of partial rules' keys are evaluated where OPA does.
pub fn hoist(src: &str, v1: bool) -> String {
    if super::nesting::check(src).is_err() {
        return src.to_string();
    }
    let Some(module) = parse(src, v1) else {
        return src.to_string();
    };
    let mut walk = Walk {
        rules: rule_names(&module),
        negations: Vec::new(),
        keys: Vec::new(),
        some_ins: Vec::new(),
    };
    for rule in &module.policy {
        walk.rule(rule);
    }
    let mut edits = negation_edits(src, walk.negations);
    edits.extend(key_edits(src, &walk.keys, edits.len()));
    edits.extend(some_in_edits(src, &walk.some_ins, &edits));
    let out = apply(src, edits);
    // The rewrite adds statements and text: it must not carry a module past the limits
    // its source was checked against (which a module written to the limit could).
    if super::nesting::check(&out).is_err() {
        return src.to_string();
    }
    out
}

fn parse(src: &str, v1: bool) -> Option<Module> {
    let source = Source::from_contents("negation.rego".to_string(), src.to_string()).ok()?;
    let mut parser = Parser::new(&source).ok()?;
    if v1 {
        parser.enable_rego_v1().ok()?;
    }
    parser.parse().ok()
}

/// Names that, written as a bare variable, refer to a document that may be undefined:
/// the module's rules and its imports.
fn rule_names(module: &Module) -> HashSet<String> {
    let mut names = HashSet::new();
    for rule in &module.policy {
        let refr = match rule.as_ref() {
            Rule::Spec { head, .. } => match head {
                RuleHead::Compr { refr, .. }
                | RuleHead::Set { refr, .. }
                | RuleHead::Func { refr, .. } => refr,
            },
            Rule::Default { refr, .. } => refr,
        };
        if let Some(name) = head_var(refr) {
            names.insert(name);
        }
    }
    for import in &module.imports {
        let name = match &import.r#as {
            Some(alias) => Some(alias.text().to_string()),
            None => match import.refr.as_ref() {
                Expr::RefDot { field, .. } => Some(field.0.text().to_string()),
                _ => None,
            },
        };
        names.extend(name);
    }
    names
}

/// The variable a reference starts with.
fn head_var(e: &Expr) -> Option<String> {
    match e {
        Expr::Var { span, .. } => Some(span.text().to_string()),
        Expr::RefDot { refr, .. } | Expr::RefBrack { refr, .. } => head_var(refr),
        _ => None,
    }
}

/// One negated expression to rewrite: where its `not` starts and the byte ranges of the
/// parts that move out, in source order.
struct Negation {
    at: usize,
    end: usize,
    moved: Vec<(usize, usize)>,
}

/// A partial rule's key to bind in its bodies: the key's byte range and where each body's
/// last statement ends.
struct Key {
    key: (usize, usize),
    ends: Vec<usize>,
}

struct Walk {
    rules: HashSet<String>,
    negations: Vec<Negation>,
    keys: Vec<Key>,
    /// `some .. in` statements: where each starts and its collection's byte range.
    some_ins: Vec<(usize, (usize, usize))>,
}

fn range(e: &Expr) -> (usize, usize) {
    let s = e.span();
    (s.start as usize, s.end as usize)
}

impl Walk {
    fn rule(&mut self, rule: &Rule) {
        match rule {
            Rule::Spec { head, bodies, .. } => {
                match head {
                    RuleHead::Compr { assign, .. } | RuleHead::Func { assign, .. } => {
                        if let Some(a) = assign {
                            self.expr(&a.value);
                        }
                    }
                    RuleHead::Set { key, .. } => {
                        if let Some(k) = key {
                            self.expr(k);
                        }
                    }
                }
                self.key(head, bodies);
                for body in bodies {
                    if let Some(a) = &body.assign {
                        self.expr(&a.value);
                    }
                    self.query(&body.query);
                }
            }
            Rule::Default { value, .. } => self.expr(value),
        }
    }

    /// Note the key of a partial set or object rule when it is a reference or a call.
    fn key(&mut self, head: &RuleHead, bodies: &[RuleBody]) {
        let key = match head {
            RuleHead::Set { key: Some(k), .. } => k,
            RuleHead::Compr { refr, .. } => match refr.as_ref() {
                Expr::RefBrack { index, .. } => index,
                _ => return,
            },
            _ => return,
        };
        if !matches!(
            key.as_ref(),
            Expr::RefDot { .. } | Expr::RefBrack { .. } | Expr::Call { .. }
        ) {
            return;
        }
        let mut ends = Vec::with_capacity(bodies.len());
        for body in bodies {
            // An assignment (`= v`) of an `else` body, or a body with no statement: the
            // rule is left as written.
            let Some(last) = body.query.stmts.last() else {
                return;
            };
            ends.push(last.span.end as usize);
        }
        if !ends.is_empty() {
            self.keys.push(Key {
                key: range(key),
                ends,
            });
        }
    }

    fn query(&mut self, q: &Query) {
        for stmt in &q.stmts {
            for w in &stmt.with_mods {
                self.expr(&w.refr);
                self.expr(&w.r#as);
            }
            match &stmt.literal {
                Literal::NotExpr { span, expr } => {
                    // A `with` applies to the whole expression; moving parts out of it
                    // would evaluate them without the override.
                    if stmt.with_mods.is_empty() {
                        let mut moved = Vec::new();
                        self.negated(expr, &mut moved);
                        if !moved.is_empty() {
                            self.negations.push(Negation {
                                at: span.start as usize,
                                end: span.end as usize,
                                moved,
                            });
                        }
                    }
                    self.expr(expr);
                }
                Literal::Expr { expr, .. } => self.expr(expr),
                Literal::SomeIn {
                    key,
                    value,
                    collection,
                    ..
                } => {
                    if stmt.with_mods.is_empty() {
                        self.some_ins
                            .push((stmt.span.start as usize, range(collection)));
                    }
                    if let Some(k) = key {
                        self.expr(k);
                    }
                    self.expr(value);
                    self.expr(collection);
                }
                Literal::Every { domain, query, .. } => {
                    self.expr(domain);
                    self.query(query);
                }
                Literal::SomeVars { .. } => {}
            }
        }
    }

    /// Visit the queries nested in an expression (comprehensions), for their negations.
    fn expr(&mut self, e: &Expr) {
        match e {
            Expr::Array { items, .. } | Expr::Set { items, .. } => {
                items.iter().for_each(|i| self.expr(i));
            }
            Expr::Object { fields, .. } => {
                for (_, k, v) in fields {
                    self.expr(k);
                    self.expr(v);
                }
            }
            Expr::ArrayCompr { term, query, .. } | Expr::SetCompr { term, query, .. } => {
                self.expr(term);
                self.query(query);
            }
            Expr::ObjectCompr {
                key, value, query, ..
            } => {
                self.expr(key);
                self.expr(value);
                self.query(query);
            }
            Expr::Call { fcn, params, .. } => {
                self.expr(fcn);
                params.iter().for_each(|p| self.expr(p));
            }
            Expr::UnaryExpr { expr, .. } => self.expr(expr),
            Expr::RefDot { refr, .. } => self.expr(refr),
            Expr::RefBrack { refr, index, .. } => {
                self.expr(refr);
                self.expr(index);
            }
            Expr::BinExpr { lhs, rhs, .. }
            | Expr::BoolExpr { lhs, rhs, .. }
            | Expr::ArithExpr { lhs, rhs, .. }
            | Expr::AssignExpr { lhs, rhs, .. } => {
                self.expr(lhs);
                self.expr(rhs);
            }
            Expr::Membership {
                key,
                value,
                collection,
                ..
            } => {
                if let Some(k) = key {
                    self.expr(k);
                }
                self.expr(value);
                self.expr(collection);
            }
            _ => {}
        }
    }

    /// The parts of the negated expression `e` that OPA evaluates before the negation.
    fn negated(&self, e: &Expr, moved: &mut Vec<(usize, usize)>) {
        match e {
            Expr::BoolExpr {
                op: BoolOp::Eq,
                lhs,
                rhs,
                ..
            }
            | Expr::AssignExpr {
                op: AssignOp::Eq,
                lhs,
                rhs,
                ..
            } => {
                self.in_term(lhs, moved);
                self.in_term(rhs, moved);
            }
            Expr::BoolExpr { lhs, rhs, .. }
            | Expr::ArithExpr { lhs, rhs, .. }
            | Expr::BinExpr { lhs, rhs, .. } => {
                self.operand(lhs, moved);
                self.operand(rhs, moved);
            }
            Expr::Membership {
                key,
                value,
                collection,
                ..
            } => {
                if let Some(k) = key {
                    self.operand(k, moved);
                }
                self.operand(value, moved);
                self.operand(collection, moved);
            }
            Expr::Call { params, .. } => params.iter().for_each(|p| self.operand(p, moved)),
            other => self.in_term(other, moved),
        }
    }

    /// An operand of a call: references, rule names and calls move out whole; the
    /// elements of a composite are visited.
    fn operand(&self, e: &Expr, moved: &mut Vec<(usize, usize)>) {
        match e {
            Expr::Var { span, .. } if self.rules.contains(span.text()) => moved.push(range(e)),
            Expr::RefDot { .. }
            | Expr::RefBrack { .. }
            | Expr::Call { .. }
            | Expr::ArithExpr { .. }
            | Expr::BinExpr { .. }
            | Expr::BoolExpr { .. }
            | Expr::Membership { .. } => moved.push(range(e)),
            Expr::UnaryExpr { expr, .. } if !matches!(expr.as_ref(), Expr::Number { .. }) => {
                moved.push(range(e));
            }
            Expr::Array { items, .. } | Expr::Set { items, .. } => {
                items.iter().for_each(|i| self.operand(i, moved));
            }
            Expr::Object { fields, .. } => {
                for (_, k, v) in fields {
                    self.operand(k, moved);
                    self.operand(v, moved);
                }
            }
            _ => {}
        }
    }

    /// A term evaluated in place (an operand of `==`, or the whole expression): a
    /// reference stays, but a call it starts with and its indexes move; calls move; the
    /// elements of a composite are operands.
    fn in_term(&self, e: &Expr, moved: &mut Vec<(usize, usize)>) {
        match e {
            Expr::RefDot { refr, .. } => self.ref_head(refr, moved),
            Expr::RefBrack { refr, index, .. } => {
                self.ref_head(refr, moved);
                self.operand(index, moved);
            }
            Expr::Var { .. } => {}
            other => self.operand(other, moved),
        }
    }

    fn ref_head(&self, e: &Expr, moved: &mut Vec<(usize, usize)>) {
        match e {
            Expr::RefDot { refr, .. } => self.ref_head(refr, moved),
            Expr::RefBrack { refr, index, .. } => {
                self.ref_head(refr, moved);
                self.operand(index, moved);
            }
            Expr::Call { .. } => moved.push(range(e)),
            _ => {}
        }
    }
}

/// A replacement of `src[start..end]` (an insertion when they are equal).
struct Edit {
    start: usize,
    end: usize,
    text: String,
}

fn valid(src: &str, (a, b): (usize, usize)) -> bool {
    a <= b && b <= src.len() && src.is_char_boundary(a) && src.is_char_boundary(b)
}

/// The edits binding every negation's parts before it. A negation inside a part that
/// moves (in a comprehension) is left as written: its text moves unchanged. One in a
/// comprehension that stays in place is rewritten where it is.
fn negation_edits(src: &str, mut negations: Vec<Negation>) -> Vec<Edit> {
    negations.sort_by_key(|n| n.at);
    let moved: Vec<(usize, usize)> = negations
        .iter()
        .flat_map(|n| n.moved.iter().copied())
        .collect();
    let mut edits = Vec::new();
    let (mut counter, mut growth) = (0usize, 0usize);
    for n in &negations {
        let inside_moved = moved.iter().any(|&(a, b)| a <= n.at && n.end <= b);
        let well_formed = valid(src, (n.at, n.end))
            && n.moved
                .iter()
                .all(|&r| valid(src, r) && n.at < r.0 && r.1 <= n.end)
            && n.moved.windows(2).all(|w| w[0].1 <= w[1].0);
        if inside_moved || !well_formed || growth > MAX_GROWTH {
            continue;
        }
        let mut pre = String::new();
        for &(a, b) in &n.moved {
            let var = format!("{NEG_PREFIX}{counter}");
            counter += 1;
            pre.push_str(&format!("{var} := {}; ", &src[a..b]));
            growth += var.len() * 2 + 5;
            edits.push(Edit {
                start: a,
                end: b,
                text: var,
            });
        }
        edits.push(Edit {
            start: n.at,
            end: n.at,
            text: pre,
        });
    }
    edits
}

/// The edits binding partial rules' keys at the end of their bodies.
fn key_edits(src: &str, keys: &[Key], already: usize) -> Vec<Edit> {
    let mut edits = Vec::new();
    let mut growth = already.saturating_mul(16);
    for (i, k) in keys.iter().enumerate() {
        let (a, b) = k.key;
        if !valid(src, (a, b)) || a == b || !k.ends.iter().all(|&e| valid(src, (e, e))) {
            continue;
        }
        let var = format!("{KEY_PREFIX}{i}");
        growth += k.ends.len() * (var.len() + b - a + 6);
        if growth > MAX_GROWTH {
            break;
        }
        for &e in &k.ends {
            edits.push(Edit {
                start: e,
                end: e,
                text: format!("; {var} := {}", &src[a..b]),
            });
        }
        edits.push(Edit {
            start: a,
            end: b,
            text: var,
        });
    }
    edits
}

/// The edits checking the type of `some .. in` collections, except those inside a text
/// that another edit replaces (it moves as written).
fn some_in_edits(src: &str, some_ins: &[(usize, (usize, usize))], others: &[Edit]) -> Vec<Edit> {
    let mut edits = Vec::new();
    let mut growth = others.len().saturating_mul(16);
    for (i, &(at, (a, b))) in some_ins.iter().enumerate() {
        let replaced = |p: usize| {
            others
                .iter()
                .any(|e| e.start < e.end && e.start <= p && p < e.end)
        };
        if !valid(src, (at, at)) || !valid(src, (a, b)) || a == b || at > a || replaced(at) {
            continue;
        }
        let var = format!("{SOME_PREFIX}{i}");
        let check = format!(
            "{var} := {}; {{\"array\", \"object\", \"set\"}}[type_name({var})]; ",
            &src[a..b]
        );
        growth += check.len() + var.len();
        if growth > MAX_GROWTH {
            break;
        }
        edits.push(Edit {
            start: at,
            end: at,
            text: check,
        });
        edits.push(Edit {
            start: a,
            end: b,
            text: var,
        });
    }
    edits
}

/// Apply non-overlapping edits; the source is returned unchanged if any overlap (which
/// the walk does not produce).
fn apply(src: &str, mut edits: Vec<Edit>) -> String {
    edits.sort_by_key(|e| (e.start, e.end));
    let mut out = String::with_capacity(src.len() + 64);
    let mut pos = 0usize;
    for e in &edits {
        if e.start < pos {
            return src.to_string();
        }
        out.push_str(&src[pos..e.start]);
        out.push_str(&e.text);
        pos = e.end;
    }
    out.push_str(&src[pos..]);
    out
}

#[cfg(test)]
mod tests {
    use super::hoist;

    fn body(line: &str) -> String {
        let src = format!("package a\nf(x) = x {{ true }}\np {{\n  {line}\n}}\n");
        let got = hoist(&src, false);
        got.lines().nth(3).unwrap_or_default().trim().to_string()
    }

    #[test]
    fn nested_calls_and_call_arguments_move_out() {
        assert_eq!(
            body("not f(g(input.x))"),
            "__negarg0 := g(input.x); not f(__negarg0)"
        );
        assert_eq!(
            body("not startswith(input.x.y, \"a\")"),
            "__negarg0 := input.x.y; not startswith(__negarg0, \"a\")"
        );
        assert_eq!(
            body("not count(input.x) > 0"),
            "__negarg0 := count(input.x); not __negarg0 > 0"
        );
        assert_eq!(
            body("not input.x != 1"),
            "__negarg0 := input.x; not __negarg0 != 1"
        );
        assert_eq!(
            body("not f([1, input.x])"),
            "__negarg0 := input.x; not f([1, __negarg0])"
        );
        assert_eq!(body("not f(p)"), "__negarg0 := p; not f(__negarg0)");
    }

    #[test]
    fn equality_keeps_plain_references() {
        assert_eq!(body("not input.x == 1"), "not input.x == 1");
        assert_eq!(body("not input.x"), "not input.x");
        assert_eq!(body("not f(x)"), "not f(x)");
        assert_eq!(
            body("not input.x == count(input.y)"),
            "__negarg0 := count(input.y); not input.x == __negarg0"
        );
        assert_eq!(
            body("not [input.x] == [1]"),
            "__negarg0 := input.x; not [__negarg0] == [1]"
        );
        assert_eq!(
            body("not f(1).foo # c"),
            "__negarg0 := f(1); not __negarg0.foo # c"
        );
    }

    #[test]
    fn untouched_forms() {
        let src = "package a\np {\n  not input.x with input as {}\n  not q\n}\nq { false }\n";
        assert_eq!(hoist(src, false), src);
        assert_eq!(hoist("package a\np {", false), "package a\np {");
        let v1 = "package a\np if {\n  not lower(input.x) == \"a\"\n}\n";
        assert_eq!(
            hoist(v1, true),
            "package a\np if {\n  __negarg0 := lower(input.x); not __negarg0 == \"a\"\n}\n"
        );
    }

    #[test]
    fn partial_rule_keys_are_bound_in_the_bodies() {
        let src = "package a\nc[x.name] = x {\n  x := input.y[_]\n}\ns[f(x)] {\n  x := 1 }\nv[x] { x := 1 }\n";
        assert_eq!(
            hoist(src, false),
            "package a\nc[__headkey0] = x {\n  x := input.y[_]; __headkey0 := x.name\n}\ns[__headkey1] {\n  x := 1; __headkey1 := f(x) }\nv[x] { x := 1 }\n"
        );
        let v1 = "package a\nc[x.name] := x if { x := input.y[_] }\ns contains x.n if { x := input.y[_] }\n";
        assert_eq!(
            hoist(v1, true),
            "package a\nc[__headkey0] := x if { x := input.y[_]; __headkey0 := x.name }\ns contains __headkey1 if { x := input.y[_]; __headkey1 := x.n }\n"
        );
    }

    #[test]
    fn some_in_collections_are_checked() {
        let v1 = "package a\np if { some x in input.y; x }\n";
        assert_eq!(
            hoist(v1, true),
            "package a\np if { __somein0 := input.y; {\"array\", \"object\", \"set\"}[type_name(__somein0)]; some x in __somein0; x }\n"
        );
    }

    #[test]
    fn negations_in_comprehensions() {
        assert_eq!(
            body("xs := [x | x := input.y[_]; not f(x.z)]"),
            "xs := [x | x := input.y[_]; __negarg0 := x.z; not f(__negarg0)]"
        );
        // A comprehension argument is evaluated in place: only its own negations change.
        assert_eq!(
            body("not f([x | x := input.y[_]; not f(x.z)])"),
            "not f([x | x := input.y[_]; __negarg0 := x.z; not f(__negarg0)])"
        );
        // Both levels when the comprehension stays where it is.
        assert_eq!(
            body("not f(input.a, [x | x := input.y[_]; not f(x.z)])"),
            "__negarg0 := input.a; not f(__negarg0, [x | x := input.y[_]; __negarg1 := x.z; not f(__negarg1)])"
        );
        // A negation inside a part that moves moves with it, as written.
        assert_eq!(
            body("not f(g([x | x := input.y[_]; not f(x.z)]))"),
            "__negarg0 := g([x | x := input.y[_]; not f(x.z)]); not f(__negarg0)"
        );
    }
}
