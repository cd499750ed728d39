//! What Gatekeeper refuses in a template's Rego, refused here when the template loads.
//!
//! Gatekeeper compiles each template with OPA against a fixed set of builtins and, before
//! that, checks its sources (its Rego "rewriter"):
//!
//! - every reference into `data` must lie under `data.inventory` (the synced objects) or
//!   `data.lib` (the template's libraries): `data`, `data[x]` or `data.other.pkg` are
//!   refused, in rule bodies, heads, calls and `with` targets alike;
//! - a module may import only `data.lib...` and `future...` (not `input`, `data.inventory`
//!   or `rego.v1`);
//! - a library's package must lie strictly under `lib` (`package lib` itself is refused);
//! - OPA's compiler refuses a call of a function that is neither a builtin nor defined in
//!   the modules (`undefined function`), a call with the wrong number of arguments, in a
//!   Rego v1 module a call of a deprecated builtin, and rules that depend on themselves
//!   (`rego_recursion_error`), which regorus would run until the deadline or the stack.
//!
//! regorus checks none of these when it compiles: an unknown function surfaces as an
//! evaluation error on every request the template sees. [`check`] walks the parsed modules
//! once and names the file, line and offending function or reference. The builtins a
//! template may call are those this crate evaluates: regorus's (as built here), the
//! overrides of [`super::builtins`] and [`super::regex_cache`], and [`super::opa_builtins`].
//! A builtin Gatekeeper has and portcullis lacks (e.g. `http.send`, which Gatekeeper's
//! chart also disables, or `io.jwt.*`) is therefore refused at load, with its name.
//!
//! The walk recurses along the expression tree, whose depth [`super::nesting`] has already
//! bounded before the parser ran.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use regorus::unstable::{Expr, Literal, LiteralStmt, Module, Query, Ref, Rule, RuleHead, Span};

use super::opa_builtins;

/// Refuse what Gatekeeper refuses in these modules (the template's main module first).
/// `v1`: the sources are Rego v1, where deprecated builtins are refused.
pub(super) fn check(modules: &[Ref<Module>], v1: bool) -> Result<(), String> {
    let mut functions: HashMap<Vec<String>, HashSet<usize>> = HashMap::new();
    for m in modules {
        let Some(pkg) = path_of(&m.package.refr) else {
            continue;
        };
        for rule in &m.policy {
            let (refr, arity) = match rule.as_ref() {
                Rule::Spec {
                    head: RuleHead::Func { refr, args, .. },
                    ..
                } => (refr, args.len()),
                Rule::Default { refr, args, .. } if !args.is_empty() => (refr, args.len()),
                _ => continue,
            };
            if let Some(name) = path_of(refr) {
                let mut full = vec!["data".to_string()];
                full.extend(pkg.iter().cloned());
                full.extend(name);
                functions.entry(full).or_default().insert(arity);
            }
        }
    }
    // Every rule's full path, for the dependency graph.
    let mut rules: HashSet<Vec<String>> = HashSet::new();
    for m in modules {
        let Some(pkg) = path_of(&m.package.refr) else {
            continue;
        };
        for rule in &m.policy {
            if let Some(name) = head_path(rule) {
                rules.insert(full_path(&pkg, &name));
            }
        }
    }
    let mut graph: HashMap<Vec<String>, (Span, HashSet<Vec<String>>)> = HashMap::new();
    for (i, m) in modules.iter().enumerate() {
        if i > 0 {
            let pkg = path_of(&m.package.refr).unwrap_or_default();
            if pkg.len() < 2 || pkg[0] != "lib" {
                return Err(at(
                    &m.package.span,
                    format!(
                        "a library's package must lie under lib (lib.<name>), not {}",
                        pkg.join(".")
                    ),
                ));
            }
        }
        let mut imports = HashMap::new();
        for imp in &m.imports {
            let path = path_of(&imp.refr).unwrap_or_default();
            let allowed = (path.len() >= 2 && path[0] == "data" && path[1] == "lib")
                || path.first().is_some_and(|p| p == "future");
            if !allowed {
                return Err(at(
                    &imp.span,
                    format!(
                        "import {} is not allowed: a template may import only data.lib... and \
                         future...",
                        path.join(".")
                    ),
                ));
            }
            // `future.keywords...` only turns keywords on; it names nothing to call.
            if path[0] == "future" {
                continue;
            }
            let alias = match &imp.r#as {
                Some(span) => span.text().to_string(),
                None => path.last().cloned().unwrap_or_default(),
            };
            imports.insert(alias, path);
        }
        let package = path_of(&m.package.refr).unwrap_or_default();
        let walker = Walker {
            functions: &functions,
            rules: &rules,
            imports: &imports,
            package: package.clone(),
            v1,
            deps: RefCell::new(HashSet::new()),
            locals: RefCell::new(HashSet::new()),
        };
        for rule in &m.policy {
            *walker.locals.borrow_mut() = bound_names(rule);
            walker.rule(rule)?;
            if let Some(name) = head_path(rule) {
                let deps = std::mem::take(&mut *walker.deps.borrow_mut());
                let span = match rule.as_ref() {
                    Rule::Spec { span, .. } | Rule::Default { span, .. } => span.clone(),
                };
                let entry = graph
                    .entry(full_path(&package, &name))
                    .or_insert_with(|| (span, HashSet::new()));
                entry.1.extend(deps);
            }
        }
    }
    acyclic(&graph)
}

