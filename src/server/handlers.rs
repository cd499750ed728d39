//! HTTP handlers. Every well-formed review gets 200 with an AdmissionReview; malformed
//! input gets 400 (413 when too large or too complex, 408 when its body does not arrive)
//! with a JSON body saying what is wrong. A request refused before evaluation for want of
//! memory (429) or of an evaluation slot (503) is a failed call to the API server, which
//! applies the webhook's failure policy.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::gate::Refusal;
use super::lifecycle::Stage;
use super::AppState;
use crate::admission::{self, AdmissionError, AdmissionVersion, Decision, ReviewResponse};
use crate::deadline::Deadline;
use crate::decision::FailurePolicy;
use crate::metrics::{EndpointLabels, Metrics, RequestLabels, ShedLabels};
use crate::text;

/// After the deadline, how long the handler still waits for an evaluation to notice it
/// before answering without it.
const OVERRUN_GRACE: std::time::Duration = std::time::Duration::from_millis(200);

/// Which webhook a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Endpoint {
    Validate,
    Mutate,
}

impl Endpoint {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Endpoint::Validate => "validate",
            Endpoint::Mutate => "mutate",
        }
    }

    fn failure_policy(self, state: &AppState) -> FailurePolicy {
        match self {
            Endpoint::Validate => state.gate.limits.validate_failure_policy,
            Endpoint::Mutate => state.gate.limits.mutate_failure_policy,
        }
    }
}

/// A JSON error answer for input that is not a reviewable AdmissionReview.
pub(super) struct ApiError {
    pub(super) status: StatusCode,
    pub(super) message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.message, "code": self.status.as_u16()});
        let mut resp = (self.status, axum::Json(body)).into_response();
        if matches!(
            self.status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        ) {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}

pub(super) fn json_response(bytes: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(bytes));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// What the handler learns of a review as soon as it is decoded, so that it can still
/// answer in the review's own terms if evaluation overruns its deadline.
pub(super) struct Ident {
    pub(super) version: AdmissionVersion,
    pub(super) uid: String,
}

fn shed(metrics: &Metrics, endpoint: Endpoint, reason: &'static str, error: ApiError) -> Response {
    metrics
        .shed
        .get_or_create(&ShedLabels {
            endpoint: endpoint.as_str(),
            reason,
        })
        .inc();
    tracing::warn!(endpoint = endpoint.as_str(), reason, error = %error.message, "admission request refused");
    error.into_response()
}

fn refused(state: &AppState, endpoint: Endpoint, refusal: Refusal) -> Response {
    match refusal {
        Refusal::TooLarge { wanted, budget } => shed(
            &state.metrics,
            endpoint,
            "too_complex",
            ApiError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                message: format!(
                    "request too complex: decoding it would take about {} MiB, more than the \
                     in-flight memory budget of {} MiB",
                    wanted >> 20,
                    budget >> 20
                ),
            },
        ),
        Refusal::Timeout => shed(
            &state.metrics,
            endpoint,
            "memory",
            ApiError {
                status: StatusCode::TOO_MANY_REQUESTS,
                message: "too many requests in flight: memory budget full".into(),
            },
        ),
    }
}

