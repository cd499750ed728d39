//! A whole ValidatingAdmissionPolicy's expressions on portcullis's CEL engine.
//!
//! `portcullis vap` writes policies that the API server evaluates itself. To check that such
//! a policy decides as the webhook does, its `matchConditions`, `variables` and `validations`
//! are run here with the bindings the API server gives them: `object`, `oldObject`,
//! `request`, `params` (the whole parameter object, here the constraint) and
//! `namespaceObject`. Unlike a template's block, nothing is bound implicitly: the policy
//! declares `variables.params` and `variables.anyObject` itself.
//!
//! The same parser also lists the functions an expression calls, so an exporter can refuse
//! expressions that need functions the API server's CEL environment lacks.

use std::collections::BTreeSet;

use serde_json::Value;

use super::source::{CompiledSource, Names};
use super::{convert, cost, eval, CelInput, ENGINE_NAME};
use crate::deadline::Deadline;
use crate::engine::EngineError;

/// What one evaluation of a policy sees.
#[derive(Debug, Clone, Copy)]
pub struct PolicyInput<'a> {
    /// `object`: the new object (absent on DELETE).
    pub object: Option<&'a Value>,
    /// `oldObject`: the previous object of an UPDATE or DELETE.
    pub old_object: Option<&'a Value>,
    /// `request`: the AdmissionRequest (its `object` and `oldObject` are not read).
    pub request: &'a Value,
    /// `params`: the object the binding's `paramRef` names.
    pub params: &'a Value,
    /// `namespaceObject`: the request's Namespace, absent for cluster-scoped objects.
    pub namespace_object: Option<&'a Value>,
}

/// The expressions of a ValidatingAdmissionPolicy `spec`, parsed once.
#[derive(Debug)]
pub struct AdmissionPolicyProgram {
    source: CompiledSource,
}

impl AdmissionPolicyProgram {
    /// Parse a policy `spec` (`variables`, `matchConditions`, `validations`,
    /// `failurePolicy`); the error names the offending entry.
    pub fn compile(spec: &Value) -> Result<Self, String> {
        CompiledSource::compile_with(spec, Names::Declared).map(|source| Self { source })
    }

    /// The messages of the validations that fail (an evaluation error counts as a failure
    /// under `failurePolicy: Fail`); empty when a match condition is false or every
    /// validation holds.
    pub fn evaluate(
        &self,
        input: &PolicyInput<'_>,
        deadline: Deadline,
    ) -> Result<Vec<String>, EngineError> {
        deadline.check()?;
        let cel_input = CelInput {
            object: input
                .object
                .map_or_else(convert::null, convert::json_to_val),
            old_object: input
                .old_object
                .map_or_else(convert::null, convert::json_to_val),
            request: convert::request_to_val(input.request),
            any_is_old: input.object.is_none(),
            namespace_object: input
                .namespace_object
                .map_or_else(convert::null, convert::json_to_val),
        };
        let params = convert::json_to_val(input.params);
        let frame = eval::Frame::new(&self.source, &cel_input, params.as_ref(), params.as_ref());
        let meter = cost::Meter::start(deadline);
        match eval::run(&frame, &meter) {
            Ok(violations) => Ok(violations.into_iter().map(|v| v.msg).collect()),
            Err(cost::Stop::Deadline) => Err(EngineError::DeadlineExceeded),
            Err(cost::Stop::Budget) => Err(EngineError::Evaluate {
                engine: ENGINE_NAME,
                message: format!("evaluation cost exceeded {} units", cost::MAX_COST),
            }),
        }
    }
}

/// The functions and macros an expression calls, by the names a policy author writes
/// (`matches`, `sortBy`, `lists.range`, ...); operators are left out. The error is the
/// parser's, or a limit's.
pub fn called_functions(expression: &str) -> Result<BTreeSet<String>, String> {
    super::limits::check_source(expression)?;
    let env = super::env::shared()?;
    let expr = env.parser().parse(expression).map_err(|e| e.to_string())?;
    super::limits::check_depth(&expr)?;
    let mut out = BTreeSet::new();
    let mut stack = vec![&expr];
    while let Some(node) = stack.pop() {
        if let cel::common::ast::Expr::Call(call) = &node.expr {
            let name = match call.func_name.as_str() {
                "@cachedMatches" => "matches",
                "@sortByAssociatedKeys" => "sortBy",
                other => other,
            };
            let operator = name.starts_with(['_', '!', '-', '@']);
            if !operator {
                out.insert(name.to_string());
            }
        }
        stack.extend(super::limits::children(node));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> Value {
        json!({
            "failurePolicy": "Fail",
            "variables": [
                {"name": "anyObject", "expression": "object == null ? oldObject : object"},
                {"name": "params", "expression": "!has(params.spec) ? null : !has(params.spec.parameters) ? null : params.spec.parameters"}
            ],
            "matchConditions": [
                {"name": "gatekeeper_internal_pods", "expression": "request.kind.kind == 'Pod'"}
            ],
            "validations": [
                {"expression": "variables.anyObject.metadata.name != variables.params.banned",
                 "messageExpression": "'name ' + variables.anyObject.metadata.name + ' is banned'"},
                {"expression": "namespaceObject == null || namespaceObject.metadata.name != 'forbidden'",
                 "message": "forbidden namespace"}
            ]
        })
    }

    fn run(object: &Value, kind: &str, namespace: Option<&Value>) -> Vec<String> {
        let program = AdmissionPolicyProgram::compile(&spec()).expect("compiles");
        let request =
            json!({"kind": {"group": "", "version": "v1", "kind": kind}, "operation": "CREATE"});
        let params = json!({"spec": {"parameters": {"banned": "evil"}}});
        let input = PolicyInput {
            object: Some(object),
            old_object: None,
            request: &request,
            params: &params,
            namespace_object: namespace,
        };
        program.evaluate(&input, Deadline::NONE).expect("evaluates")
    }

    #[test]
    fn declared_variables_params_and_namespace_object_are_the_policys() {
        let evil = json!({"metadata": {"name": "evil"}});
        assert_eq!(run(&evil, "Pod", None), vec!["name evil is banned"]);
        assert!(run(&evil, "Service", None).is_empty(), "match condition");
        let good = json!({"metadata": {"name": "good"}});
        assert!(run(&good, "Pod", None).is_empty());
        let ns = json!({"metadata": {"name": "forbidden"}});
        assert_eq!(run(&good, "Pod", Some(&ns)), vec!["forbidden namespace"]);
    }

    #[test]
    fn reserved_names_belong_to_the_policy_and_undeclared_ones_are_refused() {
        assert!(AdmissionPolicyProgram::compile(&spec()).is_ok());
        let undeclared = json!({"validations": [{"expression": "variables.params.x == 1"}]});
        let err = AdmissionPolicyProgram::compile(&undeclared).expect_err("undeclared");
        assert!(err.contains("variables.params"), "{err}");
    }

    #[test]
    fn called_functions_names_functions_and_macros_not_operators() {
        let names = called_functions(
            "object.spec.containers.map(c, c.name).sortBy(n, n).slice(0, 1).all(n, n.matches('^a') && size(n) > 1)",
        )
        .expect("parses");
        // `map` and `all` expand into comprehensions, not calls.
        for f in ["sortBy", "slice", "matches", "size"] {
            assert!(names.contains(f), "{f} in {names:?}");
        }
        assert!(
            !names.iter().any(|n| n.starts_with(['_', '@'])),
            "{names:?}"
        );
        assert!(called_functions("1 +").is_err());
    }
}
