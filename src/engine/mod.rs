//! Policy engines behind one trait.
//!
//! A ConstraintTemplate is compiled once, when it is loaded, into a [`Program`]. Each
//! constraint of that template then *binds* its parameters to the program, once, into a
//! [`BoundProgram`]: native rules parse and validate their parameters into typed Rust values;
//! Rego's compiled path evaluates what depends only on them (the interpreter converts them
//! once into its own value type). The hot path only calls [`BoundProgram::evaluate`] with an
//! [`EvalInput`]: native rules and the compiled Rego path read the request's JSON directly,
//! and the engines that need their own value representation (CEL, the Rego interpreter)
//! get it converted at most once per request, however many constraints read it.

pub mod cel;
pub mod inventory;
pub mod inventory_document;
pub mod native;
pub(crate) mod regex;
pub mod rego;

use std::sync::Arc;

use serde_json::Value;

pub use inventory::Inventory;
pub use inventory_document::{inventory_of, namespace_labels};

use crate::deadline::Deadline;

use crate::policy::ConstraintTemplate;
use crate::review::Review;

/// Which engine runs a template. Order of preference when a template carries several code
/// blocks: Native, then CEL, then Rego.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EngineKind {
    /// A Rust rule compiled into the binary (`engine: Native`, `source: {rule: <name>}`).
    Native,
    /// Gatekeeper's `K8sNativeValidation` (CEL).
    Cel,
    /// Rego (`spec.targets[].rego`, or `engine: Rego`).
    Rego,
}

impl EngineKind {
    /// Lower-case name used in flags, logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Native => "native",
            EngineKind::Cel => "cel",
            EngineKind::Rego => "rego",
        }
    }
}

/// Which engine to prefer: the default order, or one engine forced (`--engine`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EngineChoice {
    /// Native, then CEL, then Rego.
    #[default]
    Preferred,
    /// Only this engine; a template without code for it fails to compile.
    Only(EngineKind),
    /// Only Rego, on regorus's interpreter even where the compiled path could run it.
    RegoInterpreter,
}

/// Errors of compiling or evaluating a template.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// The template has no code block any enabled engine can run.
    #[error("template {template}: no code for engine {wanted}")]
    NoCode {
        /// Template name.
        template: String,
        /// What was asked for.
        wanted: String,
    },
    /// The source did not compile (parse error, unknown native rule, ...). The message
    /// carries the engine's own words, with a line number where the engine gives one.
    #[error("template {template}: {engine} compile error: {message}")]
    Compile {
        /// Template name.
        template: String,
        /// Engine name.
        engine: &'static str,
        /// The engine's message.
        message: String,
    },
    /// A constraint's parameters are not what the program needs.
    #[error("invalid parameters: {0}")]
    Parameters(String),
    /// Evaluation was cut off, or never started, because the request's deadline passed
    /// ([`crate::deadline`]).
    #[error("evaluation exceeded the request's deadline")]
    DeadlineExceeded,
    /// Evaluation failed at run time (e.g. a Rego conflict or a CEL type error).
    #[error("{engine} evaluation error: {message}")]
    Evaluate {
        /// Engine name.
        engine: &'static str,
        /// What went wrong.
        message: String,
    },
}

/// One violation reported by a program.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// Human-readable message (`msg`).
    pub msg: String,
    /// Optional structured details (`details`).
    pub details: Option<Value>,
}

#[cfg(test)]
mod inventory_use_tests {
    use super::names_data_beyond_lib;

    #[test]
    fn only_the_root_document_beyond_lib_counts() {
        for reads in [
            "x := data.inventory.namespace[ns]",
            "x := data[\"inventory\"]",
            "d := data\nx := d.inventory",
            "# reads data somewhere",
        ] {
            assert!(names_data_beyond_lib(reads), "{reads}");
        }
        for not in [
            "x := input.review.object.metadata.name",
            "x := input.review.object.data.key",
            "import data.lib.helpers\nx := data.lib.helpers.f(1)",
            "database := 1",
            "my_data := 2",
        ] {
            assert!(!names_data_beyond_lib(not), "{not}");
        }
    }
}

impl From<EngineError> for crate::policy::PolicyError {
    fn from(error: EngineError) -> Self {
        crate::policy::PolicyError::Engine(std::sync::Arc::new(error))
    }
}

impl From<crate::deadline::DeadlineExceeded> for EngineError {
    fn from(_: crate::deadline::DeadlineExceeded) -> Self {
        EngineError::DeadlineExceeded
    }
}

