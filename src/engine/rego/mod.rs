//! Rego engine: a compiled evaluator for the templates it covers, regorus's interpreter
//! for the rest.
//!
//! A template's Rego (and its `lib.*` modules) is parsed and prepared once, when the template
//! is loaded, into one regorus [`Engine`], and also, when the template stays within the
//! subset Gatekeeper's library is written in, into a [`compiled`] program. Which path runs a
//! template is decided then, per template, and logged at debug level with the reason when it
//! is the interpreter; `--engine rego` means Rego on either path, `--engine rego-interpreter`
//! forces the interpreter (for comparisons, or should the paths ever disagree).
//!
//! The compiled path evaluates on values that borrow the request and the constraint's
//! parameters, with rules and variables resolved at load time; it gives the interpreter's
//! violations on every library template (a differential test holds it to that) at a small
//! fraction of the cost.
//!
//! On the interpreter, evaluating a review clones the prepared engine (a handful of
//! reference-count bumps: the parsed modules, the schedule and the rule index are shared),
//! sets `input = {review, parameters}` and reads `data.<package>.violation`. Cloning per
//! evaluation keeps [`BoundProgram::evaluate`] `&self` and lock-free, so any number of
//! threads may evaluate the same constraint at once.
//!
//! Gatekeeper's library is written against OPA; the few places where regorus reads or runs
//! the same text differently are handled in [`compat`] (source rewrites, applied before
//! either path parses the text), [`builtins`] (a `sprintf` that formats like Go, OPA's
//! `to_number` and `count`, used by both paths) and [`opa_builtins`] (OPA builtins regorus
//! lacks, the deprecated ones among them). Builtin errors are undefined, as in Gatekeeper's
//! non-strict OPA; only this crate's size limits and the deadline fail an evaluation.
//! [`load_checks`] refuses at load what Gatekeeper refuses: unknown functions, references
//! into `data` outside `data.inventory` and `data.lib`, other imports.
//!
//! Hostile and careless policies: every source is scanned by [`nesting`] before a parser
//! sees it, and refused when it nests or chains deeper than regorus's parser reads in
//! bounded time (it backtracks, exponentially in the nesting) or than the recursive
//! stages after it can walk on a small stack. Each source is then parsed once, under
//! `catch_unwind`; the compiled path lowers the interpreter's own modules. Evaluation
//! stops at the request's deadline ([`EvalInput::deadline`], answered with
//! [`EngineError::DeadlineExceeded`]): the compiled path counts its steps on a
//! [`crate::deadline::Pacer`] (every iteration, solution, rule and call, with builtins
//! weighted by the size of what they read) and refuses values past its size limits; the
//! interpreter runs under regorus's own cooperative execution timer, set per evaluation
//! to the time left. `numbers.range` and `net.cidr_expand` are capped on both paths, and
//! `sprintf` stops at Go's width limit.
//!
//! Residual risk on the interpreter (which only runs templates the compiled path cannot
//! lower): regorus reads its timer between statements, iterations and calls, not inside
//! a builtin, so one builtin call runs to its end. Apart from the capped ones above, the
//! builtins make values at most polynomial in their arguments (`replace` with an empty
//! pattern: the string's length times the replacement's; `strings.replace_n`, `concat`,
//! `array.concat`, `json.marshal` of the request), so one call is bounded by the size of
//! the request the admission gate accepted, and a chain of such calls by the program.
//!
//! Interpreter speed: [`regex_cache`] keeps compiled patterns (regorus recompiles them on
//! every call unless built with its `cache` feature; the compiled path shares the cache),
//! and [`convert`] builds the input without a deep copy of the request.
//!
//! Why not regorus's register VM (`rvm` feature, 0.14.1): measured on the bench (criterion
//! medians, shared 2 cores) it is about 2x faster (k8scontainerlimits 225 vs 530 µs, 20
//! constraints 1.3 vs 2.9 ms), but it does not give the interpreter's results, so it is not
//! used. It resolves builtins from its own table and ignores `add_extension`, so `sprintf`
//! is regorus's, not [`builtins`]'s: a missing argument makes `msg` undefined and the
//! violation disappears (45 of the library's 49 templates call `sprintf`). And it does not
//! fail a body on an assignment of an undefined value (`p { x := input.missing }` is true),
//! which breaks the negated-call rewrite of [`compat`] (k8spspallowedusers reports a
//! violation on its allowed example). The compiled path is both faster and exact.

mod builtins;
mod compat;
pub(crate) mod compiled;
mod convert;
mod hoist;
mod load_checks;
pub mod nesting;
mod opa_builtins;
mod regex_cache;
#[cfg(test)]
mod safety_tests;
mod sprintf;
mod units;

