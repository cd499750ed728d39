//! CEL engine for Gatekeeper's `K8sNativeValidation` code blocks.
//!
//! A template's source (`variables`, `matchConditions`, `validations`) is parsed once, when
//! the template is loaded, into [`cel::Program`]s against one shared environment (the CEL
//! standard library plus the Kubernetes string and list extensions). Binding a constraint
//! converts its parameters to CEL values once; the review is converted once per request into
//! a [`CelInput`] shared by every CEL constraint judging it.
//!
//! The names an expression sees are Gatekeeper's: `object` (null on DELETE), `oldObject`,
//! `request` (the admission request without its objects), `params` (the constraint, of which
//! only `spec.parameters` is known here), `variables.params` (the parameters, or null),
//! `variables.anyObject` (`object`, or `oldObject` on DELETE) and `variables.<name>` for
//! each declared variable.

mod convert;
mod cost;
mod env;
mod eval;
mod limits;
mod policy;
mod source;

#[cfg(test)]
mod conformance_tests;
#[cfg(test)]
mod cost_tests;
#[cfg(test)]
mod limits_tests;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use cel::common::value::Val;
use serde_json::Value;

pub use policy::{called_functions, AdmissionPolicyProgram, PolicyInput};

use super::{BoundProgram, EngineError, EngineKind, EvalInput, InventoryUse, Program, Violation};
use crate::policy::ConstraintTemplate;
use crate::review::{Operation, Review};

/// Engine name used in errors, as Gatekeeper spells it in templates.
pub const ENGINE_NAME: &str = "K8sNativeValidation";

/// The review converted to CEL values once per request, so that every CEL constraint judging
/// the request shares one conversion.
#[derive(Debug)]
pub struct CelInput {
    /// `object`: the new object; null on DELETE, as in ValidatingAdmissionPolicy.
    object: Box<dyn Val>,
    /// `oldObject`: the previous object, or null.
    old_object: Box<dyn Val>,
    /// `request`: the admission request fields other than `object` and `oldObject`.
    request: Box<dyn Val>,
    /// True when `variables.anyObject` is `oldObject` (a DELETE without `object`).
    any_is_old: bool,
    /// `namespaceObject`: null for a review (Gatekeeper's webhook passes none here); the
    /// request's Namespace when a whole policy is evaluated as the API server would.
    namespace_object: Box<dyn Val>,
}

impl CelInput {
    /// Convert a review. On DELETE the judged object (Gatekeeper puts `oldObject` in
    /// `request.object`) becomes `oldObject`, and `object` is null, as Gatekeeper's CEL driver
    /// presents it so that policies behave as they would as ValidatingAdmissionPolicies.
    pub fn from_review(review: &Review) -> Self {
        let req = &review.request;
        let object_json = req.get("object").filter(|v| !v.is_null());
        let old_json = req.get("oldObject").filter(|v| !v.is_null());
        let (object, old_object) = if review.operation == Operation::Delete {
            (None, old_json.or(object_json))
        } else {
            (object_json, old_json)
        };
        let request = convert::request_to_val(req);
        CelInput {
            any_is_old: object.is_none(),
            object: object.map_or_else(convert::null, convert::json_to_val),
            old_object: old_object.map_or_else(convert::null, convert::json_to_val),
            request,
            namespace_object: convert::null(),
        }
    }

    /// `variables.anyObject`: the object, or `oldObject` when there is none.
    fn any_object(&self) -> &dyn Val {
        if self.any_is_old {
            self.old_object.as_ref()
        } else {
            self.object.as_ref()
        }
    }
}

/// Compile the template's `K8sNativeValidation` block, or `None` when it has none.
///
/// Parse errors, bad variable names and unknown failure policies are reported as
/// [`EngineError::Compile`] with the parser's own message, so the caller can fall back to
/// another engine or refuse the template.
pub fn compile(template: &ConstraintTemplate) -> Option<Result<Arc<dyn Program>, EngineError>> {
    let block = template.target.code_for(ENGINE_NAME)?;
    let compiled =
        source::CompiledSource::compile(&block.source).map_err(|message| EngineError::Compile {
            template: template.name.clone(),
            engine: ENGINE_NAME,
            message,
        });
    Some(compiled.map(|source| {
        Arc::new(CelProgram {
            source: Arc::new(source),
        }) as Arc<dyn Program>
    }))
}

/// A compiled `K8sNativeValidation` block, shared by every constraint of its template.
#[derive(Debug)]
pub struct CelProgram {
    source: Arc<source::CompiledSource>,
}

impl Program for CelProgram {
    fn engine(&self) -> EngineKind {
        EngineKind::Cel
    }

    /// Gatekeeper's CEL engine has no referential data.
    fn inventory_use(&self) -> InventoryUse {
        InventoryUse::Nothing
    }

    fn bind(&self, parameters: &Value) -> Result<Arc<dyn BoundProgram>, EngineError> {
        let params = convert::json_to_val(parameters);
        let mut spec = serde_json::Map::new();
        if !parameters.is_null() {
            spec.insert("parameters".into(), parameters.clone());
        }
        let constraint = convert::json_to_val(&serde_json::json!({ "spec": spec }));
        Ok(Arc::new(BoundCel {
            source: Arc::clone(&self.source),
            params,
            constraint,
        }))
    }
}

/// A CEL program with one constraint's parameters converted to CEL values.
#[derive(Debug)]
pub struct BoundCel {
    source: Arc<source::CompiledSource>,
    /// `variables.params`: the constraint's `spec.parameters`, or null.
    params: Box<dyn Val>,
    /// `params`: the constraint as Gatekeeper binds it (`{spec: {parameters: ..}}`).
    constraint: Box<dyn Val>,
}

impl BoundProgram for BoundCel {
    fn evaluate(&self, input: &EvalInput<'_>) -> Result<Vec<Violation>, EngineError> {
        input.deadline.check()?;
        let cel_input = input
            .cel_review
            .get_or_init(|| CelInput::from_review(input.review));
        let frame = eval::Frame::new(
            &self.source,
            cel_input,
            self.params.as_ref(),
            self.constraint.as_ref(),
        );
        let meter = cost::Meter::start(input.deadline);
        eval::run(&frame, &meter).map_err(|stop| match stop {
            cost::Stop::Deadline => EngineError::DeadlineExceeded,
            cost::Stop::Budget => EngineError::Evaluate {
                engine: ENGINE_NAME,
                message: format!(
                    "evaluation cost exceeded the limit of {} units (loop iterations, and \
                     bytes and entries built by map, filter and concatenation); refused",
                    cost::MAX_COST
                ),
            },
        })
    }
}
