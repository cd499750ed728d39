//! An in-process fake Kubernetes API server (plain HTTP on 127.0.0.1) speaking just enough
//! of the real REST protocol for kube-rs watchers, so cluster mode is tested end to end
//! without a cluster.
//!
//! What it serves, for the kinds registered with [`FakeApiServer::serve_kind`] (like a CRD
//! being installed; other paths answer 404, as for a CRD that is not):
//!
//! - discovery: `GET /api` (APIVersions), `GET /apis` (APIGroupList), `GET /api/v1` and
//!   `GET /apis/<group>/<version>` (APIResourceList), which kube's `pinned_kind` reads to
//!   find a synced kind's plural and `Discovery` (audit) reads to find every resource;
//! - list: `GET /api/v1/<plural>`, `/api/v1/namespaces/<ns>/<plural>`,
//!   `/apis/<g>/<v>/<plural>`, `/apis/<g>/<v>/namespaces/<ns>/<plural>`, with the store's
//!   resourceVersion in the list metadata, paged when `limit` is given: `continue` carries
//!   the next offset (see [`FakeApiServer::continued_lists`]);
//! - watch: the same paths with `watch=true`, streaming newline-delimited WatchEvents
//!   (`ADDED`, `MODIFIED`, `DELETED`, a `BOOKMARK` when `allowWatchBookmarks=true`) of every
//!   change after `resourceVersion`, then live changes until `timeoutSeconds` passes or the
//!   test calls [`FakeApiServer::close_watches`]. A resourceVersion older than the retained
//!   history (see [`FakeApiServer::compact`]) gets an `ERROR` event with a 410 Gone status,
//!   as the real server sends, which makes the client relist.
//!
//! - status: `GET` and `PUT .../<plural>/<name>/status`, the PUT refused with 409 Conflict
//!   unless it carries the object's current resourceVersion; `PATCH` of the status;
//! - objects: `GET`, `PUT`, `PATCH` and `DELETE` of `.../<plural>/<name>`, `POST` to a
//!   collection (`generateName` honoured), with 404, 409 AlreadyExists and 409 Conflict
//!   where the real server answers them (see `writes`). A CustomResourceDefinition written
//!   this way (or with [`FakeApiServer::apply`]) serves its kinds in every served version
//!   and turns Established; deleting it removes the kinds and their objects. Objects are
//!   stored once per resource and read back in whichever served version is asked for.
//!
//! resourceVersions are one counter for the whole store, as etcd's revision is. Objects get
//! a uid at creation and a generation counted per write, and keep their status across
//! writes of the object itself, as with a CRD's status subresource.

mod http;
mod writes;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{json, Value};
use tokio::sync::{broadcast, watch};

/// A resource the fake serves.
#[derive(Debug, Clone)]
pub struct Kind {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub namespaced: bool,
}

