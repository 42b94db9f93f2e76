//! The one error type of the HTTP boundary and its RFC 9457 `application/problem+json` rendering.
//!
//! Every answer that is not a success goes through [`ApiError`], so a client always gets the same
//! shape: `type`, `title`, `status`, `detail`, the JSON path at fault in `field`, and, when several
//! fields are wrong at once, all of them in `errors`. Bad input is never a 500; a 500 never carries
//! internals (they go to the log, the body only says "internal error").

use axum::extract::rejection::PathRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use signalpost_gateway::GatewayError;
use signalpost_gateway::store::StoreError;

/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One field that failed validation: its JSON path (`email`, `items[3].occurred_at`) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub detail: String,
}

impl FieldError {
    /// A field error at `field` saying `detail`.
    pub fn new(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            detail: detail.into(),
        }
    }

    /// The same error seen from an enclosing path (`occurred_at` under `items[3]`).
    pub fn under(mut self, prefix: &str) -> Self {
        self.field = join_path(prefix, &self.field);
        self
    }
}

/// Joins a prefix and a JSON path: `items[3]` + `email` → `items[3].email`; `items` + `[3]` →
/// `items[3]`; an empty side is dropped.
pub fn join_path(prefix: &str, path: &str) -> String {
    match (prefix.is_empty(), path.is_empty()) {
        (true, _) => path.to_owned(),
        (_, true) => prefix.to_owned(),
        _ if path.starts_with('[') => format!("{prefix}{path}"),
        _ => format!("{prefix}.{path}"),
    }
}

