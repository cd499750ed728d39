//! Audit: judge objects that already exist (in a cluster, or in manifest files) against every
//! constraint at the audit enforcement point, and report per constraint the way Gatekeeper
//! writes constraint status (`totalViolations`, a capped `violations` list).
//!
//! The sweep does not know where objects come from: an [`ObjectSource`] hands it the
//! objects, and the sweep builds `data.inventory` and namespace labels from that same set,
//! so referential templates see the objects being audited. [`offline::ManifestSource`]
//! reads manifest files (`portcullis audit --policies DIR PATH...`). A cluster audit
//! ([`cluster`]) lists objects from the API server and judges them with
//! [`audit_listed_into`] against the cluster's own inventory (Config's synced kinds);
//! [`cluster_status`] writes the results to each constraint's `status` and [`periodic`]
//! runs sweeps beside the webhook.

pub mod cluster;
pub mod cluster_status;
pub mod offline;
pub mod periodic;
pub mod policy_report;
pub mod policy_report_write;
pub mod report;
pub mod sweep;

use serde_json::Value;

pub use report::{AuditReport, ConstraintReport, ReportedFailure, ReportedViolation};
pub use sweep::{audit, audit_listed_into, audit_listed_observed, audit_observed, AuditOptions};

/// Gatekeeper Config process name of audit: namespaces exempted for `audit` (or `*`) are
/// not audited.
pub const AUDIT_PROCESS: &str = "audit";

/// Gatekeeper's default `--constraint-violations-limit`: violations listed per constraint
/// (the total is always counted).
pub const DEFAULT_VIOLATIONS_LIMIT: usize = 20;

/// One object to audit and where it was found (file and document, or the API resource).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditObject {
    /// The object as the API server would return it.
    pub object: Value,
    /// Where it came from, for messages.
    pub location: String,
}

/// Errors of an audit run.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The objects could not be read.
    #[error("cannot read objects to audit: {0}")]
    Source(#[from] crate::policy::PolicyError),
    /// A source that lists objects from elsewhere (e.g. an API server) failed.
    #[error("cannot list objects to audit: {0}")]
    List(String),
}

/// Where the audited objects come from. Everything a source returns is both judged and part
/// of `data.inventory`, as in Gatekeeper, whose audit and referential rules read the same
/// synced cache.
pub trait ObjectSource {
    /// Every object to audit.
    fn objects(&self) -> Result<Vec<AuditObject>, AuditError>;

    /// Hand the objects to `each` a batch at a time (a manifest file at a time), so that an
    /// audit holds one batch, not every object, in memory. A source that can do so reads
    /// its objects afresh on every call, and says so with [`ObjectSource::rereadable`]; the
    /// default hands over [`ObjectSource::objects`] in one batch.
    fn for_each_batch(
        &self,
        each: &mut dyn FnMut(Vec<AuditObject>) -> Result<(), AuditError>,
    ) -> Result<(), AuditError> {
        each(self.objects()?)
    }

    /// Whether [`ObjectSource::for_each_batch`] may be called twice and gives the same
    /// objects both times (standard input cannot be read twice).
    fn rereadable(&self) -> bool {
        false
    }
}

/// A fixed set of objects: for tests and for callers that already hold the objects.
impl ObjectSource for Vec<AuditObject> {
    fn objects(&self) -> Result<Vec<AuditObject>, AuditError> {
        Ok(self.clone())
    }
}
