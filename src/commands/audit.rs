//! `portcullis audit`: audit manifests as if they had been applied to a cluster, or the
//! objects of a live cluster, reporting per constraint like Gatekeeper's constraint status,
//! with a CI-friendly exit code.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::audit::periodic::{self, SweepOptions};
use crate::audit::policy_report::{Findings, Timestamp};
use crate::audit::{self, offline::ManifestSource, AuditOptions, AuditReport};
use crate::cli::{AuditArgs, AuditOutput, SourceArg};
use crate::metrics::Metrics;
use crate::snapshot::{BuildOptions, PolicySnapshot, SnapshotStore};
use crate::sources::cluster::{ClusterOptions, ClusterSource};
use crate::sources::file::FileSource;

/// Audit the objects the flags name: exit 0 when clean (warn and dryrun violations
/// included), 1 on any deny violation, 2 on unreadable input, an unreachable cluster, a
/// rejected policy set or a template that failed to evaluate.
pub fn run(args: AuditArgs) -> ExitCode {
    let build = BuildOptions {
        engine: crate::cli::engine_choice(args.engine),
    };
    let opts = AuditOptions { limit: args.limit };
    // Policy reports are built from every violation, by the code `serve` writes them with.
    let reports_limit =
        (args.output == AuditOutput::Policyreport).then_some(args.policy_report_results_limit);
    let report = match args.source {
        SourceArg::File => {
            if args.paths.is_empty() {
                return super::fail(
                    "audit",
                    "name the manifest files or directories to audit (or use --source cluster)",
                );
            }
            let snapshot = match FileSource::new(&args.policies, build).load() {
                Ok(s) => s,
                Err(e) => return super::fail("policy set rejected", e),
            };
            let objects = ManifestSource::new(args.paths.clone());
            let mut findings = reports_limit.map(Findings::new);
            audit::audit_observed(&snapshot, &objects, &opts, &mut |review, evaluation| {
                if let Some(f) = findings.as_mut() {
                    f.record(review, evaluation);
                }
            })
            .map(|report| (report, findings))
            .map_err(|e| e.to_string())
        }
        SourceArg::Cluster => {
            if !args.paths.is_empty() {
                return super::fail(
                    "audit --source cluster",
                    "manifest paths are only for --source file",
                );
            }
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => return super::fail("cannot start the async runtime", e),
            };
            runtime.block_on(audit_cluster(&args, build, opts, reports_limit))
        }
    };
    let (report, findings) = match report {
        Ok(r) => r,
        Err(e) => return super::fail("audit", e),
    };
    let text = match args.output {
        AuditOutput::Text => Ok(report.to_text()),
        AuditOutput::Json => serde_json::to_string_pretty(&report.to_json())
            .map(|s| s + "\n")
            .map_err(|e| e.to_string()),
        AuditOutput::Yaml => serde_saphyr::to_string(&report.to_json()).map_err(|e| e.to_string()),
        AuditOutput::Junit => Ok(junit(&report)),
        AuditOutput::Policyreport => policy_reports(findings.as_ref()),
    };
    match text {
        // A reader that went away (`| head`) ends the output quietly.
        Ok(text) => {
            let _ = super::emit(&text);
        }
        Err(e) => return super::fail("cannot encode the report", e),
    }
    if report.total_failures() > 0 {
        ExitCode::from(2)
    } else if report.denies() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// One sweep of the cluster the kubeconfig (or the Pod's service account) points at. The
/// policy set, Config, namespaces and synced inventory are read by cluster mode's own
/// source, started until its first complete snapshot, so the audit judges with exactly
/// what `serve --source cluster` would serve.
async fn audit_cluster(
    args: &AuditArgs,
    build: BuildOptions,
    report: AuditOptions,
    policy_report_limit: Option<usize>,
) -> Result<(AuditReport, Option<Findings>), String> {
    let options = ClusterOptions {
        build,
        namespace: args.namespace.clone(),
        ..ClusterOptions::default()
    };
    let source = ClusterSource::from_environment(options)
        .await
        .map_err(|e| e.to_string())?;
    let client = source.client();
    let snapshot = first_snapshot(source, Duration::from_secs(args.timeout)).await?;
    let options = SweepOptions {
        report,
        chunk_size: args.chunk_size,
        write_status: args.write_status,
        pod: args.pod_name.clone(),
        policy_report_limit,
        ..SweepOptions::default()
    };
    periodic::sweep_with_findings(&client, snapshot, &options)
        .await
        .map_err(|e| e.to_string())
}

/// The cluster's policy set once every watcher has listed; the watchers stop on return.
async fn first_snapshot(
    source: ClusterSource,
    timeout: Duration,
) -> Result<Arc<PolicySnapshot>, String> {
    let store = Arc::new(SnapshotStore::default());
    let _running = source.spawn(store.clone(), Arc::new(Metrics::new()));
    let wait = async {
        while !store.is_loaded() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(timeout, wait).await.map_err(|_| {
        format!(
            "the cluster's policy set was not listed within {}s (is the API server reachable?)",
            timeout.as_secs()
        )
    })?;
    Ok(store.load_full())
}

/// The policy reports as YAML documents (none when nothing violates).
fn policy_reports(findings: Option<&Findings>) -> Result<String, String> {
    let reports = findings
        .map(|f| f.reports(Timestamp::now()))
        .unwrap_or_default();
    let mut out = String::new();
    for report in &reports {
        out += "---\n";
        out += &serde_saphyr::to_string(report).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// One JUnit test case per constraint: a failure when it has deny violations (those
/// listed, up to the limit, and the total), an error for objects it could not judge, warn
/// and dryrun violations as output.
fn junit(report: &crate::audit::AuditReport) -> String {
    let cases: Vec<super::junit::Case> = report
        .constraints
        .iter()
        .map(|c| {
            let line = |v: &crate::audit::ReportedViolation| {
                format!(
                    "{} {} {}/{}: {}",
                    v.action.as_str(),
                    v.kind,
                    v.namespace,
                    v.name,
                    v.message
                )
            };
            let denies: Vec<String> = c
                .violations
                .iter()
                .filter(|v| v.action == crate::policy::Action::Deny)
                .map(line)
                .collect();
            let deny_total = c
                .totals
                .get(&crate::policy::Action::Deny)
                .copied()
                .unwrap_or(0);
            let others: Vec<String> = c
                .violations
                .iter()
                .filter(|v| v.action != crate::policy::Action::Deny)
                .map(line)
                .collect();
            let errors: Vec<String> = c
                .failures
                .iter()
                .map(|f| format!("{}: {}", f.object, f.error))
                .collect();
            super::junit::Case {
                name: format!("{} {}", c.kind, c.name),
                classname: "audit".into(),
                failure: (deny_total > 0)
                    .then(|| (format!("{deny_total} deny violations"), denies.join("\n"))),
                error: (c.total_failures > 0).then(|| {
                    (
                        format!("{} objects not judged", c.total_failures),
                        errors.join("\n"),
                    )
                }),
                output: others.join("\n"),
            }
        })
        .collect();
    super::junit::render("portcullis audit", &cases)
}