/// Everything the API can answer besides success. Each variant maps to one status and problem type.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON at all (syntax error, truncated). 400.
    #[error("malformed JSON: {detail}")]
    MalformedJson {
        detail: String,
        field: Option<String>,
    },
    /// One or more fields have the wrong type or an invalid value. 422.
    #[error("invalid request: {}", .0.first().map(|e| e.detail.as_str()).unwrap_or(""))]
    Invalid(Vec<FieldError>),
    /// A request unusable as a whole: a body that is JSON but not an object, a bad path segment or
    /// query string. 400.
    #[error("bad request: {detail}")]
    BadRequest {
        detail: String,
        field: Option<String>,
    },
    /// The body is not declared as JSON. 415.
    #[error("unsupported media type")]
    UnsupportedMediaType { found: Option<String> },
    /// The body is larger than the endpoint accepts. 413.
    #[error("request body too large")]
    PayloadTooLarge { limit_bytes: Option<usize> },
    /// No key, or a key that is not configured. 401 with `WWW-Authenticate: Bearer`.
    #[error("unauthorized: {detail}")]
    Unauthorized { detail: &'static str, bad_key: bool },
    /// A valid key whose scope does not allow the route (an ingest key on an admin route). 403.
    #[error("forbidden: {detail}")]
    Forbidden { detail: &'static str },
    /// A resource that does not exist (e.g. an unknown lead). 404.
    #[error("{detail}")]
    NotFound { detail: String },
    /// The URL matches no route. 404.
    #[error("no such route")]
    RouteNotFound { path: String },
    /// The route exists but not with this method. 405.
    #[error("method not allowed")]
    MethodNotAllowed { method: String },
    /// The same idempotency key was used for a different request. 409.
    #[error("conflict: {detail}")]
    Conflict {
        detail: String,
        field: Option<String>,
    },
    /// The writer's queue is full; the client should retry. 503 with `Retry-After`.
    #[error("overloaded")]
    Overloaded { retry_after_secs: u32 },
    /// The disk is full: nothing was written. 503 with `Retry-After` (the client keeps the lead and
    /// retries; freeing space is the operator's job, and the writer logs it).
    #[error("insufficient storage")]
    InsufficientStorage,
    /// The key made more requests than `[limits]` allows it. 429 with `Retry-After`.
    #[error("rate limited")]
    RateLimited { retry_after_secs: u32 },
    /// The node already handles `limits.max_concurrent_requests` requests. 503 with `Retry-After`.
    #[error("busy")]
    Busy { retry_after_secs: u32 },
    /// The request was not answered within `limits.request_timeout_secs`. 503.
    #[error("timed out")]
    TimedOut { after_secs: u64 },
    /// A dependency (the store) does not answer. 503.
    #[error("unavailable: {detail}")]
    Unavailable { detail: String },
    /// A bug or an I/O failure on our side. The message is logged, never sent. 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A single-field validation error (422).
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError::Invalid(vec![FieldError::new(field, detail)])
    }

    /// An internal error; `context` is logged when the response is built, never sent.
    pub fn internal(context: impl std::fmt::Display) -> Self {
        ApiError::Internal(context.to_string())
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson { .. } | ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } | ApiError::RouteNotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Overloaded { .. }
            | ApiError::Busy { .. }
            | ApiError::TimedOut { .. }
            | ApiError::Unavailable { .. }
            | ApiError::InsufficientStorage => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The same error seen from an enclosing path: every field it names moves under `prefix`
    /// (`email` → `items[3].lead.email`); an error naming no field now names `prefix`.
    pub fn under(self, prefix: &str) -> Self {
        let move_field =
            |field: Option<String>| Some(join_path(prefix, field.as_deref().unwrap_or("")));
        match self {
            ApiError::Invalid(errors) => {
                ApiError::Invalid(errors.into_iter().map(|e| e.under(prefix)).collect())
            }
            ApiError::MalformedJson { detail, field } => ApiError::MalformedJson {
                detail,
                field: move_field(field),
            },
            ApiError::BadRequest { detail, field } => ApiError::BadRequest {
                detail,
                field: move_field(field),
            },
            ApiError::Conflict { detail, field } => ApiError::Conflict {
                detail,
                field: move_field(field),
            },
            other => other,
        }
    }

    /// The problem body (also used for per-item errors inside a batch answer).
    pub fn problem(&self) -> Problem {
        let status = self.status().as_u16();
        let (slug, title, detail, field, errors): (_, _, String, Option<String>, Vec<FieldError>) =
            match self {
                ApiError::MalformedJson { detail, field } => (
                    "malformed-json",
                    "Malformed JSON",
                    format!("the request body is not valid JSON: {detail}"),
                    field.clone(),
                    Vec::new(),
                ),
                ApiError::Invalid(errors) => {
                    let first = errors.first();
                    let detail = match errors.len() {
                        0 | 1 => first.map(|e| e.detail.clone()).unwrap_or_default(),
                        n => format!(
                            "{} (and {} more invalid field{})",
                            first.map(|e| e.detail.as_str()).unwrap_or_default(),
                            n - 1,
                            if n == 2 { "" } else { "s" }
                        ),
                    };
                    (
                        "invalid-field",
                        "Invalid field",
                        detail,
                        first.map(|e| e.field.clone()),
                        errors.clone(),
                    )
                }
                ApiError::BadRequest { detail, field } => (
                    "bad-request",
                    "Bad request",
                    detail.clone(),
                    field.clone(),
                    Vec::new(),
                ),
                ApiError::UnsupportedMediaType { found } => (
                    "unsupported-media-type",
                    "Unsupported media type",
                    match found {
                        Some(found) => format!(
                            "the body must be sent with Content-Type: application/json (got {found:?})"
                        ),
                        None => "the body must be sent with Content-Type: application/json (no Content-Type header was sent)".to_owned(),
                    },
                    None,
                    Vec::new(),
                ),
                ApiError::PayloadTooLarge { limit_bytes } => (
                    "payload-too-large",
                    "Payload too large",
                    match limit_bytes {
                        Some(limit) => format!(
                            "the request body is larger than this endpoint accepts ({})",
                            human_bytes(*limit)
                        ),
                        None => format!(
                            "the request body is larger than this endpoint accepts ({}; {} for /v1/batch)",
                            human_bytes(super::json::SINGLE_BODY_LIMIT),
                            human_bytes(super::json::BATCH_BODY_LIMIT)
                        ),
                    },
                    None,
                    Vec::new(),
                ),
                ApiError::Unauthorized { detail, .. } => (
                    "unauthorized",
                    "Unauthorized",
                    (*detail).to_owned(),
                    None,
                    Vec::new(),
                ),
                ApiError::Forbidden { detail } => (
                    "forbidden",
                    "Forbidden",
                    (*detail).to_owned(),
                    None,
                    Vec::new(),
                ),
                ApiError::NotFound { detail } => {
                    ("not-found", "Not found", detail.clone(), None, Vec::new())
                }
                ApiError::RouteNotFound { path } => (
                    "no-such-route",
                    "Not found",
                    format!("no route matches {path:?}; see GET /openapi.json for the API"),
                    None,
                    Vec::new(),
                ),
                ApiError::MethodNotAllowed { method } => (
                    "method-not-allowed",
                    "Method not allowed",
                    format!("this route does not accept {method}; the Allow header lists the methods it does"),
                    None,
                    Vec::new(),
                ),
                ApiError::Conflict { detail, field } => (
                    "conflict",
                    "Conflict",
                    detail.clone(),
                    field.clone(),
                    Vec::new(),
                ),
                ApiError::Overloaded { retry_after_secs } => (
                    "overloaded",
                    "Overloaded",
                    format!("the write queue is full; retry after {retry_after_secs} s (nothing was stored)"),
                    None,
                    Vec::new(),
                ),
                ApiError::RateLimited { retry_after_secs } => (
                    "rate-limited",
                    "Too many requests",
                    format!("this API key sent more requests than [limits] allows; retry after {retry_after_secs} s (nothing was done)"),
                    None,
                    Vec::new(),
                ),
                ApiError::Busy { retry_after_secs } => (
                    "busy",
                    "Busy",
                    format!("the server is handling as many requests as it allows at once; retry after {retry_after_secs} s (nothing was done)"),
                    None,
                    Vec::new(),
                ),
                ApiError::TimedOut { after_secs } => (
                    "timed-out",
                    "Timed out",
                    format!("the request was not answered within {after_secs} s; repeating it is safe (transaction ids and idempotency keys deduplicate)"),
                    None,
                    Vec::new(),
                ),
                ApiError::Unavailable { detail } => (
                    "unavailable",
                    "Service unavailable",
                    detail.clone(),
                    None,
                    Vec::new(),
                ),
                ApiError::InsufficientStorage => (
                    "insufficient-storage",
                    "Insufficient storage",
                    "the server's disk is full; nothing was stored, retry later".to_owned(),
                    None,
                    Vec::new(),
                ),
                ApiError::Internal(_) => (
                    "internal",
                    "Internal error",
                    "an internal error occurred; it has been logged".to_owned(),
                    None,
                    Vec::new(),
                ),
            };
        Problem {
            kind: format!("urn:signalpost:problem:{slug}"),
            title,
            status,
            detail,
            field,
            errors,
        }
    }
}

