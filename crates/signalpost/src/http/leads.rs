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

use super::dto::LeadRequest;
use super::json::ApiJson;
use super::problem::ApiError;
use super::views::{IngestAnswer, LeadRecord};
use super::{AppState, Json, record_ingest};

/// Routes of this resource (authenticated by the caller's bearer layer).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/leads", post(post_lead))
        .route("/v1/leads/{transaction_id}", get(get_lead))
}

async fn post_lead(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<LeadRequest>,
) -> Result<Response, ApiError> {
    let valid = request.validate(&state.identifiers, now_secs())?;
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

async fn get_lead(
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
