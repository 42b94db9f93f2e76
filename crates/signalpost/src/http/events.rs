//! `POST /v1/leads/{transaction_id}/events`: a later step of a lead's life (sold, routed, an offer
//! clicked or converted, a custom step). Validated at the edge, stored with its conversions in one
//! commit; a repeated idempotency key (body field or `Idempotency-Key` header) returns the first
//! answer and queues nothing.

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use signalpost_gateway::time::now_secs;

use super::views::IngestAnswer;
use super::{AppState, Json, record_ingest};
use crate::wire::dto::{EventRequest, to_new_event, validate_transaction_id};
use crate::wire::json::ApiJson;
use crate::wire::problem::ApiError;

/// Routes of this resource (authenticated by the caller's bearer layer).
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/leads/{transaction_id}/events", post(post_event))
}

/// A later step of a lead's life (sold, routed, offer clicked or converted, custom). A repeated
/// idempotency key (body or `Idempotency-Key` header) returns the first answer and queues nothing.
#[utoipa::path(
    post,
    path = "/v1/leads/{transaction_id}/events",
    tag = "ingest",
    params(
        ("transaction_id" = String, Path, description = "The lead's transaction id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Same as the body's idempotency_key"),
    ),
    request_body = crate::wire::dto::EventRequest,
    responses(
        (status = 202, description = "Stored (or replayed); the conversions it queued, and under `warnings` every one TikTok would refuse (kept as `undeliverable`)", body = super::views::IngestAnswer),
        (status = 404, description = "No such lead; post the lead first", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid; `field` and `errors` name them. With `[server] strict_delivery`, also a conversion TikTok would refuse: `field` is its TikTok field (`page.url`)", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or wrong API key", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body not sent as application/json", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 400, description = "Body is not JSON, or not a JSON object", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Write queue full or disk full (both with Retry-After; nothing stored), or shutting down", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn post_event(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<EventRequest>,
) -> Result<Response, ApiError> {
    let Path(transaction_id) = path?;
    submit_event(&state, transaction_id, &headers, request).await
}

/// Validates and stores one lifecycle event; shared with the postback.
pub async fn submit_event(
    state: &AppState,
    transaction_id: String,
    headers: &HeaderMap,
    request: EventRequest,
) -> Result<Response, ApiError> {
    let transaction_id = validate_transaction_id(&transaction_id, "transaction_id")
        .map_err(|e| ApiError::Invalid(vec![e]))?;
    let header_key = idempotency_header(headers)?;
    let valid = request.validate(header_key.as_deref(), now_secs())?;
    let result = state
        .gateway
        .submit_event(&transaction_id, to_new_event(valid))
        .await?;
    let replayed = !result.event_created;
    if !replayed {
        record_ingest(&result);
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(IngestAnswer::new(&result, replayed)),
    )
        .into_response())
}

/// The `Idempotency-Key` header, if sent; a header that is not text is a 422 naming it.
pub fn idempotency_header(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => v.to_str().map(|s| Some(s.to_owned())).map_err(|_| {
            ApiError::invalid(
                "idempotency_key",
                "the Idempotency-Key header must be visible ASCII",
            )
        }),
    }
}
