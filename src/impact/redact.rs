//! Redaction of recorded reviews, done before a record is encoded, so that no secret value
//! ever reaches a record file.
//!
//! Gatekeeper's `Config` has no notion of sensitive fields (its spec holds `match`, `sync`,
//! `validation` and `readiness`), so there is nothing for an operator to mark: what is
//! redacted is fixed. In a Secret (`object` and `oldObject` of a review whose kind, or
//! whose object's own kind, is the core `Secret`), every value of `data` and `stringData`
//! becomes [`REDACTED`] (the keys stay, so policies on key names still replay), and so does
//! the `kubectl.kubernetes.io/last-applied-configuration` annotation, which holds the whole
//! Secret as applied. The values so removed are also cut out of the answer's message,
//! warnings and patch, where a policy or mutator might have quoted them.

use serde_json::Value;

use super::record::RecordedDecision;

/// What a redacted value reads.
pub const REDACTED: &str = "<redacted>";

/// The annotation `kubectl apply` keeps the applied object in.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Secret values shorter than this are not searched for in messages: cutting every "a" out
/// of a message would destroy it while protecting nothing a guess would not find.
const MIN_QUOTED_CHARS: usize = 4;

fn is_secret(object: &Value) -> bool {
    object.get("kind").and_then(Value::as_str) == Some("Secret")
        && object.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

fn request_is_secret(request: &Value) -> bool {
    let kind = request.get("kind");
    kind.and_then(|k| k.get("kind")).and_then(Value::as_str) == Some("Secret")
        && kind
            .and_then(|k| k.get("group"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
}

/// Redact one object in place, collecting the values removed.
fn redact_secret(object: &mut Value, removed: &mut Vec<String>) {
    for field in ["data", "stringData"] {
        match object.get_mut(field) {
            Some(Value::Object(map)) => {
                for value in map.values_mut() {
                    collect(value, removed);
                    *value = Value::String(REDACTED.into());
                }
            }
            // Not a map: the API server would refuse it, but what it holds is still secret.
            Some(other) if !other.is_null() => {
                collect(other, removed);
                *other = Value::String(REDACTED.into());
            }
            _ => {}
        }
    }
    if let Some(v) = object
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
        .and_then(|a| a.get_mut(LAST_APPLIED))
    {
        *v = Value::String(REDACTED.into());
    }
}

/// The strings a removed value could be quoted as: itself and, for `data`, its base64
/// decoding.
fn collect(value: &Value, removed: &mut Vec<String>) {
    use base64::Engine as _;
    match value {
        Value::String(s) => {
            removed.push(s.clone());
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(s) {
                if let Ok(text) = String::from_utf8(bytes) {
                    removed.push(text);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, removed)),
        Value::Object(map) => map.values().for_each(|v| collect(v, removed)),
        other => removed.push(other.to_string()),
    }
}

fn scrub(text: &mut String, removed: &[String]) {
    for secret in removed {
        if secret.chars().count() >= MIN_QUOTED_CHARS && text.contains(secret.as_str()) {
            *text = text.replace(secret.as_str(), REDACTED);
        }
    }
}

fn scrub_value(value: &mut Value, removed: &[String]) {
    match value {
        Value::String(s) => scrub(s, removed),
        Value::Array(items) => items.iter_mut().for_each(|v| scrub_value(v, removed)),
        Value::Object(map) => map.values_mut().for_each(|v| scrub_value(v, removed)),
        _ => {}
    }
}

/// Redact a recorded request and its answer in place.
pub fn redact(request: &mut Value, decision: &mut RecordedDecision) {
    let whole_request = request_is_secret(request);
    let mut removed = Vec::new();
    for field in ["object", "oldObject"] {
        if let Some(object) = request.get_mut(field) {
            if whole_request || is_secret(object) {
                redact_secret(object, &mut removed);
            }
        }
    }
    if removed.is_empty() {
        return;
    }
    // Longest first, so that a value containing another is cut out whole.
    removed.sort_by_key(|s| std::cmp::Reverse(s.len()));
    removed.dedup();
    if let Some(m) = decision.message.as_mut() {
        scrub(m, &removed);
    }
    decision
        .warnings
        .iter_mut()
        .for_each(|w| scrub(w, &removed));
    if let Some(p) = decision.patch.as_mut() {
        scrub_value(p, &removed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret(data: Value) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "namespace": "prod", "annotations": {
                LAST_APPLIED: "{\"stringData\":{\"password\":\"hunter2-plain\"}}",
                "team": "payments"
            }},
            "type": "Opaque",
            "data": data,
            "stringData": {"password": "hunter2-plain"}
        })
    }

    #[test]
    fn secret_values_go_keys_and_metadata_stay() {
        // "s3cr3t-value" in base64.
        let b64 = "czNjcjN0LXZhbHVl";
        let mut request = json!({
            "uid": "u", "kind": {"group": "", "version": "v1", "kind": "Secret"},
            "operation": "UPDATE",
            "object": secret(json!({"token": b64})),
            "oldObject": secret(json!({"token": "b2xkLXRva2Vu"})),
        });
        let mut decision = RecordedDecision {
            allowed: false,
            code: 403,
            message: Some("[no-plain] value s3cr3t-value is weak; hunter2-plain too".into()),
            warnings: vec![format!("[w] saw {b64}")],
            patch: Some(json!([{"op": "add", "path": "/data/x", "value": "s3cr3t-value"}])),
            ..RecordedDecision::default()
        };
        redact(&mut request, &mut decision);
        let text = serde_json::to_string(&request).expect("json")
            + &serde_json::to_string(&decision).expect("json");
        for secret in [
            b64,
            "s3cr3t-value",
            "hunter2-plain",
            "b2xkLXRva2Vu",
            "old-token",
        ] {
            assert!(!text.contains(secret), "{secret} left in {text}");
        }
        assert_eq!(request["object"]["data"], json!({"token": REDACTED}));
        assert_eq!(
            request["oldObject"]["stringData"],
            json!({"password": REDACTED})
        );
        assert_eq!(
            request["object"]["metadata"]["annotations"]["team"],
            "payments"
        );
        assert_eq!(
            request["object"]["metadata"]["annotations"][LAST_APPLIED],
            REDACTED
        );
        assert_eq!(
            decision.message.as_deref(),
            Some("[no-plain] value <redacted> is weak; <redacted> too")
        );
        assert_eq!(decision.warnings, vec!["[w] saw <redacted>".to_string()]);
    }

    #[test]
    fn other_kinds_are_untouched() {
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                            "data": {"k": "visible"}});
        let mut request = json!({"uid": "u", "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
                                 "object": object.clone()});
        let mut decision = RecordedDecision::default();
        redact(&mut request, &mut decision);
        assert_eq!(request["object"], object);
        // A Secret of another group is not the core Secret.
        let mut request = json!({"uid": "u", "kind": {"group": "example.com", "version": "v1", "kind": "Secret"},
                                 "object": {"apiVersion": "example.com/v1", "kind": "Secret", "data": {"k": "v"}}});
        redact(&mut request, &mut decision);
        assert_eq!(request["object"]["data"]["k"], "v");
    }

    #[test]
    fn a_secret_object_under_another_request_kind_is_still_redacted() {
        // A DELETE with only oldObject, or a request whose kind was left out.
        let mut request = json!({"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Other"},
                                 "oldObject": secret(json!(["not", "a", "map"]))});
        redact(&mut request, &mut RecordedDecision::default());
        assert_eq!(request["oldObject"]["data"], REDACTED);
        assert_eq!(request["oldObject"]["stringData"]["password"], REDACTED);
    }
}
