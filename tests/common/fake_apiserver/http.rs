//! The fake's HTTP side: routing, discovery, list, and watch streams.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio::sync::{broadcast, watch};

use super::writes::{self, Failure};
use super::{Change, Inner, Kind, Store};

/// The request a path names.
enum Target {
    /// `GET /api`: the core group's versions.
    CoreVersions,
    /// `GET /apis`: every group with its versions.
    Groups,
    Discovery {
        group_version: String,
    },
    Collection {
        kind: Kind,
        namespace: Option<String>,
    },
    /// An object's `status` subresource (GET, PUT, PATCH).
    Status {
        kind: Kind,
        namespace: Option<String>,
        name: String,
    },
    /// One object (GET, PUT, PATCH, DELETE).
    Object {
        kind: Kind,
        namespace: Option<String>,
        name: String,
    },
    NotFound,
}

fn route(store: &Store, path: &str) -> Target {
    let seg: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (group, version, rest) = match seg.as_slice() {
        ["api"] => return Target::CoreVersions,
        ["apis"] => return Target::Groups,
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Target::NotFound,
    };
    let (namespace, plural, status_of, object) = match rest {
        [plural, name, "status"] => (None, *plural, Some(name.to_string()), None),
        ["namespaces", ns, plural, name, "status"] => {
            (Some(ns.to_string()), *plural, Some(name.to_string()), None)
        }
        [] => {
            let gv = if group.is_empty() {
                version.to_string()
            } else {
                format!("{group}/{version}")
            };
            return Target::Discovery { group_version: gv };
        }
        [plural] => (None, *plural, None, None),
        ["namespaces", ns, plural] => (Some(ns.to_string()), *plural, None, None),
        [plural, name] => (None, *plural, None, Some(name.to_string())),
        ["namespaces", ns, plural, name] => {
            (Some(ns.to_string()), *plural, None, Some(name.to_string()))
        }
        _ => return Target::NotFound,
    };
    store
        .kinds
        .iter()
        .find(|k| k.group == group && k.version == version && k.plural == plural)
        .filter(|k| k.namespaced || namespace.is_none())
        .map_or(Target::NotFound, |k| match (status_of, object) {
            (Some(name), _) => Target::Status {
                kind: k.clone(),
                namespace,
                name,
            },
            (None, Some(name)) => Target::Object {
                kind: k.clone(),
                namespace,
                name,
            },
            (None, None) => Target::Collection {
                kind: k.clone(),
                namespace,
            },
        })
}

/// A refused write, in the API server's `Status` shape.
fn refused(failure: &Failure, uri: &Uri) -> Response {
    if let Failure::NotFound = failure {
        return not_found(uri.path());
    }
    let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
        "message": failure.message(uri.path()), "reason": failure.reason(),
        "code": failure.code()});
    let http = StatusCode::from_u16(failure.code()).unwrap_or(StatusCode::BAD_REQUEST);
    (http, axum::Json(status)).into_response()
}

/// The answer to a write: the object in the version the client asked for, or the refusal.
fn written(result: Result<Value, Failure>, kind: &Kind, uri: &Uri, created: bool) -> Response {
    match result {
        Ok(object) => {
            let code = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (code, axum::Json(served_as(&object, kind))).into_response()
        }
        Err(failure) => refused(&failure, uri),
    }
}

/// An object as read through `kind`'s version (objects are stored once per resource).
fn served_as(object: &Value, kind: &Kind) -> Value {
    let mut object = object.clone();
    if object.is_object() {
        object["apiVersion"] = json!(kind.group_version());
    }
    object
}

fn failure(code: u16, uri: &Uri) -> Response {
    let reason = match code {
        404 => return not_found(uri.path()),
        409 => "Conflict",
        _ => "BadRequest",
    };
    let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
        "message": format!("{reason}: {}", uri.path()), "reason": reason, "code": code});
    let http = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    (http, axum::Json(status)).into_response()
}

fn not_found(path: &str) -> Response {
    let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
        "message": format!("the server could not find the requested resource ({path})"),
        "reason": "NotFound", "code": 404});
    (StatusCode::NOT_FOUND, axum::Json(status)).into_response()
}