/// `data.<package>.<name>`.
fn full_path(package: &[String], name: &[String]) -> Vec<String> {
    std::iter::once("data".to_string())
        .chain(package.iter().cloned())
        .chain(name.iter().cloned())
        .collect()
}

/// The dotted name a rule defines (`violation` for `violation[x]`, `a.b` for `a.b := 1`).
fn head_path(rule: &Rule) -> Option<Vec<String>> {
    let refr = match rule {
        Rule::Spec { head, .. } => match head {
            RuleHead::Compr { refr, .. }
            | RuleHead::Set { refr, .. }
            | RuleHead::Func { refr, .. } => refr,
        },
        Rule::Default { refr, .. } => refr,
    };
    match refr.as_ref() {
        Expr::RefBrack { refr, .. } => path_of(refr),
        other => path_of(other),
    }
}

/// Names a rule binds as variables anywhere (assigned, unified, declared with `some`,
/// iterated as a reference index, function arguments, `every` variables). A reference by
/// such a name is not counted as a reference to a rule of that name: the graph may miss a
/// dependency, never invent one, so no template is refused for a cycle it does not have.
fn bound_names(rule: &Rule) -> HashSet<String> {
    fn vars(e: &Expr, out: &mut HashSet<String>) {
        match e {
            Expr::Var { value, .. } => {
                if let Ok(v) = value.as_string() {
                    out.insert(v.to_string());
                }
            }
            Expr::Array { items, .. } | Expr::Set { items, .. } => {
                items.iter().for_each(|i| vars(i, out))
            }
            Expr::Object { fields, .. } => fields.iter().for_each(|(_, k, v)| {
                vars(k, out);
                vars(v, out);
            }),
            _ => {}
        }
    }
    fn expr(e: &Expr, out: &mut HashSet<String>) {
        match e {
            Expr::AssignExpr { lhs, rhs, .. } => {
                vars(lhs, out);
                vars(rhs, out);
                expr(lhs, out);
                expr(rhs, out);
            }
            Expr::RefBrack { refr, index, .. } => {
                vars(index, out);
                expr(refr, out);
                expr(index, out);
            }
            Expr::RefDot { refr, .. } | Expr::UnaryExpr { expr: refr, .. } => expr(refr, out),
            Expr::Call { params, .. } => params.iter().for_each(|p| {
                vars(p, out);
                expr(p, out);
            }),
            Expr::Array { items, .. } | Expr::Set { items, .. } => {
                items.iter().for_each(|i| expr(i, out))
            }
            Expr::Object { fields, .. } => fields.iter().for_each(|(_, k, v)| {
                expr(k, out);
                expr(v, out);
            }),
            Expr::ArrayCompr { term, query, .. } | Expr::SetCompr { term, query, .. } => {
                expr(term, out);
                query_names(query, out);
            }
            Expr::ObjectCompr {
                key, value, query, ..
            } => {
                expr(key, out);
                expr(value, out);
                query_names(query, out);
            }
            Expr::BinExpr { lhs, rhs, .. }
            | Expr::BoolExpr { lhs, rhs, .. }
            | Expr::ArithExpr { lhs, rhs, .. } => {
                expr(lhs, out);
                expr(rhs, out);
            }
            Expr::Membership {
                key,
                value,
                collection,
                ..
            } => {
                if let Some(k) = key {
                    vars(k, out);
                }
                vars(value, out);
                expr(collection, out);
            }
            _ => {}
        }
    }
    fn query_names(q: &Query, out: &mut HashSet<String>) {
        for s in &q.stmts {
            match &s.literal {
                Literal::SomeVars { vars, .. } => {
                    out.extend(vars.iter().map(|v| v.text().to_string()))
                }
                Literal::SomeIn {
                    key,
                    value,
                    collection,
                    ..
                } => {
                    if let Some(k) = key {
                        vars(k, out);
                    }
                    vars(value, out);
                    expr(collection, out);
                }
                Literal::Expr { expr: e, .. } | Literal::NotExpr { expr: e, .. } => expr(e, out),
                Literal::Every {
                    key,
                    value,
                    domain,
                    query,
                    ..
                } => {
                    if let Some(k) = key {
                        out.insert(k.text().to_string());
                    }
                    out.insert(value.text().to_string());
                    expr(domain, out);
                    query_names(query, out);
                }
            }
        }
    }
    let mut out = HashSet::new();
    if let Rule::Spec { head, bodies, .. } = rule {
        match head {
            RuleHead::Func { args, .. } => args.iter().for_each(|a| vars(a, &mut out)),
            RuleHead::Compr { refr, .. } => {
                if let Expr::RefBrack { index, .. } = refr.as_ref() {
                    vars(index, &mut out);
                }
            }
            RuleHead::Set { key, .. } => {
                if let Some(k) = key {
                    vars(k, &mut out);
                }
            }
        }
        for body in bodies {
            query_names(&body.query, &mut out);
        }
    }
    out
}

