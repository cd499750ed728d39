//! Test-only differential check: run the Gatekeeper library's own Rego (read from the
//! shared conformance checkout, never copied into this tree) with regorus on the same
//! review, parameters and `data.inventory` as a native rule, and compare the violation
//! sets.
//!
//! This is how the rules' edge-case behaviour (absent vs `false` fields, missing names,
//! odd parameter shapes) is pinned to the Rego rather than to our reading of it. Like
//! Gatekeeper, builtin errors make an expression undefined instead of failing the query.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::{json, Value};

use super::Opa;
use crate::engine::{EvalInput, Program};
use crate::review::Review;

/// The library sections that hold templates the native rules re-implement.
const SECTIONS: &[&str] = &["general", "pod-security-policy"];

/// The directory of one library template (`requiredlabels`, `host-namespaces`, ...),
/// whichever section holds it, or `None` when skipping was asked for without the corpus
/// ([`crate::test_data`]).
///
/// # Panics
/// When the corpus is present but holds no such template, or is missing unexpectedly.
pub(crate) fn library_dir(dir: &str) -> Option<PathBuf> {
    let library = crate::test_data::library()?;
    let found = SECTIONS
        .iter()
        .map(|section| library.join(section).join(dir))
        .find(|p| p.join("template.yaml").is_file());
    assert!(
        found.is_some(),
        "library template {dir} not found under {}",
        library.display()
    );
    found
}

/// One differential case: constraint parameters, the review, and `data.inventory`
/// (`Null` for none).
pub(crate) type ReviewCase = (Value, Review, Value);

/// The library template's Rego modules and package, or `None` when it is not present.
fn library_rego(dir: &str) -> Option<(String, Vec<String>)> {
    let path = library_dir(dir)?.join("template.yaml");
    let text = std::fs::read_to_string(&path).ok()?;
    let doc: Value = serde_saphyr::from_str(&text).ok()?;
    let target = doc.pointer("/spec/targets/0")?;
    let (rego, libs) = match target.get("rego").and_then(Value::as_str) {
        Some(r) => (r.to_string(), target.get("libs").cloned()),
        None => {
            let code = target.get("code")?.as_array()?;
            let block = code
                .iter()
                .find(|c| c.get("engine").and_then(Value::as_str) == Some("Rego"))?;
            let source = block.get("source")?;
            (
                source.get("rego")?.as_str()?.to_string(),
                source.get("libs").cloned(),
            )
        }
    };
    let mut modules = vec![rego];
    for lib in libs
        .as_ref()
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        modules.push(lib.as_str()?.to_string());
    }
    let package = modules[0]
        .lines()
        .find_map(|l| l.trim().strip_prefix("package "))?
        .trim()
        .to_string();
    Some((package, modules))
}

/// The library Rego's violations for one review, as a set of JSON strings.
fn rego_violations(
    dir: &str,
    parameters: &Value,
    review: &Review,
    inventory: &Value,
) -> Result<Option<BTreeSet<String>>, String> {
    let Some((package, modules)) = library_rego(dir) else {
        return Ok(None);
    };
    let mut engine = regorus::Engine::new();
    engine.set_rego_v0(true);
    engine.set_strict_builtin_errors(false);
    for (i, m) in modules.into_iter().enumerate() {
        engine
            .add_policy(format!("{dir}-{i}.rego"), m)
            .map_err(|e| e.to_string())?;
    }
    let mut input = json!({"review": review.request});
    if !parameters.is_null() {
        input["parameters"] = parameters.clone();
    }
    engine.set_input(regorus::Value::from(input));
    if !inventory.is_null() {
        engine
            .add_data(regorus::Value::from(json!({ "inventory": inventory })))
            .map_err(|e| e.to_string())?;
    }
    let result = engine
        .eval_rule(format!("data.{package}.violation"))
        .map_err(|e| e.to_string())?;
    let json: Value = match result {
        regorus::Value::Undefined => Value::Array(vec![]),
        v => serde_json::from_str(&v.to_json_str().map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?,
    };
    Ok(Some(
        json.as_array()
            .into_iter()
            .flatten()
            .map(|v| Opa(v).to_string())
            .collect(),
    ))
}

/// Compare one native rule with the library Rego on one case; `Err` describes a mismatch.
pub(crate) fn compare(
    dir: &str,
    program: &dyn Program,
    parameters: &Value,
    review: &Review,
    inventory: &Value,
) -> Result<(), String> {
    let Some(expected) = rego_violations(dir, parameters, review, inventory)? else {
        return Ok(());
    };
    let bound = program.bind(parameters).map_err(|e| e.to_string())?;
    let got: BTreeSet<String> = bound
        .evaluate(&EvalInput::new(review, inventory))
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|v| {
            let mut o = json!({"msg": v.msg});
            if let Some(d) = v.details {
                o["details"] = d;
            }
            Opa(&o).to_string()
        })
        .collect();
    if got == expected {
        Ok(())
    } else {
        Err(format!(
            "request {}\nparameters {parameters}\ninventory {inventory}\n  rego:   {expected:?}\n  native: {got:?}",
            review.request
        ))
    }
}

/// Check a table of `(parameters, object)` cases for one rule, each judged as a CREATE
/// with no inventory; skips without the checkout.
pub(crate) fn check_cases(dir: &str, rule: &str, cases: &[(Value, Value)]) {
    let reviews: Vec<ReviewCase> = cases
        .iter()
        .map(|(parameters, object)| {
            (
                parameters.clone(),
                Review::from_object(object.clone()),
                Value::Null,
            )
        })
        .collect();
    check_reviews(dir, rule, &reviews);
}

/// Check whole reviews (any operation, request kind, inventory) for one rule; skips
/// without the checkout.
pub(crate) fn check_reviews(dir: &str, rule: &str, cases: &[ReviewCase]) {
    if library_rego(dir).is_none() {
        return;
    }
    let program = match super::conformance::program(rule) {
        Ok(p) => p,
        Err(e) => panic!("{rule}: {e}"),
    };
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(parameters, review, inventory)| {
            compare(dir, program.as_ref(), parameters, review, inventory).err()
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{rule}: {} of {} cases disagree with the library Rego:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    eprintln!(
        "{rule}: {} edge cases agree with the library Rego",
        cases.len()
    );
}

/// The same object under every admission operation (built as the webhook builds them, so
/// the request's `operation` and the review's agree), with no parameters or inventory: for
/// rules whose Rego skips UPDATE requests.
pub(crate) fn operation_cases(object: Value) -> Vec<ReviewCase> {
    ["CREATE", "UPDATE", "DELETE", "CONNECT"]
        .into_iter()
        .filter_map(|op| {
            let request = json!({"operation": op, "object": object, "oldObject": object});
            let Value::Object(map) = request else {
                return None;
            };
            Review::from_request(map).ok()
        })
        .chain(std::iter::once(Review::from_object(object.clone())))
        .map(|review| (Value::Null, review, Value::Null))
        .collect()
}
