//! Entry points for fuzzing: one function per attack surface, taking raw bytes.
//!
//! They live in the library, not in the fuzz crate, so that they are compiled, linted and
//! exercised on every `cargo test`: `tests/fuzz_seeds.rs` runs each of them over its seed
//! corpus and over every input a fuzzer ever found (`fuzz/regressions/<target>/`), and the
//! cargo-fuzz targets under `fuzz/` are one-line wrappers (see `scripts/fuzz.sh`).
//!
//! Each function must return normally for any input. Besides "no panic, no stack overflow,
//! no hang", several check properties that must hold whatever the input: a mutation's patch
//! applied to the original gives the mutated object, and a quantity that parses compares
//! equal to itself in every unit.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::{json, Value};

use crate::admission::{Decision, ReviewResponse};
use crate::engine::native::quantity::Quantity;
use crate::engine::{self, EngineChoice};
use crate::matching::{
    glob_match, glob_match_generate_name, validate_glob, LabelSelector, LabelView,
};
use crate::mutation::path::Path;
use crate::mutation::{Mutator, MutatorSet};
use crate::policy::ConstraintTemplate;
use crate::review::Review;

/// A fuzz entry point.
pub type Target = fn(&[u8]);

/// The attack surfaces, by the name of their fuzz target.
pub const TARGETS: &[(&str, Target)] = &[
    ("review_decode", review_decode),
    ("mutation", mutation),
    ("mutation_path", mutation_path),
    ("quantity", quantity),
    ("selector", selector),
    ("glob", glob),
    ("cel_compile", cel_compile),
    ("rego_compile", rego_compile),
];

/// An AdmissionReview body as the webhook receives it: measured, decoded, and answered.
pub fn review_decode(data: &[u8]) {
    let size = crate::admission::scan::measure(data);
    if let Ok(decoded) = crate::admission::decode(data) {
        // Decoding succeeded, so the value count bounds what was decoded.
        assert!(size.values >= 1);
        let decision = Decision::deny(decoded.review.uid.clone());
        let body = ReviewResponse::new(decoded.version, &decoded.review.uid, &decision).to_vec();
        let echoed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        assert_eq!(
            echoed["response"]["uid"].as_str(),
            Some(decoded.review.uid.as_str()),
            "the uid is echoed"
        );
    }
}

/// The repository's example mutators (sidecar injection, security defaults, standard
/// labels, registry pinning), applied to an arbitrary object.
fn mutators() -> &'static MutatorSet {
    static SET: OnceLock<MutatorSet> = OnceLock::new();
    SET.get_or_init(|| {
        let sources = [
            include_str!("../policies/examples/mutations/pin-registry.yaml"),
            include_str!("../policies/examples/mutations/security-defaults.yaml"),
            include_str!("../policies/examples/mutations/sidecar-injection.yaml"),
            include_str!("../policies/examples/mutations/standard-labels.yaml"),
        ];
        let mut all = Vec::new();
        for (i, text) in sources.iter().enumerate() {
            let docs = crate::manifests::parse_documents(text, &format!("mutations#{i}"))
                .unwrap_or_default();
            all.extend(
                docs.iter()
                    .filter_map(|d| Mutator::from_value(&d.value).ok()),
            );
        }
        MutatorSet::new(all).unwrap_or_default()
    })
}

/// How many example mutators the mutation target runs (tests check they all loaded).
pub fn mutator_count() -> usize {
    mutators().len()
}

/// An object (JSON) mutated by the example mutators. When mutation succeeds, its patch
/// applied to the original must give exactly the mutated object.
pub fn mutation(data: &[u8]) {
    let Ok(object) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if !object.is_object() {
        return;
    }
    let review = Review::from_object(object.clone());
    let namespaces: BTreeMap<String, crate::matching::Labels> = BTreeMap::new();
    if let Ok(outcome) = mutators().mutate(&review, &namespaces) {
        let mut patched = object;
        let applied = json_patch::patch(&mut patched, &outcome.patch);
        assert!(applied.is_ok(), "the patch applies: {applied:?}");
        assert_eq!(
            patched, outcome.object,
            "the patch gives the mutated object"
        );
    }
}

/// A mutator `location` (`spec.containers[name: *].image`).
pub fn mutation_path(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(path) = Path::parse(text) {
            let _ = path.has_metadata_root();
            assert!(path.is_prefix_of(&path), "a path is a prefix of itself");
            // What is printed in errors and status reads back as the same location.
            let printed = path.to_string();
            let reread = Path::parse(&printed).map(|p| p.to_string());
            assert_eq!(
                reread.as_deref(),
                Ok(printed.as_str()),
                "{text:?} prints back"
            );
        }
    }
}

