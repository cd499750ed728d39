//! Command-line interface: raw clap flags, kept apart from the validated settings the
//! commands run with.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::decision::{FailurePolicy, ServerEnforcement};
use crate::engine::{EngineChoice, EngineKind};
use crate::telemetry::{LogFormat, LogLevel};

/// portcullis: Kubernetes admission webhook for Gatekeeper policies.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, about)]
pub struct Cli {
    /// Log format.
    #[arg(long, value_enum, default_value = "text", global = true)]
    pub log_format: LogFormat,
    /// Least severe level logged (`RUST_LOG`, when set, overrides it).
    #[arg(long, value_enum, default_value = "info", global = true)]
    pub log_level: LogLevel,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTPS admission webhook.
    Serve(Box<ServeArgs>),
    /// Answer one AdmissionReview (file or `-`) as the webhook would.
    Review(ReviewArgs),
    /// Judge manifest files against policies (exit 1 on any deny-level violation).
    Test(TestArgs),
    /// Run gator-format test suites (`suite.yaml`).
    Verify(VerifyArgs),
    /// Audit manifests as if they existed in a cluster (exit 1 on any deny violation).
    Audit(AuditArgs),
    /// Make a CA and a serving certificate and print the caBundle.
    Cert(CertArgs),
    /// Print the constraint CRD of each ConstraintTemplate, as Gatekeeper creates it.
    Crd(CrdArgs),
    /// Print the resources ExpansionTemplates generate from manifests (as `gator expand`).
    Expand(ExpandArgs),
    /// Judge recorded reviews (`serve --record`) with a candidate policy set and report
    /// what would change (exit 1 when anything would be newly denied).
    Replay(ReplayArgs),
    /// Print CEL templates and their constraints as ValidatingAdmissionPolicies and
    /// bindings, for the API server to enforce itself.
    Vap(VapArgs),
}

/// `portcullis replay` flags (policy impact preview).
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The candidate policy directory.
    #[arg(long)]
    pub policies: PathBuf,
    /// The policy directory serving now; without it, the recorded answers are the baseline.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Record files (`serve --record`), or directories of them (`-` for standard input).
    #[arg(required = true)]
    pub records: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: OutputFormat,
    /// Example reviews shown per constraint and per namespace.
    #[arg(long, default_value_t = 3)]
    pub examples: usize,
    /// Threads judging records (default: one per core); the report is the same for any.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Server-wide enforcement to judge with, as on `serve`.
    #[arg(long, value_enum, default_value = "deny")]
    pub enforcement: ServerEnforcement,
    /// Deadline of one review, as on `serve`.
    #[arg(long, default_value = "2.5s", value_parser = parse_duration)]
    pub eval_timeout: std::time::Duration,
    /// Force one engine.
    #[arg(long, value_enum)]
    pub engine: Option<EngineArg>,
}

// ValidatingAdmissionPolicy export (`portcullis vap`).
/// `portcullis vap` flags.
#[derive(Debug, Args)]
pub struct VapArgs {
    /// Files or directories holding ConstraintTemplates, constraints and optionally a
    /// Gatekeeper Config (`-` for standard input); other documents are skipped.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Oldest Kubernetes release (MAJOR.MINOR) the policies must load on: expressions
    /// calling CEL functions its API server lacks are refused.
    #[arg(long, default_value = "1.30")]
    pub kubernetes_version: String,
}

/// `portcullis expand` flags.
#[derive(Debug, Args)]
pub struct ExpandArgs {
    /// Policy directory (its ExpansionTemplates and mutators are applied).
    #[arg(long, default_value = "policies")]
    pub policies: PathBuf,
    /// Manifest files or directories (`-` for standard input).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// `portcullis crd` flags.
#[derive(Debug, Args)]
pub struct CrdArgs {
    /// Files or directories holding ConstraintTemplates (`-` for standard input); other
    /// documents are skipped.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// Engine override (`--engine`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineArg {
    /// Only Rego (compiled where the template allows, else regorus's interpreter).
    Rego,
    /// Only Rego, always on regorus's interpreter: for comparisons and as an escape hatch
    /// should the compiled path ever disagree with it.
    RegoInterpreter,
    /// Only CEL (K8sNativeValidation).
    Cel,
    /// Only native rules.
    Native,
}

/// Turn the optional `--engine` flag into an engine choice.
pub fn engine_choice(arg: Option<EngineArg>) -> EngineChoice {
    match arg {
        None => EngineChoice::Preferred,
        Some(EngineArg::Rego) => EngineChoice::Only(EngineKind::Rego),
        Some(EngineArg::RegoInterpreter) => EngineChoice::RegoInterpreter,
        Some(EngineArg::Cel) => EngineChoice::Only(EngineKind::Cel),
        Some(EngineArg::Native) => EngineChoice::Only(EngineKind::Native),
    }
}

/// Where `serve` takes its policies from (`--source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceArg {
    /// The `--policies` directory, watched for changes.
    File,
    /// The cluster's Gatekeeper objects through the Kubernetes API (in-cluster service
    /// account, or the current kubeconfig context).
    Cluster,
}

