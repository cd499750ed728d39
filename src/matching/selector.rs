//! Kubernetes label selectors (`matchLabels` + `matchExpressions`) with the API machinery's
//! semantics, evaluated without allocating against whatever label storage is at hand.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::plan::{labels_of, map_get, str_eq};
use super::Labels;

/// Cached namespace label sets up to this size are scanned rather than tree-searched.
const SCAN_MAX: usize = 16;

/// The label the API server sets on every Namespace to its own name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// A Kubernetes `LabelSelector`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// Exact key/value pairs, all required.
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements, all required.
    #[serde(default)]
    pub match_expressions: Vec<SelectorRequirement>,
}

/// One `matchExpressions[]` entry.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct SelectorRequirement {
    /// Label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// Values for `In` / `NotIn`.
    #[serde(default)]
    pub values: Vec<String>,
}

/// A borrowed view of one label set, so a selector can read an object's JSON labels or a
/// cached namespace's map alike, with the namespace-name label laid over either.
#[derive(Debug, Clone, Copy, Default)]
pub struct LabelView<'a> {
    /// Labels straight from an object's `metadata.labels`.
    pub json: Option<&'a Map<String, Value>>,
    /// Labels from the namespace cache.
    pub map: Option<&'a Labels>,
    /// When set, `kubernetes.io/metadata.name` reads as this value whatever the base says,
    /// as the API server guarantees for every Namespace.
    pub namespace_name: Option<&'a str>,
}

impl<'a> LabelView<'a> {
    /// The labels of a JSON object (absent or malformed labels read as none).
    pub fn of_object(object: &'a Value) -> Self {
        LabelView {
            json: labels_of(object),
            ..LabelView::default()
        }
    }

    /// The value of one label. Non-string JSON values are treated as absent: Kubernetes
    /// labels are always strings, so such an object could never exist in a cluster.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        if let Some(name) = self.namespace_name {
            if str_eq(key, NAMESPACE_NAME_LABEL) {
                return Some(name);
            }
        }
        self.get_base(key)
    }

    /// The value of one label in the underlying storage, ignoring the name overlay. Small
    /// label sets are scanned with [`str_eq`] rather than hashed or tree-searched: label
    /// sets are short and this runs for every selector of every constraint.
    pub(super) fn get_base(&self, key: &str) -> Option<&'a str> {
        if let Some(json) = self.json {
            return map_get(json, key).and_then(Value::as_str);
        }
        let map = self.map?;
        if map.len() > SCAN_MAX {
            return map.get(key).map(String::as_str);
        }
        map.iter()
            .find(|(k, _)| str_eq(k, key))
            .map(|(_, v)| v.as_str())
    }
}

impl LabelSelector {
    /// Does the label set satisfy every `matchLabels` pair and every expression? An empty
    /// selector matches everything, as in Kubernetes. An unknown operator matches nothing
    /// (the compiled form used by [`super::Match`] reports it as an error instead).
    pub fn matches(&self, labels: &LabelView<'_>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v.as_str()))
            && self.match_expressions.iter().all(|r| r.matches(labels))
    }

    /// What the API machinery's `LabelSelectorAsSelector` refuses: unknown operators,
    /// `In`/`NotIn` without values, `Exists`/`DoesNotExist` with values, malformed keys and
    /// values. Not a load-time check: the API server stores such selectors, and the match
    /// reports the error when a request reaches the selector (see [`super::Match::check`]).
    pub fn validate(&self) -> Result<(), String> {
        for (key, value) in &self.match_labels {
            validate_key(key)?;
            validate_value(value)?;
        }
        self.match_expressions
            .iter()
            .try_for_each(SelectorRequirement::validate)
    }
}

impl SelectorRequirement {
    /// Kubernetes set-based semantics: `NotIn` and `DoesNotExist` hold when the key is absent.
    pub fn matches(&self, labels: &LabelView<'_>) -> bool {
        let value = labels.get(&self.key);
        let listed = |v: &str| self.values.iter().any(|x| x == v);
        match self.operator.as_str() {
            "In" => value.is_some_and(listed),
            "NotIn" => !value.is_some_and(listed),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    }

    /// Reject unknown operators, `In`/`NotIn` without values, `Exists`/`DoesNotExist` with
    /// values, and malformed keys or values, in the API machinery's order (the operator
    /// first), so the first error reported is the one Gatekeeper reports.
    pub fn validate(&self) -> Result<(), String> {
        match self.operator.as_str() {
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            // The API machinery's own wording.
            other => return Err(format!("{other:?} is not a valid label selector operator")),
        }
        validate_key(&self.key)?;
        match self.operator.as_str() {
            "In" | "NotIn" if self.values.is_empty() => Err(format!(
                "operator {} needs at least one value",
                self.operator
            )),
            "Exists" | "DoesNotExist" if !self.values.is_empty() => {
                Err(format!("operator {} takes no values", self.operator))
            }
            _ => self.values.iter().try_for_each(|v| validate_value(v)),
        }
    }
}

/// A label key: an optional DNS-subdomain prefix and `/`, then a name of at most 63
/// characters.
fn validate_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        let ok = !prefix.is_empty()
            && prefix.len() <= 253
            && prefix.split('.').all(|part| {
                !part.is_empty()
                    && part.len() <= 63
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            });
        if !ok {
            return Err(format!("label key {key:?}: invalid prefix {prefix:?}"));
        }
    }
    if name.is_empty() || !is_label_name(name) {
        return Err(format!(
            "label key {key:?}: name must be 1-63 alphanumerics, `-`, `_` or `.`, \
             starting and ending with an alphanumeric"
        ));
    }
    Ok(())
}

