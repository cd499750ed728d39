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
//!
//! Referential rules (unique Ingress hosts) read `data.inventory` from
//! [`EvalInput::inventory`](super::EvalInput): the same `{cluster: {apiVersion: {kind:
//! {name: obj}}}, namespace: {ns: {apiVersion: {kind: {name: obj}}}}}` document, borrowed,
//! that the Rego engine loads as `data.inventory`. Rules that do not read it pay nothing
//! for it: no conversion or copy is made per request.

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
mod opa;
mod pspallowprivilegeescalation;
mod psphostnamespace;
mod pspprivilegedcontainer;
pub mod quantity;
mod requiredannotations;
mod requiredlabels;
mod requiredprobes;
mod uniqueingresshost;
mod violations;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod rego_diff;
#[cfg(test)]
mod scaling_tests;

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use super::{BoundProgram, EngineError, EngineKind, InventoryUse, Program};
pub(crate) use crate::matching::field;
use crate::policy::ConstraintTemplate;
use crate::review::Review;
pub(crate) use opa::{opa_cmp, opa_set, render_set, render_strings, Opa};
pub(crate) use uniqueingresshost::IngressHosts;
pub(crate) use violations::Violations;

/// The judged object (`request.object`), `Null` when absent. Rules read it through
/// [`field`] rather than `Value::get`: the hashed lookup and its `memcmp` key comparison
/// were the largest cost of the native rules in the evaluation benchmark.
pub(crate) fn judged_object(review: &Review) -> &Value {
    field(&review.request, "object").unwrap_or(&Value::Null)
}

/// A field of the request's `kind` (`group`, `version`, `kind`) as a string: the library's
/// Rego reads the kind from the request (`input.review.kind`), not from the object.
pub(crate) fn request_kind<'a>(request: &'a Value, key: &str) -> Option<&'a str> {
    field(request, "kind")
        .and_then(|k| field(k, key))
        .and_then(Value::as_str)
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

    fn inventory_use(&self) -> InventoryUse {
        match self.rule {
            "k8suniqueingresshost" => InventoryUse::Kinds(&["Ingress"]),
            _ => InventoryUse::Nothing,
        }
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

/// Test helper shared by the rule modules: a Pod named `p` with the given `spec`.
#[cfg(test)]
pub(crate) fn test_pod(spec: Value) -> Value {
    serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec})
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
