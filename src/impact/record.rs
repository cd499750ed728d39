//! The record of one judged review: newline-delimited JSON, one record a line, read back by
//! `portcullis replay`.
//!
//! ```json
//! {"time":1764590400123,"endpoint":"validate","request":{...AdmissionRequest...},
//!  "decision":{"allowed":false,"code":403,"message":"[c] ...","warnings":[],"patch":null}}
//! ```
//!
//! `request` is the AdmissionRequest as the webhook judged it (for DELETE, `object` holds
//! the old object, as Gatekeeper judges it), redacted; `decision` is the answer given.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::admission::Decision;

/// Which webhook answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Endpoint {
    /// `/validate` (and `/v1/admit`).
    Validate,
    /// `/mutate` (and `/v1/mutate`).
    Mutate,
}

impl Endpoint {
    /// The label and record spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Validate => "validate",
            Endpoint::Mutate => "mutate",
        }
    }
}

/// The answer given to a review, in the form records keep and comparisons read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordedDecision {
    /// Admitted or not.
    pub allowed: bool,
    /// `status.code` (200 when admitted).
    pub code: u16,
    /// `status.message` of a rejection: one `[<constraint>] <message>` line per violation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `warnings`, one `[<constraint>] <message>` each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// `/mutate`: the JSON Patch (an array of operations), absent when nothing changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<Value>,
    /// `/mutate`: the mutators applied, `Kind/name`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mutators: Vec<String>,
}

impl RecordedDecision {
    /// The record of a webhook answer.
    pub fn new(decision: &Decision, mutators: &[String]) -> Self {
        let patch = decision
            .patch
            .as_ref()
            .filter(|p| !p.0.is_empty())
            .and_then(|p| serde_json::to_value(p).ok());
        RecordedDecision {
            allowed: decision.allowed,
            code: decision.code,
            message: decision.message.clone().filter(|m| !m.is_empty()),
            warnings: decision.warnings.clone(),
            patch,
            mutators: mutators.to_vec(),
        }
    }

    /// The lines of the rejection message (none when admitted).
    pub fn denial_lines(&self) -> impl Iterator<Item = &str> {
        self.message
            .as_deref()
            .filter(|_| !self.allowed)
            .into_iter()
            .flat_map(str::lines)
    }
}

/// One recorded review.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// When it was judged, milliseconds since the Unix epoch.
    pub time: u64,
    /// Which webhook answered.
    pub endpoint: Endpoint,
    /// The AdmissionRequest, redacted.
    pub request: Value,
    /// The answer given.
    pub decision: RecordedDecision,
}

/// Milliseconds since the Unix epoch (0 before it).
pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Whether a review with this uid falls in the sample `rate` (0 to 1). Decided by a hash of
/// the uid, not by chance: the API server gives `/mutate` and `/validate` of one request the
/// same uid, so both are recorded or neither, and a test can predict the choice.
pub fn sampled(uid: &str, rate: f64) -> bool {
    use std::hash::{Hash, Hasher};
    if rate >= 1.0 {
        return true;
    }
    if rate.is_nan() || rate <= 0.0 {
        return false;
    }
    // SipHash with fixed keys: stable across runs and processes.
    let mut h = std::hash::DefaultHasher::new();
    uid.hash(&mut h);
    let unit = (h.finish() >> 11) as f64 / (1u64 << 53) as f64;
    unit < rate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_keeps_about_the_rate_and_is_stable() {
        let uids: Vec<String> = (0..20_000).map(|i| format!("uid-{i:08}")).collect();
        let kept = uids.iter().filter(|u| sampled(u, 0.1)).count();
        assert!(
            (1_700..2_300).contains(&kept),
            "kept {kept} of 20000 at 0.1"
        );
        for u in &uids[..100] {
            assert_eq!(sampled(u, 0.1), sampled(u, 0.1), "same uid, same choice");
        }
        assert!(uids.iter().all(|u| sampled(u, 1.0)));
        assert!(!uids.iter().any(|u| sampled(u, 0.0)));
        assert!(!sampled("x", f64::NAN));
        // A larger rate keeps a superset: raising the rate never loses a review.
        assert!(uids
            .iter()
            .filter(|u| sampled(u, 0.05))
            .all(|u| sampled(u, 0.1)));
    }

    #[test]
    fn decision_round_trips_through_a_record_line() {
        let mut patch = json_patch::Patch(Vec::new());
        patch
            .0
            .push(json_patch::PatchOperation::Add(json_patch::AddOperation {
                path: json_patch::jsonptr::PointerBuf::parse("/metadata/labels").expect("pointer"),
                value: serde_json::json!({"a": "b"}),
            }));
        let d = Decision {
            patch: Some(patch),
            warnings: vec!["[w] careful".into()],
            ..Decision::allow()
        };
        let r = Record {
            time: 1,
            endpoint: Endpoint::Mutate,
            request: serde_json::json!({"uid": "u"}),
            decision: RecordedDecision::new(&d, &["Assign/x".into()]),
        };
        let line = serde_json::to_string(&r).expect("encode");
        assert!(!line.contains('\n'));
        let back: Record = serde_json::from_str(&line).expect("decode");
        assert_eq!(back.decision, r.decision);
        assert_eq!(
            back.decision.patch,
            Some(
                serde_json::json!([{"op": "add", "path": "/metadata/labels", "value": {"a": "b"}}])
            )
        );
        assert!(line.contains("\"endpoint\":\"mutate\""), "{line}");
    }
}
