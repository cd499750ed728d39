//! The manager: makes the constraint CRDs match what the templates want, one reconciling
//! pass at a time (see the parent module for the rules it follows).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kube::api::{Api, DeleteParams, DynamicObject, PostParams};
use serde_json::{json, Value};
use tokio::sync::watch;

use super::{crd_api, is_owned, CrdView, Desired};

/// The longest wait between two failed passes of the manager.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The first wait after a failed pass.
const MIN_BACKOFF: Duration = Duration::from_millis(500);

/// How often the manager re-checks with no change seen (a missed event costs no more).
const RESYNC: Duration = Duration::from_secs(300);

/// One write the manager makes.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Create this CRD.
    Create(Value),
    /// Replace the CRD with this object (the current one, resourceVersion kept, with the
    /// wanted spec, labels and ownerReference).
    Update(Value),
    /// Delete the CRD of this name and uid (its template is gone).
    Delete { name: String, uid: String },
    /// A CRD of this name exists and is not portcullis's: leave it.
    Foreign(String),
}

/// The writes that make `view` match `desired`.
pub fn plan(desired: &Desired, view: &CrdView) -> Vec<Action> {
    let mut actions = Vec::new();
    for (name, want) in &desired.crds {
        let Some(want) = want else { continue };
        match view.get(name) {
            None => actions.push(Action::Create(want.clone())),
            Some(current) if !is_owned(current) => actions.push(Action::Foreign(name.clone())),
            Some(current) => {
                if let Some(updated) = update_of(current, want) {
                    actions.push(Action::Update(updated));
                }
            }
        }
    }
    if desired.complete && view.synced {
        for (name, current) in view.crds.iter() {
            if is_owned(current) && !desired.crds.contains_key(name) {
                let uid = current.pointer("/metadata/uid").and_then(Value::as_str);
                actions.push(Action::Delete {
                    name: name.clone(),
                    uid: uid.unwrap_or_default().to_string(),
                });
            }
        }
    }
    actions
}

/// The current CRD changed to what `want` asks, or `None` when it already says all of it.
/// Comparison is by inclusion: the API server defaults fields and others may add labels,
/// neither of which is a difference worth a write.
fn update_of(current: &Value, want: &Value) -> Option<Value> {
    let at = |v: &'_ Value, p: &str| v.pointer(p).cloned().unwrap_or(Value::Null);
    let (labels, owners) = ("/metadata/labels", "/metadata/ownerReferences");
    if includes(&at(current, "/spec"), &at(want, "/spec"))
        && includes(&at(current, labels), &at(want, labels))
        && includes(&at(current, owners), &at(want, owners))
    {
        return None;
    }
    let mut updated = current.as_object()?.clone();
    updated.insert("spec".into(), at(want, "/spec"));
    updated.remove("status");
    let meta = updated
        .entry("metadata")
        .or_insert_with(|| json!({}))
        .as_object_mut()?;
    let mut merged = at(current, labels).as_object().cloned().unwrap_or_default();
    merged.extend(at(want, labels).as_object().cloned().unwrap_or_default());
    meta.insert("labels".into(), Value::Object(merged));
    // Our controller reference replaces any other reference to a template; references of
    // other kinds stay.
    let mut refs: Vec<Value> = at(current, owners).as_array().cloned().unwrap_or_default();
    refs.retain(|o| o.get("kind").and_then(Value::as_str) != Some("ConstraintTemplate"));
    refs.extend(at(want, owners).as_array().cloned().unwrap_or_default());
    meta.insert("ownerReferences".into(), Value::Array(refs));
    Some(Value::Object(updated))
}