/// Refuse a cycle in the dependency graph, as OPA's `rego_recursion_error`, naming it.
fn acyclic(graph: &HashMap<Vec<String>, (Span, HashSet<Vec<String>>)>) -> Result<(), String> {
    let mut nodes: Vec<&Vec<String>> = graph.keys().collect();
    nodes.sort();
    // 0 = unvisited, 1 = on the path, 2 = done.
    let mut state: HashMap<&Vec<String>, u8> = HashMap::new();
    for start in nodes {
        if state.get(start).copied().unwrap_or(0) != 0 {
            continue;
        }
        let deps_of = |n: &Vec<String>| -> Vec<&Vec<String>> {
            let mut d: Vec<&Vec<String>> = graph
                .get(n)
                .map(|(_, d)| d.iter().filter(|x| graph.contains_key(*x)).collect())
                .unwrap_or_default();
            d.sort();
            d
        };
        let mut stack: Vec<(&Vec<String>, Vec<&Vec<String>>)> = vec![(start, deps_of(start))];
        state.insert(start, 1);
        while let Some((node, pending)) = stack.last_mut() {
            let node: &Vec<String> = node;
            match pending.pop() {
                Some(dep) => match state.get(dep).copied().unwrap_or(0) {
                    1 => {
                        let from = stack.iter().position(|(n, _)| *n == dep).unwrap_or(0);
                        let mut cycle: Vec<String> =
                            stack[from..].iter().map(|(n, _)| n.join(".")).collect();
                        cycle.push(dep.join("."));
                        let message = format!(
                            "rule {} is recursive: {}",
                            dep.join("."),
                            cycle.join(" -> ")
                        );
                        return Err(match graph.get(dep) {
                            Some((span, _)) => at(span, message),
                            None => message,
                        });
                    }
                    0 => {
                        state.insert(dep, 1);
                        let next = deps_of(dep);
                        stack.push((dep, next));
                    }
                    _ => {}
                },
                None => {
                    state.insert(node, 2);
                    stack.pop();
                }
            }
        }
    }
    Ok(())
}

