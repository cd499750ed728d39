//! Decoding an AdmissionReview body.

use serde_json::{Map, Value};

use super::AdmissionError;
use crate::review::{Gvk, Operation, Review};

/// The AdmissionReview API version of a request; the response is written in the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmissionVersion {
    /// `admission.k8s.io/v1`.
    V1,
    /// `admission.k8s.io/v1beta1`.
    V1Beta1,
}

impl AdmissionVersion {
    /// The apiVersion string.
    pub fn as_str(self) -> &'static str {
        match self {
            AdmissionVersion::V1 => "admission.k8s.io/v1",
            AdmissionVersion::V1Beta1 => "admission.k8s.io/v1beta1",
        }
    }
}

/// A decoded request: the version to answer in and the review to judge.
#[derive(Debug, Clone)]
pub struct DecodedReview {
    /// Version of the incoming AdmissionReview.
    pub version: AdmissionVersion,
    /// The review; `review.uid` is the uid to echo.
    pub review: Review,
    /// `request.dryRun`.
    pub dry_run: bool,
}

/// Decode an AdmissionReview body. Every failure says what is wrong, for a 400 answer.
pub fn decode(body: &[u8]) -> Result<DecodedReview, AdmissionError> {
    if let Err(e) = std::str::from_utf8(body) {
        return Err(AdmissionError::NotUtf8(e.to_string()));
    }
    let doc: Value =
        serde_json::from_slice(body).map_err(|e| AdmissionError::NotJson(e.to_string()))?;
    from_value(doc)
}

/// Decode an AdmissionReview that is already a JSON value (gator suites embed them).
pub fn from_value(doc: Value) -> Result<DecodedReview, AdmissionError> {
    let Value::Object(mut doc) = doc else {
        return Err(AdmissionError::NotAReview(
            "the body must be a JSON object".into(),
        ));
    };
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
    if kind != "AdmissionReview" {
        return Err(AdmissionError::NotAReview(format!(
            "kind must be AdmissionReview, got {:?}",
            crate::text::field(kind)
        )));
    }
    let version = match doc.get("apiVersion").and_then(Value::as_str) {
        Some("admission.k8s.io/v1") => AdmissionVersion::V1,
        Some("admission.k8s.io/v1beta1") => AdmissionVersion::V1Beta1,
        Some(other) => {
            return Err(AdmissionError::UnsupportedVersion(
                crate::text::field(other).into_owned(),
            ))
        }
        None => return Err(AdmissionError::UnsupportedVersion(String::new())),
    };
    let request = match doc.remove("request") {
        Some(Value::Object(r)) => r,
        Some(_) => return Err(AdmissionError::Invalid("request must be an object".into())),
        None => return Err(AdmissionError::Invalid("request is missing".into())),
    };
    let (review, dry_run) = review_from_request(request)?;
    Ok(DecodedReview {
        version,
        review,
        dry_run,
    })
}

fn field_str<'a>(req: &'a Map<String, Value>, key: &str) -> Result<&'a str, AdmissionError> {
    match req.get(key) {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(AdmissionError::Invalid(format!(
            "request.{key} must be a string"
        ))),
    }
}

/// Build a [`Review`] from the fields of an AdmissionRequest. For DELETE the judged object
/// is `oldObject`, as Gatekeeper does.
pub fn review_from_request(req: Map<String, Value>) -> Result<(Review, bool), AdmissionError> {
    let uid = field_str(&req, "uid")?.to_string();
    if uid.is_empty() {
        return Err(AdmissionError::Invalid("request.uid is missing".into()));
    }
    let gvk = match req.get("kind") {
        Some(Value::Object(k)) => {
            let s = |f: &str| k.get(f).and_then(Value::as_str).unwrap_or("").to_string();
            Gvk {
                group: s("group"),
                version: s("version"),
                kind: s("kind"),
            }
        }
        _ => {
            return Err(AdmissionError::Invalid(
                "request.kind must be an object with group, version and kind".into(),
            ))
        }
    };
    if gvk.kind.is_empty() {
        return Err(AdmissionError::Invalid(
            "request.kind.kind is missing".into(),
        ));
    }
    let op_str = field_str(&req, "operation")?;
    Operation::parse(op_str).ok_or_else(|| {
        AdmissionError::Invalid(format!(
            "request.operation {:?} is not CREATE, UPDATE, DELETE or CONNECT",
            crate::text::field(op_str)
        ))
    })?;
    for key in ["object", "oldObject"] {
        if let Some(v) = req.get(key) {
            if !(v.is_object() || v.is_null()) {
                return Err(AdmissionError::Invalid(format!(
                    "request.{key} must be an object"
                )));
            }
        }
    }
    let dry_run = match req.get("dryRun") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(AdmissionError::Invalid(
                "request.dryRun must be a boolean".into(),
            ))
        }
    };
    let review = Review::from_request(req).map_err(AdmissionError::Invalid)?;
    Ok((review, dry_run))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Vec<u8> {
        serde_json::to_vec(&v).expect("serialize")
    }

    fn pod_review(api: &str, op: &str) -> Value {
        json!({
            "apiVersion": api, "kind": "AdmissionReview",
            "request": {
                "uid": "abc", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "operation": op, "namespace": "default", "name": "p",
                "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}},
                "oldObject": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"old": "yes"}}}
            }
        })
    }

    #[test]
    fn decodes_both_versions() {
        for (api, v) in [
            ("admission.k8s.io/v1", AdmissionVersion::V1),
            ("admission.k8s.io/v1beta1", AdmissionVersion::V1Beta1),
        ] {
            let d = decode(&body(pod_review(api, "CREATE"))).expect("decodes");
            assert_eq!(d.version, v);
            assert_eq!(d.review.uid, "abc");
            assert_eq!(d.review.gvk.kind, "Pod");
            assert_eq!(d.review.namespace, "default");
        }
    }

    #[test]
    fn delete_judges_old_object() {
        let d = decode(&body(pod_review("admission.k8s.io/v1", "DELETE"))).expect("decodes");
        assert_eq!(d.review.object()["metadata"]["labels"]["old"], "yes");
    }

    #[test]
    fn rejects_malformed_input_with_reasons() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![0xff, 0xfe], "UTF-8"),
            (b"{not json".to_vec(), "JSON"),
            (b"[]".to_vec(), "object"),
            (body(json!({"kind": "Pod"})), "AdmissionReview"),
            (
                body(json!({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v2"})),
                "apiVersion",
            ),
            (
                body(json!({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1"})),
                "request is missing",
            ),
            (
                body(
                    json!({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1",
                    "request": {"kind": {"kind": "Pod"}, "operation": "CREATE"}}),
                ),
                "uid",
            ),
            (
                body(
                    json!({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1",
                    "request": {"uid": "x", "kind": {"kind": "Pod"}, "operation": "PATCH"}}),
                ),
                "operation",
            ),
            (
                body(
                    json!({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1",
                    "request": {"uid": "x", "kind": {"kind": "Pod"}, "operation": "CREATE", "object": 5}}),
                ),
                "object",
            ),
        ];
        for (b, needle) in cases {
            let err = decode(&b).expect_err("must fail").to_string();
            assert!(err.contains(needle), "{err:?} should mention {needle:?}");
        }
    }
}
