//! HTTP handlers. Every well-formed review gets 200 with an AdmissionReview; malformed
//! input gets 400 (413 when too large) with a JSON body saying what is wrong.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::admission::{self, AdmissionError, Decision, DecodedReview, ReviewResponse};
use crate::decision;
use crate::metrics::{EndpointLabels, Metrics, MutatorLabels, RequestLabels, ViolationLabels};

/// A JSON error answer for input that is not a reviewable AdmissionReview.
struct ApiError {
    status: StatusCode,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.message, "code": self.status.as_u16()});
        (self.status, axum::Json(body)).into_response()
    }
}

fn json_response(bytes: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(bytes));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Read the body up to the limit; 413 beyond it.
async fn read_body(req: Request, max: usize) -> Result<axum::body::Bytes, ApiError> {
    let too_large = || ApiError {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        message: format!("request body exceeds the limit of {max} bytes"),
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(req.into_body(), max)
        .await
        .map_err(|_| too_large())
}

fn bad_request(metrics: &Metrics, endpoint: &'static str, e: AdmissionError) -> ApiError {
    metrics
        .requests
        .get_or_create(&RequestLabels {
            endpoint,
            operation: "",
            kind: String::new(),
            decision: "bad_request",
        })
        .inc();
    tracing::warn!(endpoint, error = %e, "rejected malformed AdmissionReview");
    ApiError {
        status: StatusCode::BAD_REQUEST,
        message: e.to_string(),
    }
}

fn count(metrics: &Metrics, endpoint: &'static str, d: &DecodedReview, decision: &'static str) {
    metrics
        .requests
        .get_or_create(&RequestLabels {
            endpoint,
            operation: d.review.operation.as_str(),
            kind: d.review.gvk.kind.clone(),
            decision,
        })
        .inc();
}

/// Read and decode a review; the error is the complete HTTP answer (400 or 413).
async fn receive(
    state: &AppState,
    req: Request,
    endpoint: &'static str,
) -> Result<(DecodedReview, Instant), Response> {
    let body = read_body(req, state.max_body)
        .await
        .map_err(IntoResponse::into_response)?;
    let started = Instant::now();
    admission::decode(&body)
        .map(|d| (d, started))
        .map_err(|e| bad_request(&state.metrics, endpoint, e).into_response())
}

/// `POST /validate`.
pub(super) async fn validate(State(state): State<AppState>, req: Request) -> Response {
    let (decoded, started) = match receive(&state, req, "validate").await {
        Ok(d) => d,
        Err(resp) => return resp,
    };
    let snapshot = state.store.load();
    let outcome = decision::validate(&snapshot, &decoded.review, state.enforcement);
    for hit in &outcome.evaluation.hits {
        state
            .metrics
            .violations
            .get_or_create(&ViolationLabels {
                constraint: hit.constraint.clone(),
                enforcement_action: hit.action.as_str(),
            })
            .inc();
    }
    let r = &decoded.review;
    for f in &outcome.evaluation.failures {
        tracing::error!(uid = %r.uid, constraint = %f.constraint, error = %f.error, "policy evaluation failed");
    }
    let label = if outcome.decision.allowed {
        "allowed"
    } else {
        "denied"
    };
    if !outcome.decision.allowed || outcome.would_deny {
        let constraints: Vec<&str> = outcome
            .evaluation
            .hits
            .iter()
            .filter(|h| h.action == crate::policy::Action::Deny)
            .map(|h| h.constraint.as_str())
            .collect();
        if outcome.would_deny {
            state.metrics.dryrun_denials.inc();
        }
        tracing::info!(
            uid = %r.uid, kind = %r.gvk.kind, namespace = %r.namespace, name = %r.name,
            operation = r.operation.as_str(), dry_run = decoded.dry_run,
            constraints = ?constraints,
            enforcement = if outcome.would_deny { "dryrun" } else { "deny" },
            "{}", if outcome.would_deny { "request would be denied (server dry-run)" } else { "request denied" }
        );
    }
    count(&state.metrics, "validate", &decoded, label);
    let bytes = ReviewResponse::new(decoded.version, &r.uid, &outcome.decision).to_vec();
    state
        .metrics
        .duration
        .get_or_create(&EndpointLabels {
            endpoint: "validate",
        })
        .observe(started.elapsed().as_secs_f64());
    json_response(bytes)
}

/// `POST /mutate`.
pub(super) async fn mutate(State(state): State<AppState>, req: Request) -> Response {
    let (decoded, started) = match receive(&state, req, "mutate").await {
        Ok(d) => d,
        Err(resp) => return resp,
    };
    let snapshot = state.store.load();
    let r = &decoded.review;
    let (answer, label) = match decision::mutate(&snapshot, r) {
        Ok((d, outcome)) => {
            let applied = outcome.map(|o| o.applied).unwrap_or_default();
            for m in &applied {
                state
                    .metrics
                    .mutations
                    .get_or_create(&MutatorLabels { mutator: m.clone() })
                    .inc();
            }
            let patched = d.patch.as_ref().is_some_and(|p| !p.0.is_empty());
            if patched {
                tracing::debug!(uid = %r.uid, kind = %r.gvk.kind, namespace = %r.namespace, name = %r.name, mutators = ?applied, "mutated");
            }
            (d, if patched { "patched" } else { "allowed" })
        }
        Err(e) => {
            tracing::error!(uid = %r.uid, kind = %r.gvk.kind, namespace = %r.namespace, name = %r.name, error = %e, "mutation failed");
            let d = Decision {
                allowed: false,
                code: 500,
                message: Some(format!("mutation failed: {e}")),
                ..Decision::default()
            };
            (d, "error")
        }
    };
    count(&state.metrics, "mutate", &decoded, label);
    let bytes = ReviewResponse::new(decoded.version, &r.uid, &answer).to_vec();
    state
        .metrics
        .duration
        .get_or_create(&EndpointLabels { endpoint: "mutate" })
        .observe(started.elapsed().as_secs_f64());
    json_response(bytes)
}

/// `GET /healthz`: the process serves requests.
pub(super) async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 once a policy set has loaded.
pub(super) async fn readyz(State(state): State<AppState>) -> Response {
    if state.store.is_loaded() {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "no policy set loaded yet").into_response()
    }
}

/// Unknown paths.
pub(super) async fn not_found() -> Response {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: "not found: the webhook serves POST /validate and POST /mutate".into(),
    }
    .into_response()
}

/// `GET /metrics`.
pub(super) async fn metrics(State(metrics): State<Arc<Metrics>>) -> Response {
    let mut resp = Response::new(Body::from(metrics.encode()));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    resp
}