impl Violation {
    /// A violation with a message and no details.
    pub fn new(msg: impl Into<String>) -> Self {
        Violation {
            msg: msg.into(),
            details: None,
        }
    }
}

/// Everything a program may read for one request. Engine-specific conversions of the
/// review are cached here so they happen once per request, not once per constraint.
pub struct EvalInput<'a> {
    /// The review.
    pub review: &'a Review,
    /// `data.inventory` for referential policies (`{cluster: .., namespace: ..}`), or Null.
    pub inventory: &'a Value,
    /// The snapshot's inventory with its engine conversions shared across requests, when
    /// the inventory came from one.
    pub(crate) shared_inventory: Option<&'a Inventory>,
    /// The review as a Rego value, made on first use.
    pub(crate) rego_review: std::cell::OnceCell<rego::RegoInput>,
    /// The review as CEL values, made on first use.
    pub(crate) cel_review: std::cell::OnceCell<cel::CelInput>,
    /// Results of the compiled Rego path that are the same for every constraint of a
    /// template, kept for this request only.
    pub(crate) rego_memo: rego::RequestMemo,
    /// When evaluation must stop; engines check it in every loop whose length depends on
    /// the object or the policy, and answer [`EngineError::DeadlineExceeded`].
    pub deadline: Deadline,
}

impl<'a> EvalInput<'a> {
    /// Input for one review against a given inventory.
    pub fn new(review: &'a Review, inventory: &'a Value) -> Self {
        EvalInput {
            review,
            inventory,
            shared_inventory: None,
            rego_review: std::cell::OnceCell::new(),
            cel_review: std::cell::OnceCell::new(),
            rego_memo: rego::RequestMemo::default(),
            deadline: Deadline::NONE,
        }
    }

    /// The same input with a deadline.
    pub fn with_deadline(mut self, deadline: Deadline) -> Self {
        self.deadline = deadline;
        self
    }

    /// Input for one review against a snapshot's inventory, whose engine conversions are
    /// made once and shared by every request.
    pub fn with_inventory(review: &'a Review, inventory: &'a Inventory) -> Self {
        EvalInput {
            shared_inventory: Some(inventory),
            ..EvalInput::new(review, inventory.json())
        }
    }
}

/// A compiled template.
pub trait Program: Send + Sync + std::fmt::Debug {
    /// The engine that runs it.
    fn engine(&self) -> EngineKind;
    /// Bind one constraint's parameters (already checked against the template's schema).
    fn bind(&self, parameters: &Value) -> Result<Arc<dyn BoundProgram>, EngineError>;
    /// Which objects of `data.inventory` the program may read. Audit keeps only those in
    /// memory; the default, every object, is always safe.
    fn inventory_use(&self) -> InventoryUse {
        InventoryUse::All
    }
    /// Whether evaluation reads `data.inventory` in regorus's value form (the Rego
    /// interpreter path), which [`Inventory`] converts on first use.
    fn reads_rego_inventory(&self) -> bool {
        false
    }
}

/// What part of `data.inventory` a template may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InventoryUse {
    /// None of it.
    Nothing,
    /// Objects of these kinds only.
    Kinds(&'static [&'static str]),
    /// Anything (Rego that names `data` other than `data.lib`).
    All,
}

impl InventoryUse {
    /// Whether an object of `kind` may be read.
    pub fn keeps(&self, kind: &str) -> bool {
        match self {
            InventoryUse::Nothing => false,
            InventoryUse::Kinds(kinds) => kinds.contains(&kind),
            InventoryUse::All => true,
        }
    }
}

/// What of `data.inventory` a compiled template may read: the engine says so for Native
/// rules (the rule is known) and CEL (which cannot read it); for Rego, any reference to the
/// root document `data` other than `data.lib` may reach the inventory.
pub fn inventory_use(template: &ConstraintTemplate, program: &dyn Program) -> InventoryUse {
    if program.engine() != EngineKind::Rego {
        return program.inventory_use();
    }
    let target = &template.target;
    let blocks = target
        .code
        .iter()
        .filter(|c| c.engine == "Rego")
        .flat_map(|c| {
            let rego = c.source.get("rego").and_then(Value::as_str);
            let libs = c.source.get("libs").and_then(Value::as_array);
            rego.into_iter()
                .chain(libs.into_iter().flatten().filter_map(Value::as_str))
        });
    let mut sources = target
        .rego
        .iter()
        .map(String::as_str)
        .chain(target.libs.iter().map(String::as_str))
        .chain(blocks);
    if sources.any(names_data_beyond_lib) {
        InventoryUse::All
    } else {
        InventoryUse::Nothing
    }
}

