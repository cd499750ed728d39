//! The fake's writes through the REST API: create, replace, patch and delete, with the
//! checks the real server makes that clients depend on (409 AlreadyExists on a second
//! create, 409 Conflict on a stale resourceVersion, 404 on a missing object), and
//! CustomResourceDefinitions that install and remove the kinds they define, turning
//! `Established` as the real API server's CRD controller does.
//!
//! Patches: JSON Patch and JSON merge patch as specified; strategic merge patch and
//! server-side apply are applied as a merge patch (the fake knows no patch strategies or
//! field managers), which is exact for the maps-and-scalars documents clients of this
//! project write.

use serde_json::{json, Value};

use super::{record, Inner, Key, Kind, Store};

/// The group and plural of CustomResourceDefinitions.
const CRD_GROUP: &str = "apiextensions.k8s.io";
const CRD_PLURAL: &str = "customresourcedefinitions";

/// Why a write was refused, as the API server's `Status` says it.
#[derive(Debug)]
pub(super) enum Failure {
    NotFound,
    AlreadyExists,
    Conflict,
    BadRequest(String),
}

impl Failure {
    pub(super) fn code(&self) -> u16 {
        match self {
            Failure::NotFound => 404,
            Failure::AlreadyExists | Failure::Conflict => 409,
            Failure::BadRequest(_) => 400,
        }
    }

    pub(super) fn reason(&self) -> &'static str {
        match self {
            Failure::NotFound => "NotFound",
            Failure::AlreadyExists => "AlreadyExists",
            Failure::Conflict => "Conflict",
            Failure::BadRequest(_) => "BadRequest",
        }
    }

    pub(super) fn message(&self, what: &str) -> String {
        match self {
            Failure::NotFound => format!("{what} not found"),
            Failure::AlreadyExists => format!("{what} already exists"),
            Failure::Conflict => format!(
                "Operation cannot be fulfilled on {what}: the object has been modified; \
                 please apply your changes to the latest version and try again"
            ),
            Failure::BadRequest(why) => why.clone(),
        }
    }
}

fn key(kind: &Kind, namespace: &str, name: &str) -> Key {
    (
        kind.group.clone(),
        kind.plural.clone(),
        namespace.to_string(),
        name.to_string(),
    )
}

/// Store `object` under `key` as the server would: uid and creation time kept from
/// creation, generation counted, a new resourceVersion, and the watch event recorded.
/// `keep_status` leaves the stored status alone (writes of the object itself, where the
/// kind has a status subresource).
pub(super) fn store_object(
    store: &mut Store,
    inner: &Inner,
    kind: &Kind,
    key: Key,
    mut object: Value,
    keep_status: bool,
) -> Value {
    store.rv += 1;
    let previous = store.objects.get(&key).cloned().unwrap_or(Value::Null);
    let meta = &previous["metadata"];
    let uid = meta["uid"]
        .as_str()
        .map_or_else(|| format!("uid-{}", store.rv), str::to_string);
    let created = meta["creationTimestamp"]
        .as_str()
        .unwrap_or("2026-01-01T00:00:00Z")
        .to_string();
    object["apiVersion"] = json!(kind.group_version());
    object["kind"] = json!(kind.kind);
    object["metadata"]["name"] = json!(key.3);
    if kind.namespaced && !key.2.is_empty() {
        object["metadata"]["namespace"] = json!(key.2);
    }
    object["metadata"]["uid"] = json!(uid);
    object["metadata"]["creationTimestamp"] = json!(created);
    object["metadata"]["generation"] = json!(meta["generation"].as_i64().unwrap_or(0) + 1);
    if keep_status && !previous["status"].is_null() {
        object["status"] = previous["status"].clone();
    }
    object["metadata"]["resourceVersion"] = json!(store.rv.to_string());
    let event = if store.objects.insert(key.clone(), object.clone()).is_some() {
        "MODIFIED"
    } else {
        "ADDED"
    };
    record(store, inner, kind, key, event, object.clone());
    if is_crd(kind) {
        install_crd(store, inner, &object);
    }
    object
}

fn is_crd(kind: &Kind) -> bool {
    kind.group == CRD_GROUP && kind.plural == CRD_PLURAL
}

/// `POST` to a collection.
pub(super) fn create(
    inner: &Inner,
    kind: &Kind,
    namespace: &str,
    object: Value,
) -> Result<Value, Failure> {
    let mut store = inner.lock();
    let mut name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if name.is_empty() {
        let prefix = object["metadata"]["generateName"]
            .as_str()
            .ok_or_else(|| Failure::BadRequest("name or generateName is required".into()))?;
        name = format!("{prefix}{:05x}", store.rv + 1);
    }
    let key = key(kind, namespace, &name);
    if store.objects.contains_key(&key) {
        return Err(Failure::AlreadyExists);
    }
    Ok(store_object(&mut store, inner, kind, key, object, false))
}

/// `PUT` of an object: refused unless it exists and, when the body names a
/// resourceVersion, that is the current one.
pub(super) fn replace(
    inner: &Inner,
    kind: &Kind,
    namespace: &str,
    name: &str,
    object: Value,
) -> Result<Value, Failure> {
    let mut store = inner.lock();
    let key = key(kind, namespace, name);
    let current = store.objects.get(&key).ok_or(Failure::NotFound)?;
    check_version(current, &object)?;
    Ok(store_object(&mut store, inner, kind, key, object, true))
}

/// A body naming a resourceVersion must name the current one.
fn check_version(current: &Value, object: &Value) -> Result<(), Failure> {
    match object["metadata"]["resourceVersion"].as_str() {
        Some(rv)
            if !rv.is_empty() && Some(rv) != current["metadata"]["resourceVersion"].as_str() =>
        {
            Err(Failure::Conflict)
        }
        _ => Ok(()),
    }
}

