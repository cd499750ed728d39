//! Evaluation of a compiled block against one review, with ValidatingAdmissionPolicy's
//! semantics as Gatekeeper runs them:
//!
//! - every match condition must evaluate to `true`, else the constraint is silent;
//! - variables are evaluated lazily, at most once per review, when an expression first reads
//!   them (so a short-circuited `isUpdate || ...` never computes the rest); a variable whose
//!   evaluation fails poisons only the expressions that read it;
//! - a validation that is `false` is a violation whose message is the `messageExpression`'s
//!   result (when it is a non-blank, single-line string of at most 5 KiB), else `message`,
//!   else `failed expression: <expression>`;
//! - an evaluation error (in a match condition or a validation) is a violation under
//!   `failurePolicy: Fail` (the default) and is ignored under `Ignore`.

use std::sync::{Arc, OnceLock};

use cel::common::types::{CelBool, CelString, Type};
use cel::common::value::{CowVal, StaticVal, Val};
use cel::context::VariableResolver;
use cel::{Context, ExecutionError, Value};

use super::cost::{Meter, Stop};
use super::source::{Compiled, CompiledSource, Validation};
use super::{convert, CelInput};
use crate::engine::Violation;

/// Longest message a `messageExpression` may produce (Kubernetes' limit).
const MAX_MESSAGE_BYTES: usize = 5 * 1024;

/// Everything an expression reaches by name for one (constraint, review) pair: the review's
/// and the constraint's values, the set of declared variable names, and the variables
/// themselves, each computed on first use and kept for the rest of the evaluation.
pub(super) struct Frame<'a> {
    source: &'a CompiledSource,
    input: &'a CelInput,
    params: &'a dyn Val,
    constraint: &'a dyn Val,
    /// One slot per declared variable: its value, or why it failed.
    cells: Vec<OnceLock<Result<Box<dyn Val>, String>>>,
}

impl<'a> Frame<'a> {
    /// A frame with no variable computed yet.
    pub(super) fn new(
        source: &'a CompiledSource,
        input: &'a CelInput,
        params: &'a dyn Val,
        constraint: &'a dyn Val,
    ) -> Self {
        Frame {
            source,
            input,
            params,
            constraint,
            cells: source.variables.iter().map(|_| OnceLock::new()).collect(),
        }
    }

    /// The value of variable `index`, computed on first use; a failed one is [`Failed`].
    fn variable(&self, index: usize) -> Option<&dyn Val> {
        let cell = self.cells.get(index)?;
        let result = cell.get_or_init(|| self.compute(index));
        Some(match result {
            Ok(val) => val.as_ref(),
            Err(_) => &Failed,
        })
    }

    fn compute(&self, index: usize) -> Result<Box<dyn Val>, String> {
        let var = self
            .source
            .variables
            .get(index)
            .ok_or_else(|| format!("no variable #{index}"))?;
        let mut ctx = Context::with_env(Arc::clone(&self.source.env));
        ctx.set_variable_resolver(self);
        Value::resolve_val(&var.expr.expr, &ctx)
            .and_then(|val| convert::detach(val.as_ref()))
            .map_err(|e| format!("{}: {e}", var.key))
    }

    /// The errors of the variables that failed so far.
    fn failures(&self) -> Vec<String> {
        let failed = self.cells.iter().filter_map(|c| c.get()?.as_ref().err());
        failed.cloned().collect()
    }
}

impl VariableResolver for Frame<'_> {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        let val: &'b dyn Val = match variable {
            "object" => self.input.object.as_ref(),
            "oldObject" => self.input.old_object.as_ref(),
            "request" => self.input.request.as_ref(),
            "params" => self.constraint,
            "variables.params" if self.source.implicit_variables => self.params,
            "variables.anyObject" if self.source.implicit_variables => self.input.any_object(),
            "variables" => self.source.declared.as_ref(),
            // Gatekeeper passes the namespace when it has it; a review here carries none
            // (null), a whole policy evaluated as the API server would is given it.
            "namespaceObject" => self.input.namespace_object.as_ref(),
            _ if variable.starts_with("variables.") => {
                let index = *self.source.variable_index.get(variable)?;
                self.variable(index)?
            }
            _ => return None,
        };
        Some(CowVal::Borrowed(val))
    }
}

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

/// Judge one review: the violations of one constraint, or why the evaluation was stopped
/// (checked after every expression: a stop recorded by a guard cannot be absorbed by CEL's
/// error-tolerant `||` and `&&`).
pub(super) fn run(frame: &Frame<'_>, meter: &Meter) -> Result<Vec<Violation>, Stop> {
    let source = frame.source;
    let mut ctx = Context::with_env(Arc::clone(&source.env));
    ctx.set_variable_resolver(frame);
    let stopped = || meter.stopped().map_or(Ok(()), Err);
    for (name, condition) in &source.match_conditions {
        let outcome = eval_bool(condition, &ctx);
        stopped()?;
        match outcome {
            Ok(true) => {}
            Ok(false) => return Ok(Vec::new()),
            Err(_) if !source.fail_closed => return Ok(Vec::new()),
            Err(e) => {
                let why = describe(condition, &e, &frame.failures());
                return Ok(vec![Violation::new(format!(
                    "matchCondition '{name}': {why}"
                ))]);
            }
        }
    }
    let mut violations = Vec::new();
    for validation in &source.validations {
        let outcome = eval_bool(&validation.expr, &ctx);
        stopped()?;
        match outcome {
            Ok(true) => {}
            Ok(false) => {
                let msg = message(validation, &ctx);
                stopped()?;
                violations.push(Violation::new(msg));
            }
            Err(e) if source.fail_closed => {
                let why = describe(&validation.expr, &e, &frame.failures());
                violations.push(Violation::new(why));
            }
            Err(_) => {}
        }
    }
    Ok(violations)
}

/// Evaluate an expression that must yield a bool.
fn eval_bool(expr: &Compiled, ctx: &Context<'_, '_>) -> Result<bool, ExecutionError> {
    let val = Value::resolve_val(&expr.expr, ctx)?;
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
        if let Ok(val) = Value::resolve_val(&expr.expr, ctx) {
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
