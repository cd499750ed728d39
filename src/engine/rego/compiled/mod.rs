//! A compiled evaluator for the Rego that Gatekeeper templates are written in.
//!
//! regorus's interpreter walks the AST with scopes held in maps and pays for every
//! function call; the library's quantity-parsing templates make hundreds of calls per
//! container. Here a template is parsed with regorus's own parser (after the same
//! [`rewrite`](super::rewrite) pass as the interpreter path, so both read the same
//! text), lowered once into an IR of numbered rules and slot-resolved variables
//! ([`ir`], [`lower`], [`lower_body`]), and evaluated on values that borrow the request
//! and the constraint's parameters instead of converting them ([`value`], [`eval`]).
//!
//! Constraints of one template differ only in their parameters, so what a template computes
//! from the review alone (the library parses every container's quantities, say) is the same
//! for all of them: [`share`] finds those calls when the template is lowered, and one
//! request keeps their results across its constraints ([`RequestMemo`], carried by the
//! request's [`crate::engine::EvalInput`]).
//!
//! A partial set rule that is enumerated by constants (`general_violation[{"msg": msg,
//! "field": "containers"}]`) gets a copy for those constants in which its bodies start from
//! them ([`specialize`]), as OPA unifies a rule's head with the reference before it
//! evaluates a body.
//!
//! The subset is what the library uses (all 49 of its Rego templates); a template with
//! anything else (`with`, rule heads with dotted references, default functions, unsafe
//! variables, ...) is refused at compile time with a reason and runs on the interpreter,
//! so the compiled path never guesses. Where regorus reads the language differently from
//! OPA (an object pattern ignores extra keys, a function of no arguments named without
//! parentheses takes a single solution), the compiled path reads it as regorus does, so
//! that both paths agree. The differential test in
//! [`diff_tests`] holds both paths to the same violations on every library template.
//!
//! Which templates run here: every template that lowers. That is safe for a user's template
//! nobody compared because the lowering refuses what it does not model (it never guesses),
//! and because the paths are compared on far more than the library: the library's 49
//! templates with 1,500 mutated inputs each (interpreter vs compiled), and the public corpus
//! of `tests/opa_differential.rs` (159 templates from Azure, older library releases and
//! others, 26,698 cases) against OPA itself. A user who doubts it runs `--engine
//! rego-interpreter`, which skips this path entirely.
//!
//! Moving regorus: this module reads regorus's `unstable` AST (`regorus::unstable`), which
//! may change in any release, so Cargo.toml pins the exact version. To move it: change the
//! pin, fix what no longer compiles in [`lower`] and [`lower_body`] (the AST walk), then run
//! `cargo test --lib engine::rego` (the differential tests) and `cargo test --test
//! opa_differential`; a template the new parser reads differently shows up there as a
//! disagreement, not as a silent change.

mod builtins;
mod eval;
mod fold;
mod group;
mod ir;
mod lower;
mod lower_body;
mod share;
mod specialize;
mod value;
mod walk;

#[cfg(test)]
mod diff_tests;
#[cfg(test)]
mod share_tests;
#[cfg(test)]
mod tests;

use regorus::unstable::{Module, Ref};
use serde_json::Value as Json;

use super::convert::violations;
use crate::deadline::Deadline;
use crate::engine::Violation;

pub(crate) use eval::EvalError;
pub(crate) use eval::{RequestMemo, TemplateMemo};
pub(crate) use fold::Fold;
pub(crate) use lower::Unsupported;

/// A template's Rego compiled for the fast path.
#[derive(Debug)]
pub(crate) struct Compiled {
    program: ir::Program,
}

impl Compiled {
    /// Parse and lower the sources; `Err` says why the template needs the interpreter.
    /// (The engine parses each source once and lowers the interpreter's own modules with
    /// [`Compiled::lower`]; this entry point is for tests that have no interpreter.)
    #[cfg(test)]
    pub(crate) fn compile(name: &str, source: &super::RegoSource) -> Result<Compiled, Unsupported> {
        use super::rewrite;
        use regorus::unstable::Parser;
        use regorus::Source;
        let mut modules: Vec<Ref<Module>> = Vec::with_capacity(1 + source.libs.len());
        for (i, text) in std::iter::once(&source.rego)
            .chain(&source.libs)
            .enumerate()
        {
            super::nesting::check(text).map_err(Unsupported)?;
            let text = rewrite(text, source.v1);
            let src = Source::from_contents(format!("{name}.{i}.rego"), text)
                .map_err(|e| Unsupported(e.to_string()))?;
            let mut parser = Parser::new(&src).map_err(|e| Unsupported(e.to_string()))?;
            if source.v1 {
                parser
                    .enable_rego_v1()
                    .map_err(|e| Unsupported(e.to_string()))?;
            }
            modules.push(Ref::new(
                parser.parse().map_err(|e| Unsupported(e.to_string()))?,
            ));
        }
        Self::lower(&modules)
    }

    /// Lower parsed modules (the template's main module first, then its libraries).
    pub(crate) fn lower(modules: &[Ref<Module>]) -> Result<Compiled, Unsupported> {
        Ok(Compiled {
            program: lower::lower(modules)?,
        })
    }

    /// What a constraint's parameters fix: the folded expressions' values.
    pub(crate) fn bind(&self, params: &Json) -> Vec<Fold> {
        fold::bind(&self.program, params)
    }

    /// [`Compiled::evaluate`] of a constraint bound just now, without inventory: the tests'
    /// way to judge one review under `params`.
    #[cfg(test)]
    pub(crate) fn judge(
        &self,
        review: &Json,
        params: &Json,
        deadline: Deadline,
        shared: Option<&TemplateMemo>,
    ) -> Result<Vec<Violation>, EvalError> {
        self.evaluate(review, params, &self.bind(params), None, deadline, shared)
    }

    /// The violations of one review: `review` is `input.review`, `params` is
    /// `input.parameters` (and `folds` what [`Compiled::bind`] made of them), `inventory`
    /// is `data.inventory` when the template reads it. Evaluation stops with
    /// [`EvalError::Deadline`] once `deadline` has passed. `shared` keeps the results that
    /// are the same for every constraint of the template across one request's
    /// evaluations (see [`share`]): the same memo must never serve another request.
    pub(crate) fn evaluate(
        &self,
        review: &Json,
        params: &Json,
        folds: &[Fold],
        inventory: Option<&Json>,
        deadline: Deadline,
        shared: Option<&TemplateMemo>,
    ) -> Result<Vec<Violation>, EvalError> {
        let cx = eval::Ctx::new(&self.program, review, params, inventory, folds, deadline)
            .with_shared(shared);
        let result = cx.violations()?;
        Ok(match result {
            Some(v) if v.len() != Some(0) => violations(&v.to_rvalue()),
            _ => Vec::new(),
        })
    }
}
