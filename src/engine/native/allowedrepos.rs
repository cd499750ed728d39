//! `K8sAllowedRepos`: every container image must start with one of the allowed prefixes.
//!
//! Judges `containers`, `initContainers` and `ephemeralContainers`, with the library's
//! wording (`container <name> has an invalid image repo <image>, allowed repos are [...]`,
//! `initContainer ...`, `ephemeralContainer ...`). As in the Rego, the match is a plain
//! string prefix (so `repos` entries should end in `/`), a constraint without `repos`
//! reports nothing (the Rego's message cannot be formed), `repos: []` rejects every image,
//! a container lacking a name or image is skipped, and a non-string image is rejected.

use std::sync::Arc;

use serde_json::Value;

use super::containers::{containers, ALL_FIELDS};
use super::{field, judged_object, render_strings, string_list, Opa, Violations};
use crate::engine::{BoundProgram, EngineError, EvalInput, Violation};
use crate::matching::str_starts_with;

/// A bound `K8sAllowedRepos` constraint.
#[derive(Debug)]
struct AllowedRepos {
    /// The allowed prefixes and their OPA rendering for messages; `None` without `repos`.
    repos: Option<(Vec<String>, String)>,
}

/// Bind a `K8sAllowedRepos` constraint.
pub(crate) fn bind(parameters: &Value) -> Result<Arc<dyn BoundProgram>, EngineError> {
    let repos = string_list(parameters, "repos")?.map(|r| {
        let rendered = render_strings(&r, '[', ']');
        (r, rendered)
    });
    Ok(Arc::new(AllowedRepos { repos }))
}

impl BoundProgram for AllowedRepos {
    fn evaluate(&self, input: &EvalInput<'_>) -> Result<Vec<Violation>, EngineError> {
        let mut out = Violations::new();
        let Some((repos, rendered)) = &self.repos else {
            return Ok(Vec::new());
        };
        let pacer = input.deadline.pacer();
        for (kind, container) in containers(judged_object(input.review), ALL_FIELDS) {
            pacer.tick()?;
            let (Some(name), Some(image)) = (field(container, "name"), field(container, "image"))
            else {
                continue;
            };
            let allowed = image
                .as_str()
                .is_some_and(|img| repos.iter().any(|r| str_starts_with(img, r)));
            if !allowed {
                out.push(Violation::new(format!(
                    "{kind} <{}> has an invalid image repo <{}>, allowed repos are {rendered}",
                    Opa(name),
                    Opa(image)
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

    #[test]
    fn prefix_match_over_all_container_kinds() {
        let p = json!({"repos": ["openpolicyagent/", "ghcr.io/acme/"]});
        let spec = json!({
            "containers": [{"name": "ok", "image": "openpolicyagent/opa:1"},
                           {"name": "bad", "image": "nginx"}],
            "initContainers": [{"name": "init", "image": "ghcr.io/evil/x"}],
            "ephemeralContainers": [{"name": "dbg", "image": "ghcr.io/acme/debug"}]
        });
        assert_eq!(
            run(p, spec),
            vec![
                r#"container <bad> has an invalid image repo <nginx>, allowed repos are ["openpolicyagent/", "ghcr.io/acme/"]"#,
                r#"initContainer <init> has an invalid image repo <ghcr.io/evil/x>, allowed repos are ["openpolicyagent/", "ghcr.io/acme/"]"#,
            ]
        );
    }

    #[test]
    fn empty_list_rejects_everything_and_null_reports_nothing() {
        let spec = json!({"containers": [{"name": "a", "image": "x"}]});
        assert_eq!(
            run(json!({"repos": []}), spec.clone()),
            vec!["container <a> has an invalid image repo <x>, allowed repos are []"]
        );
        assert!(run(Value::Null, spec).is_empty());
    }

    #[test]
    fn odd_containers() {
        let p = json!({"repos": ["a/"]});
        assert!(run(p.clone(), json!({})).is_empty());
        assert!(run(p.clone(), json!({"containers": []})).is_empty());
        assert!(run(p.clone(), json!({"containers": [{"image": "b/x"}]})).is_empty());
        assert_eq!(
            run(p, json!({"containers": [{"name": "n", "image": 7}]})),
            vec![r#"container <n> has an invalid image repo <7>, allowed repos are ["a/"]"#]
        );
    }

    #[test]
    fn duplicate_messages_collapse() {
        let c = json!({"name": "a", "image": "x"});
        assert_eq!(
            run(
                json!({"repos": ["a/"]}),
                json!({"containers": [c.clone(), c]})
            )
            .len(),
            1
        );
    }

    #[test]
    fn rejects_non_list_repos() {
        assert!(matches!(
            bind(&json!({"repos": "a/"})),
            Err(EngineError::Parameters(_))
        ));
    }

    fn edge_cases() -> Vec<(Value, Value)> {
        let params = [
            Value::Null,
            json!({}),
            json!({"repos": []}),
            json!({"repos": ["openpolicyagent/"]}),
            json!({"repos": ["openpolicyagent/", "ghcr.io/acme/", ""]}),
        ];
        let specs = [
            json!(null),
            json!({}),
            json!({"containers": []}),
            json!({"containers": [{"name": "a", "image": "openpolicyagent/opa"}]}),
            json!({"containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "nginx"}]}),
            json!({"initContainers": [{"name": "i", "image": "ghcr.io/acme/x"}]}),
            json!({"ephemeralContainers": [{"name": "e", "image": "busybox"}]}),
            json!({"containers": [{"image": "nginx"}, {"name": "n"}, {"name": 5, "image": 7}]}),
            json!({"containers": [{"name": "a", "image": "x"}], "initContainers": [{"name": "a", "image": "x"}]}),
        ];
        let mut cases = Vec::new();
        for p in &params {
            for spec in &specs {
                let obj = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec});
                cases.push((p.clone(), obj));
            }
        }
        cases
    }

    #[test]
    fn agrees_with_library_rego() {
        super::super::rego_diff::check_cases("allowedrepos", "k8sallowedrepos", &edge_cases());
    }

    #[test]
    fn conformance_suite() {
        super::super::conformance::check("allowedrepos", "k8sallowedrepos");
    }
}
