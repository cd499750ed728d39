//! Cluster audit sweeps: one sweep for `portcullis audit --source cluster`, and the loop
//! `serve --source cluster` runs beside the webhook every `--audit-interval`.
//!
//! A sweep takes the snapshot serving at its start (one `Arc` load: admission requests are
//! never blocked by it), lists the audited resources in pages, judges each page on a
//! blocking thread as it arrives (so memory is bounded by a page, not the cluster) (evaluation is CPU work that must not starve the async workers serving
//! the webhook), and then, when asked, writes each constraint's status.
//!
//! Only one replica should audit: every auditing replica lists the whole cluster and
//! rewrites the same status fields. With leader election (`--leader-elect`, on by default
//! in cluster mode) `serve` runs the loop on the Lease holder only (see
//! [`crate::leader::while_leading`]); without it, `--audit-interval 0` turns the loop off,
//! and the chart can run a separate one-replica audit Deployment instead, as Gatekeeper
//! separates its audit pod.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::policy_report::{Findings, Timestamp};
use super::report::AuditReport;
use super::{cluster, cluster_status, policy_report_write, AuditError, AuditOptions};
use crate::metrics::{AuditActionLabels, Metrics};
use crate::policy::Action;
use crate::snapshot::{PolicySnapshot, SnapshotStore};

/// Gatekeeper's default `--audit-interval`, in seconds.
pub const DEFAULT_INTERVAL_SECS: u64 = 60;

/// Settings of cluster audit sweeps.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// Violations listed per constraint (report and status).
    pub report: AuditOptions,
    /// Objects per list request (0: unpaged).
    pub chunk_size: u32,
    /// Write each constraint's status after the sweep.
    pub write_status: bool,
    /// This replica's `byPod` id in constraint status; `None` writes no entry.
    pub pod: Option<String>,
    /// Where audit violations become Events (`--emit-audit-events`; disabled by default).
    pub events: crate::events::EventSink,
    /// Collect policy reports listing at most this many results each (`None`: none).
    pub policy_report_limit: Option<usize>,
    /// Write the collected policy reports to the cluster after the sweep.
    pub write_policy_reports: bool,
}

impl Default for SweepOptions {
    fn default() -> Self {
        SweepOptions {
            report: AuditOptions::default(),
            chunk_size: cluster::DEFAULT_CHUNK_SIZE,
            write_status: false,
            pod: None,
            events: crate::events::EventSink::disabled(),
            policy_report_limit: None,
            write_policy_reports: false,
        }
    }
}

/// One sweep of the cluster against `snapshot`.
pub async fn sweep_once(
    client: &kube::Client,
    snapshot: Arc<PolicySnapshot>,
    options: &SweepOptions,
) -> Result<AuditReport, AuditError> {
    sweep_with_findings(client, snapshot, options)
        .await
        .map(|(report, _)| report)
}

