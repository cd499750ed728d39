//! The `source` document of a `K8sNativeValidation` code block, parsed and compiled.
//!
//! Field names follow Gatekeeper's schema: `variables` (`name`, `expression`),
//! `matchConditions` (Gatekeeper's Go type spells the JSON key `matchCondition`; both are
//! accepted), `validations` (`expression`, `message`, `messageExpression`) and
//! `failurePolicy` (`Fail`, the default, or `Ignore`). Every expression is parsed here, once,
//! so that evaluation never parses.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use cel::common::ast::{Expr, IdedExpr};
use cel::common::types::{CelMap, CelMapKey, CelNull};
use cel::common::value::Val;
use cel::Env;
use serde::Deserialize;
use serde_json::Value;

/// Prefix Gatekeeper reserves for its own variables and match conditions.
const RESERVED_PREFIX: &str = "gatekeeper_internal_";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSource {
    #[serde(default)]
    validations: Vec<RawValidation>,
    #[serde(default)]
    variables: Vec<RawNamed>,
    #[serde(default, alias = "matchCondition")]
    match_conditions: Vec<RawNamed>,
    #[serde(default)]
    failure_policy: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawValidation {
    #[serde(default)]
    expression: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    message_expression: String,
}

#[derive(Deserialize)]
struct RawNamed {
    #[serde(default)]
    name: String,
    #[serde(default)]
    expression: String,
}

/// One parsed expression with its source text (quoted in default and error messages).
pub(super) struct Compiled {
    pub(super) source: String,
    /// The syntax tree, instrumented with the evaluation guards of [`super::cost`].
    pub(super) expr: IdedExpr,
}

/// A declared variable: bound as `variables.<name>`.
pub(super) struct Variable {
    /// The qualified name the interpreter looks up (`variables.<name>`).
    pub(super) key: String,
    pub(super) expr: Compiled,
}

/// A validation: a violation when `expr` is not true.
pub(super) struct Validation {
    pub(super) expr: Compiled,
    pub(super) message: String,
    pub(super) message_expr: Option<Compiled>,
}

/// Which names a block declares for itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Names {
    /// A template's block: Gatekeeper binds `variables.params` and `variables.anyObject`
    /// itself, and reserves those names and the `gatekeeper_internal_` prefix.
    Gatekeeper,
    /// A whole ValidatingAdmissionPolicy spec: every variable is declared in it (the
    /// generated `params` and `anyObject` included) and no name is reserved.
    Declared,
}

/// A whole compiled block.
pub(super) struct CompiledSource {
    pub(super) env: Arc<Env>,
    pub(super) variables: Vec<Variable>,
    pub(super) match_conditions: Vec<(String, Compiled)>,
    pub(super) validations: Vec<Validation>,
    /// `failurePolicy: Fail` (the default): an evaluation error is a violation.
    pub(super) fail_closed: bool,
    /// Index into `variables` by qualified name (`variables.<name>`).
    pub(super) variable_index: HashMap<String, usize>,
    /// `variables` as a map of declared names, so `has(variables.x)` holds for them.
    pub(super) declared: Box<dyn Val>,
    /// Gatekeeper binds `variables.params` and `variables.anyObject` itself
    /// ([`Names::Gatekeeper`]); a policy spec declares them ([`Names::Declared`]).
    pub(super) implicit_variables: bool,
}

impl std::fmt::Debug for CompiledSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledSource")
            .field(
                "variables",
                &self.variables.iter().map(|v| &v.key).collect::<Vec<_>>(),
            )
            .field("match_conditions", &self.match_conditions.len())
            .field("validations", &self.validations.len())
            .field("fail_closed", &self.fail_closed)
            .finish()
    }
}

impl CompiledSource {
    /// Parse and compile a `source` document; the error is a human-readable message naming
    /// the offending entry and carrying the parser's own words.
    pub(super) fn compile(source: &Value) -> Result<Self, String> {
        Self::compile_with(source, Names::Gatekeeper)
    }

