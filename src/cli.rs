//! Command-line interface: raw clap flags, kept apart from the validated settings the
//! commands run with.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::decision::ServerEnforcement;
use crate::engine::{EngineChoice, EngineKind};
use crate::telemetry::LogFormat;

/// portcullis: Kubernetes admission webhook for Gatekeeper policies.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, about)]
pub struct Cli {
    /// Log format.
    #[arg(long, value_enum, default_value = "text", global = true)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTPS admission webhook.
    Serve(ServeArgs),
    /// Answer one AdmissionReview (file or `-`) as the webhook would.
    Review(ReviewArgs),
    /// Judge manifest files against policies (exit 1 on any deny-level violation).
    Test(TestArgs),
    /// Run gator-format test suites (`suite.yaml`).
    Verify(VerifyArgs),
    /// Make a CA and a serving certificate and print the caBundle.
    Cert(CertArgs),
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

/// Flags of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Policy directory (templates, constraints, mutators, Namespaces, Config).
    #[arg(long, default_value = "policies")]
    pub policies: PathBuf,
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
    /// Force one engine for every template.
    #[arg(long, value_enum)]
    pub engine: Option<EngineArg>,
    /// Seconds between polls of the policy directory (events also trigger reloads).
    #[arg(long, default_value_t = 5)]
    pub poll_seconds: u64,
}

/// Flags of `review`.
#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// Policy directory.
    #[arg(long, default_value = "policies")]
    pub policies: PathBuf,
    /// AdmissionReview JSON file, or `-` for standard input.
    pub file: PathBuf,
    /// Answer as `/mutate` does instead of `/validate`.
    #[arg(long)]
    pub mutate: bool,
    /// Server-wide enforcement to answer with.
    #[arg(long, value_enum, default_value = "deny")]
    pub enforcement: ServerEnforcement,
    /// Force one engine.
    #[arg(long, value_enum)]
    pub engine: Option<EngineArg>,
}

/// Output format of `test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// One line per violation and a summary.
    Text,
    /// A JSON report.
    Json,
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
    /// Apply mutators and print each mutated object's patch and the mutators applied.
    #[arg(long)]
    pub mutate: bool,
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
}
