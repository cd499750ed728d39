//! Gatekeeper match semantics: which constraints (and mutators) apply to a review.
//!
//! `spec.match` fields: `kinds`, `scope`, `namespaces`, `excludedNamespaces`,
//! `labelSelector`, `namespaceSelector`, `name`, `source`. Every field present must match;
//! an absent field matches everything. The rules follow Gatekeeper's own matcher:
//!
//! - An UPDATE matches when either the new or the old object matches (so relabelling an
//!   object out of a selector is still judged). A DELETE's judged object is already the
//!   old object.
//! - A Namespace object is cluster-scoped, and `namespaces`, `excludedNamespaces` and
//!   `namespaceSelector` judge it by its own name and labels.
//! - Other cluster-scoped objects pass `namespaces`, `excludedNamespaces` and
//!   `namespaceSelector` untouched; only `scope: Namespaced` keeps them out.
//! - `namespaceSelector` always sees `kubernetes.io/metadata.name: <namespace>`, which the
//!   API server puts on every namespace. A namespace the lookup does not know is judged by
//!   that label alone. Gatekeeper's webhook would read the namespace from the API server on
//!   a cache miss (and fail the request when that fails); portcullis keeps the network off
//!   the hot path, and the name label is the one fact known for certain. So a selector on
//!   other labels treats an unknown namespace as unlabelled (`NotIn`/`DoesNotExist` pass).
//! - The fields Gatekeeper's match schema leaves as plain strings stay open: a `scope` other
//!   than `Cluster` or `Namespaced` matches every object, and a selector the API machinery
//!   cannot parse (an unknown operator, values where none belong) is an error of the match
//!   when a request reaches it ([`Match::check`]): the constraint "autorejects" the review
//!   under its own enforcement action, and a mutator fails the mutation, as in Gatekeeper.
//! - A review without an object (e.g. some CONNECT requests) is judged as an object with
//!   the request's name and namespace and no labels, where Gatekeeper would report an error.

#![deny(clippy::indexing_slicing)]

mod glob;
mod index;
mod plan;
mod selector;

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

pub use glob::{glob_match, glob_match_generate_name, validate_glob};
pub use index::{Candidates, KindIndex};
pub use plan::{field, labels_of, map_get, metadata_str, str_ends_with, str_eq, str_starts_with};
pub use selector::{LabelSelector, LabelView, SelectorRequirement, NAMESPACE_NAME_LABEL};

use crate::review::{Operation, Review};
use plan::{Plan, Scope};

/// Labels of one namespace.
pub type Labels = BTreeMap<String, String>;

/// `spec.match` of a constraint or mutator.
///
/// Deserializing compiles the fields into a private plan that [`Match::matches`] runs, so
/// the public fields describe the match but are not re-read per request: build a changed
/// match by deserializing, not by assigning to a field.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", from = "MatchFields")]
pub struct Match {
    /// Group/kind pairs; empty matches every kind.
    #[serde(default)]
    pub kinds: Vec<KindSelector>,
    /// `Cluster`, `Namespaced` or `*` (default); any other string matches every object,
    /// as in Gatekeeper.
    #[serde(default)]
    pub scope: Option<String>,
    /// Namespaces the object must be in (exact or with a leading/trailing `*`).
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Namespaces the object must not be in (same syntax).
    #[serde(default)]
    pub excluded_namespaces: Vec<String>,
    /// Selector over the object's labels.
    #[serde(default)]
    pub label_selector: Option<LabelSelector>,
    /// Selector over the labels of the object's namespace (or the Namespace itself).
    #[serde(default)]
    pub namespace_selector: Option<LabelSelector>,
    /// Object name, exact or with a leading/trailing `*`.
    #[serde(default)]
    pub name: Option<String>,
    /// `All` (default), `Original` or `Generated`: Gatekeeper's filter between reviews of
    /// real requests and resources its ExpansionTemplates generate.
    #[serde(default)]
    pub source: Option<String>,
    /// The compiled form of the fields above.
    #[serde(skip)]
    plan: Plan,
}

/// The wire shape of `spec.match`: what serde reads before [`Match`] compiles it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MatchFields {
    #[serde(default)]
    kinds: Vec<KindSelector>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    namespaces: Vec<String>,
    #[serde(default)]
    excluded_namespaces: Vec<String>,
    #[serde(default)]
    label_selector: Option<LabelSelector>,
    #[serde(default)]
    namespace_selector: Option<LabelSelector>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    source: Option<String>,
}