fn human_bytes(n: usize) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A stable URN per kind of problem, e.g. `urn:signalpost:problem:invalid-field`.
    #[serde(rename = "type")]
    pub kind: String,
    #[schema(value_type = String)]
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// JSON path of the first field at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every field at fault, when the request had more than one problem.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// `Retry-After` when the disk is full: freeing space takes an operator, not a second.
const DISK_FULL_RETRY_SECS: u32 = 30;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(context) = &self {
            tracing::error!(error = %context, "internal error answering a request");
        }
        let status = self.status();
        let body = serde_json::to_vec(&self.problem()).unwrap_or_else(|_| {
            br#"{"type":"urn:signalpost:problem:internal","title":"Internal error","status":500}"#
                .to_vec()
        });
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        match &self {
            ApiError::Unauthorized { bad_key, .. } => {
                let challenge = if *bad_key {
                    r#"Bearer realm="signalpost", error="invalid_token""#
                } else {
                    r#"Bearer realm="signalpost""#
                };
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                );
            }
            ApiError::Overloaded { retry_after_secs }
            | ApiError::RateLimited { retry_after_secs }
            | ApiError::Busy { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            ApiError::InsufficientStorage => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(DISK_FULL_RETRY_SECS));
            }
            _ => {}
        }
        response
    }
}

impl From<GatewayError> for ApiError {
    fn from(e: GatewayError) -> Self {
        match e {
            GatewayError::InvalidField { field, problem } => ApiError::invalid(field, problem),
            // strict_delivery: each conversion TikTok would refuse names its TikTok field
            // (`page.url`), the rule, pixel and event, and what to do.
            GatewayError::Undeliverable(refused) => ApiError::Invalid(
                refused
                    .iter()
                    .map(|r| {
                        FieldError::new(
                            r.field.clone(),
                            format!(
                                "{} (rule {:?}, pixel {}, event {}; [server] strict_delivery refuses the request)",
                                r.problem, r.rule, r.pixel, r.event
                            ),
                        )
                    })
                    .collect(),
            ),
            GatewayError::LeadNotFound(id) => ApiError::NotFound {
                detail: format!("no lead with transaction_id {id:?}; post the lead first"),
            },
            GatewayError::Store(store) => store.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Backpressure { retry_after } => ApiError::Overloaded {
                retry_after_secs: u32::try_from(retry_after.as_secs().max(1)).unwrap_or(u32::MAX),
            },
            StoreError::LeadNotFound(id) => ApiError::NotFound {
                detail: format!("no lead with transaction_id {id:?}; post the lead first"),
            },
            StoreError::DiskFull(_) => ApiError::InsufficientStorage,
            StoreError::Busy(_) => ApiError::Overloaded {
                retry_after_secs: 1,
            },
            StoreError::Closed => ApiError::Unavailable {
                detail: "the server is shutting down; retry shortly".into(),
            },
            StoreError::Conflict(message) => {
                tracing::warn!(error = %message, "store conflict");
                ApiError::Conflict {
                    detail:
                        "the request conflicts with a concurrent one with the same key; retry it"
                            .into(),
                    field: None,
                }
            }
            other @ (StoreError::Io(_) | StoreError::Corrupt(_) | StoreError::SchemaTooNew(_)) => {
                ApiError::internal(other)
            }
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::BadRequest {
            detail: format!("the URL path is not valid: {}", rejection.body_text()),
            field: Some("transaction_id".into()),
        }
    }
}

/// Answer of the router's fallback: every unknown URL is a problem+json 404.
pub async fn route_not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::RouteNotFound {
        path: uri.path().to_owned(),
    }
}

