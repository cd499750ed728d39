//! Kubernetes Events for violations, as Gatekeeper's `--emit-admission-events` and
//! `--emit-audit-events` write them (core/v1 Events, reasons `FailedAdmission`,
//! `WarningAdmission`, `DryrunViolation` and `AuditViolation`; see [`object`]), off by
//! default.
//!
//! Emitting never slows an admission: the handler hands a [`Violation`] to a bounded
//! channel with `try_send` and goes on; when the channel is full the violation is dropped
//! and counted (`portcullis_events_dropped_total`). One writer task drains the channel,
//! aggregates repeats of the same Event into its `count` and writes within a global rate
//! ([`aggregate`]), so a client retrying a denied request in a loop costs a few writes,
//! not one per request, and etcd cannot be flooded by tenants.
//!
//! The writer does not decide whether to run: the caller spawns it (admission events on
//! every replica, since every replica answers requests; audit events from whichever
//! process audits).

pub mod aggregate;
pub mod object;
mod writer;

use std::sync::Arc;

use tokio::sync::mpsc;

pub use aggregate::Limits;
pub use object::{Placement, Process, Resource, Violation};

use crate::evaluate::Hit;
use crate::metrics::Metrics;
use crate::policy::Action;
use crate::review::Review;

/// Violations waiting for the writer at most, by default.
pub const DEFAULT_QUEUE: usize = 1024;

/// What to emit, where, and how fast.
#[derive(Debug, Clone)]
pub struct EventOptions {
    /// Emit an Event for each violation at admission (`--emit-admission-events`).
    pub admission: bool,
    /// Emit an Event for each violation an audit finds (`--emit-audit-events`).
    pub audit: bool,
    /// Where Events go.
    pub placement: Placement,
    /// Aggregation and rate.
    pub limits: Limits,
    /// Violations waiting for the writer at most; more are dropped and counted.
    pub queue: usize,
}

impl Default for EventOptions {
    fn default() -> Self {
        EventOptions {
            admission: false,
            audit: false,
            placement: Placement::default(),
            limits: Limits::default(),
            queue: DEFAULT_QUEUE,
        }
    }
}

#[derive(Debug)]
struct Shared {
    tx: mpsc::Sender<Violation>,
    admission: bool,
    audit: bool,
    metrics: Arc<Metrics>,
}

/// Where violations are handed to the Event writer; cheap to clone. The default emits
/// nothing.
#[derive(Debug, Clone, Default)]
pub struct EventSink {
    shared: Option<Arc<Shared>>,
}

impl EventSink {
    /// A sink that emits nothing.
    pub fn disabled() -> Self {
        EventSink::default()
    }

    /// True when admission violations become Events.
    pub fn emits_admission(&self) -> bool {
        self.shared.as_ref().is_some_and(|s| s.admission)
    }

    /// True when audit violations become Events.
    pub fn emits_audit(&self) -> bool {
        self.shared.as_ref().is_some_and(|s| s.audit)
    }

    /// Hand one violation to the writer without waiting; dropped and counted when the
    /// queue is full.
    pub fn send(&self, violation: Violation) {
        let Some(shared) = &self.shared else {
            return;
        };
        if shared.tx.try_send(violation).is_err() {
            shared.metrics.events_dropped.inc();
        }
    }

