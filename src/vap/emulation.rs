//! The API server's side of a generated policy and binding, for tests: which requests the
//! policy's `matchConstraints` and the binding's `matchResources` send to it, the bindings
//! its expressions see (`object`, `oldObject`, `request`, `params`, `namespaceObject`), and
//! what its `validationActions` make of failed validations. The expressions themselves run
//! on portcullis's CEL engine. Compared with portcullis's webhook on the same reviews, it
//! shows whether an exported policy decides as the webhook does.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::deadline::Deadline;
use crate::engine::cel::{AdmissionPolicyProgram, PolicyInput};
use crate::matching::{LabelSelector, LabelView, Labels};
use crate::review::{Operation, Review};

/// What the API server would answer for one policy and binding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// A `Deny` binding had failed validations.
    pub denied: bool,
    /// A `Warn` binding had failed validations.
    pub warned: bool,
    /// The failed validations' messages, sorted.
    pub messages: Vec<String>,
}

/// Judge `review` as the API server would with `policy`, `binding` and the constraint
/// `params`. `namespaces` are the cluster's Namespace objects by name.
pub fn judge(
    policy: &Value,
    binding: &Value,
    params: &Value,
    review: &Review,
    namespaces: &BTreeMap<String, Value>,
) -> Result<Verdict, String> {
    if !matched_by_policy(policy, review)? || !matched_by_binding(binding, review, namespaces)? {
        return Ok(Verdict::default());
    }
    let program = AdmissionPolicyProgram::compile(&policy["spec"])?;
    let request = &review.request;
    let (object, old_object) = if review.operation == Operation::Delete {
        (None, request.get("oldObject").filter(|v| !v.is_null()))
    } else {
        (
            request.get("object").filter(|v| !v.is_null()),
            request.get("oldObject").filter(|v| !v.is_null()),
        )
    };
    let namespace_object = (!review.namespace.is_empty() && !review.is_namespace()).then(|| {
        namespaces
            .get(&review.namespace)
            .cloned()
            .unwrap_or_else(|| {
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {
                "name": review.namespace,
                "labels": {"kubernetes.io/metadata.name": review.namespace}}})
            })
    });
    let input = PolicyInput {
        object,
        old_object,
        request,
        params,
        namespace_object: namespace_object.as_ref(),
    };
    let mut messages = program
        .evaluate(&input, Deadline::NONE)
        .map_err(|e| e.to_string())?;
    messages.sort();
    let actions: Vec<&str> = binding["spec"]["validationActions"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let failed = !messages.is_empty();
    Ok(Verdict {
        denied: failed && actions.contains(&"Deny"),
        warned: failed && actions.contains(&"Warn"),
        messages,
    })
}

/// `matchConstraints`: the operation is among a rule's (the exporter writes only `*`
/// resources; anything else is refused here rather than judged wrongly).
fn matched_by_policy(policy: &Value, review: &Review) -> Result<bool, String> {
    let rules = policy["spec"]["matchConstraints"]["resourceRules"]
        .as_array()
        .ok_or("policy without resourceRules")?;
    for rule in rules {
        let all = |field: &str| rule[field] == json!(["*"]);
        if !(all("apiGroups") && all("apiVersions") && all("resources")) {
            return Err(format!("rule {rule} is not emulated"));
        }
        let ops = rule["operations"]
            .as_array()
            .ok_or("rule without operations")?;
        if ops
            .iter()
            .any(|o| o == "*" || o.as_str() == Some(review.operation.as_str()))
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The binding's `objectSelector` (the object or the old object matches) and
/// `namespaceSelector` (the namespace's labels; a Namespace's own; other cluster-scoped
/// objects always pass).
fn matched_by_binding(
    binding: &Value,
    review: &Review,
    namespaces: &BTreeMap<String, Value>,
) -> Result<bool, String> {
    let resources = &binding["spec"]["matchResources"];
    let selector = |field: &str| -> Result<Option<LabelSelector>, String> {
        match resources.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|e| format!("{field}: {e}")),
        }
    };
    if let Some(sel) = selector("objectSelector")? {
        let old = review.old_object();
        let object = review.object();
        let hit = sel.matches(&LabelView::of_object(object))
            || old.is_some_and(|o| sel.matches(&LabelView::of_object(o)));
        if !hit {
            return Ok(false);
        }
    }
    if let Some(sel) = selector("namespaceSelector")? {
        if review.is_namespace() {
            let view = LabelView {
                namespace_name: Some(review.name.as_str()).filter(|n| !n.is_empty()),
                ..LabelView::of_object(review.object())
            };
            if !sel.matches(&view) {
                return Ok(false);
            }
        } else if !review.namespace.is_empty() {
            let labels: Option<Labels> = namespaces
                .get(&review.namespace)
                .map(crate::review::label_map);
            let view = LabelView {
                map: labels.as_ref(),
                namespace_name: Some(review.namespace.as_str()),
                json: None,
            };
            if !sel.matches(&view) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}
