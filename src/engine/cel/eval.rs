//! Evaluation of a compiled block against one review, with ValidatingAdmissionPolicy's
//! semantics as Gatekeeper runs them:
//!
//! - every match condition must evaluate to `true`, else the constraint is silent;
//! - variables are evaluated in order, each seeing the ones before it; a variable whose
//!   evaluation fails poisons only the expressions that read it;
//! - a validation that is `false` is a violation whose message is the `messageExpression`'s
//!   result (when it is a non-blank, single-line string of at most 5 KiB), else `message`,
//!   else `failed expression: <expression>`;
//! - an evaluation error (in a match condition or a validation) is a violation under
//!   `failurePolicy: Fail` (the default) and is ignored under `Ignore`.

use std::sync::Arc;

use cel::common::types::{CelBool, CelNull, CelString, Type};
use cel::common::value::{CowVal, StaticVal, Val};
use cel::context::VariableResolver;
use cel::{Context, ExecutionError, Value};

use super::source::{Compiled, CompiledSource, Validation};
use super::CelInput;
use crate::engine::Violation;

/// Longest message a `messageExpression` may produce (Kubernetes' limit).
const MAX_MESSAGE_BYTES: usize = 5 * 1024;

/// The values an expression reaches by name without a declared variable: the review's, the
/// constraint's and the set of declared variable names.
pub(super) struct Roots<'a> {
    pub(super) input: &'a CelInput,
    pub(super) params: &'a dyn Val,
    pub(super) constraint: &'a dyn Val,
    pub(super) declared: &'a dyn Val,
}

impl VariableResolver for Roots<'_> {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        let val: &'b dyn Val = match variable {
            "object" => self.input.object.as_ref(),
            "oldObject" => self.input.old_object.as_ref(),
            "request" => self.input.request.as_ref(),
            "params" => self.constraint,
            "variables.params" => self.params,
            "variables.anyObject" => self.input.any_object(),
            "variables" => self.declared,
            // Gatekeeper passes the namespace when it has it; a review here carries none.
            "namespaceObject" => &NULL,
            _ => return None,
        };
        Some(CowVal::Borrowed(val))
    }
}

/// `namespaceObject`: not known to a review, so null.
static NULL: CelNull = CelNull;

/// The CEL type of a variable whose evaluation failed.
static FAILED_TYPE: Type = Type::new_unspecified_type("error");

/// Stand-in for a variable whose evaluation failed: it supports no operation, so any
/// expression that uses it fails too, and the error names the variable.
#[derive(Debug, Clone)]
struct Failed;

impl Val for Failed {
    fn get_type(&self) -> &Type {
        &FAILED_TYPE
    }

    fn cel_type() -> &'static Type {
        &FAILED_TYPE
    }

    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v> {
        Box::new(Failed)
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

impl StaticVal for Failed {}

/// Judge one review: the violations of one constraint.
pub(super) fn run(source: &CompiledSource, roots: &Roots<'_>) -> Vec<Violation> {
    let mut ctx = Context::with_env(Arc::clone(&source.env));
    ctx.set_variable_resolver(roots);
    let mut failures = Vec::new();
    if source.match_reads_variables {
        bind_variables(source, &mut ctx, &mut failures);
    }
    for (name, condition) in &source.match_conditions {
        match eval_bool(condition, &ctx) {
            Ok(true) => {}
            Ok(false) => return Vec::new(),
            Err(e) => {
                if !source.fail_closed {
                    return Vec::new();
                }
                let msg = format!(
                    "matchCondition '{name}': {}",
                    describe(condition, &e, &failures)
                );
                return vec![Violation::new(msg)];
            }
        }
    }
    if !source.match_reads_variables {
        bind_variables(source, &mut ctx, &mut failures);
    }
    let mut violations = Vec::new();
    for validation in &source.validations {
        match eval_bool(&validation.expr, &ctx) {
            Ok(true) => {}
            Ok(false) => violations.push(Violation::new(message(validation, &ctx))),
            Err(e) if source.fail_closed => {
                violations.push(Violation::new(describe(&validation.expr, &e, &failures)));
            }
            Err(_) => {}
        }
    }
    violations
}

/// Evaluate the declared variables in order, binding each as `variables.<name>`.
fn bind_variables<'v>(
    source: &CompiledSource,
    ctx: &mut Context<'_, 'v>,
    failures: &mut Vec<String>,
) {
    for var in &source.variables {
        let result = Value::resolve_val(var.expr.program.expression(), ctx).map(CowVal::into_owned);
        let val: Box<dyn Val + 'v> = match result {
            Ok(val) => val,
            Err(e) => {
                failures.push(format!("{}: {e}", var.key));
                Box::new(Failed)
            }
        };
        ctx.add_variable_as_val(var.key.as_str(), val);
    }
}

/// Evaluate an expression that must yield a bool.
fn eval_bool(expr: &Compiled, ctx: &Context<'_, '_>) -> Result<bool, ExecutionError> {
    let val = Value::resolve_val(expr.program.expression(), ctx)?;
    match val.downcast_ref::<CelBool>() {
        Some(b) => Ok(*b.inner()),
        None => Err(ExecutionError::UnexpectedType {
            got: val.get_type().name().to_owned(),
            want: "bool".to_owned(),
        }),
    }
}

/// The message of an evaluation error, naming failed variables when there are any.
fn describe(expr: &Compiled, error: &ExecutionError, failures: &[String]) -> String {
    let mut msg = format!(
        "expression '{}' resulted in error: {error}",
        expr.source.trim()
    );
    if !failures.is_empty() {
        msg.push_str(" (failed variables: ");
        msg.push_str(&failures.join("; "));
        msg.push(')');
    }
    msg
}

/// The message of a failed validation.
fn message(validation: &Validation, ctx: &Context<'_, '_>) -> String {
    if let Some(expr) = &validation.message_expr {
        if let Ok(val) = Value::resolve_val(expr.program.expression(), ctx) {
            if let Some(s) = val.downcast_ref::<CelString>() {
                let s = s.inner();
                if !s.trim().is_empty() && !s.contains('\n') && s.len() <= MAX_MESSAGE_BYTES {
                    return s.to_string();
                }
            }
        }
    }
    if !validation.message.is_empty() {
        return validation.message.clone();
    }
    format!("failed expression: {}", validation.expr.source.trim())
}