/// `PATCH` of an object, or of its status when `status_only`. Server-side apply
/// (`application/apply-patch+yaml`) creates a missing object; the other types need one.
pub(super) fn patch(
    inner: &Inner,
    kind: &Kind,
    namespace: &str,
    name: &str,
    content_type: &str,
    body: &[u8],
    status_only: bool,
) -> Result<Value, Failure> {
    let mut store = inner.lock();
    let key = key(kind, namespace, name);
    let apply = content_type.starts_with("application/apply-patch");
    let current = match store.objects.get(&key) {
        Some(current) => current.clone(),
        None if apply && !status_only => json!({"metadata": {"name": name}}),
        None => return Err(Failure::NotFound),
    };
    let bad = |e: &dyn std::fmt::Display| Failure::BadRequest(format!("bad patch: {e}"));
    let mut patched = current.clone();
    if content_type.starts_with("application/json-patch+json") {
        let ops: json_patch::Patch = serde_json::from_slice(body).map_err(|e| bad(&e))?;
        json_patch::patch(&mut patched, &ops).map_err(|e| bad(&e))?;
    } else {
        let merge: Value = serde_json::from_slice(body).map_err(|e| bad(&e))?;
        check_version(&current, &merge)?;
        json_patch::merge(&mut patched, &merge);
    }
    if status_only {
        let mut updated = current;
        updated["status"] = patched["status"].take();
        Ok(store_object(&mut store, inner, kind, key, updated, false))
    } else {
        Ok(store_object(&mut store, inner, kind, key, patched, true))
    }
}

/// `DELETE` of an object; deleting a CRD removes its kinds and every object of them.
pub(super) fn delete(
    inner: &Inner,
    kind: &Kind,
    namespace: &str,
    name: &str,
) -> Result<Value, Failure> {
    let mut store = inner.lock();
    let key = key(kind, namespace, name);
    let gone = remove(&mut store, inner, kind, key).ok_or(Failure::NotFound)?;
    if is_crd(kind) {
        uninstall_crd(&mut store, inner, &gone);
    }
    Ok(gone)
}

/// Remove one object, recording its DELETED event.
pub(super) fn remove(store: &mut Store, inner: &Inner, kind: &Kind, key: Key) -> Option<Value> {
    let mut gone = store.objects.remove(&key)?;
    store.rv += 1;
    gone["metadata"]["resourceVersion"] = json!(store.rv.to_string());
    record(store, inner, kind, key, "DELETED", gone.clone());
    Some(gone)
}

/// The kinds a CRD defines: one per served version.
fn crd_kinds(crd: &Value) -> Vec<Kind> {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let (Some(group), Some(kind), Some(plural)) = (
        spec["group"].as_str(),
        names["kind"].as_str(),
        names["plural"].as_str(),
    ) else {
        return Vec::new();
    };
    let namespaced = spec["scope"].as_str() == Some("Namespaced");
    spec["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["served"].as_bool() == Some(true))
        .filter_map(|v| v["name"].as_str())
        .map(|version| Kind::new(group, version, kind, plural, namespaced))
        .collect()
}

/// A CRD was written: serve its kinds (replacing what an earlier version of it served) and,
/// unless establishment is held, mark it Established.
fn install_crd(store: &mut Store, inner: &Inner, crd: &Value) {
    let kinds = crd_kinds(crd);
    let group = crd["spec"]["group"].as_str().unwrap_or_default();
    let plural = crd["spec"]["names"]["plural"].as_str().unwrap_or_default();
    store
        .kinds
        .retain(|k| !(k.group == group && k.plural == plural));
    store.kinds.extend(kinds);
    let established = crd["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == "Established"));
    if !established && !store.hold_establish {
        establish(store, inner, crd);
    }
}

/// Write the CRD's status as the API server's controllers do once its names are accepted.
pub(super) fn establish(store: &mut Store, inner: &Inner, crd: &Value) {
    let Some(name) = crd["metadata"]["name"].as_str() else {
        return;
    };
    let crd_kind = Kind::new(
        CRD_GROUP,
        "v1",
        "CustomResourceDefinition",
        CRD_PLURAL,
        false,
    );
    let key = key(&crd_kind, "", name);
    let Some(mut current) = store.objects.get(&key).cloned() else {
        return;
    };
    let condition = |t: &str| {
        json!({"type": t, "status": "True", "reason": t, "message": "",
            "lastTransitionTime": "2026-01-01T00:00:00Z"})
    };
    current["status"] = json!({
        "conditions": [condition("NamesAccepted"), condition("Established")],
        "acceptedNames": current["spec"]["names"].clone(),
        "storedVersions": current["spec"]["versions"].as_array().into_iter().flatten()
            .filter(|v| v["storage"].as_bool() == Some(true))
            .filter_map(|v| v["name"].as_str()).collect::<Vec<_>>(),
    });
    store_object(store, inner, &crd_kind, key, current, false);
}

/// A CRD was deleted: stop serving its kinds and delete every object of them.
fn uninstall_crd(store: &mut Store, inner: &Inner, crd: &Value) {
    let group = crd["spec"]["group"].as_str().unwrap_or_default();
    let plural = crd["spec"]["names"]["plural"].as_str().unwrap_or_default();
    let Some(kind) = store
        .kinds
        .iter()
        .find(|k| k.group == group && k.plural == plural)
        .cloned()
    else {
        return;
    };
    let keys: Vec<Key> = store
        .objects
        .keys()
        .filter(|(g, p, _, _)| *g == kind.group && *p == kind.plural)
        .cloned()
        .collect();
    for key in keys {
        remove(store, inner, &kind, key);
    }
    store
        .kinds
        .retain(|k| !(k.group == group && k.plural == plural));
}