/// `file:line: message`.
fn at(span: &Span, message: String) -> String {
    format!("{}:{}: {message}", span.source.get_path(), span.line)
}

/// A dotted name (`a.b.c`) as its parts; `None` for anything else.
fn path_of(e: &Expr) -> Option<Vec<String>> {
    match e {
        Expr::Var { value, .. } => Some(vec![value.as_string().ok()?.to_string()]),
        Expr::RefDot { refr, field, .. } => {
            let mut p = path_of(refr)?;
            p.push(field.1.as_string().ok()?.to_string());
            Some(p)
        }
        _ => None,
    }
}

struct Walker<'m> {
    /// Full paths (`data.pkg.name`) of the functions the modules define, with arities.
    functions: &'m HashMap<Vec<String>, HashSet<usize>>,
    /// Full paths of every rule the modules define.
    rules: &'m HashSet<Vec<String>>,
    /// The rules the rule being walked refers to (full paths).
    deps: RefCell<HashSet<Vec<String>>>,
    /// Names the rule being walked binds as variables (see [`bound_names`]).
    locals: RefCell<HashSet<String>>,
    /// Import aliases of this module and the paths they stand for.
    imports: &'m HashMap<String, Vec<String>>,
    /// This module's package path (without `data`).
    package: Vec<String>,
    v1: bool,
}

type R = Result<(), String>;