impl From<MatchFields> for Match {
    fn from(f: MatchFields) -> Self {
        let mut m = Match {
            kinds: f.kinds,
            scope: f.scope,
            namespaces: f.namespaces,
            excluded_namespaces: f.excluded_namespaces,
            label_selector: f.label_selector,
            namespace_selector: f.namespace_selector,
            name: f.name,
            source: f.source,
            plan: Plan::default(),
        };
        m.plan = Plan::compile(&m);
        m
    }
}

/// One `spec.match.kinds[]` entry.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KindSelector {
    /// API groups; `*` matches all, `""` is the core group. Empty matches every group,
    /// as in Gatekeeper.
    #[serde(default)]
    pub api_groups: Vec<String>,
    /// Kinds; `*` matches all. Empty matches every kind, as in Gatekeeper.
    #[serde(default)]
    pub kinds: Vec<String>,
}

impl KindSelector {
    /// Does this entry cover the group and kind?
    pub fn matches(&self, group: &str, kind: &str) -> bool {
        let covers = |list: &[String], item: &str| {
            list.is_empty() || list.iter().any(|x| x == "*" || x == item)
        };
        covers(&self.kinds, kind) && covers(&self.api_groups, group)
    }
}

/// Where namespace labels come from when a selector needs them.
pub trait NamespaceLookup {
    /// Labels of a namespace by name, or `None` when it is unknown. An unknown namespace is
    /// judged by `kubernetes.io/metadata.name: <name>` alone (see the module docs).
    fn labels(&self, namespace: &str) -> Option<&Labels>;
}

impl NamespaceLookup for BTreeMap<String, Labels> {
    fn labels(&self, namespace: &str) -> Option<&Labels> {
        self.get(namespace)
    }
}

impl NamespaceLookup for std::collections::HashMap<String, Labels> {
    fn labels(&self, namespace: &str) -> Option<&Labels> {
        self.get(namespace)
    }
}

/// Snapshots keep their namespace labels behind an `Arc` so they can be shared between
/// snapshots; the lookup reads through it.
impl<T: NamespaceLookup + ?Sized> NamespaceLookup for std::sync::Arc<T> {
    fn labels(&self, namespace: &str) -> Option<&Labels> {
        (**self).labels(namespace)
    }
}

impl Match {
    /// Check what the API server itself refuses in a match at load time (Gatekeeper's
    /// match schema: the `source` enum and the wildcard pattern of namespace and name
    /// globs), so a policy Gatekeeper's cluster would never store is refused here too.
    ///
    /// Everything the schema leaves open stays open, as it does in Gatekeeper: `scope` is
    /// a plain string (a value other than `Cluster` or `Namespaced` matches every object),
    /// and selector operators and keys are plain strings, whose errors surface per request
    /// from [`Match::check`].
    pub fn validate(&self) -> Result<(), String> {
        match self.source.as_deref() {
            None | Some("All" | "Original" | "Generated") => {}
            Some(other) => {
                return Err(format!(
                    "source: {other:?} is not one of \"All\", \"Original\", \"Generated\""
                ))
            }
        }
        for (field, list) in [
            ("namespaces", &self.namespaces),
            ("excludedNamespaces", &self.excluded_namespaces),
        ] {
            for (i, pattern) in list.iter().enumerate() {
                validate_glob(pattern).map_err(|e| format!("{field}[{i}]: {e}"))?;
            }
        }
        if let Some(name) = &self.name {
            validate_glob(name).map_err(|e| format!("name: {e}"))?;
        }
        Ok(())
    }

    /// Does this match apply to the review? An error in a selector (which the API server
    /// stores) counts as no match; [`Match::check`] reports it.
    pub fn matches(&self, review: &Review, namespaces: &dyn NamespaceLookup) -> bool {
        self.check(review, namespaces).unwrap_or(false)
    }

