//! `POST /v1/preview`: the rules' dry run — every rule matched or not and why, and the exact TikTok
//! JSON of each conversion (see `ops::preview`). Nothing is stored or sent.

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use signalpost_gateway::time::now_secs;

use super::{AppState, Json};
use crate::ops::preview::{PreviewAnswer, PreviewRequest, preview};
use crate::wire::json::ApiJson;
use crate::wire::problem::ApiError;

/// Routes of this resource (authenticated by the caller's bearer layer).
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/preview", post(post_preview))
}

/// What the rules would do with a lead and one of its lifecycle events.
#[utoipa::path(
    post,
    path = "/v1/preview",
    tag = "operator",
    request_body = PreviewRequest,
    responses(
        (status = 200, description = "Every rule's verdict and the TikTok JSON of each conversion", body = PreviewAnswer),
        (status = 404, description = "transaction_id names no stored lead", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 400, description = "Body is not JSON, or not a JSON object", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or wrong API key", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body not sent as application/json", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn post_preview(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<PreviewRequest>,
) -> Result<Json<PreviewAnswer>, ApiError> {
    let answer = preview(
        &state.gateway,
        &state.pixels,
        &state.identifier_policy(),
        request,
        now_secs(),
    )
    .await?;
    Ok(Json(answer))
}