/// Whether Rego text refers to the root document `data` other than as `data.lib...`
/// (conservatively: in comments and strings too). `x.data` is a field, not the root.
fn names_data_beyond_lib(text: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices("data").any(|(at, _)| {
        let before = text.get(..at).and_then(|t| t.chars().next_back());
        let after = text.get(at + 4..).unwrap_or("");
        let root = !before.is_some_and(|c| ident(c) || c == '.');
        let whole_word = !after.chars().next().is_some_and(ident);
        root && whole_word && !after.starts_with(".lib.")
    })
}

/// A program with one constraint's parameters bound; what the hot path calls.
pub trait BoundProgram: Send + Sync + std::fmt::Debug {
    /// Judge one review.
    fn evaluate(&self, input: &EvalInput<'_>) -> Result<Vec<Violation>, EngineError>;
}

/// The `admission.k8s.gatekeeper.sh` target, the only one portcullis serves.
pub use crate::policy::template::ADMISSION_TARGET;

/// Longest a template may take to compile, or a constraint to bind its parameters, before
/// it is refused. Depth limits in the engines keep real templates far below it (library
/// templates compile in milliseconds); this is the backstop against whatever they miss, so
/// that no policy can hang a reload or keep a server from becoming ready.
pub const COMPILE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Stack of the threads that compile and bind policies.
const COMPILE_STACK: usize = 8 * 1024 * 1024;

/// Run `work` on a thread of its own and give up after `limit`. A thread that overruns is
/// left to finish on its own (threads cannot be stopped) and its result dropped; a panic
/// in it is reported as an error. `what` names the work in errors.
///
/// # Errors
/// `work`'s own error, or [`EngineError::Compile`] when it overran, panicked or no thread
/// could be started.
pub fn within<T: Send + 'static>(
    limit: std::time::Duration,
    template: &str,
    work: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> Result<T, EngineError> {
    let fail = |message: String| EngineError::Compile {
        template: template.to_string(),
        engine: "portcullis",
        message,
    };
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("portcullis-compile".into())
        .stack_size(COMPILE_STACK)
        .spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
            let _ = tx.send(result);
        })
        .map_err(|e| fail(format!("cannot start a compile thread: {e}")))?;
    match rx.recv_timeout(limit) {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(fail("the compiler panicked on this template".into())),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            tracing::error!(
                template,
                limit_s = limit.as_secs_f64(),
                "compilation overran its time limit; template refused"
            );
            Err(fail(format!(
                "took longer than {} s to compile; refused",
                limit.as_secs_f64()
            )))
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            Err(fail("the compile thread ended without a result".into()))
        }
    }
}

/// [`compile`] on a thread of its own, refused after [`COMPILE_TIMEOUT`].
///
/// # Errors
/// As [`compile`], and when compilation overruns or panics.
pub fn compile_bounded(
    template: &ConstraintTemplate,
    choice: EngineChoice,
) -> Result<Arc<dyn Program>, EngineError> {
    let owned = template.clone();
    within(COMPILE_TIMEOUT, &template.name, move || {
        compile(&owned, choice)
    })
}

/// Compile a template with the engine chosen by preference (or forced).
pub fn compile(
    template: &ConstraintTemplate,
    choice: EngineChoice,
) -> Result<Arc<dyn Program>, EngineError> {
    let order: &[EngineKind] = match choice {
        EngineChoice::Preferred => &[EngineKind::Native, EngineKind::Cel, EngineKind::Rego],
        EngineChoice::Only(EngineKind::Native) => &[EngineKind::Native],
        EngineChoice::Only(EngineKind::Cel) => &[EngineKind::Cel],
        EngineChoice::Only(EngineKind::Rego) | EngineChoice::RegoInterpreter => &[EngineKind::Rego],
    };
    for kind in order {
        let compiled = match kind {
            EngineKind::Native => native::compile(template),
            EngineKind::Cel => cel::compile(template),
            EngineKind::Rego if choice == EngineChoice::RegoInterpreter => {
                rego::compile_interpreted(template)
            }
            EngineKind::Rego => rego::compile(template),
        };
        if let Some(result) = compiled {
            return result;
        }
    }
    Err(EngineError::NoCode {
        template: template.name.clone(),
        wanted: match choice {
            EngineChoice::Preferred => "Native, K8sNativeValidation or Rego".into(),
            EngineChoice::Only(k) => k.as_str().into(),
            EngineChoice::RegoInterpreter => "rego".into(),
        },
    })
}