/// Answer for a known route called with the wrong method (axum adds the `Allow` header).
pub async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
    }
}

/// Turns a caught panic into a problem 500 that reveals nothing about the panic.
pub fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::Internal("a request handler panicked".into()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_paths_like_a_json_pointer_reader_expects() {
        assert_eq!(join_path("", "email"), "email");
        assert_eq!(join_path("items[3]", "occurred_at"), "items[3].occurred_at");
        assert_eq!(join_path("items", "[3]"), "items[3]");
        assert_eq!(join_path("items[3]", ""), "items[3]");
    }

    #[test]
    fn every_variant_has_a_status_and_a_stable_type() {
        let cases = [
            (
                ApiError::MalformedJson {
                    detail: "x".into(),
                    field: None,
                },
                400,
                "malformed-json",
            ),
            (ApiError::invalid("email", "bad"), 422, "invalid-field"),
            (
                ApiError::UnsupportedMediaType { found: None },
                415,
                "unsupported-media-type",
            ),
            (
                ApiError::PayloadTooLarge {
                    limit_bytes: Some(1 << 20),
                },
                413,
                "payload-too-large",
            ),
            (
                ApiError::Unauthorized {
                    detail: "no key",
                    bad_key: false,
                },
                401,
                "unauthorized",
            ),
            (
                ApiError::NotFound {
                    detail: "no lead".into(),
                },
                404,
                "not-found",
            ),
            (
                ApiError::Overloaded {
                    retry_after_secs: 1,
                },
                503,
                "overloaded",
            ),
            (ApiError::internal("db on fire"), 500, "internal"),
        ];
        for (err, status, slug) in cases {
            let problem = err.problem();
            assert_eq!(problem.status, status, "{err:?}");
            assert_eq!(problem.kind, format!("urn:signalpost:problem:{slug}"));
        }
    }

    #[test]
    fn internal_error_detail_never_contains_the_cause() {
        let problem = ApiError::internal("sqlite: disk I/O error at /secret/path").problem();
        assert!(!problem.detail.contains("secret"), "{}", problem.detail);
    }

    #[test]
    fn several_invalid_fields_are_all_listed_and_the_first_is_named() {
        let problem = ApiError::Invalid(vec![
            FieldError::new("email", "not an email"),
            FieldError::new("currency", "not a currency"),
        ])
        .problem();
        assert_eq!(problem.field.as_deref(), Some("email"));
        assert_eq!(problem.errors.len(), 2);
        assert!(problem.detail.contains("1 more"), "{}", problem.detail);
        let json = serde_json::to_value(&problem).unwrap();
        assert_eq!(json["type"], "urn:signalpost:problem:invalid-field");
    }

    #[test]
    fn store_backpressure_and_disk_full_are_503_with_retry_after() {
        let err: ApiError = GatewayError::Store(StoreError::Backpressure {
            retry_after: std::time::Duration::from_millis(200),
        })
        .into();
        let response = err.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let full = ApiError::from(StoreError::DiskFull("SQLITE_FULL".into())).into_response();
        assert_eq!(full.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(full.headers()[header::RETRY_AFTER], "30");
        assert_eq!(full.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let lost: ApiError = GatewayError::LeadNotFound("t-9".into()).into();
        assert_eq!(lost.status(), StatusCode::NOT_FOUND);
        let io: ApiError = StoreError::Io("disk I/O error at /srv/db".into()).into();
        assert!(!io.problem().detail.contains("/srv"));
    }

    #[test]
    fn payload_limit_is_shown_in_mebibytes() {
        assert_eq!(human_bytes(16 << 20), "16 MiB");
        assert_eq!(human_bytes(1500), "1500 bytes");
    }
}
