//! The load-time compiled form of a `spec.match`, and the string and JSON lookups the hot
//! path uses instead of the standard ones.
//!
//! Why not plain `==` and `Map::get`: profiling the evaluation benchmark showed ~70% of
//! matching time in libc's `memcmp` (reached from `String == str` and from the hash maps'
//! key comparisons) and most of the rest in SipHash. The keys and values compared here are
//! short (`Pod`, `metadata`, label keys), so a length test followed by an inline byte
//! compare, and a linear scan of a small JSON object's entries, cost a few nanoseconds
//! where the library call and a hash cost tens. Everything a constraint can know before a
//! request arrives (operators, wildcard shapes, which object fields it will read) is
//! resolved once in [`Plan::compile`].

use serde_json::{Map, Value};

use super::glob::Glob;
use super::selector::{LabelSelector, LabelView, NAMESPACE_NAME_LABEL};
use super::{KindSelector, Match};

/// Objects with at most this many keys are searched by a linear scan; larger ones (rare:
/// e.g. a Pod with hundreds of labels) go through the map's hash index.
const LINEAR_SCAN_MAX: usize = 32;

/// Byte equality without a call into libc: compare the lengths, then eight bytes at a time.
#[inline]
pub fn str_eq(a: &str, b: &str) -> bool {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    while let (Some((x, rest_a)), Some((y, rest_b))) =
        (a.split_first_chunk::<8>(), b.split_first_chunk::<8>())
    {
        if u64::from_ne_bytes(*x) != u64::from_ne_bytes(*y) {
            return false;
        }
        a = rest_a;
        b = rest_b;
    }
    a.iter().zip(b).all(|(x, y)| x == y)
}

/// `value.starts_with(prefix)` through [`str_eq`]. `get` makes a prefix that would end
/// inside a multi-byte character simply not match instead of panicking.
#[inline]
pub fn str_starts_with(value: &str, prefix: &str) -> bool {
    value
        .get(..prefix.len())
        .is_some_and(|head| str_eq(head, prefix))
}

/// `value.ends_with(suffix)` through [`str_eq`].
#[inline]
pub fn str_ends_with(value: &str, suffix: &str) -> bool {
    value
        .len()
        .checked_sub(suffix.len())
        .and_then(|start| value.get(start..))
        .is_some_and(|tail| str_eq(tail, suffix))
}

/// The entry of a JSON object map under `key`, found without hashing when the map is small.
#[inline]
pub fn map_get<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if map.len() > LINEAR_SCAN_MAX {
        return map.get(key);
    }
    map.iter().find(|(k, _)| str_eq(k, key)).map(|(_, v)| v)
}

/// `value[key]` when `value` is an object that has it; `None` for anything else.
#[inline]
pub fn field<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    map_get(value.as_object()?, key)
}

/// The string at `value.metadata.<key>`, or `""` when absent or not a string.
pub fn metadata_str<'a>(object: &'a Value, key: &str) -> &'a str {
    field(object, "metadata")
        .and_then(|m| field(m, key))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `metadata.labels` of an object, when it is a JSON map.
pub fn labels_of(object: &Value) -> Option<&Map<String, Value>> {
    field(object, "metadata")
        .and_then(|m| field(m, "labels"))
        .and_then(Value::as_object)
}

/// `scope`, resolved from its string.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum Scope {
    /// Absent or `*`.
    #[default]
    Any,
    /// `Cluster`.
    Cluster,
    /// `Namespaced`.
    Namespaced,
}

/// One `kinds[]` entry with its `*` wildcards resolved: `None` covers everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct KindPlan {
    groups: Option<Vec<String>>,
    kinds: Option<Vec<String>>,
}

impl KindPlan {
    fn compile(k: &KindSelector) -> Self {
        let list =
            |l: &[String]| (!l.is_empty() && !l.iter().any(|x| x == "*")).then(|| l.to_vec());
        KindPlan {
            groups: list(&k.api_groups),
            kinds: list(&k.kinds),
        }
    }

