//! The `Native` engine: Rust rules compiled into the binary, selected by a template's
//! `code: [{engine: Native, source: {rule: <name>}}]` block.
//!
//! Each rule re-implements one Gatekeeper library template with the same kind, parameter
//! schema and violation messages, so constraints written for the Rego version work
//! unchanged and users' searches for a message still find it. Parameters are parsed once,
//! in [`Program::bind`], into a typed struct (regexes compiled, quantities parsed); the hot
//! path only walks the reviewed object and allocates nothing but violation messages.
//!
//! Where the library's Rego has quirks that change the admission outcome (a message field
//! that is undefined drops the violation, `false` counts as absent, violations form a set),
//! the rules reproduce them so the engines agree; deliberate departures are documented on
//! the rule that makes them.

// One module per rule; only the quantity parser is useful outside the engine.
mod allowedrepos;
mod blockloadbalancer;
mod blocknodeport;
mod containerlimits;
mod containerrequests;
pub(crate) mod containers;
mod disallowedtags;
mod externalips;
mod httpsonly;
mod pspallowprivilegeescalation;
mod psphostnamespace;
mod pspprivilegedcontainer;
pub mod quantity;
mod requiredannotations;
mod requiredlabels;
mod requiredprobes;
mod uniqueingresshost;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod rego_diff;

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use super::{BoundProgram, EngineError, EngineKind, Program, Violation};
pub(crate) use crate::matching::field;
use crate::policy::ConstraintTemplate;
use crate::review::Review;

/// The judged object (`request.object`), `Null` when absent. Rules read it through
/// [`field`] rather than `Value::get`: the hashed lookup and its `memcmp` key comparison
/// were the largest cost of the native rules in the evaluation benchmark.
pub(crate) fn judged_object(review: &Review) -> &Value {
    field(&review.request, "object").unwrap_or(&Value::Null)
}

/// The engine name in `spec.targets[].code[].engine`.
pub const ENGINE_NAME: &str = "Native";

/// Parses one constraint's parameters into a rule instance ready for the hot path.
type BindFn = fn(&Value) -> Result<Arc<dyn BoundProgram>, EngineError>;

/// Every native rule, by the name templates select it with (the lower-cased kind of the
/// library template it re-implements).
const RULES: &[(&str, BindFn)] = &[
    ("k8sallowedrepos", allowedrepos::bind),
    ("k8sblockloadbalancer", blockloadbalancer::bind),
    ("k8sblocknodeport", blocknodeport::bind),
    ("k8scontainerlimits", containerlimits::bind),
    ("k8scontainerrequests", containerrequests::bind),
    ("k8sdisallowedtags", disallowedtags::bind),
    ("k8sexternalips", externalips::bind),
    ("k8shttpsonly", httpsonly::bind),
    (
        "k8spspallowprivilegeescalationcontainer",
        pspallowprivilegeescalation::bind,
    ),
    ("k8spsphostnamespace", psphostnamespace::bind),
    ("k8spspprivilegedcontainer", pspprivilegedcontainer::bind),
    ("k8srequiredannotations", requiredannotations::bind),
    ("k8srequiredlabels", requiredlabels::bind),
    ("k8srequiredprobes", requiredprobes::bind),
    ("k8suniqueingresshost", uniqueingresshost::bind),
];

/// Names of all native rules, for error messages, docs and `--help` output.
pub fn rule_names() -> impl Iterator<Item = &'static str> {
    RULES.iter().map(|(name, _)| *name)
}

/// Compile the template's Native block, or `None` when it has none.
///
/// Fails when the block names no rule or a rule this binary does not have; the error lists
/// the known rules so a typo is easy to fix.
pub fn compile(template: &ConstraintTemplate) -> Option<Result<Arc<dyn Program>, EngineError>> {
    let block = template.target.code_for(ENGINE_NAME)?;
    let compile_error = |message: String| EngineError::Compile {
        template: template.name.clone(),
        engine: "native",
        message,
    };
    let Some(rule) = block.source.get("rule").and_then(Value::as_str) else {
        return Some(Err(compile_error(
            "source.rule must name a native rule".into(),
        )));
    };
    let found = RULES.iter().find(|(name, _)| *name == rule);
    Some(match found {
        Some((name, bind)) => Ok(Arc::new(NativeProgram {
            rule: name,
            bind: *bind,
        })),
        None => Err(compile_error(format!(
            "unknown native rule {rule:?}; known rules: {}",
            rule_names().collect::<Vec<_>>().join(", ")
        ))),
    })
}

/// A compiled Native template: just the rule's binder, since the Rust code is the program.
struct NativeProgram {
    rule: &'static str,
    bind: BindFn,
}