    /// Does this match apply to the review, or why it cannot say? `namespaces` supplies
    /// namespace labels for `namespaceSelector` (a Namespace object is judged by its own
    /// labels). The checks run in Gatekeeper's order (kinds, scope, namespaces, excluded
    /// namespaces, label selector, namespace selector, name), so a malformed selector is
    /// reported exactly when Gatekeeper's matcher would reach it and fail.
    ///
    /// Called for every constraint on every request: it runs the precompiled plan, borrows
    /// from the review and the lookup, and allocates nothing. The object's JSON is only
    /// searched when some check of this match reads it.
    pub fn check<'m>(
        &'m self,
        review: &Review,
        namespaces: &dyn NamespaceLookup,
    ) -> Result<bool, &'m str> {
        let plan = &self.plan;
        if plan.generated.is_some_and(|g| g != review.generated) {
            return Ok(false);
        }
        let (group, kind) = (review.gvk.group.as_str(), review.gvk.kind.as_str());
        if !plan.kinds.is_empty() && !plan.kinds.iter().any(|k| k.matches(group, kind)) {
            return Ok(false);
        }
        let is_namespace = group.is_empty() && str_eq(kind, "Namespace");
        if !plan.reads_object(!review.namespace.is_empty(), is_namespace) {
            // No check reads the object, so the old object would give the same answer.
            return self.matches_object(review, is_namespace, &Value::Null, namespaces);
        }
        let object = field(&review.request, "object").unwrap_or(&Value::Null);
        if self.matches_object(review, is_namespace, object, namespaces)? {
            return Ok(true);
        }
        // Gatekeeper matches an UPDATE when the old object matches too. A DELETE already
        // judges the old object as `object`, so only look again when that is missing.
        match field(&review.request, "oldObject").filter(|v| !v.is_null()) {
            Some(old) if review.operation != Operation::Delete || object.is_null() => {
                self.matches_object(review, is_namespace, old, namespaces)
            }
            _ => Ok(false),
        }
    }

    /// Every check that depends on one version of the object. `object` is `Null` when the
    /// plan reads nothing from it, so every lookup below must tolerate that.
    fn matches_object<'m>(
        &'m self,
        review: &Review,
        is_namespace: bool,
        object: &Value,
        namespaces: &dyn NamespaceLookup,
    ) -> Result<bool, &'m str> {
        let plan = &self.plan;
        let name = || match metadata_str(object, "name") {
            "" => review.name.as_str(),
            n => n,
        };
        let namespace = match review.namespace.as_str() {
            "" => metadata_str(object, "namespace"),
            ns => ns,
        };
        // The namespace the object lives in, or for a Namespace its own name; `None` for
        // other cluster-scoped objects.
        let home = if is_namespace {
            Some(name())
        } else if namespace.is_empty() {
            None
        } else {
            Some(namespace)
        };

        let scope_ok = match plan.scope {
            Scope::Cluster => is_namespace || namespace.is_empty(),
            Scope::Namespaced => !is_namespace && !namespace.is_empty(),
            Scope::Any => true,
        };
        if !scope_ok {
            return Ok(false);
        }

        if let Some(ns) = home {
            if !plan.namespaces.is_empty() && !plan.namespaces.iter().any(|g| g.matches(ns)) {
                return Ok(false);
            }
            if plan.excluded_namespaces.iter().any(|g| g.matches(ns)) {
                return Ok(false);
            }
        }

        if let Some(sel) = &plan.label_selector {
            if let Some(error) = &sel.error {
                return Err(error);
            }
            if !sel.matches(&LabelView::of_object(object)) {
                return Ok(false);
            }
        }

        if let Some(sel) = &plan.namespace_selector {
            // Cluster-scoped objects other than Namespaces pass untouched, before the
            // selector is even read (as in Gatekeeper, where a malformed selector is only
            // an error for objects it applies to).
            if let Some(ns) = home {
                if let Some(error) = &sel.error {
                    return Err(error);
                }
                let view = if is_namespace {
                    LabelView {
                        namespace_name: Some(ns).filter(|n| !n.is_empty()),
                        ..LabelView::of_object(object)
                    }
                } else {
                    LabelView {
                        map: namespaces.labels(ns),
                        namespace_name: Some(ns),
                        json: None,
                    }
                };
                if !sel.matches(&view) {
                    return Ok(false);
                }
            }
        }

        if let Some(glob) = &plan.name {
            if !glob.matches(name())
                && !glob.matches_generate_name(metadata_str(object, "generateName"))
            {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests;
