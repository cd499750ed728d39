//! Helpers shared by the mutation tests: build mutators from YAML and run a set with the
//! match decided by `applyTo` alone, so tests exercise path and setter logic below the
//! matcher (which has its own tests).

use serde_json::Value;

use super::{MutationError, MutationOutcome, Mutator, MutatorSet};
use crate::review::Review;

/// Parse one YAML document into JSON.
pub fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("bad test yaml: {e}\n{text}"))
}

/// Parse a mutator, panicking on error (the test wants a valid one).
pub fn mutator(text: &str) -> Mutator {
    Mutator::parse(&yaml(text)).unwrap_or_else(|e| panic!("mutator rejected: {e}"))
}

/// The load error of a mutator that must be rejected.
pub fn rejected(text: &str) -> String {
    match Mutator::parse(&yaml(text)) {
        Ok(m) => panic!("mutator {} was accepted", m.id),
        Err(e) => e.to_string(),
    }
}

/// A minimal Assign on Pods at `location` with extra `parameters` YAML (indented 4).
pub fn assign(name: &str, location: &str, params: &str) -> Mutator {
    mutator(&format!(
        "apiVersion: mutations.gatekeeper.sh/v1
kind: Assign
metadata:
  name: {name}
spec:
  applyTo:
  - groups: [\"\"]
    versions: [\"v1\"]
    kinds: [\"Pod\"]
  location: '{location}'
  parameters:
{params}"
    ))
}

/// Run `mutators` on `object` (a CREATE), deciding matches by `applyTo` only.
pub fn run(mutators: Vec<Mutator>, object: Value) -> Result<MutationOutcome, MutationError> {
    let set = MutatorSet::new(mutators)?;
    set.mutate_with(&Review::from_object(object), &|m, r| m.applies_to(r))
}

/// Run, check a second run of the result changes nothing, and return the first outcome.
pub fn run_converged(mutators: Vec<Mutator>, object: Value) -> MutationOutcome {
    let out =
        run(mutators.clone(), object.clone()).unwrap_or_else(|e| panic!("mutation failed: {e}"));
    // The patch is what the API server applies: it must rebuild the mutated object and
    // never replace the whole document.
    let mut patched = object;
    json_patch::patch(&mut patched, &out.patch).unwrap_or_else(|e| panic!("patch: {e}"));
    assert_eq!(patched, out.object, "patch does not reproduce the mutation");
    let ops = serde_json::to_value(&out.patch).unwrap_or_default();
    assert!(
        !ops.as_array()
            .into_iter()
            .flatten()
            .any(|op| op["path"] == ""),
        "whole-object operation in {ops}"
    );
    let again = run(mutators, out.object.clone()).unwrap_or_else(|e| panic!("second pass: {e}"));
    assert!(
        again.patch.0.is_empty(),
        "second pass patched: {:?}",
        again.patch
    );
    out
}

/// A pod with the given containers YAML list (indented 2), or none for `"  []"`.
pub fn pod(containers: &str) -> Value {
    let list = if containers.trim() == "[]" {
        " []".to_string()
    } else {
        format!("\n{containers}")
    };
    yaml(&format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
spec:
  containers:{list}"
    ))
}