impl fmt::Debug for NativeProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NativeProgram")
            .field("rule", &self.rule)
            .finish()
    }
}

impl Program for NativeProgram {
    fn engine(&self) -> EngineKind {
        EngineKind::Native
    }

    fn bind(&self, parameters: &Value) -> Result<Arc<dyn BoundProgram>, EngineError> {
        (self.bind)(parameters)
    }
}

/// The elements Rego's `x[_]` iterates: an array's items or an object's values; nothing
/// for any other value or an absent one. Allocation-free.
pub(crate) fn rego_iter(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    let items = v.and_then(Value::as_array).into_iter().flatten();
    let values = v
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|m| m.values());
    items.chain(values)
}

/// Rego truthiness of a looked-up field: absent and `false` are falsy, anything else
/// (including `null`, `""` and `{}`) is truthy.
pub(crate) fn truthy(v: Option<&Value>) -> bool {
    !matches!(v, None | Some(Value::Bool(false)))
}

/// Add a violation unless an equal one is already there: Rego's `violation` is a set, so a
/// message produced twice counts once.
pub(crate) fn push_unique(out: &mut Vec<Violation>, v: Violation) {
    if !out.contains(&v) {
        out.push(v);
    }
}

/// A parameter, treating an explicit `null` like an absent key.
pub(crate) fn param<'a>(parameters: &'a Value, key: &str) -> Option<&'a Value> {
    parameters.get(key).filter(|v| !v.is_null())
}

/// A parameter error naming the field, as the constraint author wrote it.
pub(crate) fn bad_param(field: &str, what: impl fmt::Display) -> EngineError {
    EngineError::Parameters(format!("parameters.{field}: {what}"))
}

/// An optional list-of-strings parameter.
pub(crate) fn string_list(
    parameters: &Value,
    key: &str,
) -> Result<Option<Vec<String>>, EngineError> {
    let Some(v) = param(parameters, key) else {
        return Ok(None);
    };
    let items = v
        .as_array()
        .ok_or_else(|| bad_param(key, "must be a list of strings"))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.as_str()
                .map(str::to_string)
                .ok_or_else(|| bad_param(&format!("{key}[{i}]"), "must be a string"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Render a JSON value the way OPA's `sprintf("%v")` does, so messages match the Rego
/// template's byte for byte: strings bare at the top level, quoted inside composites.
pub(crate) struct Opa<'a>(pub &'a Value);

impl fmt::Display for Opa<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Value::String(s) => f.write_str(s),
            other => write_term(f, other),
        }
    }
}

/// A value written as an OPA term inside a composite: strings quoted (`"a"`), unlike
/// [`Opa`], which prints a top-level string bare.
pub(crate) struct Term<'a>(pub &'a Value);

impl fmt::Display for Term<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_term(f, self.0)
    }
}

/// Write a value as an OPA term (`["a", "b"]`, `{"k": 1}` with sorted keys).
fn write_term(f: &mut fmt::Formatter<'_>, v: &Value) -> fmt::Result {
    match v {
        Value::Null => f.write_str("null"),
        Value::Bool(b) => write!(f, "{b}"),
        Value::Number(n) => write!(f, "{n}"),
        Value::String(s) => write!(f, "{}", Value::String(s.clone())),
        Value::Array(items) => {
            f.write_str("[")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write_term(f, item)?;
            }
            f.write_str("]")
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            f.write_str("{")?;
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{}: ", Value::String(k.clone()))?;
                write_term(f, &map[k])?;
            }
            f.write_str("}")
        }
    }
}

