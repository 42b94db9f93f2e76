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
use signalpost_gateway::domain::{NewLifecycleEvent, Trigger};
use signalpost_gateway::time::now_secs;

use super::dto::{EventRequest, EventType, ValidEvent, validate_transaction_id};
use super::json::ApiJson;
use super::problem::ApiError;
use super::views::IngestAnswer;
use super::{AppState, Json, record_ingest};

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
    request_body = super::dto::EventRequest,
    responses(
        (status = 202, description = "Stored (or replayed); the conversions it queued, and under `warnings` every one TikTok would refuse (kept as `undeliverable`)", body = super::views::IngestAnswer),
        (status = 404, description = "No such lead; post the lead first", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid; `field` and `errors` name them. With `[server] strict_delivery`, also a conversion TikTok would refuse: `field` is its TikTok field (`page.url`)", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or wrong API key", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body not sent as application/json", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 400, description = "Body is not JSON, or not a JSON object", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Write queue full or disk full (both with Retry-After; nothing stored), or shutting down", body = super::problem::Problem, content_type = "application/problem+json"),
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

/// The gateway's input for a validated event.
pub fn to_new_event(valid: ValidEvent) -> NewLifecycleEvent {
    NewLifecycleEvent {
        trigger: trigger_of(valid.kind),
        name: valid.name,
        buyer: valid.buyer,
        offer: valid.offer,
        revenue: valid.revenue,
        payout: valid.payout,
        currency: valid.currency.map(|c| c.as_str().to_owned()),
        occurred_at: Some(valid.occurred_at),
        idempotency_key: valid.idempotency_key,
    }
}

fn trigger_of(kind: EventType) -> Trigger {
    match kind {
        EventType::LeadSold => Trigger::LeadSold,
        EventType::OfferClick => Trigger::OfferClick,
        EventType::OfferConversion => Trigger::OfferConversion,
        EventType::BuyerRouted => Trigger::BuyerRouted,
        EventType::Custom => Trigger::Custom,
    }
}