/// Reserve memory, read the body, reserve for its decoded size, take an evaluation slot,
/// and judge on the blocking pool within the deadline.
pub(super) async fn admit(state: AppState, req: Request, endpoint: Endpoint) -> Response {
    let arrived = tokio::time::Instant::now();
    let limits = &state.gate.limits;
    let deadline = arrived + limits.eval_timeout;
    let max = limits.max_body;
    let too_large = || {
        ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!("request body exceeds the limit of {max} bytes"),
        }
        .into_response()
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return too_large();
    }
    let mut held = state.gate.reservation();
    if let Err(r) = state
        .gate
        .reserve(&mut held, declared.unwrap_or(max), deadline)
        .await
    {
        return refused(&state, endpoint, r);
    }
    let read = tokio::time::timeout(
        limits.body_read_timeout,
        axum::body::to_bytes(req.into_body(), max),
    )
    .await;
    let body = match read {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => return too_large(),
        Err(_) => {
            return ApiError {
                status: StatusCode::REQUEST_TIMEOUT,
                message: format!(
                    "request body not received within {} s",
                    limits.body_read_timeout.as_secs_f64()
                ),
            }
            .into_response()
        }
    };
    let size = admission::scan::measure(&body);
    let factor = state.store.load().conversion_factor();
    if let Err(r) = state
        .gate
        .reserve(
            &mut held,
            size.estimated_bytes.saturating_mul(factor),
            deadline,
        )
        .await
    {
        return refused(&state, endpoint, r);
    }
    state
        .metrics
        .inflight_bytes
        .set(i64::try_from(state.gate.in_flight()).unwrap_or(i64::MAX));
    let Some(slot) = state.gate.slot(deadline).await else {
        return shed(
            &state.metrics,
            endpoint,
            "busy",
            ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: "no evaluation slot free before the deadline".into(),
            },
        );
    };
    let (ident_tx, mut ident_rx) = tokio::sync::oneshot::channel();
    let job = {
        let state = state.clone();
        let deadline = Deadline::at(deadline.into_std());
        state.gate.clone().evaluate(move || {
            let answer = judge(&state, body, endpoint, deadline, ident_tx);
            drop(slot);
            drop(held);
            answer
        })
    };
    let outcome = tokio::time::timeout_at(deadline + OVERRUN_GRACE, job).await;
    state
        .metrics
        .inflight_bytes
        .set(i64::try_from(state.gate.in_flight()).unwrap_or(i64::MAX));
    match outcome {
        Ok(Ok(resp)) => resp,
        Ok(Err(join)) => {
            tracing::error!(endpoint = endpoint.as_str(), error = %join, "evaluation panicked");
            match ident_rx.try_recv() {
                Ok(ident) => unfinished(&state, endpoint, &ident, "internal error"),
                Err(_) => ApiError {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    message: "internal error".into(),
                }
                .into_response(),
            }
        }
        Err(_) => {
            state
                .metrics
                .deadline_exceeded
                .get_or_create(&EndpointLabels {
                    endpoint: endpoint.as_str(),
                })
                .inc();
            match ident_rx.try_recv() {
                Ok(ident) => unfinished(
                    &state,
                    endpoint,
                    &ident,
                    "evaluation did not finish within the deadline",
                ),
                Err(_) => ApiError {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    message: "request not decoded within the deadline".into(),
                }
                .into_response(),
            }
        }
    }
}

/// The answer to a review whose evaluation did not complete, by the failure policy.
fn unfinished(state: &AppState, endpoint: Endpoint, ident: &Ident, why: &str) -> Response {
    let policy = endpoint.failure_policy(state);
    tracing::warn!(uid = %text::field(&ident.uid), endpoint = endpoint.as_str(), policy = policy.as_str(), "{why}; answering by the failure policy");
    let line = format!("portcullis: {why}; failure policy {}", policy.as_str());
    let decision = match policy {
        FailurePolicy::Fail => Decision {
            allowed: false,
            code: 500,
            message: Some(line),
            ..Decision::default()
        },
        FailurePolicy::Ignore => Decision {
            warnings: vec![line],
            ..Decision::allow()
        },
    };
    json_response(ReviewResponse::new(ident.version, &ident.uid, &decision).to_vec())
}

/// Decode and judge one review; runs on the blocking pool.
fn judge(
    state: &AppState,
    body: Bytes,
    endpoint: Endpoint,
    deadline: Deadline,
    ident: tokio::sync::oneshot::Sender<Ident>,
) -> Response {
    let started = Instant::now();
    let decoded = match admission::decode(&body) {
        Ok(d) => d,
        Err(e) => return bad_request(&state.metrics, endpoint, e),
    };
    drop(body);
    let _ = ident.send(Ident {
        version: decoded.version,
        uid: decoded.review.uid.clone(),
    });
    let resp = match endpoint {
        Endpoint::Validate => super::judge::validate(state, decoded, deadline),
        Endpoint::Mutate => super::judge::mutate(state, decoded, deadline),
    };
    state
        .metrics
        .duration
        .get_or_create(&EndpointLabels {
            endpoint: endpoint.as_str(),
        })
        .observe(started.elapsed().as_secs_f64());
    resp
}

fn bad_request(metrics: &Metrics, endpoint: Endpoint, e: AdmissionError) -> Response {
    metrics
        .requests
        .get_or_create(&RequestLabels {
            endpoint: endpoint.as_str(),
            operation: "",
            kind: String::new(),
            decision: "bad_request",
        })
        .inc();
    let message = text::clip(&e.to_string(), text::MAX_FIELD_CHARS * 4).into_owned();
    tracing::warn!(endpoint = endpoint.as_str(), error = %message, "rejected malformed AdmissionReview");
    ApiError {
        status: StatusCode::BAD_REQUEST,
        message,
    }
    .into_response()
}

/// `POST /validate`.
pub(super) async fn validate(State(state): State<AppState>, req: Request) -> Response {
    admit(state, req, Endpoint::Validate).await
}

/// `POST /mutate`.
pub(super) async fn mutate(State(state): State<AppState>, req: Request) -> Response {
    admit(state, req, Endpoint::Mutate).await
}

/// `GET /healthz`: the process serves requests.
pub(super) async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 once a policy set has loaded, until shutdown begins.
pub(super) async fn readyz(State(state): State<AppState>) -> Response {
    if state.lifecycle.stage() != Stage::Serving {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response()
    } else if state.store.is_loaded() {
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