/// Flags of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where policies come from.
    #[arg(long, value_enum, default_value = "file")]
    pub source: SourceArg,
    /// Policy directory (templates, constraints, mutators, Namespaces, Config); file mode.
    #[arg(long, default_value = "policies")]
    pub policies: PathBuf,
    /// The server's namespace; cluster mode reads Gatekeeper's Config named `config` there
    /// (default: the Pod's own namespace, or the kubeconfig context's).
    #[arg(long, env = "POD_NAMESPACE")]
    pub namespace: Option<String>,
    /// This replica's Pod name: cluster mode writes the status of ConstraintTemplates,
    /// constraints, mutators and Config (`status.byPod[]`) under it; without it none is written.
    #[arg(long, env = "POD_NAME")]
    pub pod_name: Option<String>,
    /// HTTPS listen address.
    #[arg(long, default_value = "0.0.0.0:8443")]
    pub addr: SocketAddr,
    /// Serving certificate (PEM); watched and reloaded in place.
    #[arg(long, requires = "tls_key", conflicts_with = "cert_dir")]
    pub tls_cert: Option<PathBuf>,
    /// Serving key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Directory holding tls.crt/tls.key; a CA and certificate are made there when absent.
    #[arg(long)]
    pub cert_dir: Option<PathBuf>,
    /// Extra DNS names for a generated certificate (e.g. portcullis.portcullis-system.svc).
    #[arg(long = "dns-name")]
    pub dns_names: Vec<String>,
    /// Plain-HTTP Prometheus metrics address.
    #[arg(long, default_value = "0.0.0.0:9090")]
    pub metrics_addr: SocketAddr,
    /// `deny` acts on constraints; `dryrun` never denies, only logs and counts.
    #[arg(long, value_enum, default_value = "deny")]
    pub enforcement: ServerEnforcement,
    /// Largest request body accepted (bytes).
    #[arg(long, default_value_t = crate::server::DEFAULT_MAX_BODY)]
    pub max_body_bytes: usize,
    /// Deadline of one admission request, arrival to answer; keep it below the webhook's
    /// `timeoutSeconds` (the chart sets 2.5s for 3). Evaluation is cut off at it and the
    /// request answered by the failure policy.
    #[arg(long, default_value = "2.5s", value_parser = parse_duration)]
    pub eval_timeout: std::time::Duration,
    /// Requests evaluated at once (default: four per core).
    #[arg(long)]
    pub eval_workers: Option<usize>,
    /// Memory budget of admission requests in flight, estimated from their bodies before
    /// decoding (`256Mi`, `1Gi`, bytes). Keep it well under the container's memory limit.
    #[arg(long, default_value = "256Mi", value_parser = parse_bytes)]
    pub max_inflight_memory: usize,
    /// What `/validate` answers for a request it cannot judge in time: the validating
    /// webhook's `failurePolicy`.
    #[arg(long, value_enum, default_value = "Fail")]
    pub validate_failure_policy: FailurePolicy,
    /// What `/mutate` answers for a mutation it cannot finish in time or within its
    /// limits: the mutating webhook's `failurePolicy`.
    #[arg(long, value_enum, default_value = "Ignore")]
    pub mutate_failure_policy: FailurePolicy,
    /// Time to receive a request body once its headers have arrived.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub body_read_timeout: std::time::Duration,
    /// Open HTTPS connections at most; more are closed on accept.
    #[arg(long, default_value_t = 1024)]
    pub max_connections: usize,
    /// Time to complete a TLS handshake.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub tls_handshake_timeout: std::time::Duration,
    /// Time for a request's headers to arrive, from their first byte (HTTP/1.1).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub header_read_timeout: std::time::Duration,
    /// Idle connections (no request in flight) are closed after this long.
    #[arg(long, default_value = "90s", value_parser = parse_duration)]
    pub idle_timeout: std::time::Duration,
    /// Concurrent HTTP/2 streams per connection.
    #[arg(long, default_value_t = 100)]
    pub max_concurrent_streams: u32,
    /// After SIGTERM: how long to keep serving (not ready) while endpoints update.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub shutdown_delay: std::time::Duration,
    /// After the delay: how long open connections may finish their requests.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub shutdown_grace: std::time::Duration,
    /// File mode: serve the valid documents of a policy directory that has errors at
    /// startup (by default the server stays unready until they are fixed).
    #[arg(long)]
    pub allow_partial_load: bool,
    /// File mode: a change to the policy directory is read once its content has been
    /// unchanged this long (a file written in place is never read half done).
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    pub policy_settle: std::time::Duration,
    /// File mode: a change that would remove every constraint or every mutator takes
    /// effect only once it has been stable this long.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub removal_hold: std::time::Duration,
    /// Force one engine for every template.
    #[arg(long, value_enum)]
    pub engine: Option<EngineArg>,
    /// Seconds between polls of the policy directory (events also trigger reloads).
    #[arg(long, default_value_t = 5)]
    pub poll_seconds: u64,
    /// Cluster mode: seconds between audit sweeps of existing objects, whose results are
    /// written to each constraint's status; 0 disables. With `--leader-elect` only the
    /// leader audits; without it, run it on one replica only.
    #[arg(long, default_value_t = crate::audit::periodic::DEFAULT_INTERVAL_SECS)]
    pub audit_interval: u64,
    /// Violations listed in each constraint's status (all are counted).
    #[arg(long, default_value_t = crate::audit::DEFAULT_VIOLATIONS_LIMIT)]
    pub constraint_violations_limit: usize,
    /// Objects per list request of an audit sweep (0: unpaged lists).
    #[arg(long, default_value_t = crate::audit::cluster::DEFAULT_CHUNK_SIZE)]
    pub audit_chunk_size: u32,
    // Kubernetes Events and policy reports (cluster mode).
    /// Cluster mode: write a Kubernetes Event for each violation at admission (deny,
    /// warn, dryrun), as Gatekeeper's flag of the same name; aggregated and rate-limited.
    #[arg(long)]
    pub emit_admission_events: bool,
    /// Cluster mode: write a Kubernetes Event for each violation an audit sweep finds.
    #[arg(long)]
    pub emit_audit_events: bool,
    /// Admission Events go to the resource's namespace instead of the server's.
    #[arg(long)]
    pub admission_events_involved_namespace: bool,
    /// Audit Events go to the resource's namespace instead of the server's.
    #[arg(long)]
    pub audit_events_involved_namespace: bool,
    /// Event writes (creates and count updates) per second at most, over all Events.
    #[arg(long, default_value_t = 5.0)]
    pub events_per_second: f64,
    /// Event writes allowed at once after a quiet spell.
    #[arg(long, default_value_t = 25)]
    pub events_burst: u32,
    /// Cluster mode: each audit sweep writes wgpolicyk8s.io/v1alpha2 PolicyReports (one per
    /// namespace with violations) and a ClusterPolicyReport; needs the CRDs installed.
    #[arg(long)]
    pub policy_reports: bool,
    /// Results listed per policy report (every violation is counted in its summary).
    #[arg(long, default_value_t = crate::audit::policy_report::DEFAULT_RESULTS_LIMIT)]
    pub policy_report_results_limit: usize,
    // Constraint CRD management and status garbage collection (cluster mode).
    /// Cluster mode: create, update and delete the constraint CRD of each ConstraintTemplate
    /// as Gatekeeper does; `--manage-crds=false` leaves CRDs to Gatekeeper or to GitOps
    /// (`portcullis crd`). CRDs not labelled as portcullis's are never touched.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true")]
    pub manage_crds: bool,
    /// Cluster mode: keep the ValidatingAdmissionPolicies and bindings `portcullis vap`
    /// prints for the cluster's CEL templates and constraints in the cluster (written by
    /// the elected leader; objects not labelled as portcullis's are left alone).
    #[arg(long)]
    pub generate_vap: bool,
    /// Cluster mode: seconds between sweeps removing the `status.byPod[]` entries of
    /// replicas whose Pods are gone (needs the Pod name); 0 disables.
    #[arg(long, default_value_t = 60)]
    pub status_gc_interval: u64,
    /// Cluster mode: label selector of this installation's Pods in its namespace, the
    /// replicas whose status entries are kept (default: every Pod of the namespace).
    #[arg(long)]
    pub status_gc_selector: Option<String>,
    // Leader election and certificate rotation.
    /// Cluster mode: elect one leader among the replicas through a Lease in the server's
    /// namespace; only the leader runs the once-per-cluster work (the audit loop).
    /// `--leader-elect=false` runs it on every replica with an audit interval.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,
    /// The leader election Lease's name.
    #[arg(long, default_value = crate::leader::DEFAULT_LEASE_NAME)]
    pub leader_lease_name: String,
    /// How long a Lease that stopped being renewed keeps other replicas waiting.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub leader_lease_duration: std::time::Duration,
    /// How long the leader keeps leading without a successful renewal (shorter than the
    /// lease duration, so it stops before another can take over).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub leader_renew_deadline: std::time::Duration,
    /// Time between attempts to acquire or renew the Lease.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub leader_retry_period: std::time::Duration,
    /// Keep the CA and serving certificate in a Secret of the server's namespace: made when
    /// missing, renewed before expiry, written into the webhook configurations' caBundle,
    /// and served by every replica without a restart.
    #[arg(long, conflicts_with_all = ["tls_cert", "cert_dir"])]
    pub cert_rotation: bool,
    /// The certificate rotation Secret (type kubernetes.io/tls with ca.crt and ca.key).
    #[arg(long, default_value = "portcullis-tls")]
    pub cert_secret_name: String,
    /// The ValidatingWebhookConfiguration whose caBundle certificate rotation keeps.
    #[arg(long)]
    pub validating_webhook_configuration_name: Option<String>,
    /// The MutatingWebhookConfiguration whose caBundle certificate rotation keeps.
    #[arg(long)]
    pub mutating_webhook_configuration_name: Option<String>,
    /// Time between certificate rotation checks of the Secret.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub cert_poll: std::time::Duration,
    // Policy impact preview: recording reviews and a shadow policy set.
    /// Record judged reviews (redacted) to rotating files in this directory, for
    /// `portcullis replay`.
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Share of allowed reviews recorded (0 to 1); every denial is recorded.
    #[arg(long, default_value_t = 0.01, value_parser = parse_share)]
    pub record_sample: f64,
    /// Total size of the record files at most (oldest removed first).
    #[arg(long, default_value = "100Mi", value_parser = parse_bytes)]
    pub record_max_bytes: usize,
    /// A second policy directory judged on live traffic after each answer, counting where
    /// it would answer differently; it never changes or delays the real answer. File mode
    /// only: in cluster mode, label objects `policy.portcullis.io/shadow: "true"` instead.
    #[arg(long)]
    pub shadow_policies: Option<PathBuf>,
    /// Shadow evaluations at once; reviews arriving while all run are not shadow-judged.
    #[arg(long, default_value_t = 2)]
    pub shadow_workers: usize,
}

