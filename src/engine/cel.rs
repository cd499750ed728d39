//! CEL engine (K8sNativeValidation). Placeholder until the CEL work lands: reports "no code".

use super::{EngineError, Program};
use crate::policy::ConstraintTemplate;
use std::sync::Arc;

/// The review converted to CEL values once per request.
#[derive(Debug)]
pub struct CelInput;

/// Compile the template's CEL, or `None` when it has none.
pub fn compile(_template: &ConstraintTemplate) -> Option<Result<Arc<dyn Program>, EngineError>> {
    None
}
