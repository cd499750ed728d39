//! `K8sDisallowedTags`: container images must name a tag, and not one from a deny list.
//!
//! Judges `containers`, `initContainers` and `ephemeralContainers` not exempted by
//! `exemptImages`. As in the library's Rego:
//! - an image "uses a disallowed tag" when it ends with `:<tag>` for a listed tag;
//! - an image "didn't specify an image tag" when the part after its last `/` has no `:`
//!   (so `registry:5000/nginx` is untagged, and `nginx@sha256:...` counts as tagged);
//!   an untagged image is not treated as `latest`, it gets its own message, which is
//!   reported even when the constraint has no parameters;
//! - containers without a name, or with a missing or non-string image, are skipped.

use std::sync::Arc;

use serde_json::Value;

use super::containers::{containers, ExemptImages, ALL_FIELDS};
use super::{field, judged_object, render_strings, string_list, Opa, Violations};
use crate::engine::{BoundProgram, EngineError, EvalInput, Violation};
use crate::matching::str_ends_with;

/// A bound `K8sDisallowedTags` constraint.
#[derive(Debug)]
struct DisallowedTags {
    /// `:<tag>` suffixes and the OPA rendering of `tags`; `None` without `tags`.
    tags: Option<(Vec<String>, String)>,
    exempt: ExemptImages,
}

/// Bind a `K8sDisallowedTags` constraint.
pub(crate) fn bind(parameters: &Value) -> Result<Arc<dyn BoundProgram>, EngineError> {
    let tags = string_list(parameters, "tags")?.map(|t| {
        let rendered = render_strings(&t, '[', ']');
        (t.iter().map(|tag| format!(":{tag}")).collect(), rendered)
    });
    Ok(Arc::new(DisallowedTags {
        tags,
        exempt: ExemptImages::from_parameters(parameters)?,
    }))
}

impl BoundProgram for DisallowedTags {
    fn evaluate(&self, input: &EvalInput<'_>) -> Result<Vec<Violation>, EngineError> {
        let mut out = Violations::new();
        let pacer = input.deadline.pacer();
        for (_, container) in containers(judged_object(input.review), ALL_FIELDS) {
            pacer.tick()?;
            if self.exempt.is_exempt(container) {
                continue;
            }
            let (Some(name), Some(image)) = (
                field(container, "name"),
                field(container, "image").and_then(Value::as_str),
            ) else {
                continue;
            };
            if let Some((suffixes, rendered)) = &self.tags {
                if suffixes.iter().any(|s| str_ends_with(image, s)) {
                    out.push(Violation::new(format!(
                        "container <{}> uses a disallowed tag <{image}>; disallowed tags are {rendered}",
                        Opa(name)
                    )));
                }
            }
            let last = image.rsplit('/').next().unwrap_or(image);
            if !last.contains(':') {
                out.push(Violation::new(format!(
                    "container <{}> didn't specify an image tag <{image}>",
                    Opa(name)
                )));
            }
        }
        Ok(out.into_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::Review;
    use serde_json::json;

    fn run(parameters: Value, spec: Value) -> Vec<String> {
        let review = Review::from_object(json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec
        }));
        super::super::messages(bind, &parameters, &review)
    }

    fn one(name: &str, image: &str) -> Value {
        json!({"containers": [{"name": name, "image": image}]})
    }

    #[test]
    fn disallowed_and_missing_tags() {
        let p = json!({"tags": ["latest", "dev"]});
        assert!(run(p.clone(), one("a", "nginx:1.25")).is_empty());
        assert_eq!(
            run(p.clone(), one("a", "nginx:latest")),
            vec![
                r#"container <a> uses a disallowed tag <nginx:latest>; disallowed tags are ["latest", "dev"]"#
            ]
        );
        assert_eq!(
            run(p.clone(), one("a", "nginx")),
            vec!["container <a> didn't specify an image tag <nginx>"]
        );
        assert_eq!(
            run(p.clone(), one("a", "registry:5000/nginx")),
            vec!["container <a> didn't specify an image tag <registry:5000/nginx>"]
        );
        assert!(
            run(p, one("a", "nginx@sha256:abcd")).is_empty(),
            "a digest has a colon"
        );
    }

    #[test]
    fn tag_match_is_a_suffix_match() {
        let p = json!({"tags": ["latest"]});
        assert!(run(p.clone(), one("a", "nginx:notlatest")).is_empty());
        assert_eq!(run(p, one("a", "reg:5000/nginx:latest")).len(), 1);
    }

    #[test]
    fn exemptions_and_null_parameters() {
        let p = json!({"tags": ["latest"], "exemptImages": ["acme/*", "nginx:latest"]});
        assert!(run(p.clone(), one("a", "acme/tool")).is_empty());
        assert!(run(p.clone(), one("a", "nginx:latest")).is_empty());
        assert_eq!(run(p, one("a", "nginx")).len(), 1);
        assert_eq!(
            run(Value::Null, one("a", "nginx:latest")),
            Vec::<String>::new(),
            "no tags: only the untagged check runs"
        );
        assert_eq!(run(Value::Null, one("a", "nginx")).len(), 1);
    }

    #[test]
    fn all_container_kinds_and_odd_shapes() {
        let spec = json!({
            "initContainers": [{"name": "i", "image": "busybox"}],
            "ephemeralContainers": [{"name": "e", "image": "debug:latest"}],
            "containers": [{"name": "x"}, {"image": "nameless"}, {"name": "n", "image": 3}]
        });
        assert_eq!(
            run(json!({"tags": ["latest"]}), spec),
            vec![
                "container <i> didn't specify an image tag <busybox>",
                r#"container <e> uses a disallowed tag <debug:latest>; disallowed tags are ["latest"]"#,
            ]
        );
        assert!(run(json!({"tags": ["latest"]}), json!(null)).is_empty());
    }

    fn edge_cases() -> Vec<(Value, Value)> {
        let params = [
            Value::Null,
            json!({"tags": []}),
            json!({"tags": ["latest"]}),
            json!({"tags": ["latest", "dev"], "exemptImages": ["acme/*", "nginx:latest"]}),
        ];
        let images = [
            "nginx",
            "nginx:latest",
            "nginx:1.25",
            "nginx:notlatest",
            "registry:5000/nginx",
            "registry:5000/nginx:dev",
            "nginx@sha256:abcd",
            "acme/tool",
            "acme/tool:latest",
            "",
            ":latest",
            "a/b/c",
        ];
        let mut cases = Vec::new();
        for p in &params {
            for image in images {
                for field in ["containers", "initContainers", "ephemeralContainers"] {
                    let obj = json!({"kind": "Pod", "metadata": {"name": "p"},
                                     "spec": {field: [{"name": "c", "image": image}]}});
                    cases.push((p.clone(), obj));
                }
            }
            let odd = json!({"kind": "Pod", "spec": {"containers": [
                {"name": "x"}, {"image": "nameless"}, {"name": "n", "image": 3}, {"name": {"a": 1}, "image": "z"}
            ]}});
            cases.push((p.clone(), odd));
            cases.push((p.clone(), Value::Null));
        }
        cases
    }

    #[test]
    fn agrees_with_library_rego() {
        super::super::rego_diff::check_cases("disallowedtags", "k8sdisallowedtags", &edge_cases());
    }

    #[test]
    fn conformance_suite() {
        super::super::conformance::check("disallowedtags", "k8sdisallowedtags");
    }
}
