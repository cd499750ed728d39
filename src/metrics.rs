//! Prometheus metrics: one registry per process, encoded in the text format on
//! `GET /metrics` of the plain-HTTP metrics listener.

#![deny(clippy::indexing_slicing)]

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// Kinds Kubernetes itself serves, always allowed as the `kind` label; any other kind is
/// `other` unless the policy set names it (see `PolicySnapshot::metric_kind`), so that
/// requests cannot create series without bound.
pub const BUILTIN_KINDS: &[&str] = &[
    "Binding",
    "CSIDriver",
    "CSINode",
    "CSIStorageCapacity",
    "CertificateSigningRequest",
    "ClusterRole",
    "ClusterRoleBinding",
    "ConfigMap",
    "ControllerRevision",
    "CronJob",
    "CustomResourceDefinition",
    "DaemonSet",
    "Deployment",
    "Endpoints",
    "EndpointSlice",
    "Event",
    "FlowSchema",
    "HorizontalPodAutoscaler",
    "Ingress",
    "IngressClass",
    "Job",
    "Lease",
    "LimitRange",
    "MutatingWebhookConfiguration",
    "Namespace",
    "NetworkPolicy",
    "Node",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Pod",
    "PodDisruptionBudget",
    "PodTemplate",
    "PriorityClass",
    "PriorityLevelConfiguration",
    "ReplicaSet",
    "ReplicationController",
    "ResourceQuota",
    "Role",
    "RoleBinding",
    "RuntimeClass",
    "Secret",
    "Service",
    "ServiceAccount",
    "StatefulSet",
    "StorageClass",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration",
    "VolumeAttachment",
];

/// Labels of `portcullis_admission_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `validate` or `mutate`.
    pub endpoint: &'static str,
    /// CREATE, UPDATE, DELETE, CONNECT, or empty for undecodable requests.
    pub operation: &'static str,
    /// Kind of the object: one Kubernetes serves or the policy set names, else `other`.
    pub kind: String,
    /// `allowed`, `denied`, `patched`, `error` or `bad_request`.
    pub decision: &'static str,
}

/// Labels of `portcullis_violations_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ViolationLabels {
    /// Constraint name.
    pub constraint: String,
    /// deny, warn or dryrun.
    pub enforcement_action: &'static str,
}

/// Label of the duration histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    /// `validate` or `mutate`.
    pub endpoint: &'static str,
}

/// Label of `portcullis_policies`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// template, constraint, mutator or namespace.
    pub kind: &'static str,
}

/// Labels of `portcullis_policy_objects`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ObjectStateLabels {
    /// template, constraint, mutator, config, namespace or file.
    pub kind: &'static str,
    /// `loaded` (serving) or `refused` (its current version refused).
    pub state: &'static str,
}

/// Labels of `portcullis_policy_refusals_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    /// template, constraint, mutator, config, namespace or file.
    pub kind: &'static str,
    /// parse, invalid, compile, missing_template, duplicate or conflict.
    pub reason: &'static str,
}

/// Label of `portcullis_mutations_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MutatorLabels {
    /// `Kind/name` of the mutator.
    pub mutator: String,
}

/// Label of `portcullis_audit_violations`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuditActionLabels {
    /// deny, warn or dryrun.
    pub enforcement_action: &'static str,
}

/// Label of `portcullis_connections_closed_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClosedLabels {
    /// Why the server closed it: `idle`, `header_timeout`, `request_timeout`,
    /// `handshake_timeout`, `handshake_failed` or `close_timeout`.
    pub reason: &'static str,
}

/// Labels of `portcullis_admission_shed_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ShedLabels {
    /// `validate` or `mutate`.
    pub endpoint: &'static str,
    /// `memory` (in-flight budget full), `busy` (no evaluation slot before the deadline) or
    /// `too_complex` (more JSON values than allowed).
    pub reason: &'static str,
}

/// Label of `portcullis_leader` (leader election).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LeaseLabels {
    /// The Lease's name.
    pub lease: String,
}

