//! Lowering of parsed modules to the [`ir`](super::ir): rules are numbered, imports and
//! `data.` paths resolved to rules, and each rule definition is lowered by
//! [`lower_body`](super::lower_body).
//!
//! Anything outside the supported subset is refused with [`Unsupported`] so that the
//! template runs on the interpreter instead: `with`, rule heads with dotted references,
//! references to packages as documents, recursion, `else` on partial rules.

use std::collections::HashMap;

use regorus::unstable::{Expr as AstExpr, Module, Ref, Rule as AstRule, RuleHead};

use super::ir::{Clause, Def, Program, Rule, RuleId, RuleKind};
use super::lower_body::Body;

/// Why a template cannot run on the compiled path.
#[derive(Debug, Clone)]
pub(crate) struct Unsupported(pub(crate) String);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Shorthand for a refusal.
pub(crate) fn unsupported<T>(what: impl Into<String>) -> Result<T, Unsupported> {
    Err(Unsupported(what.into()))
}

/// The rules of all modules, by `package.name`.
pub(crate) struct Names {
    /// `pkg.name` → rule.
    pub(crate) rules: HashMap<String, RuleId>,
    /// Kind of each rule.
    pub(crate) kinds: Vec<RuleKind>,
    /// Number of source definitions of each rule.
    pub(crate) defs: Vec<usize>,
}

/// What a module sees: its package, its imports and every rule.
pub(crate) struct ModCtx<'n> {
    /// All rules.
    pub(crate) names: &'n Names,
    /// The module's package path (`lib.exempt_container`).
    pub(crate) pkg: String,
    /// `import data.a.b` / `import data.a.b as c`: alias → path after `data`.
    pub(crate) imports: HashMap<String, Vec<String>>,
    /// Counter of folded expressions, shared by all modules.
    pub(crate) folds: &'n std::cell::Cell<u32>,
}

impl ModCtx<'_> {
    /// A new folded-expression number.
    pub(crate) fn next_fold(&self) -> u32 {
        let n = self.folds.get();
        self.folds.set(n + 1);
        n
    }

    /// A rule of this module's package.
    pub(crate) fn local_rule(&self, name: &str) -> Option<RuleId> {
        self.names
            .rules
            .get(&format!("{}.{name}", self.pkg))
            .copied()
    }

    /// The rule at a `data.` path (the longest prefix naming a rule) and how many path
    /// components it used.
    pub(crate) fn data_rule(&self, path: &[String]) -> Option<(RuleId, usize)> {
        (1..=path.len()).find_map(|n| {
            self.names
                .rules
                .get(&path[..n].join("."))
                .map(|id| (*id, n))
        })
    }
}

/// The dotted name of a reference made only of a variable and `.field`s.
pub(crate) fn dotted(e: &AstExpr) -> Option<Vec<String>> {
    match e {
        AstExpr::Var { value, .. } => Some(vec![value.as_string().ok()?.to_string()]),
        AstExpr::RefDot { refr, field, .. } => {
            let mut p = dotted(refr)?;
            p.push(field.1.as_string().ok()?.to_string());
            Some(p)
        }
        _ => None,
    }
}

/// The name and kind a rule head defines.
fn head_of(rule: &AstRule) -> Result<(String, RuleKind), Unsupported> {
    let (refr, kind) = match rule {
        AstRule::Default { refr, args, .. } => {
            if !args.is_empty() {
                return unsupported("default functions");
            }
            (refr, RuleKind::Complete)
        }
        AstRule::Spec { head, .. } => match head {
            RuleHead::Compr { refr, .. } => match refr.as_ref() {
                AstExpr::RefBrack { refr, .. } => (refr, RuleKind::Object),
                _ => (refr, RuleKind::Complete),
            },
            RuleHead::Set { refr, key, .. } => {
                if key.is_none() {
                    return unsupported("rule heads with dotted references");
                }
                (refr, RuleKind::Set)
            }
            RuleHead::Func { refr, args, .. } => (refr, RuleKind::Function(args.len())),
        },
    };
    match refr.as_ref() {
        AstExpr::Var { value, .. } => Ok((value.as_string().map_err(err)?.to_string(), kind)),
        _ => unsupported("rule heads with dotted references"),
    }
}

