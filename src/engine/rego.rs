//! Rego engine (regorus). Placeholder until the Rego issue lands: reports "no code".

use super::{EngineError, Program};
use crate::policy::ConstraintTemplate;
use std::sync::Arc;

/// The review converted to a Rego value once per request.
#[derive(Debug)]
pub struct RegoInput;

/// Compile the template's Rego, or `None` when it has none.
pub fn compile(_template: &ConstraintTemplate) -> Option<Result<Arc<dyn Program>, EngineError>> {
    None
}
