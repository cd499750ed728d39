//! Cluster mode: policies, namespace labels and the inventory from the Kubernetes API.
//!
//! kube-rs watchers follow ConstraintTemplates, one constraint kind per template (a watcher
//! starts when a template defines the kind and stops when it goes), the four mutator kinds,
//! Gatekeeper's `Config` in the server's namespace, Namespaces, and the kinds Config's
//! `spec.sync.syncOnly` names. Watchers only record what they see ([`state`]); one
//! publisher task turns changes, debounced, into a [`PolicySnapshot`] built exactly as in
//! file mode and swaps it into the [`SnapshotStore`]:
//!
//! - A policy change (template, constraint, mutator, Config) rebuilds the policy set object
//!   by object, as in file mode: an invalid object is refused with its reason (logged,
//!   counted) and its last good version keeps serving, while the rest of the change
//!   applies; unchanged templates are not compiled again.
//! - A namespace or synced-object change only publishes new namespace labels and a new
//!   `data.inventory` beside the same compiled policies.
//! - The outcome of each template, constraint, mutator and Config is written to its `status`
//!   (`byPod[].errors`, and `created` or `byPod[].enforced`), as Gatekeeper does, when a
//!   status id is configured.
//! - With constraint CRD management on, each template's CRD is created, updated and deleted
//!   as Gatekeeper's template controller does ([`crds`]); `status.created` then waits for
//!   the CRD to be Established. Status entries of replicas that are gone are removed by
//!   [`status_gc`].
//! - Templates, constraints and mutators labelled `policy.portcullis.io/shadow: "true"` are
//!   not enforced: they make a second, shadow set, published into its own store for the
//!   shadow evaluator ([`shadow`]).
//! - Nothing is published before every watcher has completed its first list, so
//!   `/readyz` turns ready only with the cluster's whole policy set in place.
//!
//! The admission hot path never waits on the API server: it reads whichever snapshot was
//! published last.
//!
//! [`PolicySnapshot`]: crate::snapshot::PolicySnapshot

pub mod crds;
mod publish;
pub mod shadow;
pub mod state;
pub(crate) mod status;
pub mod status_gc;
mod vap_sync;
mod watch;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::metrics::Metrics;
use crate::snapshot::{BuildOptions, SnapshotStore};
use state::ClusterState;

/// Errors of starting cluster mode.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No usable Kubernetes client configuration (in-cluster or kubeconfig).
    #[error("cannot configure a Kubernetes client: {0}")]
    Config(#[from] kube::config::InferConfigError),
    /// The client could not be built.
    #[error("cannot create a Kubernetes client: {0}")]
    Client(#[from] kube::Error),
}

/// Settings of cluster mode.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// How to compile templates.
    pub build: BuildOptions,
    /// The server's namespace, where Gatekeeper's `Config` (named `config`) is read;
    /// `None` takes the client's default: in a Pod, the Pod's own namespace.
    pub namespace: Option<String>,
    /// How long to let changes gather before building: a `kubectl apply` of a directory
    /// arrives as a burst of events that should compile once.
    pub debounce: Duration,
    /// This replica's id in the `status.byPod[]` of templates, constraints, mutators and
    /// Config (its Pod name); `None` writes no status.
    pub status_id: Option<String>,
    /// Create, update and delete the constraint CRD of each ConstraintTemplate (see
    /// [`crds`]); templates then report `created` once their CRD is Established.
    pub manage_crds: bool,
    /// With leader election: constraint CRDs are written only while this replica leads
    /// (the observer, and the `status.created` it feeds, run everywhere).
    pub leadership: Option<crate::leader::Leadership>,
    /// Keep the ValidatingAdmissionPolicies and bindings `portcullis vap` would print for
    /// the cluster's CEL templates and constraints in the cluster (`--generate-vap`).
    pub generate_vap: bool,
    /// Where the shadow set of the shadow-labelled objects is published ([`shadow`]), for
    /// the shadow evaluator; `None` builds none (those objects are still not enforced).
    pub shadow_store: Option<Arc<SnapshotStore>>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            build: BuildOptions::default(),
            namespace: None,
            debounce: Duration::from_millis(200),
            status_id: None,
            manage_crds: false,
            leadership: None,
            generate_vap: false,
            shadow_store: None,
        }
    }
}

/// The state the watchers write and the publisher reads, and the signal between them.
#[derive(Debug, Default)]
struct Shared {
    state: Mutex<ClusterState>,
    changed: tokio::sync::Notify,
}

impl Shared {
    /// Change the state and wake the publisher.
    fn update(&self, f: impl FnOnce(&mut ClusterState)) {
        f(&mut self.lock());
        self.changed.notify_one();
    }

    /// The state; a watcher that panicked mid-update leaves it usable, since every update
    /// is a single map operation.
    fn lock(&self) -> std::sync::MutexGuard<'_, ClusterState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Cluster mode for one API server.
#[derive(Clone)]
pub struct ClusterSource {
    client: kube::Client,
    options: ClusterOptions,
}

impl std::fmt::Debug for ClusterSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterSource")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl ClusterSource {
    /// A source reading through `client` (tests point one at a fake API server).
    pub fn new(client: kube::Client, options: ClusterOptions) -> Self {
        ClusterSource { client, options }
    }

    /// A source for the cluster this process runs in, or the current kubeconfig context.
    pub async fn from_environment(options: ClusterOptions) -> Result<Self, ClusterError> {
        let config = kube::Config::infer().await?;
        Ok(ClusterSource::new(kube::Client::try_from(config)?, options))
    }

    /// The same source, writing constraint CRDs only while `leadership` holds.
    pub fn with_leadership(mut self, leadership: Option<crate::leader::Leadership>) -> Self {
        self.options.leadership = leadership;
        self
    }

    /// The client this source reads through (audit lists objects with it).
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// Start the watchers and the publisher. They run until the handle is dropped.
    pub fn spawn(self, store: Arc<SnapshotStore>, metrics: Arc<Metrics>) -> ClusterHandle {
        let publisher = publish::Publisher::new(self.client, self.options, store, metrics);
        ClusterHandle {
            task: tokio::spawn(publisher.run()),
        }
    }
}

/// The running cluster source; dropping it stops every watcher.
#[derive(Debug)]
pub struct ClusterHandle {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ClusterHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}