/// A Kubernetes quantity (`250m`, `1.5Gi`, `1e3`).
pub fn quantity(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(q) = Quantity::parse(text) {
        let _ = (q.millis(), q.nanos(), q.is_negative());
        assert_eq!(Quantity::from_json(&Value::String(text.into())), Some(q));
    }
}

/// A label selector (JSON) matched against labels (the selector's own `matchLabels`,
/// which an object carrying them must satisfy unless expressions exclude it).
pub fn selector(data: &[u8]) {
    let Ok(selector) = serde_json::from_slice::<LabelSelector>(data) else {
        return;
    };
    let _ = selector.validate();
    let labels = json!({"metadata": {"labels": selector.match_labels}});
    let view = LabelView::of_object(&labels);
    if selector.match_expressions.is_empty() {
        assert!(selector.matches(&view), "matchLabels match themselves");
    } else {
        let _ = selector.matches(&view);
    }
}

/// A glob pattern and a value, separated by the first newline.
pub fn glob(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (pattern, value) = text.split_once('\n').unwrap_or((text, ""));
    if validate_glob(pattern).is_ok() {
        let _ = glob_match(pattern, value);
        let _ = glob_match_generate_name(pattern, value);
        if !pattern.contains('*') {
            assert!(glob_match(pattern, pattern), "a literal matches itself");
        }
    }
}

fn template(kind: &str, code: Value) -> Option<ConstraintTemplate> {
    ConstraintTemplate::from_value(&json!({
        "apiVersion": "templates.gatekeeper.sh/v1",
        "kind": "ConstraintTemplate",
        "metadata": {"name": kind.to_lowercase()},
        "spec": {
            "crd": {"spec": {"names": {"kind": kind}}},
            "targets": [{"target": engine::ADMISSION_TARGET, "code": [code]}],
        },
    }))
    .ok()
}

/// Judge a Pod with a compiled template, so that evaluation is fuzzed with compilation.
/// Says how far it got, so tests can check that the seeds reach evaluation.
fn run(template: &ConstraintTemplate, choice: EngineChoice) -> Result<(), String> {
    let program = engine::compile(template, choice).map_err(|e| e.to_string())?;
    let bound = program.bind(&json!({})).map_err(|e| e.to_string())?;
    let review = Review::from_object(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default", "labels": {"app": "x"}},
        "spec": {"containers": [{"name": "c", "image": "nginx:1"}]},
    }));
    let inventory = Value::Null;
    let input = engine::EvalInput::new(&review, &inventory).with_deadline(
        crate::deadline::Deadline::after(std::time::Duration::from_secs(1)),
    );
    bound
        .evaluate(&input)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A CEL validation expression, compiled and evaluated on a Pod.
pub fn cel_compile(data: &[u8]) {
    let _ = cel_outcome(data);
}

/// What [`cel_compile`] reached: `Ok` once the expression compiled and evaluated.
///
/// # Errors
/// The first error met, as text.
pub fn cel_outcome(data: &[u8]) -> Result<(), String> {
    let expression = std::str::from_utf8(data).map_err(|e| e.to_string())?;
    let code = json!({
        "engine": "K8sNativeValidation",
        "source": {"validations": [{"expression": expression, "message": "fuzz"}]},
    });
    let t = template("K8sFuzzCel", code).ok_or("not a template")?;
    run(&t, EngineChoice::Only(engine::EngineKind::Cel))
}

/// A Rego module, compiled on both Rego paths and evaluated on a Pod.
pub fn rego_compile(data: &[u8]) {
    let _ = rego_outcome(data);
}

/// What [`rego_compile`] reached on each path: `Ok` once the module compiled and evaluated.
///
/// # Errors
/// The first error met on either path, as text.
pub fn rego_outcome(data: &[u8]) -> Result<(), String> {
    let source = std::str::from_utf8(data).map_err(|e| e.to_string())?;
    let code = json!({"engine": "Rego", "source": {"rego": source}});
    let t = template("K8sFuzzRego", code).ok_or("not a template")?;
    let compiled = run(&t, EngineChoice::Only(engine::EngineKind::Rego));
    let interpreted = run(&t, EngineChoice::RegoInterpreter);
    compiled.and(interpreted)
}