/// OPA's total order on values, used to print sets the way Rego does: `null` < booleans <
/// numbers < strings < arrays < objects; arrays compare element by element, then by length;
/// objects by their entries in key order. Numbers compare by value, so `1` and `1.0` are
/// one set element, as in Rego.
pub(crate) fn opa_cmp(a: &Value, b: &Value) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Number(_) => 2,
            Value::String(_) => 3,
            Value::Array(_) => 4,
            Value::Object(_) => 5,
        }
    }
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i.cmp(&j),
            _ => {
                let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
                x.partial_cmp(&y).unwrap_or(Ordering::Equal)
            }
        },
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => x
            .iter()
            .zip(y)
            .map(|(i, j)| opa_cmp(i, j))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| x.len().cmp(&y.len())),
        (Value::Object(x), Value::Object(y)) => {
            let mut xs: Vec<(&String, &Value)> = x.iter().collect();
            let mut ys: Vec<(&String, &Value)> = y.iter().collect();
            xs.sort_by(|p, q| p.0.cmp(q.0));
            ys.sort_by(|p, q| p.0.cmp(q.0));
            xs.iter()
                .zip(&ys)
                .map(|((k1, v1), (k2, v2))| k1.cmp(k2).then_with(|| opa_cmp(v1, v2)))
                .find(|o| o.is_ne())
                .unwrap_or_else(|| xs.len().cmp(&ys.len()))
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Sort values in OPA's order and drop duplicates, making the elements of a Rego set.
pub(crate) fn opa_set(mut items: Vec<&Value>) -> Vec<&Value> {
    items.sort_by(|a, b| opa_cmp(a, b));
    items.dedup_by(|a, b| opa_cmp(a, b).is_eq());
    items
}

/// Render a Rego set (already made by [`opa_set`]) the way `sprintf("%v")` prints it:
/// `{"a", 1}`, or `set()` when empty.
pub(crate) fn render_set(items: &[&Value]) -> String {
    if items.is_empty() {
        return "set()".into();
    }
    let inner: Vec<String> = items.iter().map(|v| Term(v).to_string()).collect();
    format!("{{{}}}", inner.join(", "))
}

/// Render a list of strings as an OPA array or set term: `["a", "b"]` / `{"a", "b"}`.
pub(crate) fn render_strings<'a>(
    items: impl IntoIterator<Item = &'a String>,
    open: char,
    close: char,
) -> String {
    let mut out = String::new();
    out.push(open);
    for (i, s) in items.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&Value::String(s.clone()).to_string());
    }
    out.push(close);
    out
}

/// Test helper shared by the rule modules: bind `parameters` with a rule's `bind` and
/// return the messages it gives for `review`; a bind or evaluation error fails the test.
#[cfg(test)]
pub(crate) fn messages(
    bind: fn(&Value) -> Result<Arc<dyn BoundProgram>, EngineError>,
    parameters: &Value,
    review: &crate::review::Review,
) -> Vec<String> {
    let rule = match bind(parameters) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    match rule.evaluate(&super::EvalInput::new(review, &Value::Null)) {
        Ok(v) => v.into_iter().map(|v| v.msg).collect(),
        Err(e) => panic!("{e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(rule: Value) -> ConstraintTemplate {
        let doc = json!({
            "apiVersion": "templates.gatekeeper.sh/v1",
            "kind": "ConstraintTemplate",
            "metadata": {"name": "k8sthing"},
            "spec": {
                "crd": {"spec": {"names": {"kind": "K8sThing"}}},
                "targets": [{
                    "target": "admission.k8s.gatekeeper.sh",
                    "code": [{"engine": "Native", "source": rule}]
                }]
            }
        });
        match ConstraintTemplate::from_value(&doc) {
            Ok(t) => t,
            Err(e) => panic!("test template rejected: {e}"),
        }
    }

    #[test]
    fn compiles_known_rule_and_binds_null_parameters() {
        for name in rule_names() {
            let t = template(json!({"rule": name}));
            let program = match compile(&t) {
                Some(Ok(p)) => p,
                other => panic!("{name}: {other:?}"),
            };
            assert_eq!(program.engine(), EngineKind::Native);
            assert!(
                program.bind(&Value::Null).is_ok(),
                "{name} rejects null parameters"
            );
        }
    }

    #[test]
    fn unknown_rule_lists_known_rules() {
        let t = template(json!({"rule": "k8snope"}));
        match compile(&t) {
            Some(Err(EngineError::Compile { message, .. })) => {
                assert!(message.contains("k8snope"), "{message}");
                assert!(message.contains("k8sallowedrepos"), "{message}");
            }
            other => panic!("expected a compile error, got {other:?}"),
        }
        let t = template(json!({}));
        assert!(matches!(
            compile(&t),
            Some(Err(EngineError::Compile { .. }))
        ));
    }

    #[test]
    fn opa_rendering_matches_sprintf() {
        assert_eq!(Opa(&json!("x")).to_string(), "x");
        assert_eq!(Opa(&json!(["a", "b"])).to_string(), r#"["a", "b"]"#);
        assert_eq!(
            Opa(&json!({"b": 1, "a": [true, null]})).to_string(),
            r#"{"a": [true, null], "b": 1}"#
        );
        assert_eq!(Opa(&json!(1.5)).to_string(), "1.5");
        let owned = ["a".to_string(), "b".to_string()];
        assert_eq!(render_strings(&owned, '{', '}'), r#"{"a", "b"}"#);
    }

    #[test]
    fn string_list_reports_the_field() {
        let p = json!({"repos": ["a", 1]});
        match string_list(&p, "repos") {
            Err(EngineError::Parameters(m)) => assert!(m.contains("repos[1]"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            string_list(&json!({"repos": null}), "repos").ok(),
            Some(None)
        );
    }
}
