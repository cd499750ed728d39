//! Building the AdmissionReview response.

use base64::Engine as _;
use serde::Serialize;

use super::AdmissionVersion;

/// What the webhook decided for one request, independent of the wire version.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    /// Admit or reject.
    pub allowed: bool,
    /// HTTP-style code in `status.code` for a rejection (403 for policy denials, 500 when
    /// a policy failed to evaluate).
    pub code: u16,
    /// `status.message` for a rejection.
    pub message: Option<String>,
    /// `warnings`, shown to the user by kubectl.
    pub warnings: Vec<String>,
    /// A JSON Patch to apply to the object (mutation).
    pub patch: Option<json_patch::Patch>,
}

impl Decision {
    /// Admit without comment.
    pub fn allow() -> Self {
        Decision {
            allowed: true,
            code: 200,
            ..Decision::default()
        }
    }

    /// Reject with 403 Forbidden and a message.
    pub fn deny(message: impl Into<String>) -> Self {
        Decision {
            allowed: false,
            code: 403,
            message: Some(message.into()),
            ..Decision::default()
        }
    }
}

/// The response document, ready to serialise.
#[derive(Debug, Serialize)]
pub struct ReviewResponse<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    response: Body<'a>,
}

#[derive(Debug, Serialize)]
struct Body<'a> {
    uid: &'a str,
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<Status<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
    #[serde(rename = "patchType", skip_serializing_if = "Option::is_none")]
    patch_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<String>,
}

#[derive(Debug, Serialize)]
struct Status<'a> {
    code: u16,
    #[serde(skip_serializing_if = "str::is_empty")]
    message: &'a str,
    reason: &'static str,
}

fn reason_for(code: u16) -> &'static str {
    match code {
        403 => "Forbidden",
        500 => "InternalError",
        400 => "BadRequest",
        _ => "",
    }
}

impl<'a> ReviewResponse<'a> {
    /// The response for `uid` in `version`. A patch is base64-encoded JSON with
    /// `patchType: JSONPatch`; an empty patch is omitted entirely.
    pub fn new(version: AdmissionVersion, uid: &'a str, decision: &'a Decision) -> Self {
        let patch = decision
            .patch
            .as_ref()
            .filter(|p| !p.0.is_empty())
            .and_then(|p| serde_json::to_vec(p).ok())
            .map(|bytes| base64::engine::general_purpose::STANDARD.encode(bytes));
        let status = if decision.allowed {
            None
        } else {
            Some(Status {
                code: decision.code,
                message: decision.message.as_deref().unwrap_or(""),
                reason: reason_for(decision.code),
            })
        };
        ReviewResponse {
            api_version: version.as_str(),
            kind: "AdmissionReview",
            response: Body {
                uid,
                allowed: decision.allowed,
                status,
                warnings: &decision.warnings,
                patch_type: patch.as_ref().map(|_| "JSONPatch"),
                patch,
            },
        }
    }

    /// Serialise to JSON bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        // Serialising plain strings, bools and numbers cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn render(v: AdmissionVersion, d: &Decision) -> Value {
        serde_json::from_slice(&ReviewResponse::new(v, "u-1", d).to_vec()).expect("json")
    }

    #[test]
    fn allow_echoes_uid_and_version() {
        let r = render(AdmissionVersion::V1Beta1, &Decision::allow());
        assert_eq!(
            r,
            json!({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview",
                   "response": {"uid": "u-1", "allowed": true}})
        );
    }

    #[test]
    fn deny_carries_status() {
        let mut d = Decision::deny("[c] bad");
        d.warnings.push("[w] meh".into());
        let r = render(AdmissionVersion::V1, &d);
        assert_eq!(r["response"]["allowed"], false);
        assert_eq!(r["response"]["status"]["code"], 403);
        assert_eq!(r["response"]["status"]["message"], "[c] bad");
        assert_eq!(r["response"]["warnings"], json!(["[w] meh"]));
    }

    #[test]
    fn patch_is_base64_with_type_and_omitted_when_empty() {
        let patch: json_patch::Patch =
            serde_json::from_value(json!([{"op": "add", "path": "/a", "value": 1}]))
                .expect("patch");
        let mut d = Decision::allow();
        d.patch = Some(patch);
        let r = render(AdmissionVersion::V1, &d);
        assert_eq!(r["response"]["patchType"], "JSONPatch");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(r["response"]["patch"].as_str().expect("string"))
            .expect("base64");
        let back: Value = serde_json::from_slice(&raw).expect("json");
        assert_eq!(back, json!([{"op": "add", "path": "/a", "value": 1}]));
        d.patch = Some(json_patch::Patch(Vec::new()));
        let r = render(AdmissionVersion::V1, &d);
        assert!(r["response"].get("patch").is_none());
        assert!(r["response"].get("patchType").is_none());
    }
}