    /// The violations of one admission request. Under a server-wide dry-run
    /// (`server_dryrun`), denials were not enforced and are reported as dry-run
    /// violations.
    pub fn admission(
        &self,
        snapshot: &crate::snapshot::PolicySnapshot,
        review: &Review,
        hits: &[Hit],
        server_dryrun: bool,
    ) {
        if !self.emits_admission() || hits.is_empty() {
            return;
        }
        let username = review.request["userInfo"]["username"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let resource = Resource::of(review);
        for hit in hits {
            let action = match hit.action {
                Action::Deny if server_dryrun => Action::Dryrun,
                other => other,
            };
            self.send(Violation {
                process: Process::Admission {
                    username: username.clone(),
                },
                action,
                scoped: scoped(snapshot, &hit.kind, &hit.constraint),
                constraint_kind: hit.kind.clone(),
                constraint_name: hit.constraint.clone(),
                resource: resource.clone(),
                message: hit.msg.clone(),
            });
        }
    }

    /// The violations an audit found on one object, in a sweep started at `timestamp`.
    pub fn audit(
        &self,
        snapshot: &crate::snapshot::PolicySnapshot,
        review: &Review,
        hits: &[Hit],
        timestamp: &str,
    ) {
        if !self.emits_audit() || hits.is_empty() {
            return;
        }
        let resource = Resource::of(review);
        for hit in hits {
            self.send(Violation {
                process: Process::Audit {
                    timestamp: timestamp.to_string(),
                },
                action: hit.action,
                scoped: scoped(snapshot, &hit.kind, &hit.constraint),
                constraint_kind: hit.kind.clone(),
                constraint_name: hit.constraint.clone(),
                resource: resource.clone(),
                message: hit.msg.clone(),
            });
        }
    }
}

/// True when the constraint's enforcement is `scoped`.
fn scoped(snapshot: &crate::snapshot::PolicySnapshot, kind: &str, name: &str) -> bool {
    snapshot.constraints.iter().any(|a| {
        a.constraint.kind == kind
            && a.constraint.name == name
            && matches!(
                a.constraint.enforcement,
                crate::policy::Enforcement::Scoped(_)
            )
    })
}

/// Start the Event writer on `client`; returns the sink to hand violations to. The
/// writer stops when every clone of the sink is dropped, after writing what it holds
/// (within the rate).
pub fn spawn(
    client: kube::Client,
    options: EventOptions,
    metrics: Arc<Metrics>,
) -> (EventSink, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(options.queue.max(1));
    let sink = EventSink {
        shared: Some(Arc::new(Shared {
            tx,
            admission: options.admission,
            audit: options.audit,
            metrics: metrics.clone(),
        })),
    };
    let task = tokio::spawn(writer::run(client, rx, options, metrics));
    (sink, task)
}

/// A sink whose violations land in a channel the caller reads: for tests of the emitting
/// side without an API server.
pub fn channel(
    options: &EventOptions,
    metrics: Arc<Metrics>,
) -> (EventSink, mpsc::Receiver<Violation>) {
    let (tx, rx) = mpsc::channel(options.queue.max(1));
    let sink = EventSink {
        shared: Some(Arc::new(Shared {
            tx,
            admission: options.admission,
            audit: options.audit,
            metrics,
        })),
    };
    (sink, rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_and_counts_without_waiting() {
        let metrics = Arc::new(Metrics::new());
        let options = EventOptions {
            admission: true,
            queue: 2,
            ..EventOptions::default()
        };
        let (sink, mut rx) = channel(&options, metrics.clone());
        let review = Review::from_object(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "a"}}));
        let hit = Hit {
            kind: "K".into(),
            constraint: "c".into(),
            msg: "m".into(),
            details: None,
            action: Action::Deny,
        };
        let snapshot = crate::snapshot::PolicySnapshot::default();
        let started = std::time::Instant::now();
        for _ in 0..10 {
            sink.admission(&snapshot, &review, std::slice::from_ref(&hit), true);
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert!(metrics
            .encode()
            .contains("portcullis_events_dropped_total 8"));
        let first = rx.try_recv().expect("queued");
        assert_eq!(
            first.action,
            Action::Dryrun,
            "server dry-run reports dry-runs"
        );
        assert_eq!(first.resource.name, "p");
        // Audit violations are not emitted unless asked for.
        sink.audit(&snapshot, &review, &[hit], "t");
        assert!(rx.try_recv().is_ok() && rx.try_recv().is_err());
    }

    #[test]
    fn the_disabled_sink_emits_nothing() {
        let sink = EventSink::disabled();
        assert!(!sink.emits_admission() && !sink.emits_audit());
        sink.send(Violation {
            process: Process::Audit {
                timestamp: "t".into(),
            },
            action: Action::Deny,
            scoped: false,
            constraint_kind: "K".into(),
            constraint_name: "c".into(),
            resource: Resource::default(),
            message: "m".into(),
        });
    }
}