    /// [`CompiledSource::compile`] under a naming mode.
    pub(super) fn compile_with(source: &Value, mode: Names) -> Result<Self, String> {
        let gatekeeper = mode == Names::Gatekeeper;
        let raw: RawSource =
            serde_json::from_value(source.clone()).map_err(|e| format!("invalid source: {e}"))?;
        let env = super::env::shared()?;
        let fail_closed = match raw.failure_policy.as_deref() {
            None | Some("Fail") => true,
            Some("Ignore") => false,
            Some(other) => return Err(format!("unrecognized failure policy: {other}")),
        };
        let mut names: HashSet<String> = if gatekeeper {
            ["params", "anyObject"].map(String::from).into()
        } else {
            HashSet::new()
        };
        let mut variables = Vec::with_capacity(raw.variables.len());
        for (i, v) in raw.variables.iter().enumerate() {
            check_variable_name(&v.name, gatekeeper).map_err(|e| format!("variables[{i}]: {e}"))?;
            if names.contains(&v.name) {
                return Err(format!(
                    "variables[{i}]: duplicate variable name {:?}",
                    v.name
                ));
            }
            let expr = parse(&env, &v.expression, &names)
                .map_err(|e| format!("variables[{i}] ({}): {e}", v.name))?;
            names.insert(v.name.clone());
            variables.push(Variable {
                key: format!("variables.{}", v.name),
                expr,
            });
        }
        let mut match_conditions = Vec::with_capacity(raw.match_conditions.len());
        for (i, m) in raw.match_conditions.iter().enumerate() {
            if gatekeeper && m.name.starts_with(RESERVED_PREFIX) {
                return Err(format!(
                    "matchConditions[{i}]: name may not start with {RESERVED_PREFIX:?}"
                ));
            }
            let expr = parse(&env, &m.expression, &names)
                .map_err(|e| format!("matchConditions[{i}] ({}): {e}", m.name))?;
            match_conditions.push((m.name.clone(), expr));
        }
        let mut validations = Vec::with_capacity(raw.validations.len());
        for (i, v) in raw.validations.iter().enumerate() {
            let expr = parse(&env, &v.expression, &names)
                .map_err(|e| format!("validations[{i}].expression: {e}"))?;
            let message_expr = if v.message_expression.trim().is_empty() {
                None
            } else {
                Some(
                    parse(&env, &v.message_expression, &names)
                        .map_err(|e| format!("validations[{i}].messageExpression: {e}"))?,
                )
            };
            validations.push(Validation {
                expr,
                message: v.message.clone(),
                message_expr,
            });
        }
        let variable_index = variables
            .iter()
            .enumerate()
            .map(|(i, v)| (v.key.clone(), i))
            .collect();
        let mut declared: HashMap<CelMapKey<'static>, Box<dyn Val>> = HashMap::new();
        for name in names {
            declared.insert(CelMapKey::from(name), Box::new(CelNull));
        }
        Ok(CompiledSource {
            env,
            variables,
            match_conditions,
            validations,
            fail_closed,
            variable_index,
            declared: Box::new(CelMap::from(declared)),
            implicit_variables: gatekeeper,
        })
    }
}

/// Parse one expression that may read the variables in `known`. An empty expression is an
/// error, as Kubernetes requires one, and so is a reference to an undeclared variable or to
/// one declared later: Kubernetes' type check rejects both when the policy is created.
fn parse(env: &Env, source: &str, known: &HashSet<String>) -> Result<Compiled, String> {
    if source.trim().is_empty() {
        return Err("expression is required".into());
    }
    super::limits::check_source(source)?;
    let mut expr = env.parser().parse(source).map_err(|e| e.to_string())?;
    super::cost::instrument(&mut expr);
    super::limits::check_depth(&expr)?;
    let refs = variable_refs(&expr);
    if let Some(unknown) = refs.iter().find(|r| !known.contains(r.as_str())) {
        return Err(format!(
            "undeclared reference to variables.{unknown} (a variable may only use those declared before it)"
        ));
    }
    Ok(Compiled {
        source: source.to_string(),
        expr,
    })
}

/// The names `x` of every `variables.x` in an expression, in source order.
fn variable_refs(expr: &IdedExpr) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![expr];
    while let Some(node) = stack.pop() {
        if let Expr::Select(select) = &node.expr {
            if matches!(&select.operand.expr, Expr::Ident(root) if root == "variables") {
                out.push(select.field.clone());
                continue;
            }
        }
        stack.extend(super::limits::children(node).into_iter().rev());
    }
    out
}

/// Variable names must be CEL identifiers and, in a template's block (`gatekeeper`), not
/// shadow Gatekeeper's own variables.
fn check_variable_name(name: &str, gatekeeper: bool) -> Result<(), String> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!("{name:?} is not a valid variable name"));
    }
    if !gatekeeper {
        return Ok(());
    }
    if name.starts_with(RESERVED_PREFIX) {
        return Err(format!("{name:?} may not start with {RESERVED_PREFIX:?}"));
    }
    if name == "params" || name == "anyObject" {
        return Err(format!("{name:?} is a reserved variable name"));
    }
    Ok(())
}
