//! `POST /v1/replay`: re-queues dead or paused conversions with their original event_id (see
//! `ops::replay` and `Gateway::replay`). Replaying paused conversions also resumes their paused
//! pixels: the operator is saying the token or permission problem is fixed.

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use signalpost_gateway::delivery::PixelState;
use signalpost_gateway::replay::DEFAULT_REPLAY_CHUNK;
use signalpost_gateway::store::ReplayFrom;
use signalpost_gateway::time::now_ms;

use super::{AppState, Json};
use crate::ops::replay::{ReplayAnswer, ReplayRequest};
use crate::wire::json::ApiJson;
use crate::wire::problem::ApiError;

/// Routes of this resource (authenticated by the caller's bearer layer).
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/replay", post(post_replay))
}

/// Re-queue dead or paused conversions (original event_id and payload, attempt log kept).
#[utoipa::path(
    post,
    path = "/v1/replay",
    tag = "operator",
    request_body = ReplayRequest,
    responses(
        (status = 200, description = "How many matched and were re-queued", body = ReplayAnswer),
        (status = 422, description = "A field is invalid (state, pixel, since, transaction_id)", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 400, description = "Body is not JSON, or not a JSON object", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or wrong API key", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 1 MiB", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body not sent as application/json", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn post_replay(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ReplayRequest>,
) -> Result<Json<ReplayAnswer>, ApiError> {
    let filter = request.filter(&state.pixels, now_ms())?;
    let totals = state
        .gateway
        .replay(&filter, request.dry_run, DEFAULT_REPLAY_CHUNK, |_| {})
        .await?;
    let mut resumed_pixels = Vec::new();
    if !request.dry_run && totals.requeued > 0 {
        let codes = match &filter.pixel {
            Some(code) => vec![code.clone()],
            None => state.pixels.codes(),
        };
        for code in codes {
            let paused = state
                .pixels
                .get(&code)
                .is_some_and(|p| matches!(p.state, PixelState::Paused { .. }));
            if filter.from == ReplayFrom::Paused && paused && state.pixels.resume(&code) {
                resumed_pixels.push(code.clone());
            }
            state.gateway.wake_pixel(&code);
        }
        tracing::info!(
            state = filter.from.as_str(),
            requeued = totals.requeued,
            resumed = ?resumed_pixels,
            "replay re-queued conversions"
        );
    }
    Ok(Json(ReplayAnswer {
        state: filter.from.as_str().to_owned(),
        matched: totals.matched,
        requeued: totals.requeued,
        dry_run: request.dry_run,
        resumed_pixels,
    }))
}