    /// Same answer as [`KindSelector::matches`].
    #[inline]
    pub(super) fn matches(&self, group: &str, kind: &str) -> bool {
        let covers = |list: &Option<Vec<String>>, item: &str| {
            list.as_ref()
                .is_none_or(|l| l.iter().any(|x| str_eq(x, item)))
        };
        covers(&self.kinds, kind) && covers(&self.groups, group)
    }
}

/// A selector operator, resolved from its string; `Never` is an unknown operator. A selector
/// holding one never gets to match: [`CompiledSelector::error`] is set and matching reports
/// it instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Never,
}

/// One requirement of a compiled selector; `matchLabels` pairs become `In` with one value.
#[derive(Debug, Clone, PartialEq)]
struct Requirement {
    key: String,
    /// The key is `kubernetes.io/metadata.name`, which a namespace view may overlay.
    name_label: bool,
    op: Op,
    values: Vec<String>,
}

/// A [`LabelSelector`] with its operators resolved and its keys pre-classified.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct CompiledSelector {
    requirements: Vec<Requirement>,
    /// Why the API machinery could not turn this selector into a selector (an unknown
    /// operator, values where the operator takes none, a malformed key). The API server
    /// stores such a selector (the schema only says "string"), so Gatekeeper finds out
    /// per request, when the match reaches it; so does portcullis.
    pub(super) error: Option<String>,
}

impl CompiledSelector {
    fn compile(sel: &LabelSelector) -> Self {
        let error = sel.validate().err();
        let pairs = sel
            .match_labels
            .iter()
            .map(|(k, v)| (k, Op::In, std::slice::from_ref(v)));
        let exprs = sel.match_expressions.iter().map(|r| {
            let op = match r.operator.as_str() {
                "In" => Op::In,
                "NotIn" => Op::NotIn,
                "Exists" => Op::Exists,
                "DoesNotExist" => Op::DoesNotExist,
                _ => Op::Never,
            };
            (&r.key, op, r.values.as_slice())
        });
        let requirements = pairs
            .chain(exprs)
            .map(|(key, op, values)| Requirement {
                key: key.clone(),
                name_label: key == NAMESPACE_NAME_LABEL,
                op,
                values: values.to_vec(),
            })
            .collect();
        CompiledSelector {
            requirements,
            error,
        }
    }

    /// Same answer as [`LabelSelector::matches`] on the selector it was compiled from.
    pub(super) fn matches(&self, labels: &LabelView<'_>) -> bool {
        self.requirements.iter().all(|r| {
            let value = match labels.namespace_name {
                Some(name) if r.name_label => Some(name),
                _ => labels.get_base(&r.key),
            };
            let listed = |v: &str| r.values.iter().any(|x| str_eq(x, v));
            match r.op {
                Op::In => value.is_some_and(listed),
                Op::NotIn => !value.is_some_and(listed),
                Op::Exists => value.is_some(),
                Op::DoesNotExist => value.is_none(),
                Op::Never => false,
            }
        })
    }
}

/// Everything [`Match::matches`] needs from a match, decided once at load.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Plan {
    /// `source: Original` (only reviews of real requests) or `Generated` (only resources
    /// an ExpansionTemplate generated); `None` for `All` or absent.
    pub(super) generated: Option<bool>,
    /// Empty covers every kind.
    pub(super) kinds: Vec<KindPlan>,
    pub(super) scope: Scope,
    pub(super) namespaces: Vec<Glob>,
    pub(super) excluded_namespaces: Vec<Glob>,
    /// `None` when absent or empty (an empty `name` matches every object).
    pub(super) name: Option<Glob>,
    pub(super) label_selector: Option<CompiledSelector>,
    pub(super) namespace_selector: Option<CompiledSelector>,
}