use std::sync::Arc;

use regorus::utils::limits::ExecutionTimerConfig;
use regorus::{Engine, Value as RValue};
use serde_json::Value;

use super::{BoundProgram, EngineError, EngineKind, EvalInput, Program, Violation};
use crate::deadline::Deadline;
use crate::policy::ConstraintTemplate;

pub use compat::{rewrite, rewrite_v0};
use compiled::Compiled;
pub(crate) use compiled::RequestMemo;
pub(crate) use convert::to_rego as to_rego_value;
pub use convert::RegoInput;
use convert::{to_rego, violations};

const ENGINE: &str = "rego";

/// The Rego sources of a template: main module, libraries and language version.
#[derive(Debug, Clone, PartialEq)]
pub struct RegoSource {
    /// The module defining `violation`.
    pub rego: String,
    /// `lib.*` modules it imports.
    pub libs: Vec<String>,
    /// True for `source.version: v1` (Rego v1 syntax); Gatekeeper's default is v0.
    pub v1: bool,
}

impl RegoSource {
    /// The Rego of the admission target: an `engine: Rego` code block wins over the legacy
    /// `rego`/`libs` fields, as in Gatekeeper. `None` when the template has no Rego.
    pub fn of(template: &ConstraintTemplate) -> Option<RegoSource> {
        let target = &template.target;
        if let Some(block) = target.code_for("Rego") {
            let src = &block.source;
            let rego = src.get("rego").and_then(Value::as_str)?.to_string();
            let libs = src
                .get("libs")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            let v1 = src.get("version").and_then(Value::as_str) == Some("v1");
            return Some(RegoSource { rego, libs, v1 });
        }
        let rego = target.rego.as_ref().filter(|r| !r.trim().is_empty())?;
        Some(RegoSource {
            rego: rego.clone(),
            libs: target.libs.clone(),
            v1: false,
        })
    }
}

/// Compile the template's Rego, or `None` when it has none.
pub fn compile(template: &ConstraintTemplate) -> Option<Result<Arc<dyn Program>, EngineError>> {
    let source = RegoSource::of(template)?;
    Some(RegoProgram::new(&template.name, &source).map(|p| Arc::new(p) as Arc<dyn Program>))
}

/// Compile the template's Rego for regorus's interpreter only (no compiled path).
pub fn compile_interpreted(
    template: &ConstraintTemplate,
) -> Option<Result<Arc<dyn Program>, EngineError>> {
    let source = RegoSource::of(template)?;
    Some(
        RegoProgram::with_path(&template.name, &source, false)
            .map(|p| Arc::new(p) as Arc<dyn Program>),
    )
}

/// A template's Rego, parsed and prepared; cloned (cheaply) for each evaluation.
#[derive(Debug)]
pub struct RegoProgram {
    /// Prepared engine holding the modules.
    engine: Arc<Engine>,
    /// `data.<package>.violation`.
    rule: String,
    /// The sources read `data.inventory`, so each evaluation must load it.
    uses_inventory: bool,
    /// The compiled form, when the template is within the compiled path's subset; the
    /// interpreter runs it otherwise.
    compiled: Option<Arc<Compiled>>,
}

impl RegoProgram {
    /// Parse and prepare the sources of template `name`, on the compiled path when the
    /// template is within its subset.
    pub fn new(name: &str, source: &RegoSource) -> Result<RegoProgram, EngineError> {
        Self::with_path(name, source, true)
    }

