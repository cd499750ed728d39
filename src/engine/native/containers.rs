//! Walking a workload's containers and matching `exemptImages`, shared by the rules that
//! judge containers one by one.

use std::collections::HashSet;

use serde_json::Value;

use super::{field, param, EngineError};
use crate::matching::str_starts_with;

/// `spec.containers`, `spec.initContainers` and `spec.ephemeralContainers`: what the image
/// rules (allowed repos, disallowed tags) read.
pub(crate) const ALL_FIELDS: &[&str] = &["containers", "initContainers", "ephemeralContainers"];

/// `spec.containers` and `spec.initContainers`: what the resource rules read (ephemeral
/// containers cannot set resources).
pub(crate) const RESOURCE_FIELDS: &[&str] = &["containers", "initContainers"];

/// The containers of `object.spec` under the given list fields, each with the singular
/// name of its field (`container`, `initContainer`, ...) for messages. Fields that are
/// absent or not lists contribute nothing. Allocation-free.
pub(crate) fn containers<'a>(
    object: &'a Value,
    fields: &'a [&'a str],
) -> impl Iterator<Item = (&'a str, &'a Value)> + 'a {
    let spec = field(object, "spec");
    fields.iter().flat_map(move |list| {
        let items = spec
            .and_then(|s| field(s, list))
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let singular = list.strip_suffix('s').unwrap_or(list);
        items.iter().map(move |c| (singular, c))
    })
}

/// Every entry of `spec.containers`, `spec.initContainers` and `spec.ephemeralContainers`
/// the way the pod-security templates' Rego collects them (`spec.<field>[_]`): a list's
/// items or a map's values, of any type, so a malformed entry still reaches the rule,
/// which then finds none of the fields it reads. Allocation-free.
pub(crate) fn rego_containers(object: &Value) -> impl Iterator<Item = &Value> {
    let spec = field(object, "spec");
    ALL_FIELDS
        .iter()
        .flat_map(move |list| super::rego_iter(spec.and_then(|s| field(s, list))))
}

/// The walk the pod-security container rules share, as their Rego does it: nothing on
/// UPDATE (the fields cannot change on a running Pod); otherwise every container of
/// [`rego_containers`] that is not exempt and has a `name` is handed to `judge` with that
/// name, and each message it returns becomes one violation with empty details, repeats
/// collapsing as in a Rego set. The walk is paced against the input's deadline.
///
/// # Errors
/// [`EngineError::DeadlineExceeded`] when the deadline passes during the walk.
pub(crate) fn per_container_violations(
    input: &crate::engine::EvalInput<'_>,
    exempt: &ExemptImages,
    judge: impl Fn(&Value, &Value) -> Option<String>,
) -> Result<Vec<crate::engine::Violation>, EngineError> {
    let mut out = super::Violations::new();
    if input.review.operation == crate::review::Operation::Update {
        return Ok(out.into_vec());
    }
    let pacer = input.deadline.pacer();
    for container in rego_containers(super::judged_object(input.review)) {
        pacer.tick()?;
        let Some(name) = field(container, "name") else {
            continue;
        };
        if exempt.is_exempt(container) {
            continue;
        }
        if let Some(msg) = judge(container, name) {
            let details = Some(serde_json::json!({}));
            out.push(crate::engine::Violation { msg, details });
        }
    }
    Ok(out.into_vec())
}

/// The `exemptImages` parameter: exact image names, and prefixes written with a trailing
/// `*` (`my-registry/my-image-*`). Containers whose image matches are skipped.
#[derive(Debug, Clone, Default)]
pub(crate) struct ExemptImages {
    /// Hashed: the test runs once per container.
    exact: HashSet<String>,
    prefixes: Vec<String>,
}

impl ExemptImages {
    /// Read `exemptImages` from a constraint's parameters; absent means none.
    pub(crate) fn from_parameters(parameters: &Value) -> Result<Self, EngineError> {
        let mut out = ExemptImages::default();
        if param(parameters, "exemptImages").is_none() {
            return Ok(out);
        }
        for entry in super::string_list(parameters, "exemptImages")?.unwrap_or_default() {
            // Only one trailing `*` is a wildcard, as in the library's trim_suffix.
            match entry.strip_suffix('*') {
                Some(prefix) => out.prefixes.push(prefix.to_string()),
                None => {
                    out.exact.insert(entry);
                }
            }
        }
        Ok(out)
    }

    /// Whether the container's image is exempt. A missing or non-string image never is.
    pub(crate) fn is_exempt(&self, container: &Value) -> bool {
        let Some(image) = field(container, "image").and_then(Value::as_str) else {
            return false;
        };
        self.exact.contains(image) || self.prefixes.iter().any(|p| str_starts_with(image, p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn walks_fields_in_order_with_singular_names() {
        let pod = json!({"spec": {
            "initContainers": [{"name": "i"}],
            "containers": [{"name": "a"}, {"name": "b"}],
            "ephemeralContainers": [{"name": "e"}]
        }});
        let seen: Vec<(&str, &str)> = containers(&pod, ALL_FIELDS)
            .map(|(f, c)| (f, c["name"].as_str().unwrap_or("")))
            .collect();
        assert_eq!(
            seen,
            vec![
                ("container", "a"),
                ("container", "b"),
                ("initContainer", "i"),
                ("ephemeralContainer", "e")
            ]
        );
        assert_eq!(containers(&pod, RESOURCE_FIELDS).count(), 3);
    }

    #[test]
    fn tolerates_missing_and_malformed_specs() {
        assert_eq!(containers(&json!({}), ALL_FIELDS).count(), 0);
        assert_eq!(containers(&Value::Null, ALL_FIELDS).count(), 0);
        assert_eq!(
            containers(&json!({"spec": {"containers": {"a": 1}}}), ALL_FIELDS).count(),
            0
        );
        assert_eq!(containers(&json!({"spec": "x"}), ALL_FIELDS).count(), 0);
    }

    #[test]
    fn rego_walk_reads_lists_and_maps_of_anything() {
        let pod = json!({"spec": {
            "containers": {"x": {"name": "a"}, "y": "junk"},
            "initContainers": [{"name": "i"}, 3],
            "ephemeralContainers": "e"
        }});
        assert_eq!(rego_containers(&pod).count(), 4);
        assert_eq!(rego_containers(&Value::Null).count(), 0);
    }

    #[test]
    fn exempt_images_exact_and_prefix() {
        let ex = ExemptImages::from_parameters(&json!({"exemptImages": ["a/b:1", "reg/c-*"]}));
        let ex = match ex {
            Ok(e) => e,
            Err(e) => panic!("{e}"),
        };
        assert!(ex.is_exempt(&json!({"image": "a/b:1"})));
        assert!(!ex.is_exempt(&json!({"image": "a/b:2"})));
        assert!(ex.is_exempt(&json!({"image": "reg/c-d:latest"})));
        assert!(ex.is_exempt(&json!({"image": "reg/c-"})));
        assert!(!ex.is_exempt(&json!({"image": "reg/d"})));
        assert!(!ex.is_exempt(&json!({"name": "no-image"})));
        assert!(!ex.is_exempt(&json!({"image": 5})));
        let none = ExemptImages::from_parameters(&Value::Null)
            .map(|e| e.is_exempt(&json!({"image": "x"})));
        assert_eq!(none.ok(), Some(false));
        assert!(ExemptImages::from_parameters(&json!({"exemptImages": "x"})).is_err());
    }
}
