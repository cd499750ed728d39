//! Recursion between rules, which OPA refuses when it compiles (`rego_recursion_error`):
//! the names a rule binds (so that a variable is never taken for a rule of the same name)
//! and the search for a cycle in the graph of rules.

use std::collections::{HashMap, HashSet};

use regorus::unstable::{Expr, Literal, Query, Rule, RuleHead, Span};

use super::at;

/// Names a rule binds as variables anywhere (assigned, unified, declared with `some`,
/// iterated as a reference index, function arguments, `every` variables). A reference by
/// such a name is not counted as a reference to a rule of that name: the graph may miss a
/// dependency, never invent one, so no template is refused for a cycle it does not have.
pub(super) fn bound_names(rule: &Rule) -> HashSet<String> {
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
            } => some_in(key.as_deref(), value, collection, out),
            _ => {}
        }
    }
    /// `key, value in collection` (a membership test or a `some ... in`): the key and value
    /// bind names, the collection is read.
    fn some_in(key: Option<&Expr>, value: &Expr, collection: &Expr, out: &mut HashSet<String>) {
        if let Some(k) = key {
            vars(k, out);
        }
        vars(value, out);
        expr(collection, out);
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
                } => some_in(key.as_deref(), value, collection, out),
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
pub(super) fn acyclic(
    graph: &HashMap<Vec<String>, (Span, HashSet<Vec<String>>)>,
) -> Result<(), String> {
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