/// Parse a share between 0 and 1.
///
/// # Errors
/// A message saying what is wrong.
pub fn parse_share(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a share between 0 and 1 (e.g. 0.01)")),
    }
}

/// Parse a duration: a number with `ms`, `s` or `m` (seconds when bare).
///
/// # Errors
/// A message saying what is wrong.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let value: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 2.5s, 500ms, 1m)"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("{s:?} is not a positive duration"));
    }
    std::time::Duration::try_from_secs_f64(value * scale).map_err(|e| format!("{s:?}: {e}"))
}

/// Parse a size in bytes: a whole number with an optional `Ki`, `Mi`, `Gi` (binary) or `k`,
/// `M`, `G` (decimal) suffix.
///
/// # Errors
/// A message saying what is wrong.
pub fn parse_bytes(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let units: [(&str, usize); 6] = [
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
    ];
    let (num, scale) = units
        .iter()
        .find_map(|(u, m)| s.strip_suffix(u).map(|n| (n, *m)))
        .unwrap_or((s, 1));
    num.trim()
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("{s:?} is not a size (e.g. 256Mi, 1Gi, 1048576)"))
}

/// Flags of `review`.
#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// Policy directory.
    #[arg(long, default_value = "policies")]
    pub policies: PathBuf,
    /// AdmissionReview JSON file, or `-` for standard input.
    pub file: PathBuf,
    /// Chain `/mutate` and `/validate` as the API server does: print both answers (the
    /// patch, then the validation of the mutated object) as `{"mutate": .., "validate": ..}`.
    #[arg(long)]
    pub mutate: bool,
    /// Server-wide enforcement to answer with.
    #[arg(long, value_enum, default_value = "deny")]
    pub enforcement: ServerEnforcement,
    /// Force one engine.
    #[arg(long, value_enum)]
    pub engine: Option<EngineArg>,
}