fn err(e: impl std::fmt::Display) -> Unsupported {
    Unsupported(e.to_string())
}

/// The package path of a module (without `data.`).
fn package(m: &Module) -> Result<String, Unsupported> {
    let path = dotted(&m.package.refr).ok_or_else(|| Unsupported("package path".into()))?;
    Ok(path.join("."))
}

/// Lower every rule of the modules; `violation` of the first module is the entry point.
pub(crate) fn lower(modules: &[Ref<Module>]) -> Result<Program, Unsupported> {
    let mut names = Names {
        rules: HashMap::new(),
        kinds: Vec::new(),
        defs: Vec::new(),
    };
    for m in modules {
        let pkg = package(m)?;
        for rule in &m.policy {
            let (name, kind) = head_of(rule)?;
            let full = format!("{pkg}.{name}");
            if let Some(&id) = names.rules.get(&full) {
                if let Some(n) = names.defs.get_mut(id) {
                    *n += 1;
                }
                let known = names.kinds[id];
                let default_of_complete =
                    matches!(rule.as_ref(), AstRule::Default { .. }) && known == RuleKind::Complete;
                if known != kind && !default_of_complete {
                    return unsupported(format!("rule {full} has definitions of different kinds"));
                }
            } else {
                names.rules.insert(full, names.kinds.len());
                names.kinds.push(kind);
                names.defs.push(1);
            }
        }
    }
    let mut rules: Vec<Rule> = names
        .kinds
        .iter()
        .map(|&kind| Rule {
            name: String::new(),
            kind,
            defs: Vec::new(),
            default: None,
            groups: Vec::new(),
        })
        .collect();
    for (full, &id) in &names.rules {
        rules[id].name = full.clone();
    }
    let mut deps: Vec<Vec<RuleId>> = vec![Vec::new(); rules.len()];
    let folds = std::cell::Cell::new(0u32);
    for m in modules {
        let ctx = ModCtx {
            names: &names,
            pkg: package(m)?,
            imports: imports(m)?,
            folds: &folds,
        };
        for rule in &m.policy {
            let (name, _) = head_of(rule)?;
            let id = ctx
                .local_rule(&name)
                .ok_or_else(|| Unsupported(format!("rule {name} not indexed")))?;
            lower_rule(&ctx, rule, &mut rules[id], &mut deps[id])?;
        }
    }
    let main = package(
        modules
            .first()
            .ok_or_else(|| Unsupported("no module".into()))?,
    )?;
    let entry = *names
        .rules
        .get(&format!("{main}.violation"))
        .ok_or_else(|| Unsupported("no violation rule".into()))?;
    if rules[entry].kind != RuleKind::Set {
        return unsupported("violation is not a partial set rule");
    }
    check_acyclic(&deps)?;
    let mut program = Program {
        rules,
        entry,
        folds: folds.get(),
        shared_rules: Vec::new(),
        shares: false,
    };
    super::specialize::specialize(&mut program);
    super::group::group(&mut program);
    super::share::mark(&mut program);
    Ok(program)
}

/// The module's `data.` imports by alias; `future.*` and `rego.v1` only change parsing.
fn imports(m: &Module) -> Result<HashMap<String, Vec<String>>, Unsupported> {
    let mut out = HashMap::new();
    for import in &m.imports {
        let path = dotted(&import.refr).ok_or_else(|| Unsupported("import path".into()))?;
        match path.first().map(String::as_str) {
            Some("future" | "rego") => continue,
            Some("data") if path.len() > 1 => {}
            _ => return unsupported("imports other than data.*"),
        }
        let alias = match &import.r#as {
            Some(span) => span.text().to_string(),
            None => path[path.len() - 1].clone(),
        };
        out.insert(alias, path[1..].to_vec());
    }
    Ok(out)
}

