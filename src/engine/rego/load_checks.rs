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
//! A builtin Gatekeeper has and portcullis lacks (e.g. `http.send`, which Gatekeeper
//! disables by default, or `io.jwt.*`) is therefore refused at load, with its name.
//!
//! The walk recurses along the expression tree, whose depth [`super::nesting`] has already
//! bounded before the parser ran.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use regorus::unstable::{Expr, Literal, LiteralStmt, Module, Query, Ref, Rule, RuleHead, Span};

use super::opa_builtins;
use recursion::{acyclic, bound_names};

mod recursion;

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
    // One default per rule, as OPA's compiler requires.
    let mut defaults: HashSet<Vec<String>> = HashSet::new();
    for m in modules {
        let Some(pkg) = path_of(&m.package.refr) else {
            continue;
        };
        for rule in &m.policy {
            if let Rule::Default { span, refr, .. } = rule.as_ref() {
                let Some(name) = path_of(refr) else {
                    continue;
                };
                let full = full_path(&pkg, &name);
                if !defaults.insert(full.clone()) {
                    return Err(at(
                        span,
                        format!("multiple default rules {} found", full.join(".")),
                    ));
                }
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
            // A call that is the whole statement may take OPA's extra output argument
            // (`count(xs, n)` binds or compares `n`); nested in a term it may not.
            Literal::Expr { expr, .. } | Literal::NotExpr { expr, .. } => match expr.as_ref() {
                Expr::Call {
                    span, fcn, params, ..
                } => {
                    self.call(span, fcn, params.len(), true)?;
                    params.iter().try_for_each(|p| self.expr(p))?;
                }
                other => self.expr(other)?,
            },
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
                self.call(span, fcn, params.len(), false)?;
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
    /// arguments (or, when the call is a whole `statement`, one more: OPA's output-argument
    /// form; inside a term OPA refuses the extra argument).
    fn call(&self, span: &Span, fcn: &Expr, nargs: usize, statement: bool) -> R {
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
                None if name == "external_data" => {
                    return Err(at(
                        span,
                        "external_data: Gatekeeper's external data providers are not supported"
                            .into(),
                    ))
                }
                None if LACKING.contains(&name.as_str()) => {
                    return Err(at(
                        span,
                        format!("{name} is an OPA builtin that portcullis does not evaluate"),
                    ))
                }
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
        if arities
            .iter()
            .any(|&n| nargs == n || (statement && nargs == n + 1))
        {
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

/// Builtins of Gatekeeper's OPA that portcullis does not evaluate (named as such when a
/// template calls one, rather than as unknown): the network (`http.send`, which Gatekeeper
/// disables by default, `net.lookup_ip_addr`, `providers.aws.sign_req`), certificates, keys
/// and tokens, schemas and patches, YAML (whose Go reading differs from a YAML 1.2
/// parser's), `net.cidr_merge`, `graph.reachable_paths` (exponential), the runtime and
/// metadata, randomness, and the operators' names as functions.
const LACKING: &[&str] = &[
    "http.send",
    "net.lookup_ip_addr",
    "providers.aws.sign_req",
    "crypto.parse_private_keys",
    "crypto.x509.parse_and_verify_certificates",
    "crypto.x509.parse_and_verify_certificates_with_options",
    "crypto.x509.parse_certificate_request",
    "crypto.x509.parse_certificates",
    "crypto.x509.parse_keypair",
    "crypto.x509.parse_rsa_private_key",
    "io.jwt.decode",
    "io.jwt.decode_verify",
    "io.jwt.encode_sign",
    "io.jwt.encode_sign_raw",
    "io.jwt.verify_eddsa",
    "io.jwt.verify_es256",
    "io.jwt.verify_es384",
    "io.jwt.verify_es512",
    "io.jwt.verify_hs256",
    "io.jwt.verify_hs384",
    "io.jwt.verify_hs512",
    "io.jwt.verify_ps256",
    "io.jwt.verify_ps384",
    "io.jwt.verify_ps512",
    "io.jwt.verify_rs256",
    "io.jwt.verify_rs384",
    "io.jwt.verify_rs512",
    "json.match_schema",
    "json.verify_schema",
    "json.patch",
    "yaml.is_valid",
    "yaml.marshal",
    "yaml.unmarshal",
    "graphql.is_valid",
    "graphql.parse",
    "graphql.parse_and_verify",
    "graphql.parse_query",
    "graphql.parse_schema",
    "graphql.schema_is_valid",
    "net.cidr_merge",
    "graph.reachable_paths",
    "regex.globs_match",
    "opa.runtime",
    "rego.metadata.chain",
    "rego.metadata.rule",
    "rego.parse_module",
    "strings.render_template",
    "uri.is_valid",
    "uri.parse",
    "uuid.parse",
    "uuid.rfc4122",
    "and",
    "or",
    "plus",
    "minus",
    "mul",
    "div",
    "rem",
    "eq",
    "equal",
    "neq",
    "gt",
    "gte",
    "lt",
    "lte",
    "assign",
];

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
mod tests;
