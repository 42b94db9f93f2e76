//! `POST /v1/test-postback`: fires one event for a pixel now, with its token, and answers with
//! TikTok's reply and the exact body sent (see `ops::test_postback`). 200 whenever TikTok was asked —
//! a refusal is in `code`/`outcome`; 404 for an unknown pixel, 422 naming a bad field.

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use signalpost_gateway::time::now_secs;

use super::{AppState, Json};
use crate::ops::test_postback::{TestPostbackAnswer, TestPostbackRequest, fire};
use crate::wire::json::ApiJson;
use crate::wire::problem::ApiError;

/// Routes of this resource (authenticated by the caller's bearer layer).
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/test-postback", post(test_postback))
}

/// Fire one test event for a pixel and return TikTok's answer.
#[utoipa::path(
    post,
    path = "/v1/test-postback",
    tag = "operator",
    request_body = TestPostbackRequest,
    responses(
        (status = 200, description = "TikTok was asked; its answer (a refusal too) and the exact body sent", body = TestPostbackAnswer),
        (status = 404, description = "No such pixel", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid (event name, currency, lead)", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 400, description = "Body is not JSON, or not a JSON object", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or wrong API key", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body not sent as application/json", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn test_postback(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<TestPostbackRequest>,
) -> Result<Json<TestPostbackAnswer>, ApiError> {
    let rules = state.gateway.rules();
    let answer = fire(
        &state.pixels,
        &rules,
        &state.admin.destinations(),
        &state.identifier_policy(),
        request,
        now_secs(),
    )
    .await?;
    tracing::info!(
        pixel = %answer.pixel,
        code = ?answer.code,
        outcome = %answer.outcome,
        request_id = ?answer.request_id,
        "test postback sent"
    );
    Ok(Json(answer))
}