/// Does `have` say everything `want` says? Objects: every key of `want` included;
/// arrays: same length, each element included; scalars: equal. An absent `want` (null)
/// is included in anything, and a zero value (`false`, `""`, `0`, empty list or map) in
/// an absent key: the API server omits empty fields when it answers.
pub(crate) fn includes(have: &Value, want: &Value) -> bool {
    // Iterative: schemas nest deeply.
    let mut stack = vec![(have, want)];
    while let Some((have, want)) = stack.pop() {
        match (have, want) {
            (_, Value::Null) => {}
            (Value::Object(h), Value::Object(w)) => {
                for (k, wv) in w {
                    match h.get(k) {
                        Some(hv) => stack.push((hv, wv)),
                        None if is_zero(wv) => {}
                        None => return false,
                    }
                }
            }
            (Value::Array(h), Value::Array(w)) => {
                if h.len() != w.len() {
                    return false;
                }
                stack.extend(h.iter().zip(w));
            }
            (h, w) => {
                if h != w {
                    return false;
                }
            }
        }
    }
    true
}

/// The value the API server leaves out of its answers (Go's `omitempty`).
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// Make the constraint CRDs follow `desired` until the task is aborted. `view` is the
/// observer's; the manager re-plans whenever either changes, and every [`RESYNC`].
pub fn spawn_manager(
    client: kube::Client,
    mut desired: watch::Receiver<Desired>,
    mut view: watch::Receiver<CrdView>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let api = crd_api(client);
        let mut backoff = MIN_BACKOFF;
        let mut memory = Memory::default();
        loop {
            let want = desired.borrow_and_update().clone();
            let seen = view.borrow_and_update().clone();
            let wait = if !seen.synced {
                // Nothing to compare with yet: the first list wakes us.
                RESYNC
            } else {
                match pass(&api, &want, &seen, &mut memory).await {
                    Ok(()) => {
                        backoff = MIN_BACKOFF;
                        RESYNC
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, retry_in_s = backoff.as_secs_f64(),
                            "constraint CRDs not yet in line with the templates; retrying");
                        let wait = backoff;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        // After a failure, wait out the backoff even if a change arrives.
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                }
            };
            tokio::select! {
                r = desired.changed() => if r.is_err() { return },
                r = view.changed() => if r.is_err() { return },
                () = tokio::time::sleep(wait) => {}
            }
        }
    })
}

/// Updates of one CRD to the same wanted form after which the server still answers
/// something different: beyond this many, the difference is the server's doing (a field
/// it rewrites) and writing again would loop; the CRD is left as it is, with a warning.
const SAME_UPDATE_LIMIT: u32 = 3;

/// What the manager remembers between passes.
#[derive(Debug, Default)]
struct Memory {
    /// Foreign CRDs already reported.
    foreign_reported: BTreeSet<String>,
    /// The last wanted form each CRD was updated to, and how many updates in a row.
    updates: BTreeMap<String, (Value, u32)>,
}

/// One reconciling pass; the first error ends it (the rest waits for the retry).
async fn pass(
    api: &Api<DynamicObject>,
    desired: &Desired,
    view: &CrdView,
    memory: &mut Memory,
) -> Result<(), kube::Error> {
    let wanted = |name: &str| desired.crds.get(name).cloned().flatten();
    let actions = plan(desired, view);
    // A CRD found in line (or wanted otherwise) starts counting afresh.
    let updating: BTreeSet<&str> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Update(crd) => crd.pointer("/metadata/name").and_then(Value::as_str),
            _ => None,
        })
        .collect();
    memory.updates.retain(|name, (want, _)| {
        updating.contains(name.as_str()) && wanted(name).as_ref() == Some(want)
    });
    for action in actions {
        if let Action::Update(crd) = &action {
            let name = crd
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let Some(want) = wanted(name) else { continue };
            let count = memory.updates.entry(name.to_string()).or_insert((want, 0));
            count.1 += 1;
            if count.1 > SAME_UPDATE_LIMIT {
                if count.1 == SAME_UPDATE_LIMIT + 1 {
                    tracing::warn!(crd = %name, "the API server keeps answering a constraint \
                        CRD that differs from its template's; not writing it again until \
                        the template changes");
                }
                continue;
            }
        }
        execute(api, desired, action, &mut memory.foreign_reported).await?;
    }
    Ok(())
}