/// Output format of `test` and `audit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// One line per violation and a summary.
    Text,
    /// A JSON report.
    Json,
    /// The JSON report as YAML.
    Yaml,
    /// JUnit XML, for CI systems to render.
    Junit,
}

/// Output format of `audit`: those of `test`, plus policy reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditOutput {
    /// One line per violation and a summary.
    Text,
    /// A JSON report.
    Json,
    /// The JSON report as YAML.
    Yaml,
    /// JUnit XML, for CI systems to render.
    Junit,
    /// wgpolicyk8s.io/v1alpha2 PolicyReport and ClusterPolicyReport objects (YAML
    /// documents), as `serve --policy-reports` writes them.
    Policyreport,
}

/// Flags of `test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Policy directory.
    #[arg(long, default_value = "policies")]
    pub policies: PathBuf,
    /// Manifest files or directories (`-` for standard input).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: OutputFormat,
    /// Apply mutators first, print each mutated object's patch and the mutators applied, and
    /// validate the mutated object (as the API server runs mutation before validation).
    #[arg(long)]
    pub mutate: bool,
    /// Force one engine.
    #[arg(long, value_enum)]
    pub engine: Option<EngineArg>,
}

/// Flags of `audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Where policies and objects come from: manifest files, or a live cluster (policies,
    /// Config and objects read through the Kubernetes API, as `serve --source cluster`).
    #[arg(long, value_enum, default_value = "file")]
    pub source: SourceArg,
    /// Policy directory (file source).
    #[arg(long, default_value = "policies")]
    pub policies: PathBuf,
    /// Manifest files or directories holding the objects to audit (`-` for standard input);
    /// required with the file source, not allowed with the cluster source.
    pub paths: Vec<PathBuf>,
    /// Cluster source: the namespace of Gatekeeper's Config (default: the kubeconfig
    /// context's, or the Pod's own).
    #[arg(long, env = "POD_NAMESPACE")]
    pub namespace: Option<String>,
    /// Cluster source: write each constraint's status (`auditTimestamp`, `totalViolations`,
    /// `violations`) as the serve audit loop does.
    #[arg(long)]
    pub write_status: bool,
    /// Cluster source: the `byPod` id written with `--write-status` (none without it).
    #[arg(long, env = "POD_NAME")]
    pub pod_name: Option<String>,
    /// Cluster source: objects per list request (0: unpaged lists).
    #[arg(long = "audit-chunk-size", alias = "chunk-size", default_value_t = crate::audit::cluster::DEFAULT_CHUNK_SIZE)]
    pub chunk_size: u32,
    /// Cluster source: seconds to wait for the cluster's policy set to be listed.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: AuditOutput,
    /// With `--output policyreport`: results listed per report (all are counted).
    #[arg(long, default_value_t = crate::audit::policy_report::DEFAULT_RESULTS_LIMIT)]
    pub policy_report_results_limit: usize,
    /// Violations listed per constraint (all are counted), like Gatekeeper's
    /// `--constraint-violations-limit`.
    #[arg(long = "constraint-violations-limit", alias = "limit", default_value_t = crate::audit::DEFAULT_VIOLATIONS_LIMIT)]
    pub limit: usize,
    /// Force one engine.
    #[arg(long, value_enum)]
    pub engine: Option<EngineArg>,
}

/// Flags of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Suite files or directories searched for `suite.yaml`.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Print every case, not only failures.
    #[arg(short, long)]
    pub verbose: bool,
    /// Run only tests whose name matches this regex.
    #[arg(long)]
    pub run: Option<String>,
    /// Force one engine.
    #[arg(long, value_enum)]
    pub engine: Option<EngineArg>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: OutputFormat,
}

/// Flags of `cert`.
#[derive(Debug, Args)]
pub struct CertArgs {
    /// Output directory for ca.crt, tls.crt and tls.key.
    #[arg(long)]
    pub out: PathBuf,
    /// DNS names (and IPs) of the serving certificate, besides localhost.
    #[arg(long = "dns-name")]
    pub dns_names: Vec<String>,
    /// Days the serving certificate is valid, counted from now (the CA one day longer).
    #[arg(long, default_value_t = crate::certs::DEFAULT_VALIDITY_DAYS, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub days: u32,
    /// Replace a CA already in `--out` (webhook configurations trusting it stop trusting
    /// the new certificate until their caBundle is updated).
    #[arg(long)]
    pub force: bool,
}
