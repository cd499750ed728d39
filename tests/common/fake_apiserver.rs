//! An in-process fake Kubernetes API server (plain HTTP on 127.0.0.1) speaking just enough
//! of the real REST protocol for kube-rs watchers, so cluster mode is tested end to end
//! without a cluster.
//!
//! What it serves, for the kinds registered with [`FakeApiServer::serve_kind`] (like a CRD
//! being installed; other paths answer 404, as for a CRD that is not):
//!
//! - discovery: `GET /api/v1` and `GET /apis/<group>/<version>` (APIResourceList), which
//!   kube's `pinned_kind` reads to find a synced kind's plural;
//! - list: `GET /api/v1/<plural>`, `/api/v1/namespaces/<ns>/<plural>`,
//!   `/apis/<g>/<v>/<plural>`, `/apis/<g>/<v>/namespaces/<ns>/<plural>`, all items in one
//!   page (`limit` is ignored) with the store's resourceVersion in the list metadata;
//! - watch: the same paths with `watch=true`, streaming newline-delimited WatchEvents
//!   (`ADDED`, `MODIFIED`, `DELETED`, a `BOOKMARK` when `allowWatchBookmarks=true`) of every
//!   change after `resourceVersion`, then live changes until `timeoutSeconds` passes or the
//!   test calls [`FakeApiServer::close_watches`]. A resourceVersion older than the retained
//!   history (see [`FakeApiServer::compact`]) gets an `ERROR` event with a 410 Gone status,
//!   as the real server sends, which makes the client relist.
//!
//! resourceVersions are one counter for the whole store, as etcd's revision is.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio::sync::{broadcast, watch};

/// A resource the fake serves.
#[derive(Debug, Clone)]
pub struct Kind {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: String,
    pub plural: String,
    pub namespaced: bool,
}

impl Kind {
    pub fn new(
        group: &'static str,
        version: &'static str,
        kind: &str,
        plural: &str,
        namespaced: bool,
    ) -> Self {
        Kind {
            group,
            version,
            kind: kind.into(),
            plural: plural.into(),
            namespaced,
        }
    }

    /// A constraint kind, as Gatekeeper's CRD for a template defines it.
    pub fn constraint(kind: &str) -> Self {
        Kind::new(
            "constraints.gatekeeper.sh",
            "v1beta1",
            kind,
            &kind.to_ascii_lowercase(),
            false,
        )
    }