    /// Parse and prepare the sources; `try_compiled: false` keeps the interpreter.
    pub fn with_path(
        name: &str,
        source: &RegoSource,
        try_compiled: bool,
    ) -> Result<RegoProgram, EngineError> {
        let compile_err = |message: String| EngineError::Compile {
            template: name.to_string(),
            engine: ENGINE,
            message,
        };
        // Refuse, before any parser sees them, sources nested deeper than the parser can
        // read in bounded time and stack (see [`nesting`]).
        for (i, text) in std::iter::once(&source.rego)
            .chain(&source.libs)
            .enumerate()
        {
            nesting::check(text).map_err(|e| match i {
                0 => compile_err(e),
                _ => compile_err(format!("libs[{}]: {e}", i - 1)),
            })?;
        }
        let package = package_of(&source.rego)
            .ok_or_else(|| compile_err("the Rego source has no package declaration".into()))?;
        let rule = format!("data.{package}.violation");
        // regorus is not written against hostile input; a panic in its parser or compiler
        // refuses this template rather than unwinding through the loader.
        let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            prepare_engine(name, source, &rule)
        }))
        .map_err(|_| compile_err("the Rego parser panicked on this source".into()))?;
        let mut engine = parsed.map_err(compile_err)?;
        let rules: usize = engine.get_modules().iter().map(|m| m.policy.len()).sum();
        if rules > MAX_RULES {
            return Err(compile_err(format!(
                "the template has {rules} rules; the limit is {MAX_RULES}"
            )));
        }
        let uses_inventory = std::iter::once(&source.rego)
            .chain(&source.libs)
            .any(|s| s.contains("data.inventory"));
        // The compiled path lowers the modules the interpreter parsed: each source is
        // parsed once.
        let lowered = try_compiled.then(|| {
            let modules = engine.get_modules().clone();
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Compiled::lower(&modules)))
                .unwrap_or_else(|_| Err(compiled::Unsupported("the lowering panicked".into())))
        });
        let compiled = match lowered {
            None => None,
            Some(Ok(c)) => {
                tracing::debug!(template = name, "Rego runs on the compiled path");
                Some(Arc::new(c))
            }
            Some(Err(reason)) => {
                tracing::debug!(
                    template = name,
                    %reason,
                    "Rego runs on the interpreter: not supported on the compiled path"
                );
                None
            }
        };
        Ok(RegoProgram {
            engine: Arc::new(engine),
            rule,
            uses_inventory,
            compiled,
        })
    }

    /// Run the rule on an input document (`{review, parameters}`) and collect violations,
    /// stopping at `deadline` with regorus's cooperative execution timer.
    fn run(
        &self,
        input: RValue,
        inventory: Option<&RValue>,
        deadline: Deadline,
    ) -> Result<Vec<Violation>, EngineError> {
        let mut engine = Engine::clone(&self.engine);
        if let Some(remaining) = deadline.remaining() {
            if remaining.is_zero() {
                return Err(EngineError::DeadlineExceeded);
            }
            engine.set_execution_timer_config(ExecutionTimerConfig {
                limit: remaining,
                check_interval: TIMER_INTERVAL,
            });
        }
        if let Some(inv) = inventory {
            let mut data = std::collections::BTreeMap::new();
            data.insert(RValue::from("inventory"), inv.clone());
            engine.add_data(RValue::from(data)).map_err(eval_err)?;
        }
        engine.set_input(input);
        // regorus recurses once per rule a rule names; a chain of them is bounded by
        // the number of rules ([`MAX_RULES`]) and run on a stack sized for it.
        let result = stacker::maybe_grow(INTERPRETER_STACK, INTERPRETER_STACK, || {
            engine.eval_rule(self.rule.clone())
        });
        match result {
            Ok(result) => Ok(violations(&result)),
            // The timer's error comes back as an ordinary error; the clock says which.
            Err(_) if deadline.expired() => Err(EngineError::DeadlineExceeded),
            Err(e) => Err(eval_err(e)),
        }
    }
}

/// Most rules and functions (definitions, counted over the template's modules) one
/// template may have. regorus's interpreter recurses once per rule a rule names, so a
/// chain of rules each naming the next is as deep as the template has rules. Gatekeeper's
/// library has at most about 50 in one template (counting its `libs`).
pub const MAX_RULES: usize = 1000;

/// Stack the interpreter runs on, as a segment of its own unless the thread has that
/// much left. Measured on a debug build: a chain of [`MAX_RULES`] rules evaluates in it
/// (see `safety_tests`). It is address space; only what is used is committed.
const INTERPRETER_STACK: usize = 64 << 20;

/// Work units (statements, loop iterations, calls) between two readings of the clock by
/// regorus's execution timer: the same spacing as [`crate::deadline::Pacer::EVERY`].
const TIMER_INTERVAL: std::num::NonZeroU32 = match std::num::NonZeroU32::new(256) {
    Some(n) => n,
    None => std::num::NonZeroU32::MIN,
};

/// A regorus engine holding the template's modules (main module first, then its
/// libraries), with this crate's builtin overrides, compiled for `rule`.
fn prepare_engine(name: &str, source: &RegoSource, rule: &str) -> Result<Engine, String> {
    let mut engine = Engine::new();
    engine.set_rego_v0(!source.v1);
    engine.set_strict_builtin_errors(false);
    builtins::register(&mut engine).map_err(|e| e.to_string())?;
    regex_cache::register(&mut engine).map_err(|e| e.to_string())?;
    opa_builtins::register(&mut engine).map_err(|e| e.to_string())?;
    let prepare = |text: &str| rewrite(text, source.v1);
    engine
        .add_policy(format!("{name}.rego"), prepare(&source.rego))
        .map_err(|e| e.to_string())?;
    for (i, lib) in source.libs.iter().enumerate() {
        // Gatekeeper keeps libraries strictly under `lib.` so they cannot shadow another
        // template's package or define `violation` for it.
        let lib_pkg = package_of(lib).unwrap_or_default();
        if !lib_pkg.starts_with("lib.") {
            return Err(format!("libs[{i}]: package {lib_pkg:?} is not under lib"));
        }
        engine
            .add_policy(format!("{name}.lib{i}.rego"), prepare(lib))
            .map_err(|e| e.to_string())?;
    }
    // Refuse what Gatekeeper refuses (unknown functions, references outside
    // `data.inventory` and `data.lib`, other imports) before any request sees it.
    load_checks::check(engine.get_modules(), source.v1)?;
    // Resolve imports, schedule statements and check the entry point now, so that a
    // broken template is rejected at load time rather than on its first request.
    engine
        .compile_with_entrypoint(&rule.into())
        .map_err(|e| e.to_string())?;
    Ok(engine)
}