/// Lower one source rule (a head with its bodies, or a `default`) into `rule`.
fn lower_rule(
    ctx: &ModCtx<'_>,
    src: &AstRule,
    rule: &mut Rule,
    deps: &mut Vec<RuleId>,
) -> Result<(), Unsupported> {
    let (head, bodies) = match src {
        AstRule::Default { value, .. } => {
            if rule.default.is_some() {
                return unsupported("several defaults");
            }
            let mut body = Body::new(ctx);
            let mut pre = Vec::new();
            let v = body.value(value, &mut pre)?;
            if !pre.is_empty() || body.slots() > 0 {
                return unsupported("default value that is not a constant");
            }
            deps.extend(body.deps);
            rule.default = Some(v);
            return Ok(());
        }
        AstRule::Spec { head, bodies, .. } => (head, bodies),
    };
    // Bodies not introduced by `else` are independent definitions with the same head.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, b) in bodies.iter().enumerate() {
        match groups.last_mut() {
            Some(g) if b.is_else => g.push(i),
            _ => groups.push(vec![i]),
        }
    }
    if groups.is_empty() {
        groups.push(Vec::new());
    }
    for group in groups {
        let mut body = Body::new(ctx);
        let (key_src, value_src, params_src): (Option<&AstExpr>, Option<&AstExpr>, &[_]) =
            match head {
                RuleHead::Compr { refr, assign, .. } => {
                    let key = match refr.as_ref() {
                        AstExpr::RefBrack { index, .. } => Some(index.as_ref()),
                        _ => None,
                    };
                    (key, assign.as_ref().map(|a| a.value.as_ref()), &[])
                }
                RuleHead::Set { key, .. } => (key.as_deref(), None, &[]),
                RuleHead::Func { args, assign, .. } => (
                    None,
                    assign.as_ref().map(|a| a.value.as_ref()),
                    args.as_slice(),
                ),
            };
        if rule.kind == RuleKind::Object && value_src.is_none() {
            return unsupported("partial object rule without a value");
        }
        let params = params_src
            .iter()
            .map(|p| body.param(p))
            .collect::<Result<Vec<_>, _>>()?;
        let mut key = None;
        let mut clauses = Vec::new();
        if group.is_empty() {
            let mut q = Vec::new();
            key = key_src.map(|k| body.value(k, &mut q)).transpose()?;
            let value = value_src.map(|v| body.value(v, &mut q)).transpose()?;
            clauses.push(Clause { query: q, value });
        }
        for (n, &i) in group.iter().enumerate() {
            let b = &bodies[i];
            if n > 0 && matches!(rule.kind, RuleKind::Set | RuleKind::Object) {
                return unsupported("else on a partial rule");
            }
            let value_src = match (&b.assign, n) {
                (Some(a), _) => Some(a.value.as_ref()),
                (None, 0) => value_src,
                (None, _) => None,
            };
            let (query, k, value) =
                body.clause(&b.query, if n == 0 { key_src } else { None }, value_src)?;
            if n == 0 {
                key = k;
            }
            clauses.push(Clause { query, value });
        }
        deps.append(&mut body.deps);
        rule.defs.push(Def {
            slots: body.slots(),
            params,
            key,
            clauses,
        });
    }
    Ok(())
}

/// Refuse recursion between rules (Rego forbids it; the evaluator relies on it).
fn check_acyclic(deps: &[Vec<RuleId>]) -> Result<(), Unsupported> {
    // 0 = unvisited, 1 = on the stack, 2 = done.
    let mut state = vec![0u8; deps.len()];
    for start in 0..deps.len() {
        if state[start] != 0 {
            continue;
        }
        let mut stack = vec![(start, 0usize)];
        state[start] = 1;
        while let Some(top) = stack.last_mut() {
            let (node, next) = *top;
            if let Some(&dep) = deps[node].get(next) {
                top.1 += 1;
                match state[dep] {
                    1 => return unsupported("recursive rules"),
                    0 => {
                        state[dep] = 1;
                        stack.push((dep, 0));
                    }
                    _ => {}
                }
            } else {
                state[node] = 2;
                stack.pop();
            }
        }
    }
    Ok(())
}