/// One sweep of the cluster against `snapshot`, with the policy-report findings when
/// `options.policy_report_limit` asks for them (written when `write_policy_reports`).
pub async fn sweep_with_findings(
    client: &kube::Client,
    snapshot: Arc<PolicySnapshot>,
    options: &SweepOptions,
) -> Result<(AuditReport, Option<Findings>), AuditError> {
    let started = (cluster_status::now_rfc3339(), Timestamp::now());
    let mut findings = options.policy_report_limit.map(Findings::new);
    let mut report = AuditReport::new(&snapshot, options.report.limit);
    // Policy reports are written from complete sweeps only: a resource that could not be
    // listed would otherwise make its namespaces' reports look clean and be deleted.
    let mut complete = true;
    for audited in cluster::resources_to_audit(client, &snapshot).await? {
        let resource = audited.resource;
        let mut pager = cluster::Pager::new(client, &resource, options.chunk_size);
        loop {
            let page = match pager.next_page().await {
                Ok(Some(page)) => page,
                Ok(None) => break,
                Err(e) => {
                    // Gone since discovery, forbidden, or a continue token expired: the
                    // rest of this resource waits for the next sweep; one resource must
                    // not blind the whole audit.
                    tracing::warn!(resource = %resource.plural, group = %resource.group,
                        error = %e, "cannot list a resource for audit; skipped its remaining pages");
                    complete = false;
                    break;
                }
            };
            let snap = snapshot.clone();
            let events = options.events.clone();
            let timestamp = started.0.clone();
            (report, findings) = tokio::task::spawn_blocking(move || {
                let mut observe =
                    |review: &crate::review::Review, evaluation: &crate::evaluate::Evaluation| {
                        events.audit(&snap, review, &evaluation.hits, &timestamp);
                        if let Some(f) = findings.as_mut() {
                            f.record(review, evaluation);
                        }
                    };
                super::audit_listed_observed(&mut report, &snap, page, &mut observe);
                (report, findings)
            })
            .await
            .map_err(|e| AuditError::List(format!("audit evaluation task failed: {e}")))?;
        }
    }
    if options.write_status {
        let timestamp = cluster_status::now_rfc3339();
        cluster_status::write_all(client, &report, options.pod.as_deref(), &timestamp).await;
    }
    if let (true, false) = (options.write_policy_reports, complete) {
        tracing::warn!("audit sweep incomplete; policy reports left as they were");
    } else if let (true, Some(findings)) = (options.write_policy_reports, &findings) {
        match policy_report_write::write_all(client, &findings.reports(started.1)).await {
            Ok(w) => tracing::info!(
                created = w.created,
                updated = w.updated,
                unchanged = w.unchanged,
                deleted = w.deleted,
                failed = w.failed,
                "policy reports written"
            ),
            Err(e) => tracing::warn!(error = %e,
                "cannot list policy reports (are the wgpolicyk8s.io CRDs installed?); none written"),
        }
    }
    Ok((report, findings))
}

/// Record a finished sweep in the metrics.
fn observe(metrics: &Metrics, report: &AuditReport, took: Duration) {
    metrics.audit_duration.observe(took.as_secs_f64());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    metrics.audit_last_run.set(now);
    for action in [Action::Deny, Action::Warn, Action::Dryrun] {
        let n = i64::try_from(report.total(action)).unwrap_or(i64::MAX);
        metrics
            .audit_violations
            .get_or_create(&AuditActionLabels {
                enforcement_action: action.as_str(),
            })
            .set(n);
    }
}

/// Run a sweep every `interval` once the store holds the cluster's policy set, writing
/// status and metrics, until the task is aborted. A failed sweep is logged and the next
/// one runs on schedule.
pub fn spawn(
    client: kube::Client,
    store: Arc<SnapshotStore>,
    metrics: Arc<Metrics>,
    interval: Duration,
    options: SweepOptions,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !store.is_loaded() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let started = Instant::now();
            match sweep_once(&client, store.load_full(), &options).await {
                Ok(report) => {
                    observe(&metrics, &report, started.elapsed());
                    tracing::info!(took_ms = started.elapsed().as_millis() as u64,
                        summary = %report.summary(), "audit sweep done");
                }
                Err(e) => tracing::warn!(error = %e, "audit sweep failed; retrying next interval"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_sets_the_gauges() {
        let metrics = Metrics::new();
        let report = AuditReport::default();
        observe(&metrics, &report, Duration::from_millis(5));
        let text = metrics.encode();
        assert!(
            text.contains("portcullis_audit_violations{enforcement_action=\"deny\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("portcullis_audit_duration_seconds_count 1"),
            "{text}"
        );
        let last_run = text
            .lines()
            .find_map(|l| l.strip_prefix("portcullis_audit_last_run_timestamp_seconds "))
            .and_then(|v| v.parse::<f64>().ok());
        assert!(last_run.is_some_and(|t| t > 0.0), "{text}");
    }
}