fn eval_err(e: impl std::fmt::Display) -> EngineError {
    EngineError::Evaluate {
        engine: ENGINE,
        message: e.to_string(),
    }
}

impl Program for RegoProgram {
    fn engine(&self) -> EngineKind {
        EngineKind::Rego
    }

    fn reads_rego_inventory(&self) -> bool {
        self.uses_inventory && self.compiled.is_none()
    }

    fn bind(&self, parameters: &Value) -> Result<Arc<dyn BoundProgram>, EngineError> {
        Ok(Arc::new(BoundRego {
            program: RegoProgram {
                engine: Arc::clone(&self.engine),
                rule: self.rule.clone(),
                uses_inventory: self.uses_inventory,
                compiled: self.compiled.clone(),
            },
            // The compiled path reads the parameters as JSON; only the interpreter needs
            // them converted.
            parameters: match self.compiled {
                Some(_) => RValue::Undefined,
                None => to_rego(parameters),
            },
            folds: self
                .compiled
                .as_ref()
                .map(|c| c.bind(parameters))
                .unwrap_or_default(),
            json_parameters: parameters.clone(),
        }))
    }
}

/// A program with one constraint's parameters: as JSON plus the bind-time folds for the
/// compiled path, or converted to a Rego value once for the interpreter.
#[derive(Debug)]
pub struct BoundRego {
    program: RegoProgram,
    parameters: RValue,
    json_parameters: Value,
    /// The compiled path's bind-time values (see [`compiled::Fold`]).
    folds: Vec<compiled::Fold>,
}

impl BoundProgram for BoundRego {
    fn evaluate(&self, input: &EvalInput<'_>) -> Result<Vec<Violation>, EngineError> {
        // Neither regorus nor the builtins it lends the compiled path were written against
        // hostile input; a panic in them fails this constraint, not the request's thread.
        // (Each evaluation works on values of its own, so nothing shared is left half
        // updated.)
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.evaluate_inner(input)))
            .unwrap_or_else(|_| Err(eval_err("the Rego evaluator panicked")))
    }
}

impl BoundRego {
    fn evaluate_inner(&self, input: &EvalInput<'_>) -> Result<Vec<Violation>, EngineError> {
        if let Some(compiled) = &self.program.compiled {
            let inventory = (self.program.uses_inventory && !input.inventory.is_null())
                .then_some(input.inventory);
            let shared = input.rego_memo.template(compiled);
            return compiled
                .evaluate(
                    &input.review.request,
                    &self.json_parameters,
                    &self.folds,
                    inventory,
                    input.deadline,
                    shared.as_deref(),
                )
                .map_err(|e| match e {
                    compiled::EvalError::Deadline => EngineError::DeadlineExceeded,
                    compiled::EvalError::Failed(m) => eval_err(m),
                });
        }
        let rego = RegoInput::of(input);
        let mut doc = std::collections::BTreeMap::new();
        doc.insert(RValue::from("review"), rego.review.clone());
        doc.insert(RValue::from("parameters"), self.parameters.clone());
        let inventory = match input.shared_inventory {
            _ if !self.program.uses_inventory => None,
            Some(shared) => shared.rego(),
            None if input.inventory.is_null() => None,
            None => Some(rego.inventory(input.inventory)),
        };
        self.program
            .run(RValue::from(doc), inventory, input.deadline)
    }
}

/// The package path of a module: the words after the first `package` keyword.
fn package_of(source: &str) -> Option<String> {
    source.lines().find_map(|line| {
        let line = line.trim_start();
        let rest = line.strip_prefix("package")?;
        if !rest.starts_with(char::is_whitespace) {
            return None;
        }
        let pkg: String = rest
            .trim()
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '#')
            .collect();
        (!pkg.is_empty()).then_some(pkg)
    })
}

#[cfg(test)]
mod tests;
