//! Constraint CRDs from ConstraintTemplates, in cluster mode: the work Gatekeeper's template
//! controller does, so that a cluster with only portcullis accepts a constraint of a kind
//! a template has just defined.
//!
//! Two parts, so the once-per-cluster part can run on one replica:
//!
//! - The **observer** (every replica) watches the constraint CRDs (label
//!   `gatekeeper.sh/constraint=yes`, group `constraints.gatekeeper.sh`) and publishes a
//!   [`CrdView`]. The status writer reads it: a template's `status.created` turns true only
//!   once its CRD is Established.
//! - The **manager** (once per cluster) makes the CRDs match the templates: for each
//!   template it creates, or updates when the template's names or schema change, the CRD
//!   `<template name>.constraints.gatekeeper.sh` (Gatekeeper requires the name to be the
//!   lower-cased kind, so the CRD name follows from the template name), shaped by
//!   [`constraint_crd`], the generator `portcullis crd` prints; when the template is gone
//!   it deletes the CRD, which takes the constraints of that kind with it. Of the
//!   shadow-labelled templates ([`super::shadow`]) only those of a new kind have a CRD: a
//!   shadow version of an enforced template leaves the kind's CRD to that template.
//!
//! Ownership: a CRD portcullis writes carries the label
//! `app.kubernetes.io/managed-by: portcullis` and, as Gatekeeper sets it, a controller
//! ownerReference to its template (so the API server's garbage collector also removes it
//! with the template). A CRD of that name without the label (Gatekeeper's own, or one a
//! GitOps tool applied from `portcullis crd`) is left untouched and reported once.
//!
//! Refused templates: a template whose current version is refused keeps the CRD of its
//! last good version (the one still serving); a template refused since it was first seen
//! gets none. Only a template that is gone from the cluster loses its CRD: deleting a CRD
//! deletes every constraint of its kind, so a compile error must never do it.
//!
//! The manager is level based and idempotent: each pass compares what the templates want
//! with what the observer saw and writes only the differences. Two managers running at
//! once converge: a create answered 409 AlreadyExists or an update answered 409 Conflict
//! is re-read and re-planned, and a pass that still fails is retried with exponential
//! backoff, never in a hot loop.
//!
//! [`constraint_crd`]: crate::policy::crd::constraint_crd

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::policy::crd::constraint_crd;
use crate::policy::Document;
use crate::snapshot::PolicySnapshot;

/// The label marking the CRDs portcullis owns, and its value.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "portcullis");

/// The label every constraint CRD carries (Gatekeeper's and ours): the observer's filter.
const CONSTRAINT_LABEL: &str = "gatekeeper.sh/constraint=yes";

/// The API group of constraints.
const GROUP: &str = crate::policy::constraint::CONSTRAINTS_GROUP;

/// The name of the CRD a template defines.
pub fn crd_name(template: &str) -> String {
    format!("{template}.{GROUP}")
}

/// Where CRDs are served.
fn crd_api(client: kube::Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition");
    Api::all_with(
        client,
        &ApiResource::from_gvk_with_plural(&gvk, "customresourcedefinitions"),
    )
}

/// The constraint CRDs the observer has seen, by name.
#[derive(Debug, Clone, Default)]
pub struct CrdView {
    /// Each CRD shared, so a view is cheap to copy on every change.
    crds: Arc<BTreeMap<String, Arc<Value>>>,
    /// The first list completed (before it, nothing can be said to be absent).
    pub synced: bool,
}

impl CrdView {
    /// A view of these CRDs (as the API server returns them), listed.
    pub fn of(crds: impl IntoIterator<Item = Value>) -> Self {
        let crds = crds
            .into_iter()
            .filter_map(|c| {
                let name = c.pointer("/metadata/name")?.as_str()?.to_string();
                Some((name, Arc::new(c)))
            })
            .collect();
        CrdView {
            crds: Arc::new(crds),
            synced: true,
        }
    }

    /// The CRD of this name, if seen.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.crds.get(name).map(|c| c.as_ref())
    }

    /// Is the CRD of this name Established (its kinds served)?
    pub fn established(&self, name: &str) -> bool {
        self.get(name).is_some_and(is_established)
    }
}

/// A CRD's `Established` condition is true.
fn is_established(crd: &Value) -> bool {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Established" && c["status"] == "True")
        })
}

/// Does portcullis own this CRD (its label)?
pub fn is_owned(crd: &Value) -> bool {
    crd.pointer("/metadata/labels")
        .and_then(|l| l.get(MANAGED_BY.0))
        .and_then(Value::as_str)
        == Some(MANAGED_BY.1)
}