impl Walker<'_> {
    fn rule(&self, rule: &Rule) -> R {
        match rule {
            Rule::Spec { head, bodies, .. } => {
                match head {
                    // The head's own name is not a reference to the rule; its index is.
                    RuleHead::Compr { refr, assign, .. } => {
                        if let Expr::RefBrack { index, .. } = refr.as_ref() {
                            self.expr(index)?;
                        }
                        if let Some(a) = assign {
                            self.expr(&a.value)?;
                        }
                    }
                    RuleHead::Set { key, .. } => {
                        if let Some(k) = key {
                            self.expr(k)?;
                        }
                    }
                    RuleHead::Func { args, assign, .. } => {
                        for a in args {
                            self.expr(a)?;
                        }
                        if let Some(a) = assign {
                            self.expr(&a.value)?;
                        }
                    }
                }
                for body in bodies {
                    if let Some(a) = &body.assign {
                        self.expr(&a.value)?;
                    }
                    self.query(&body.query)?;
                }
                Ok(())
            }
            Rule::Default { args, value, .. } => {
                for a in args {
                    self.expr(a)?;
                }
                self.expr(value)
            }
        }
    }

    fn query(&self, q: &Query) -> R {
        q.stmts.iter().try_for_each(|s| self.stmt(s))
    }

    fn stmt(&self, s: &LiteralStmt) -> R {
        match &s.literal {
            Literal::SomeVars { .. } => {}
            Literal::SomeIn {
                key,
                value,
                collection,
                ..
            } => {
                if let Some(k) = key {
                    self.expr(k)?;
                }
                self.expr(value)?;
                self.expr(collection)?;
            }
            Literal::Expr { expr, .. } | Literal::NotExpr { expr, .. } => self.expr(expr)?,
            Literal::Every { domain, query, .. } => {
                self.expr(domain)?;
                self.query(query)?;
            }
        }
        for w in &s.with_mods {
            self.expr(&w.refr)?;
            self.expr(&w.r#as)?;
        }
        Ok(())
    }

    fn expr(&self, e: &Expr) -> R {
        match e {
            Expr::String { .. }
            | Expr::RawString { .. }
            | Expr::Number { .. }
            | Expr::Bool { .. }
            | Expr::Null { .. } => Ok(()),
            Expr::Var { span, value, .. } => {
                if value.as_string().is_ok_and(|v| v.as_ref() == "data") {
                    return Err(disallowed(span, &[]));
                }
                self.note_var(e, &[]);
                Ok(())
            }
            Expr::Array { items, .. } | Expr::Set { items, .. } => {
                items.iter().try_for_each(|i| self.expr(i))
            }
            Expr::Object { fields, .. } => fields.iter().try_for_each(|(_, k, v)| {
                self.expr(k)?;
                self.expr(v)
            }),
            Expr::ArrayCompr { term, query, .. } | Expr::SetCompr { term, query, .. } => {
                self.expr(term)?;
                self.query(query)
            }
            Expr::ObjectCompr {
                key, value, query, ..
            } => {
                self.expr(key)?;
                self.expr(value)?;
                self.query(query)
            }
            Expr::Call {
                span, fcn, params, ..
            } => {
                self.call(span, fcn, params.len())?;
                params.iter().try_for_each(|p| self.expr(p))
            }
            Expr::UnaryExpr { expr, .. } => self.expr(expr),
            Expr::RefDot { .. } | Expr::RefBrack { .. } => self.reference(e),
            Expr::BinExpr { lhs, rhs, .. }
            | Expr::BoolExpr { lhs, rhs, .. }
            | Expr::ArithExpr { lhs, rhs, .. }
            | Expr::AssignExpr { lhs, rhs, .. } => {
                self.expr(lhs)?;
                self.expr(rhs)
            }
            Expr::Membership {
                key,
                value,
                collection,
                ..
            } => {
                if let Some(k) = key {
                    self.expr(k)?;
                }
                self.expr(value)?;
                self.expr(collection)
            }
            #[allow(unreachable_patterns)]
            _ => Ok(()),
        }
    }

    /// A reference chain: when it starts at `data`, its constant prefix must lie under
    /// `data.inventory` or `data.lib`; index expressions are walked as expressions.
    fn reference(&self, e: &Expr) -> R {
        let mut steps: Vec<Option<String>> = Vec::new();
        let mut indexes: Vec<&Expr> = Vec::new();
        let mut cur = e;
        loop {
            match cur {
                Expr::RefDot { refr, field, .. } => {
                    steps.push(field.1.as_string().ok().map(|s| s.to_string()));
                    cur = refr;
                }
                Expr::RefBrack { refr, index, .. } => {
                    steps.push(match index.as_ref() {
                        Expr::String { value, .. } | Expr::RawString { value, .. } => {
                            value.as_string().ok().map(|s| s.to_string())
                        }
                        _ => None,
                    });
                    indexes.push(index);
                    cur = refr;
                }
                _ => break,
            }
        }
        steps.reverse();
        match cur {
            Expr::Var { span, value, .. }
                if value.as_string().is_ok_and(|v| v.as_ref() == "data") =>
            {
                let first = steps.first().cloned().flatten();
                if !matches!(first.as_deref(), Some("inventory" | "lib")) {
                    let known: Vec<String> = steps.iter().map_while(Clone::clone).collect();
                    return Err(disallowed(span, &known));
                }
            }
            base => {
                let known: Vec<String> = steps.iter().map_while(Clone::clone).collect();
                self.note_var(base, &known);
                if !matches!(base, Expr::Var { .. }) {
                    self.expr(base)?;
                }
            }
        }
        if let Expr::Var { value, .. } = cur {
            if value.as_string().is_ok_and(|v| v.as_ref() == "data") {
                let known: Vec<String> = steps.iter().map_while(Clone::clone).collect();
                let path: Vec<String> = std::iter::once("data".to_string()).chain(known).collect();
                self.note(&path);
            }
        }
        indexes.into_iter().try_for_each(|i| self.expr(i))
    }

    /// Record the longest prefix of `path` that names a rule as a dependency.
    fn note(&self, path: &[String]) {
        for len in (2..=path.len()).rev() {
            if self.rules.contains(&path[..len]) {
                self.deps.borrow_mut().insert(path[..len].to_vec());
                return;
            }
        }
    }

    /// A reference starting at a variable (followed by constant `steps`): a rule of this
    /// package unless the rule binds that name, or an import.
    fn note_var(&self, base: &Expr, steps: &[String]) {
        let Some(name) = (match base {
            Expr::Var { value, .. } => value.as_string().ok().map(|v| v.to_string()),
            _ => None,
        }) else {
            return;
        };
        if let Some(imported) = self.imports.get(&name) {
            let path: Vec<String> = imported.iter().chain(steps).cloned().collect();
            self.note(&path);
        } else if !self.locals.borrow().contains(&name) {
            let path: Vec<String> = std::iter::once("data".to_string())
                .chain(self.package.iter().cloned())
                .chain(std::iter::once(name))
                .chain(steps.iter().cloned())
                .collect();
            self.note(&path);
        }
    }

    /// A call must name a builtin or a function the modules define, with its number of
    /// arguments (or one more: OPA's output-argument form).
    fn call(&self, span: &Span, fcn: &Expr, nargs: usize) -> R {
        let Some(path) = path_of(fcn) else {
            return Err(at(
                span,
                "call of something that is not a function name".into(),
            ));
        };
        let name = path.join(".");
        let full: Option<Vec<String>> = match self.imports.get(&path[0]) {
            Some(imported) => Some(imported.iter().chain(&path[1..]).cloned().collect()),
            None if path[0] == "data" => Some(path.clone()),
            None => None,
        };
        if let Some(full) = &full {
            if !(full.len() >= 2 && matches!(full[1].as_str(), "lib" | "inventory")) {
                return Err(disallowed(span, &full[1..]));
            }
        }
        let local: Vec<String> = std::iter::once("data".to_string())
            .chain(self.package.iter().cloned())
            .chain(path.iter().cloned())
            .collect();
        let defined = match &full {
            Some(full) => self.functions.get(full),
            None => self.functions.get(&local),
        };
        if defined.is_some() {
            self.deps
                .borrow_mut()
                .insert(full.clone().unwrap_or_else(|| local.clone()));
        }
        let arities: Vec<usize> = match defined {
            Some(arities) => arities.iter().copied().collect(),
            None if full.is_some() => {
                return Err(at(
                    span,
                    format!("unknown function {name}: no library defines it"),
                ))
            }
            None => match builtin_arity(&name) {
                Some(_) if self.v1 && opa_builtins::DEPRECATED.contains(&name.as_str()) => {
                    return Err(at(
                        span,
                        format!(
                            "deprecated builtin {name} is not allowed in Rego v1 (OPA refuses it)"
                        ),
                    ))
                }
                Some(None) => return Ok(()),
                Some(Some(n)) => vec![n],
                None => {
                    return Err(at(
                        span,
                        format!(
                            "unknown function {name}: not a builtin portcullis evaluates, nor \
                             defined in the template or its libs"
                        ),
                    ))
                }
            },
        };
        if arities.iter().any(|&n| nargs == n || nargs == n + 1) {
            return Ok(());
        }
        let mut want: Vec<String> = arities.iter().map(usize::to_string).collect();
        want.sort();
        Err(at(
            span,
            format!(
                "{name} called with {nargs} arguments; it takes {}",
                want.join(" or ")
            ),
        ))
    }
}