impl Plan {
    /// Resolve a match's strings into the plan the hot path runs.
    pub(super) fn compile(m: &Match) -> Self {
        Plan {
            generated: match m.source.as_deref() {
                Some("Generated") => Some(true),
                Some("Original") => Some(false),
                _ => None,
            },
            kinds: m.kinds.iter().map(KindPlan::compile).collect(),
            scope: match m.scope.as_deref() {
                Some("Cluster") => Scope::Cluster,
                Some("Namespaced") => Scope::Namespaced,
                _ => Scope::Any,
            },
            namespaces: m.namespaces.iter().map(|p| Glob::compile(p)).collect(),
            excluded_namespaces: m
                .excluded_namespaces
                .iter()
                .map(|p| Glob::compile(p))
                .collect(),
            name: m
                .name
                .as_deref()
                .filter(|p| !p.is_empty())
                .map(Glob::compile),
            label_selector: m.label_selector.as_ref().map(CompiledSelector::compile),
            namespace_selector: m.namespace_selector.as_ref().map(CompiledSelector::compile),
        }
    }

    /// True when a check reads the object's namespace or (for a Namespace) its name.
    pub(super) fn reads_home(&self) -> bool {
        !self.namespaces.is_empty()
            || !self.excluded_namespaces.is_empty()
            || self.namespace_selector.is_some()
    }

    /// Whether the answer for this review can depend on the object's JSON at all. When it
    /// cannot, the object is never looked up and an UPDATE's old object, which would give
    /// the same answer, is not tried.
    pub(super) fn reads_object(&self, namespace_from_request: bool, is_namespace: bool) -> bool {
        self.name.is_some()
            || self.label_selector.is_some()
            || (is_namespace && self.reads_home())
            || (!namespace_from_request && (self.scope != Scope::Any || self.reads_home()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn str_eq_agrees_with_the_standard_comparison() {
        let samples = [
            "",
            "a",
            "Pod",
            "Namespace",
            "metadata",
            "metadatb",
            "app.kubernetes.io/name",
            "app.kubernetes.io/namf",
            "bpp.kubernetes.io/name",
            "ünïcödé",
        ];
        for a in samples {
            for b in samples {
                assert_eq!(str_eq(a, b), a == b, "{a:?} vs {b:?}");
                assert_eq!(str_starts_with(a, b), a.starts_with(b), "{a:?} ^ {b:?}");
                assert_eq!(str_ends_with(a, b), a.ends_with(b), "{a:?} $ {b:?}");
            }
        }
    }

    #[test]
    fn field_lookups_agree_with_the_map_on_small_and_large_objects() {
        let small = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": 1});
        assert_eq!(field(&small, "spec"), Some(&json!(1)));
        assert_eq!(field(&small, "nope"), None);
        assert_eq!(field(&json!([1]), "spec"), None);
        assert_eq!(metadata_str(&small, "name"), "a");
        assert_eq!(metadata_str(&small, "labels"), "");
        assert_eq!(metadata_str(&Value::Null, "name"), "");
        assert_eq!(labels_of(&small).map(|l| l.len()), Some(1));
        let mut big = Map::new();
        for i in 0..100 {
            big.insert(format!("k{i}"), json!(i));
        }
        let big = Value::Object(big);
        assert_eq!(field(&big, "k77"), Some(&json!(77)));
        assert_eq!(field(&big, "k100"), None);
    }

    #[test]
    fn kind_plans_resolve_wildcards() {
        let k = |groups: &[&str], kinds: &[&str]| {
            KindPlan::compile(&KindSelector {
                api_groups: groups.iter().map(|s| s.to_string()).collect(),
                kinds: kinds.iter().map(|s| s.to_string()).collect(),
            })
        };
        assert!(k(&[""], &["Pod"]).matches("", "Pod"));
        assert!(!k(&[""], &["Pod"]).matches("apps", "Pod"));
        assert!(k(&["apps", "*"], &["Deployment"]).matches("x", "Deployment"));
        assert!(k(&[], &[]).matches("any", "Thing"));
        assert!(!k(&["apps"], &["*"]).matches("", "Pod"));
    }
}