    fn group_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// The kinds cluster mode watches, plus Ingress for inventory tests.
pub fn gatekeeper_kinds() -> Vec<Kind> {
    vec![
        Kind::new("", "v1", "Namespace", "namespaces", false),
        Kind::new("networking.k8s.io", "v1", "Ingress", "ingresses", true),
        Kind::new(
            "templates.gatekeeper.sh",
            "v1",
            "ConstraintTemplate",
            "constrainttemplates",
            false,
        ),
        Kind::new(
            "config.gatekeeper.sh",
            "v1alpha1",
            "Config",
            "configs",
            true,
        ),
        Kind::new("mutations.gatekeeper.sh", "v1", "Assign", "assign", false),
        Kind::new(
            "mutations.gatekeeper.sh",
            "v1",
            "AssignMetadata",
            "assignmetadata",
            false,
        ),
        Kind::new(
            "mutations.gatekeeper.sh",
            "v1",
            "ModifySet",
            "modifyset",
            false,
        ),
        // AssignImage is left out on purpose: a missing CRD must not block readiness.
    ]
}

/// One change, as the watch stream reports it.
#[derive(Debug, Clone)]
struct Change {
    rv: u64,
    plural: String,
    group: &'static str,
    namespace: String,
    kind: &'static str,
    object: Value,
}

#[derive(Debug, Default)]
struct Store {
    rv: u64,
    /// The oldest resourceVersion a watch may resume from.
    oldest: u64,
    kinds: Vec<Kind>,
    /// Objects by (group, plural, namespace, name).
    objects: BTreeMap<(String, String, String, String), Value>,
    history: Vec<Change>,
}

struct Inner {
    store: Mutex<Store>,
    changes: broadcast::Sender<Change>,
    close: watch::Sender<u64>,
    lists_open: watch::Sender<bool>,
    watches: AtomicUsize,
    gone: AtomicUsize,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A running fake API server; it stops when dropped.
pub struct FakeApiServer {
    pub url: String,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeApiServer {
    /// Serve `kinds` on an ephemeral loopback port.
    pub async fn start(kinds: Vec<Kind>) -> Self {
        let inner = Arc::new(Inner {
            store: Mutex::new(Store {
                rv: 1,
                oldest: 1,
                kinds,
                ..Store::default()
            }),
            changes: broadcast::channel(1024).0,
            close: watch::channel(0).0,
            lists_open: watch::channel(true).0,
            watches: AtomicUsize::new(0),
            gone: AtomicUsize::new(0),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake apiserver");
        let url = format!(
            "http://{}",
            listener.local_addr().expect("fake apiserver address")
        );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeApiServer { url, inner, task }
    }

    /// A kube client pointed at this server.
    pub fn client(&self) -> kube::Client {
        let url = self.url.parse().expect("fake apiserver url");
        kube::Client::try_from(kube::Config::new(url)).expect("kube client")
    }

    /// Install a kind (as creating its CRD would).
    pub fn serve_kind(&self, kind: Kind) {
        self.inner.lock().kinds.push(kind);
    }

    /// Create or replace an object (by apiVersion, kind, namespace, name); returns it with
    /// its new resourceVersion.
    pub fn apply(&self, mut object: Value) -> Value {
        let mut store = self.inner.lock();
        let (key, kind) = key_of(&store, &object);
        store.rv += 1;
        object["metadata"]["resourceVersion"] = json!(store.rv.to_string());
        let event = if store.objects.insert(key.clone(), object.clone()).is_some() {
            "MODIFIED"
        } else {
            "ADDED"
        };
        record(&mut store, &self.inner, &kind, key, event, object.clone());
        object
    }

    /// Delete an object given in the same shape as for [`apply`](Self::apply).
    pub fn delete(&self, object: &Value) {
        let mut store = self.inner.lock();
        let (key, kind) = key_of(&store, object);
        if let Some(mut gone) = store.objects.remove(&key) {
            store.rv += 1;
            gone["metadata"]["resourceVersion"] = json!(store.rv.to_string());
            record(&mut store, &self.inner, &kind, key, "DELETED", gone);
        }
    }

    /// End every open watch stream (clients are expected to re-watch).
    pub fn close_watches(&self) {
        self.inner.close.send_modify(|g| *g += 1);
    }

    /// Forget the change history, so a watch resuming from an earlier resourceVersion
    /// gets 410 Gone (as after etcd compaction).
    pub fn compact(&self) {
        let mut store = self.inner.lock();
        store.history.clear();
        store.oldest = store.rv;
    }

    /// Hold list requests until [`open_lists`](Self::open_lists) (to observe not-ready).
    pub fn hold_lists(&self) {
        self.inner.lists_open.send_replace(false);
    }

    /// Let held and later list requests through.
    pub fn open_lists(&self) {
        self.inner.lists_open.send_replace(true);
    }

    /// How many watch requests were served so far.
    pub fn watches_started(&self) -> usize {
        self.inner.watches.load(Ordering::SeqCst)
    }

    /// How many watches were answered 410 Gone.
    pub fn gone_sent(&self) -> usize {
        self.inner.gone.load(Ordering::SeqCst)
    }
}

type Key = (String, String, String, String);

fn key_of(store: &Store, object: &Value) -> (Key, Kind) {
    let api_version = object["apiVersion"]
        .as_str()
        .expect("object has apiVersion");
    let kind_name = object["kind"].as_str().expect("object has kind");
    let kind = store
        .kinds
        .iter()
        .find(|k| k.group_version() == api_version && k.kind == kind_name)
        .unwrap_or_else(|| panic!("fake apiserver does not serve {api_version} {kind_name}"))
        .clone();
    let field = |f: &str| {
        object["metadata"][f]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    (
        (
            kind.group.to_string(),
            kind.plural.clone(),
            field("namespace"),
            field("name"),
        ),
        kind,
    )
}

fn record(
    store: &mut Store,
    inner: &Inner,
    kind: &Kind,
    key: Key,
    event: &'static str,
    object: Value,
) {
    let change = Change {
        rv: store.rv,
        plural: kind.plural.clone(),
        group: kind.group,
        namespace: key.2,
        kind: event,
        object,
    };
    store.history.push(change.clone());
    // No receiver is fine: nobody is watching.
    let _ = inner.changes.send(change);
}

/// The request a path names.
enum Target {
    Discovery {
        group_version: String,
    },
    Collection {
        kind: Kind,
        namespace: Option<String>,
    },
    NotFound,
}

fn route(store: &Store, path: &str) -> Target {
    let seg: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (group, version, rest) = match seg.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Target::NotFound,
    };
    let (namespace, plural) = match rest {
        [] => {
            let gv = if group.is_empty() {
                version.to_string()
            } else {
                format!("{group}/{version}")
            };
            return Target::Discovery { group_version: gv };
        }
        [plural] => (None, *plural),
        ["namespaces", ns, plural] => (Some(ns.to_string()), *plural),
        _ => return Target::NotFound,
    };
    store
        .kinds
        .iter()
        .find(|k| k.group == group && k.version == version && k.plural == plural)
        .filter(|k| k.namespaced || namespace.is_none())
        .map_or(Target::NotFound, |k| Target::Collection {
            kind: k.clone(),
            namespace,
        })
}

fn not_found(path: &str) -> Response {
    let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
        "message": format!("the server could not find the requested resource ({path})"),
        "reason": "NotFound", "code": 404});
    (StatusCode::NOT_FOUND, axum::Json(status)).into_response()
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    uri: Uri,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let target = route(&inner.lock(), uri.path());
    match target {
        Target::NotFound => not_found(uri.path()),
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
        Target::Collection { kind, namespace } => {
            if matches!(q.get("watch").map(String::as_str), Some("true" | "1")) {
                watch_response(&inner, &kind, namespace, &q)
            } else {
                let mut open = inner.lists_open.subscribe();
                let _ = open.wait_for(|o| *o).await;
                list_response(&inner.lock(), &kind, namespace.as_deref())
            }
        }
    }
}

fn in_scope(kind: &Kind, namespace: Option<&str>, c: &Change) -> bool {
    c.group == kind.group && c.plural == kind.plural && namespace.is_none_or(|ns| ns == c.namespace)
}

fn list_response(store: &Store, kind: &Kind, namespace: Option<&str>) -> Response {
    let items = current(store, kind, namespace);
    axum::Json(
        json!({"kind": format!("{}List", kind.kind), "apiVersion": kind.group_version(),
        "metadata": {"resourceVersion": store.rv.to_string()}, "items": items}),
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
    backlog: std::collections::VecDeque<Bytes>,
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
    let mut backlog = std::collections::VecDeque::new();
    let mut finished = false;
    if from == 0 {
        // "Any version": the current objects as ADDED, then what follows.
        let items = current(&store, kind, namespace.as_deref());
        backlog.extend(items.iter().map(|o| line("ADDED", o)));
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
                .map(|c| line(c.kind, &c.object)),
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
                    return Some((Ok(line(c.kind, &c.object)), st));
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