pub(super) async fn handle(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let parse = || {
        serde_json::from_slice::<Value>(&body)
            .map_err(|e| Failure::BadRequest(format!("bad body: {e}")))
    };
    let target = route(&inner.lock(), uri.path());
    match target {
        Target::NotFound => not_found(uri.path()),
        Target::CoreVersions => axum::Json(json!({"kind": "APIVersions",
            "versions": ["v1"], "serverAddressByClientCIDRs": []}))
        .into_response(),
        Target::Groups => axum::Json(groups(&inner.lock())).into_response(),
        Target::Discovery { group_version } => {
            let store = inner.lock();
            let resources: Vec<Value> = store
                .kinds
                .iter()
                .filter(|k| k.group_version() == group_version)
                .map(|k| {
                    json!({"name": k.plural, "singularName": k.kind.to_ascii_lowercase(),
                    "namespaced": k.namespaced, "kind": k.kind,
                    "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]})
                })
                .collect();
            if resources.is_empty() {
                return not_found(uri.path());
            }
            axum::Json(json!({"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": group_version, "resources": resources}))
            .into_response()
        }
        Target::Status {
            kind,
            namespace,
            name,
        } => {
            let ns = namespace.unwrap_or_default();
            if method == Method::PATCH {
                let result = writes::patch(&inner, &kind, &ns, &name, &content_type, &body, true);
                return written(result, &kind, &uri, false);
            }
            let result = if method == Method::PUT {
                match serde_json::from_slice(&body) {
                    Ok(object) => super::replace_status(&inner, &kind, &ns, &name, object),
                    Err(_) => Err(400),
                }
            } else {
                super::get_object(&inner.lock(), &kind, &ns, &name).ok_or(404)
            };
            match result {
                Ok(object) => axum::Json(object).into_response(),
                Err(code) => failure(code, &uri),
            }
        }
        Target::Object {
            kind,
            namespace,
            name,
        } => {
            let ns = namespace.unwrap_or_default();
            let result = match method {
                Method::GET => {
                    super::get_object(&inner.lock(), &kind, &ns, &name).ok_or(Failure::NotFound)
                }
                Method::PUT => {
                    parse().and_then(|object| writes::replace(&inner, &kind, &ns, &name, object))
                }
                Method::PATCH => {
                    writes::patch(&inner, &kind, &ns, &name, &content_type, &body, false)
                }
                Method::DELETE => writes::delete(&inner, &kind, &ns, &name),
                _ => Err(Failure::BadRequest(format!("method {method} not served"))),
            };
            written(result, &kind, &uri, false)
        }
        Target::Collection { kind, namespace } if method == Method::POST => {
            let ns = namespace.unwrap_or_default();
            let result = parse().and_then(|object| writes::create(&inner, &kind, &ns, object));
            written(result, &kind, &uri, true)
        }
        Target::Collection { kind, namespace } => {
            if matches!(q.get("watch").map(String::as_str), Some("true" | "1")) {
                watch_response(&inner, &kind, namespace, &q)
            } else {
                let mut open = inner.lists_open.subscribe();
                let _ = open.wait_for(|o| *o).await;
                if q.contains_key("continue") {
                    inner.continued.fetch_add(1, Ordering::SeqCst);
                }
                list_response(&inner.lock(), &kind, namespace.as_deref(), &q)
            }
        }
    }
}

fn in_scope(kind: &Kind, namespace: Option<&str>, c: &Change) -> bool {
    c.group == kind.group && c.plural == kind.plural && namespace.is_none_or(|ns| ns == c.namespace)
}

/// `GET /apis`: the groups of the served kinds, each with its one version preferred.
fn groups(store: &Store) -> Value {
    let mut by_group: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for k in store.kinds.iter().filter(|k| !k.group.is_empty()) {
        let versions = by_group.entry(k.group.as_str()).or_default();
        if !versions.contains(&k.group_version()) {
            versions.push(k.group_version());
        }
    }
    let groups: Vec<Value> = by_group
        .into_iter()
        .map(|(name, versions)| {
            let list: Vec<Value> = versions
                .iter()
                .map(|gv| json!({"groupVersion": gv, "version": gv.rsplit('/').next()}))
                .collect();
            json!({"name": name, "versions": list, "preferredVersion": list[0]})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// One page of a list: `limit` items from the offset a `continue` token names (the token
/// is the offset itself; a real server's is opaque), with the next token while items
/// remain.
fn list_response(
    store: &Store,
    kind: &Kind,
    namespace: Option<&str>,
    q: &BTreeMap<String, String>,
) -> Response {
    let items = current(store, kind, namespace);
    let start: usize = q.get("continue").and_then(|c| c.parse().ok()).unwrap_or(0);
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let page: Vec<Value> = items
        .iter()
        .skip(start)
        .take(limit)
        .map(|o| served_as(o, kind))
        .collect();
    let mut metadata = json!({"resourceVersion": store.rv.to_string()});
    let next = start.saturating_add(page.len());
    if next < items.len() {
        metadata["continue"] = json!(next.to_string());
    }
    axum::Json(
        json!({"kind": format!("{}List", kind.kind), "apiVersion": kind.group_version(),
        "metadata": metadata, "items": page}),
    )
    .into_response()
}

fn line(event: &str, object: &Value) -> Bytes {
    let mut text = json!({"type": event, "object": object}).to_string();
    text.push('\n');
    Bytes::from(text)
}

/// What one watch stream still has to send.
struct WatchState {
    backlog: VecDeque<Bytes>,
    /// Gone: send the backlog (the 410 error) and end.
    finished: bool,
    last_rv: u64,
    kind: Kind,
    namespace: Option<String>,
    changes: broadcast::Receiver<Change>,
    close: watch::Receiver<u64>,
    deadline: tokio::time::Instant,
}

fn watch_response(
    inner: &Arc<Inner>,
    kind: &Kind,
    namespace: Option<String>,
    q: &BTreeMap<String, String>,
) -> Response {
    inner.watches.fetch_add(1, Ordering::SeqCst);
    let store = inner.lock();
    // Subscribe under the lock: nothing can slip between the replay and the live feed.
    let changes = inner.changes.subscribe();
    let mut close = inner.close.subscribe();
    close.mark_unchanged();
    let from: u64 = q
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut backlog = VecDeque::new();
    let mut finished = false;
    if from == 0 {
        // "Any version": the current objects as ADDED, then what follows.
        let items = current(&store, kind, namespace.as_deref());
        backlog.extend(items.iter().map(|o| line("ADDED", &served_as(o, kind))));
    } else if from < store.oldest {
        let gone = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "message": format!("too old resource version: {from} ({})", store.oldest),
            "reason": "Expired", "code": 410});
        backlog.push_back(line("ERROR", &gone));
        inner.gone.fetch_add(1, Ordering::SeqCst);
        finished = true;
    } else {
        backlog.extend(
            store
                .history
                .iter()
                .filter(|c| c.rv > from && in_scope(kind, namespace.as_deref(), c))
                .map(|c| line(c.kind, &served_as(&c.object, kind))),
        );
    }
    if !finished && q.get("allowWatchBookmarks").map(String::as_str) == Some("true") {
        let mark = json!({"kind": kind.kind, "apiVersion": kind.group_version(),
            "metadata": {"resourceVersion": store.rv.to_string()}});
        backlog.push_back(line("BOOKMARK", &mark));
    }
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse().ok())
        .unwrap_or(300);
    let state = WatchState {
        backlog,
        finished,
        last_rv: store.rv,
        kind: kind.clone(),
        namespace,
        changes,
        close,
        deadline: tokio::time::Instant::now() + Duration::from_secs(timeout),
    };
    drop(store);
    let stream = futures::stream::unfold(state, next_line);
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The objects of one kind (in one namespace, when given).
fn current<'s>(store: &'s Store, kind: &Kind, namespace: Option<&str>) -> Vec<&'s Value> {
    store
        .objects
        .iter()
        .filter(|((g, p, ns, _), _)| {
            *g == kind.group && *p == kind.plural && namespace.is_none_or(|n| n == ns)
        })
        .map(|(_, v)| v)
        .collect()
}

/// The next line of a watch stream, or `None` to end it.
async fn next_line(mut st: WatchState) -> Option<(Result<Bytes, Infallible>, WatchState)> {
    if let Some(b) = st.backlog.pop_front() {
        return Some((Ok(b), st));
    }
    if st.finished {
        return None;
    }
    loop {
        tokio::select! {
            change = st.changes.recv() => match change {
                Ok(c) if c.rv > st.last_rv && in_scope(&st.kind, st.namespace.as_deref(), &c) => {
                    st.last_rv = c.rv;
                    return Some((Ok(line(c.kind, &served_as(&c.object, &st.kind))), st));
                }
                Ok(_) => {}
                // Lagging or shut down: end the stream; the client re-watches.
                Err(_) => return None,
            },
            _ = st.close.changed() => return None,
            _ = tokio::time::sleep_until(st.deadline) => return None,
        }
    }
}