/// Is this an API error with this code?
fn code_is(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

async fn execute(
    api: &Api<DynamicObject>,
    desired: &Desired,
    action: Action,
    foreign_reported: &mut BTreeSet<String>,
) -> Result<(), kube::Error> {
    let pp = PostParams {
        field_manager: Some("portcullis".into()),
        ..PostParams::default()
    };
    let as_object = |v: &Value| serde_json::from_value::<DynamicObject>(v.clone());
    let name_of = |v: &Value| {
        v.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    match action {
        Action::Foreign(name) => {
            if foreign_reported.insert(name.clone()) {
                tracing::info!(crd = %name, "a constraint CRD not managed by portcullis exists \
                    (Gatekeeper's or applied by hand); leaving it alone");
            }
            Ok(())
        }
        Action::Create(crd) => {
            let name = name_of(&crd);
            let Ok(object) = as_object(&crd) else {
                return Ok(());
            };
            match api.create(&pp, &object).await {
                Ok(_) => {
                    tracing::info!(crd = %name, "created constraint CRD");
                    Ok(())
                }
                // Another replica (or someone) was first: re-read and decide again.
                Err(e) if code_is(&e, 409) => {
                    retry_one(api, desired, &name, &pp, foreign_reported).await
                }
                Err(e) => Err(e),
            }
        }
        Action::Update(crd) => {
            let name = name_of(&crd);
            let Ok(object) = as_object(&crd) else {
                return Ok(());
            };
            match api.replace(&name, &pp, &object).await {
                Ok(_) => {
                    tracing::info!(crd = %name, "updated constraint CRD to its template");
                    Ok(())
                }
                Err(e) if code_is(&e, 409) || code_is(&e, 404) => {
                    retry_one(api, desired, &name, &pp, foreign_reported).await
                }
                Err(e) => Err(e),
            }
        }
        Action::Delete { name, uid } => {
            let dp = DeleteParams {
                preconditions: Some(kube::api::Preconditions {
                    uid: Some(uid).filter(|u| !u.is_empty()),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            match api.delete(&name, &dp).await {
                Ok(_) => {
                    tracing::info!(crd = %name, "deleted constraint CRD: its template is gone");
                    Ok(())
                }
                // Already gone, or replaced by another object of that name since seen.
                Err(e) if code_is(&e, 404) || code_is(&e, 409) => Ok(()),
                Err(e) => Err(e),
            }
        }
    }
}

/// After a 409 (or a 404 on update): read the CRD afresh and try its one write again.
/// A second refusal is an error for the pass (backoff).
async fn retry_one(
    api: &Api<DynamicObject>,
    desired: &Desired,
    name: &str,
    pp: &PostParams,
    foreign_reported: &mut BTreeSet<String>,
) -> Result<(), kube::Error> {
    let current = api.get_opt(name).await?;
    let view = CrdView::of(
        current
            .map(serde_json::to_value)
            .transpose()
            .map_err(kube::Error::SerdeError)?,
    );
    let single = Desired {
        crds: desired
            .crds
            .get(name)
            .map(|w| (name.to_string(), w.clone()))
            .into_iter()
            .collect(),
        complete: false,
    };
    for action in plan(&single, &view) {
        match action {
            Action::Create(crd) | Action::Update(crd) => {
                let object: DynamicObject =
                    serde_json::from_value(crd).map_err(kube::Error::SerdeError)?;
                if object.metadata.resource_version.is_some() {
                    api.replace(name, pp, &object).await?;
                } else {
                    api.create(pp, &object).await?;
                }
            }
            Action::Foreign(name) => {
                if foreign_reported.insert(name.clone()) {
                    tracing::info!(crd = %name, "a constraint CRD not managed by portcullis \
                        exists (Gatekeeper's or applied by hand); leaving it alone");
                }
            }
            Action::Delete { .. } => {}
        }
    }
    Ok(())
}
