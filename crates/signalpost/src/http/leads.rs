//! `POST /v1/leads` (a form submission: fires `form_submit`) and `GET /v1/leads/{transaction_id}`
//! (the lead record with every conversion and delivery attempt). Re-posting a `transaction_id` is
//! idempotent: the first answer comes back with `replayed: true` and nothing is queued twice.

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use signalpost_gateway::time::now_secs;

use super::views::{IngestAnswer, LeadRecord};
use super::{AppState, Json, record_ingest};
use crate::wire::dto::LeadRequest;
use crate::wire::json::ApiJson;
use crate::wire::problem::ApiError;

/// Routes of this resource (authenticated by the caller's bearer layer).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/leads", post(post_lead))
        .route("/v1/leads/{transaction_id}", get(get_lead))
}

/// A form submission: stores the lead (identifiers hashed), fires `form_submit`, queues its
/// conversions. Re-posting a transaction_id returns the first answer with `replayed: true`.
#[utoipa::path(
    post,
    path = "/v1/leads",
    tag = "ingest",
    request_body = crate::wire::dto::LeadRequest,
    responses(
        (status = 202, description = "Stored (or replayed); the conversions it queued, and under `warnings` every one TikTok would refuse (kept as `undeliverable`)", body = IngestAnswer),
        (status = 422, description = "A field is invalid; `field` and `errors` name them. With `[server] strict_delivery`, also a conversion TikTok would refuse: `field` is its TikTok field (`page.url`)", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or wrong API key", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body not sent as application/json", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 400, description = "Body is not JSON, or not a JSON object", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Write queue full or disk full (both with Retry-After; nothing stored), or shutting down", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn post_lead(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<LeadRequest>,
) -> Result<Response, ApiError> {
    let valid = request.validate(&state.identifier_policy(), now_secs())?;
    let result = state.gateway.submit_lead(valid).await?;
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

/// The lead with its lifecycle events, conversions and every delivery attempt (TikTok's code,
/// message and request_id).
#[utoipa::path(
    get,
    path = "/v1/leads/{transaction_id}",
    tag = "ingest",
    params(("transaction_id" = String, Path, description = "The lead's transaction id")),
    responses(
        (status = 200, description = "The lead record", body = LeadRecord),
        (status = 404, description = "No such lead", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or wrong API key", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn get_lead(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<LeadRecord>, ApiError> {
    let Path(transaction_id) = path?;
    match state.gateway.get_lead(&transaction_id).await? {
        Some(view) => Ok(Json(view.into())),
        None => Err(ApiError::NotFound {
            detail: format!("no lead with transaction_id {transaction_id:?}"),
        }),
    }
}