/// All metrics of the process.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Admission requests by endpoint, operation, kind and decision.
    pub requests: Family<RequestLabels, Counter>,
    /// Time from body received to response ready.
    pub duration: Family<EndpointLabels, Histogram>,
    /// Violations by constraint and action.
    pub violations: Family<ViolationLabels, Counter>,
    /// Requests a server-wide `--enforcement dryrun` admitted that would have been denied.
    pub dryrun_denials: Counter,
    /// Loaded policy objects by kind.
    pub policies: Family<KindLabels, Gauge>,
    /// Policy reloads that refused an object not refused before, or could not be read.
    pub reload_errors: Counter,
    /// Policy objects now serving and now refused, by kind.
    pub policy_objects: Family<ObjectStateLabels, Gauge>,
    /// Objects refused (counted once per object and reason), by kind and reason.
    pub policy_refusals: Family<RefusalLabels, Counter>,
    /// Mutations applied by mutator.
    pub mutations: Family<MutatorLabels, Counter>,
    /// Unix time the last audit sweep finished.
    pub audit_last_run: Gauge<f64, AtomicU64>,
    /// Time of each audit sweep, listing to status written.
    pub audit_duration: Histogram,
    /// Violations the last audit sweep found, by action (a gauge, like Gatekeeper's
    /// `gatekeeper_violations`: it is the current count, not a running total).
    pub audit_violations: Family<AuditActionLabels, Gauge>,
    /// Open HTTPS connections.
    pub connections_open: Gauge,
    /// Connections closed at once because `--max-connections` were open.
    pub connections_refused: Counter,
    /// Connections the server closed, by reason.
    pub connections_closed: Family<ClosedLabels, Counter>,
    /// Requests refused before evaluation (HTTP 429/503/413), by reason.
    pub shed: Family<ShedLabels, Counter>,
    /// Requests whose evaluation the deadline cut off, answered by the failure policy.
    pub deadline_exceeded: Family<EndpointLabels, Counter>,
    /// Estimated memory held by admitted requests (bytes).
    pub inflight_bytes: Gauge,
    // Kubernetes Events for violations (`--emit-admission-events`, `--emit-audit-events`).
    /// Event writes (creates and count patches) the API server accepted.
    pub events_written: Counter,
    /// Violations not made into Events: the queue or the aggregation table was full.
    pub events_dropped: Counter,
    /// Leader election: 1 while this replica holds the Lease, else 0.
    pub leader: Family<LeaseLabels, Gauge>,
    /// Policy impact preview: recording and shadow evaluation.
    pub preview: PreviewMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Create and register every metric.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "portcullis_admission_requests",
            "Admission requests by endpoint, operation, kind and decision",
            requests.clone(),
        );
        let duration = Family::<EndpointLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05,
                0.1, 0.25, 1.0,
            ])
        });
        registry.register(
            "portcullis_admission_request_duration_seconds",
            "Time to decide one admission request, body parsed to response encoded",
            duration.clone(),
        );
        let violations = Family::<ViolationLabels, Counter>::default();
        registry.register(
            "portcullis_violations",
            "Policy violations by constraint and enforcement action",
            violations.clone(),
        );
        let dryrun_denials = Counter::default();
        registry.register(
            "portcullis_dryrun_denials",
            "Requests admitted by server-wide dry-run that policy would have denied",
            dryrun_denials.clone(),
        );
        let policies = Family::<KindLabels, Gauge>::default();
        registry.register(
            "portcullis_policies",
            "Policy objects in the serving snapshot by kind",
            policies.clone(),
        );
        let reload_errors = Counter::default();
        registry.register(
            "portcullis_policy_reload_errors",
            "Policy reloads that refused an object or could not be read; last good versions kept serving",
            reload_errors.clone(),
        );
        let policy_objects = Family::<ObjectStateLabels, Gauge>::default();
        registry.register(
            "portcullis_policy_objects",
            "Policy objects by kind: loaded (serving) and refused (current version refused; a last good version may serve)",
            policy_objects.clone(),
        );
        let policy_refusals = Family::<RefusalLabels, Counter>::default();
        registry.register(
            "portcullis_policy_refusals",
            "Policy objects refused, by kind and reason (each object and reason counted once)",
            policy_refusals.clone(),
        );
        let mutations = Family::<MutatorLabels, Counter>::default();
        registry.register(
            "portcullis_mutations",
            "Mutations applied by mutator",
            mutations.clone(),
        );
        let audit_last_run = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "portcullis_audit_last_run_timestamp_seconds",
            "Unix time the last audit sweep finished",
            audit_last_run.clone(),
        );
        let audit_duration = Histogram::new([0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0]);
        registry.register(
            "portcullis_audit_duration_seconds",
            "Time of one audit sweep, listing to status written",
            audit_duration.clone(),
        );
        let audit_violations = Family::<AuditActionLabels, Gauge>::default();
        registry.register(
            "portcullis_audit_violations",
            "Violations found by the last audit sweep by enforcement action",
            audit_violations.clone(),
        );
        let connections_open = Gauge::default();
        registry.register(
            "portcullis_connections",
            "Open HTTPS connections",
            connections_open.clone(),
        );
        let connections_refused = Counter::default();
        registry.register(
            "portcullis_connections_refused",
            "Connections closed on accept because the connection limit was reached",
            connections_refused.clone(),
        );
        let connections_closed = Family::<ClosedLabels, Counter>::default();
        registry.register(
            "portcullis_connections_closed",
            "Connections closed by the server for idleness or timeouts, by reason",
            connections_closed.clone(),
        );
        let shed = Family::<ShedLabels, Counter>::default();
        registry.register(
            "portcullis_admission_shed",
            "Admission requests refused before evaluation, by reason",
            shed.clone(),
        );
        let deadline_exceeded = Family::<EndpointLabels, Counter>::default();
        registry.register(
            "portcullis_admission_deadline_exceeded",
            "Admission requests cut off by the evaluation deadline and answered by the failure policy",
            deadline_exceeded.clone(),
        );
        let inflight_bytes = Gauge::default();
        registry.register(
            "portcullis_admission_inflight_bytes",
            "Estimated memory held by admission requests in flight",
            inflight_bytes.clone(),
        );
        // Kubernetes Events for violations.
        let events_written = Counter::default();
        registry.register(
            "portcullis_events_written",
            "Kubernetes Event writes (creates and count updates) accepted by the API server",
            events_written.clone(),
        );
        let events_dropped = Counter::default();
        registry.register(
            "portcullis_events_dropped",
            "Violations not written as Kubernetes Events because the event queue or aggregation table was full",
            events_dropped.clone(),
        );
        // Leader election.
        let leader = Family::<LeaseLabels, Gauge>::default();
        registry.register(
            "portcullis_leader",
            "1 while this replica holds the leader election Lease, else 0",
            leader.clone(),
        );
        let preview = PreviewMetrics::register(&mut registry);
        Metrics {
            events_written,
            events_dropped,
            leader,
            registry,
            preview,
            connections_open,
            connections_refused,
            connections_closed,
            shed,
            deadline_exceeded,
            inflight_bytes,
            audit_last_run,
            audit_duration,
            audit_violations,
            requests,
            duration,
            violations,
            dryrun_denials,
            policies,
            reload_errors,
            policy_objects,
            policy_refusals,
            mutations,
        }
    }

    /// Publish the counts of a newly served snapshot.
    pub fn set_policy_counts(&self, counts: &[(&'static str, usize)]) {
        for (kind, n) in counts {
            self.policies
                .get_or_create(&KindLabels { kind })
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
    }

    /// Publish how many objects of each kind serve and are refused:
    /// `(kind, loaded, refused)`.
    pub fn set_policy_objects(&self, states: &[(&'static str, usize, usize)]) {
        let gauge = |kind, state, n: usize| {
            self.policy_objects
                .get_or_create(&ObjectStateLabels { kind, state })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        };
        for (kind, loaded, refused) in states {
            gauge(kind, "loaded", *loaded);
            gauge(kind, "refused", *refused);
        }
    }

    /// Count one newly refused object.
    pub fn count_refusal(&self, kind: &'static str, reason: &'static str) {
        self.policy_refusals
            .get_or_create(&RefusalLabels { kind, reason })
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Labels of the preview's drop counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// Why (`queue_full`, `too_large`, `write_error`, `encode`; shadow: `busy`,
    /// `not_ready`).
    pub reason: &'static str,
}

/// Labels of `portcullis_shadow_disagreements_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ShadowLabels {
    /// The constraint (or mutator) the difference is attributed to: a name from one of
    /// the two policy sets.
    pub constraint: String,
    /// `would_deny`, `would_allow`, `would_deny_differently`, `would_warn_differently` or
    /// `would_patch_differently`.
    pub outcome: &'static str,
}

/// Metrics of the policy impact preview (`serve --record`, `serve --shadow-policies`).
#[derive(Debug)]
pub struct PreviewMetrics {
    /// Review records written.
    pub records_written: Counter,
    /// Review records dropped, by reason.
    pub record_dropped_total: Family<ReasonLabels, Counter>,
    /// Reviews the shadow policy set judged.
    pub shadow_evaluations: Counter,
    /// Reviews the shadow policy set would answer differently, by constraint and outcome.
    pub shadow_disagreements: Family<ShadowLabels, Counter>,
    /// Reviews not shadow-judged, by reason.
    pub shadow_dropped: Family<ReasonLabels, Counter>,
    /// Cluster mode: shadow-labelled policy objects serving in the shadow set.
    pub shadow_objects: Gauge,
}

impl PreviewMetrics {
    fn register(registry: &mut Registry) -> Self {
        let m = PreviewMetrics {
            records_written: Counter::default(),
            record_dropped_total: Family::default(),
            shadow_evaluations: Counter::default(),
            shadow_disagreements: Family::default(),
            shadow_dropped: Family::default(),
            shadow_objects: Gauge::default(),
        };
        registry.register(
            "portcullis_records_written",
            "Admission review records written by --record",
            m.records_written.clone(),
        );
        registry.register(
            "portcullis_record_dropped",
            "Admission review records dropped (queue full, too large, write error), by reason",
            m.record_dropped_total.clone(),
        );
        registry.register(
            "portcullis_shadow_evaluations",
            "Admission reviews judged by the shadow policy set",
            m.shadow_evaluations.clone(),
        );
        registry.register(
            "portcullis_shadow_disagreements",
            "Admission reviews the shadow policy set would answer differently, by constraint and outcome",
            m.shadow_disagreements.clone(),
        );
        registry.register(
            "portcullis_shadow_dropped",
            "Admission reviews not judged by the shadow policy set (busy, not ready), by reason",
            m.shadow_dropped.clone(),
        );
        registry.register(
            "portcullis_shadow_policy_objects",
            "Cluster mode: shadow-labelled templates, constraints and mutators in the shadow set",
            m.shadow_objects.clone(),
        );
        m
    }

    /// Count a dropped record.
    pub fn record_dropped(&self, reason: &'static str) {
        self.record_dropped_total
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposes_named_series() {
        let m = Metrics::new();
        m.requests
            .get_or_create(&RequestLabels {
                endpoint: "validate",
                operation: "CREATE",
                kind: "Pod".into(),
                decision: "denied",
            })
            .inc();
        m.duration
            .get_or_create(&EndpointLabels {
                endpoint: "validate",
            })
            .observe(0.0002);
        m.set_policy_counts(&[("constraint", 3)]);
        m.set_policy_objects(&[("template", 4, 1)]);
        m.count_refusal("template", "compile");
        let text = m.encode();
        assert!(text.contains(
            "portcullis_admission_requests_total{endpoint=\"validate\",operation=\"CREATE\",kind=\"Pod\",decision=\"denied\"} 1"
        ), "{text}");
        assert!(text.contains("portcullis_admission_request_duration_seconds_bucket"));
        assert!(text.contains("portcullis_policies{kind=\"constraint\"} 3"));
        assert!(text.contains("portcullis_policy_reload_errors_total 0"));
        assert!(
            text.contains("portcullis_policy_objects{kind=\"template\",state=\"loaded\"} 4"),
            "{text}"
        );
        assert!(text.contains("portcullis_policy_objects{kind=\"template\",state=\"refused\"} 1"));
        assert!(text
            .contains("portcullis_policy_refusals_total{kind=\"template\",reason=\"compile\"} 1"));
        assert!(text.contains("portcullis_audit_last_run_timestamp_seconds"));
        assert!(text.contains("portcullis_audit_duration_seconds_bucket"));
    }
}