/// Watch the constraint CRDs until the task is aborted, publishing each change.
pub fn spawn_observer(
    client: kube::Client,
) -> (watch::Receiver<CrdView>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = watch::channel(CrdView::default());
    let task = tokio::spawn(async move {
        let config = watcher::Config::default().labels(CONSTRAINT_LABEL);
        let mut events = watcher::watcher(crd_api(client), config)
            .default_backoff()
            .boxed();
        let mut crds: BTreeMap<String, Arc<Value>> = BTreeMap::new();
        let mut relist: BTreeMap<String, Arc<Value>> = BTreeMap::new();
        let mut reported = false;
        let keep = |obj: DynamicObject| -> Option<(String, Arc<Value>)> {
            let mut value = serde_json::to_value(obj).ok()?;
            if value.pointer("/spec/group").and_then(Value::as_str) != Some(GROUP) {
                return None;
            }
            if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("managedFields");
            }
            let name = value.pointer("/metadata/name")?.as_str()?.to_string();
            Some((name, Arc::new(value)))
        };
        let publish = |crds: &BTreeMap<String, Arc<Value>>| {
            tx.send_replace(CrdView {
                crds: Arc::new(crds.clone()),
                synced: true,
            });
        };
        while let Some(event) = events.next().await {
            match event {
                Ok(Event::Init) => relist.clear(),
                Ok(Event::InitApply(obj)) => relist.extend(keep(obj)),
                Ok(Event::InitDone) => {
                    reported = false;
                    crds = std::mem::take(&mut relist);
                    publish(&crds);
                }
                Ok(Event::Apply(obj)) => {
                    if let Some((name, crd)) = keep(obj) {
                        if crds.get(&name) != Some(&crd) {
                            crds.insert(name, crd);
                            publish(&crds);
                        }
                    }
                }
                Ok(Event::Delete(obj)) => {
                    if let Some((name, _)) = keep(obj) {
                        if crds.remove(&name).is_some() {
                            publish(&crds);
                        }
                    }
                }
                Err(e) => {
                    if !reported {
                        tracing::warn!(error = %e, "cannot watch constraint CRDs; retrying \
                            (templates report created: false until their CRD is seen Established)");
                        reported = true;
                    }
                }
            }
        }
    });
    (rx, task)
}

/// What the templates want of their CRDs, by CRD name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Desired {
    /// Templates present in the cluster, by CRD name: the CRD to make (from the version
    /// serving), or `None` to leave whatever exists (refused before any version served).
    pub crds: BTreeMap<String, Option<Value>>,
    /// The template list is complete (a build happened): only then may CRDs be deleted.
    pub complete: bool,
}

/// The CRD portcullis writes for a template document: [`constraint_crd`] plus the
/// ownership marks (label and controller ownerReference).
pub fn owned_crd(template: &Value) -> Result<Value, crate::policy::PolicyError> {
    let mut crd = constraint_crd(template)?;
    let name = template.pointer("/metadata/name").and_then(Value::as_str);
    let uid = template.pointer("/metadata/uid").and_then(Value::as_str);
    if let Some(meta) = crd.get_mut("metadata").and_then(Value::as_object_mut) {
        if let Some(labels) = meta.get_mut("labels").and_then(Value::as_object_mut) {
            labels.insert(MANAGED_BY.0.into(), json!(MANAGED_BY.1));
        }
        if let (Some(name), Some(uid)) = (name, uid) {
            meta.insert(
                "ownerReferences".into(),
                json!([{
                    "apiVersion": "templates.gatekeeper.sh/v1",
                    "kind": "ConstraintTemplate",
                    "name": name,
                    "uid": uid,
                    "controller": true,
                    "blockOwnerDeletion": true,
                }]),
            );
        }
    }
    Ok(crd)
}

/// Turns each build's documents and snapshot into [`Desired`], remembering the document
/// of each template's serving version (a refused template's CRD stays that version's).
#[derive(Debug, Default)]
pub(super) struct DesiredBuilder {
    /// Template documents whose version serves, by template name.
    serving: BTreeMap<String, Value>,
}

impl DesiredBuilder {
    /// The CRDs the templates among `docs` want, given the snapshot built from them.
    #[cfg(test)]
    pub(super) fn desired(&mut self, docs: &[Document], snap: &PolicySnapshot) -> Desired {
        self.desired_of(&[(docs, snap)])
    }

    /// The CRDs the templates of `sets` want, each set's templates given with the snapshot
    /// built from them (the enforced ones, and the shadow-labelled templates of new kinds
    /// with the shadow set).
    pub(super) fn desired_of(&mut self, sets: &[(&[Document], &PolicySnapshot)]) -> Desired {
        let mut present = BTreeSet::new();
        let mut serving_names: BTreeSet<&str> = BTreeSet::new();
        for (docs, snap) in sets {
            let refused: BTreeSet<&str> =
                snap.refused.iter().map(|r| r.location.as_str()).collect();
            let serving: BTreeSet<&str> = snap
                .templates
                .values()
                .map(|t| t.template.name.as_str())
                .collect();
            for d in docs.iter() {
                if d.value.get("kind").and_then(Value::as_str) != Some("ConstraintTemplate") {
                    continue;
                }
                let Some(name) = d.value.pointer("/metadata/name").and_then(Value::as_str) else {
                    continue;
                };
                present.insert(name.to_string());
                if serving.contains(name) {
                    serving_names.insert(name);
                    if !refused.contains(d.location.as_str()) {
                        self.serving.insert(name.to_string(), d.value.clone());
                    }
                }
            }
        }
        // Templates gone, or no longer serving any version (e.g. now a duplicate kind).
        self.serving
            .retain(|name, _| present.contains(name) && serving_names.contains(name.as_str()));
        let crds = present
            .into_iter()
            .map(|name| {
                let crd = self.serving.get(&name).and_then(|doc| owned_crd(doc).ok());
                (crd_name(&name), crd)
            })
            .collect();
        Desired {
            crds,
            complete: true,
        }
    }
}

mod manager;

pub(crate) use manager::includes;
pub use manager::{plan, spawn_manager, Action};

#[cfg(test)]
mod tests;