/// A builtin's number of arguments: `Some(None)` when any number is accepted (`print`),
/// `None` when there is no such builtin.
fn builtin_arity(name: &str) -> Option<Option<usize>> {
    match name {
        "print" => return Some(None),
        // Lists every path of a graph: exponential in the graph, with no bound the
        // evaluators could enforce inside the call.
        "graph.reachable_paths" => return None,
        _ => {}
    }
    opa_builtins::BUILTINS
        .iter()
        .find(|b| b.0 == name)
        .map(|b| usize::from(b.1))
        .or_else(|| super::regex_cache::arity(name))
        .or_else(|| {
            regorus::unstable::BUILTINS
                .get(name)
                .map(|b| usize::from(b.1))
        })
        .map(Some)
}

fn disallowed(span: &Span, steps: &[String]) -> String {
    let shown = std::iter::once("data")
        .chain(steps.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(".");
    at(
        span,
        format!(
            "reference {shown} is not allowed: a template may read only data.inventory and \
             data.lib"
        ),
    )
}

#[cfg(test)]
mod tests {
    use crate::engine::rego::{RegoProgram, RegoSource};

    fn load(rego: &str, libs: &[&str], v1: bool) -> Result<(), String> {
        let source = RegoSource {
            rego: rego.into(),
            libs: libs.iter().map(|l| l.to_string()).collect(),
            v1,
        };
        RegoProgram::new("k8stest", &source)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn refused(rego: &str, libs: &[&str], v1: bool) -> String {
        load(rego, libs, v1).expect_err("must be refused")
    }

    const HEAD: &str = "package k8stest\n\nviolation[{\"msg\": msg}] {\n";

    #[test]
    fn an_unknown_function_is_refused_with_its_name_and_line() {
        let rego =
            format!("{HEAD}  x := input.review.object\n  not_a_builtin(x)\n  msg := \"m\"\n}}\n");
        let err = refused(&rego, &[], false);
        assert!(err.contains("k8stest"), "{err}");
        assert!(err.contains("k8stest.rego:5:"), "{err}");
        assert!(err.contains("unknown function not_a_builtin"), "{err}");
        // Inside a library, the library's file is named.
        let lib = "package lib.helpers\n\nok(x) {\n  strings.no_such_thing(x)\n}\n";
        let main = "package k8stest\nimport data.lib.helpers\n\nviolation[{\"msg\": \"m\"}] {\n  helpers.ok(input)\n}\n";
        let err = refused(main, &[lib], false);
        assert!(err.contains("k8stest.lib0.rego:4:"), "{err}");
        assert!(err.contains("strings.no_such_thing"), "{err}");
        // A builtin Gatekeeper's chart disables, and one portcullis lacks.
        for call in [
            "http.send({})",
            "io.jwt.decode(\"x\")",
            "graph.reachable_paths({}, [])",
        ] {
            let rego = format!("{HEAD}  r := {call}\n  msg := sprintf(\"%v\", [r])\n}}\n");
            let err = refused(&rego, &[], false);
            let name = &call[..call.find('(').unwrap_or(0)];
            assert!(err.contains(&format!("unknown function {name}")), "{err}");
        }
    }

    #[test]
    fn functions_resolve_like_the_interpreter() {
        let lib = "package lib.helpers\n\nhas(x) {\n  x.a\n}\n\nvalue(x) = y {\n  y := x.a\n}\n";
        let main = "package k8stest\nimport data.lib.helpers\nimport data.lib.helpers as h\nimport future.keywords.in\nimport future.keywords.contains\n\nviolation[{\"msg\": msg}] {\n  helpers.has(input)\n  v := h.value(input)\n  data.lib.helpers.has(input)\n  local(v)\n  re_match(\"a\", \"b\")\n  any([true])\n  walk(input, [p, w])\n  print(p)\n  contains(\"ab\", \"a\")\n  msg := sprintf(\"%v\", [count(input)])\n}\n\nlocal(x) {\n  x in [1]\n}\n";
        load(main, &[lib], false).expect("loads");
        let missing = main.replace("h.value(input)", "h.nothing(input)");
        let err = refused(&missing, &[lib], false);
        assert!(
            err.contains("unknown function h.nothing: no library defines it"),
            "{err}"
        );
        let arity = main.replace("local(v)", "local(v, 1, 2)");
        let err = refused(&arity, &[lib], false);
        assert!(
            err.contains("local called with 3 arguments; it takes 1"),
            "{err}"
        );
        let arity = main.replace("count(input)", "count(input, 1, 2)");
        assert!(refused(&arity, &[lib], false).contains("count called with 3 arguments"));
    }

    #[test]
    fn deprecated_builtins_are_refused_in_rego_v1_only() {
        let v0 = format!(
            "{HEAD}  re_match(\"^a\", input.review.object.metadata.name)\n  msg := \"m\"\n}}\n"
        );
        load(&v0, &[], false).expect("v0 allows deprecated builtins");
        let v1 = "package k8stest\n\nviolation contains {\"msg\": \"m\"} if {\n  cast_string(input.x)\n}\n";
        let err = refused(v1, &[], true);
        assert!(err.contains("k8stest.rego:4:"), "{err}");
        assert!(err.contains("deprecated builtin cast_string"), "{err}");
    }

    #[test]
    fn data_references_outside_inventory_and_lib_are_refused() {
        let ok = format!(
            "{HEAD}  x := data.inventory.namespace[_]\n  y := data[\"inventory\"].cluster\n  msg := sprintf(\"%v %v\", [x, y])\n}}\n"
        );
        load(&ok, &[], false).expect("inventory is allowed");
        for (body, shown) in [
            ("x := data.k8stest.other", "data.k8stest.other"),
            ("x := data", "data "),
            ("k := input.k\n  x := data[k]", "data "),
            ("x := data[\"secrets\"]", "data.secrets"),
            ("x := input with data.lib.x as 1", "data.lib"),
        ] {
            let rego = format!("{HEAD}  {body}\n  msg := sprintf(\"%v\", [x])\n}}\n");
            match load(&rego, &[], false) {
                Err(err) => {
                    assert!(err.contains("is not allowed"), "{body}: {err}");
                    assert!(
                        err.contains(&format!("reference {}", shown.trim())),
                        "{body}: {err}"
                    );
                }
                // `with data.lib...` targets a library, which Gatekeeper allows.
                Ok(()) => assert_eq!(shown, "data.lib", "{body} must be refused"),
            }
        }
    }

    #[test]
    fn recursion_is_refused_as_opa_does() {
        for (rego, cycle) in [
            (
                "package k8stest\nviolation[{\"msg\": \"m\"}] {\n  f(1)\n}\nf(x) {\n  f(x)\n}\n",
                "data.k8stest.f -> data.k8stest.f",
            ),
            (
                "package k8stest\nviolation[{\"msg\": \"m\"}] {\n  a\n}\na {\n  b\n}\nb {\n  a\n}\n",
                "data.k8stest.a -> data.k8stest.b -> data.k8stest.a",
            ),
            (
                "package k8stest\nviolation[{\"msg\": \"m\"}] {\n  violation[_]\n}\n",
                "data.k8stest.violation -> data.k8stest.violation",
            ),
        ] {
            let err = refused(rego, &[], false);
            assert!(err.contains("is recursive"), "{err}");
            assert!(err.contains(cycle), "{err}");
        }
        // Across a library, through an import.
        let lib = "package lib.l\nimport data.k8stest\n\ng(x) {\n  data.lib.l.h(x)\n}\nh(x) {\n  g(x)\n}\n";
        let main =
            "package k8stest\nimport data.lib.l\nviolation[{\"msg\": \"m\"}] {\n  l.g(1)\n}\n";
        let err = refused(main, &[lib], false);
        assert!(err.contains("import data.k8stest is not allowed"), "{err}");
        let lib = "package lib.l\n\ng(x) {\n  data.lib.l.h(x)\n}\nh(x) {\n  g(x)\n}\n";
        let err = refused(main, &[lib], false);
        assert!(
            err.contains("data.lib.l.g -> data.lib.l.h -> data.lib.l.g"),
            "{err}"
        );
        // A variable named like a rule is the variable, not the rule.
        let shadow = "package k8stest\nviolation[{\"msg\": msg}] {\n  msg := \"m\"\n}\nmsg := 1\nx {\n  [msg, y] := [1, 2]\n  msg == y\n}\n";
        load(shadow, &[], false).expect("no cycle");
    }

    #[test]
    fn imports_and_library_packages_are_checked() {
        for import in ["input.review", "data.inventory", "data.k8sother"] {
            let rego = format!("package k8stest\nimport {import}\n\nviolation[{{\"msg\": \"m\"}}] {{\n  true\n}}\n");
            let err = refused(&rego, &[], false);
            assert!(
                err.contains(&format!("import {import} is not allowed")),
                "{err}"
            );
            assert!(err.contains("k8stest.rego:2:"), "{err}");
        }
        let main = "package k8stest\n\nviolation[{\"msg\": \"m\"}] {\n  true\n}\n";
        let err = refused(main, &["package lib\n\nx := 1\n"], false);
        assert!(err.contains("not under lib"), "{err}");
        load(main, &["package lib.ok\n\nx := 1\n"], false).expect("lib.<name> is allowed");
    }
}
