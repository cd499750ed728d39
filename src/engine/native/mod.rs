//! The `Native` engine: Rust rules compiled into the binary, selected by a template's
//! `code: [{engine: Native, source: {rule: <name>}}]` block.

use std::sync::Arc;

use super::{EngineError, Program};
use crate::policy::ConstraintTemplate;

/// The engine name in `spec.targets[].code[].engine`.
pub const ENGINE_NAME: &str = "Native";

/// Compile the template's Native block, or `None` when it has none.
pub fn compile(template: &ConstraintTemplate) -> Option<Result<Arc<dyn Program>, EngineError>> {
    let _ = template.target.code_for(ENGINE_NAME)?;
    Some(Err(EngineError::Compile {
        template: template.name.clone(),
        engine: "native",
        message: "native rules are not built yet".into(),
    }))
}