/// A label value: empty, or the same shape as a key's name part.
fn validate_value(value: &str) -> Result<(), String> {
    if value.is_empty() || is_label_name(value) {
        Ok(())
    } else {
        Err(format!(
            "label value {value:?}: must be at most 63 alphanumerics, `-`, `_` or `.`, \
             starting and ending with an alphanumeric"
        ))
    }
}

fn is_label_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    s.len() <= 63
        && first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sel(v: Value) -> LabelSelector {
        serde_json::from_value(v).expect("test selector parses")
    }

    fn req(key: &str, operator: &str, values: &[&str]) -> SelectorRequirement {
        SelectorRequirement {
            key: key.to_string(),
            operator: operator.to_string(),
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    fn labels(v: Value) -> Value {
        json!({"metadata": {"labels": v}})
    }

    #[test]
    fn operators_follow_kubernetes_semantics() {
        let obj = labels(json!({"env": "prod", "team": "a"}));
        let view = LabelView::of_object(&obj);
        assert!(req("env", "In", &["prod", "dev"]).matches(&view));
        assert!(!req("env", "In", &["dev"]).matches(&view));
        assert!(!req("zone", "In", &["x"]).matches(&view));
        assert!(!req("env", "NotIn", &["prod"]).matches(&view));
        assert!(req("env", "NotIn", &["dev"]).matches(&view));
        assert!(
            req("zone", "NotIn", &["x"]).matches(&view),
            "absent key passes NotIn"
        );
        assert!(req("team", "Exists", &[]).matches(&view));
        assert!(!req("zone", "Exists", &[]).matches(&view));
        assert!(req("zone", "DoesNotExist", &[]).matches(&view));
        assert!(!req("team", "DoesNotExist", &[]).matches(&view));
        assert!(
            !req("env", "Gt", &["1"]).matches(&view),
            "unknown operator never matches"
        );
        assert!(
            !req("env", "in", &["prod"]).matches(&view),
            "operators are case-sensitive"
        );
    }

    #[test]
    fn match_labels_and_expressions_are_anded() {
        let s = sel(json!({
            "matchLabels": {"env": "prod"},
            "matchExpressions": [{"key": "team", "operator": "Exists"}]
        }));
        let both = labels(json!({"env": "prod", "team": "a"}));
        let one = labels(json!({"env": "prod"}));
        assert!(s.matches(&LabelView::of_object(&both)));
        assert!(!s.matches(&LabelView::of_object(&one)));
        assert!(sel(json!({})).matches(&LabelView::default()));
    }

    #[test]
    fn missing_or_malformed_labels_read_as_none() {
        let s = sel(json!({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}));
        for obj in [json!({}), json!({"metadata": {"labels": "x"}}), Value::Null] {
            assert!(s.matches(&LabelView::of_object(&obj)), "{obj}");
        }
        let number = labels(json!({"a": 1}));
        assert!(s.matches(&LabelView::of_object(&number)));
    }

    #[test]
    fn map_views_and_the_name_overlay() {
        let map: Labels = [
            ("env".to_string(), "prod".to_string()),
            (NAMESPACE_NAME_LABEL.to_string(), "spoofed".to_string()),
        ]
        .into();
        let view = LabelView {
            map: Some(&map),
            namespace_name: Some("real"),
            json: None,
        };
        assert_eq!(view.get("env"), Some("prod"));
        assert_eq!(view.get(NAMESPACE_NAME_LABEL), Some("real"));
        assert_eq!(view.get("zone"), None);
        let bare = LabelView {
            namespace_name: Some("only"),
            ..LabelView::default()
        };
        assert_eq!(bare.get(NAMESPACE_NAME_LABEL), Some("only"));
        assert_eq!(bare.get("env"), None);
    }

    #[test]
    fn validation_checks_operators_and_values() {
        assert_eq!(req("a", "In", &["x"]).validate(), Ok(()));
        assert_eq!(req("a", "NotIn", &["x", ""]).validate(), Ok(()));
        assert_eq!(req("a", "Exists", &[]).validate(), Ok(()));
        assert_eq!(req("a", "DoesNotExist", &[]).validate(), Ok(()));
        assert!(req("a", "In", &[]).validate().is_err());
        assert!(req("a", "NotIn", &[]).validate().is_err());
        assert!(req("a", "Exists", &["x"]).validate().is_err());
        assert!(req("a", "DoesNotExist", &["x"]).validate().is_err());
        assert_eq!(
            req("-bad key", "Gt", &["1"]).validate(),
            Err("\"Gt\" is not a valid label selector operator".to_string()),
            "the operator is checked first, as the API machinery does"
        );
        assert!(req("a", "", &[]).validate().is_err());
        assert!(req("a", "In", &["bad value"]).validate().is_err());
    }

    #[test]
    fn validation_checks_keys_and_match_labels() {
        for ok in [
            "app",
            "app.kubernetes.io/name",
            "kubernetes.io/metadata.name",
            "A_b-c.9",
        ] {
            assert_eq!(req(ok, "Exists", &[]).validate(), Ok(()), "{ok}");
        }
        let long = "x".repeat(64);
        for bad in [
            "",
            "-app",
            "app-",
            "/app",
            "Bad_Prefix/app",
            "a/b/c",
            long.as_str(),
        ] {
            assert!(req(bad, "Exists", &[]).validate().is_err(), "{bad}");
        }
        let bad_value = sel(json!({"matchLabels": {"app": "no spaces"}}));
        let err = bad_value.validate().unwrap_err();
        assert!(err.starts_with("label value \"no spaces\""), "{err}");
        let bad_key = sel(json!({"matchLabels": {"-x": "y"}}));
        assert!(bad_key.validate().is_err());
        assert_eq!(sel(json!({"matchLabels": {"a": ""}})).validate(), Ok(()));
    }
}