impl Kind {
    pub fn new(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) -> Self {
        Kind {
            group: group.into(),
            version: version.into(),
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

    /// CustomResourceDefinitions: writing one serves the kinds it defines (see `writes`).
    pub fn crd() -> Self {
        Kind::new(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
        )
    }

    pub fn group_version(&self) -> String {
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
    group: String,
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
    /// CRDs are stored without turning Established until [`FakeApiServer::establish_crds`].
    hold_establish: bool,
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
    continued: AtomicUsize,
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
            continued: AtomicUsize::new(0),
        });
        let app = axum::Router::new()
            .fallback(http::handle)
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
    pub fn apply(&self, object: Value) -> Value {
        let mut store = self.inner.lock();
        let (key, kind) = key_of(&store, &object);
        // As the real server: status is left to the status subresource.
        writes::store_object(&mut store, &self.inner, &kind, key, object, true)
    }

    /// The stored form of an object given in the same shape as for [`apply`](Self::apply).
    pub fn get(&self, object: &Value) -> Option<Value> {
        let store = self.inner.lock();
        let (key, _) = key_of(&store, object);
        store.objects.get(&key).cloned()
    }

    /// Delete an object given in the same shape as for [`apply`](Self::apply).
    pub fn delete(&self, object: &Value) {
        let (_, kind) = key_of(&self.inner.lock(), object);
        let field = |f: &str| {
            object["metadata"][f]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        let _ = writes::delete(&self.inner, &kind, &field("namespace"), &field("name"));
    }

    /// Write a kubeconfig at `path` pointing at this server, its context in `namespace`
    /// (where a `serve --source cluster` started with it reads Config, Leases, Secrets).
    pub fn write_kubeconfig(&self, path: &std::path::Path, namespace: &str) {
        let text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\n\
             clusters: [{{name: fake, cluster: {{server: \"{}\"}}}}]\n\
             users: [{{name: fake, user: {{}}}}]\n\
             contexts: [{{name: fake, context: {{cluster: fake, user: fake, namespace: {namespace}}}}}]\n",
            self.url
        );
        std::fs::write(path, text).expect("write kubeconfig");
    }

    /// Every stored object of a group's resource (`plural`), in key order.
    pub fn objects(&self, group: &str, plural: &str) -> Vec<Value> {
        self.inner
            .lock()
            .objects
            .iter()
            .filter(|((g, p, _, _), _)| g == group && p == plural)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Whether a kind is served (its CRD installed), in any version.
    pub fn serves(&self, group: &str, kind: &str) -> bool {
        self.inner
            .lock()
            .kinds
            .iter()
            .any(|k| k.group == group && k.kind == kind)
    }

    /// From now on, CRDs written are served but not marked Established until
    /// [`establish_crds`](Self::establish_crds) (the window a client must wait out).
    pub fn hold_establish(&self) {
        self.inner.lock().hold_establish = true;
    }

    /// Mark every CRD Established, and those written later at once.
    pub fn establish_crds(&self) {
        let mut store = self.inner.lock();
        store.hold_establish = false;
        let crds: Vec<Value> = store
            .objects
            .iter()
            .filter(|((g, p, _, _), _)| {
                g == "apiextensions.k8s.io" && p == "customresourcedefinitions"
            })
            .map(|(_, v)| v.clone())
            .collect();
        for crd in crds {
            writes::establish(&mut store, &self.inner, &crd);
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

    /// How many list requests continued a paged list (carried a `continue` token).
    pub fn continued_lists(&self) -> usize {
        self.inner.continued.load(Ordering::SeqCst)
    }

    /// How many writes (creates, replaces, patches, deletes) a group's resource took since
    /// the last [`compact`](Self::compact): every write is one change in the history.
    pub fn writes(&self, group: &str, plural: &str) -> usize {
        self.inner
            .lock()
            .history
            .iter()
            .filter(|c| c.group == group && c.plural == plural)
            .count()
    }

    /// How many watches were answered 410 Gone.
    pub fn gone_sent(&self) -> usize {
        self.inner.gone.load(Ordering::SeqCst)
    }
}

type Key = (String, String, String, String);

/// One stored object.
fn get_object(store: &Store, kind: &Kind, namespace: &str, name: &str) -> Option<Value> {
    let key = (
        kind.group.clone(),
        kind.plural.clone(),
        namespace.to_string(),
        name.to_string(),
    );
    store.objects.get(&key).cloned()
}

/// `PUT .../status`: replace the stored object's status if `object` carries its current
/// resourceVersion (else 409 Conflict, as optimistic concurrency demands).
fn replace_status(
    inner: &Inner,
    kind: &Kind,
    namespace: &str,
    name: &str,
    object: Value,
) -> Result<Value, u16> {
    let mut store = inner.lock();
    let key = (
        kind.group.clone(),
        kind.plural.clone(),
        namespace.to_string(),
        name.to_string(),
    );
    let current = store.objects.get(&key).ok_or(404u16)?;
    if object["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"] {
        return Err(409);
    }
    let mut updated = current.clone();
    updated["status"] = object["status"].clone();
    store.rv += 1;
    updated["metadata"]["resourceVersion"] = json!(store.rv.to_string());
    store.objects.insert(key.clone(), updated.clone());
    record(&mut store, inner, kind, key, "MODIFIED", updated.clone());
    Ok(updated)
}

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
            kind.group.clone(),
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
        group: kind.group.clone(),
        namespace: key.2,
        kind: event,
        object,
    };
    store.history.push(change.clone());
    // No receiver is fine: nobody is watching.
    let _ = inner.changes.send(change);
}
