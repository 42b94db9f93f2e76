//! The sandbox's HTTP surface: TikTok's track endpoints (2.0 and legacy 1.0), Meta's events
//! endpoint (its handlers live in `crate::meta`), Google's token and upload endpoints (in
//! `crate::google_ads`) and the `/sandbox/` inspection and control endpoints. Owns routing and the JSON error shape of inspection endpoints.

mod fault_body;
pub(crate) mod gate;
mod inspect;
mod legacy;
mod track;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};

use crate::Sandbox;

/// Largest body accepted. TikTok documents no byte limit; 1,000 rich events fit well within this.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// 2.0 track path (TikTok: "keep the trailing slash").
pub(crate) const TRACK: &str = "/open_api/v1.3/event/track/";
/// Legacy 1.0 single-event path.
pub(crate) const PIXEL_TRACK: &str = "/open_api/v1.3/pixel/track/";
/// Legacy 1.0 batch path.
pub(crate) const PIXEL_BATCH: &str = "/open_api/v1.3/pixel/batch/";

pub(crate) fn router(sandbox: Sandbox) -> Router {
    Router::new()
        .route(TRACK, post(track::handle))
        .route(PIXEL_TRACK, post(legacy::track))
        .route(PIXEL_BATCH, post(legacy::batch))
        .route(crate::meta::EVENTS, post(crate::meta::events::handle))
        .route(
            crate::google_ads::TOKEN,
            post(crate::google_ads::token::handle),
        )
        .route(
            crate::google_ads::UPLOAD,
            post(crate::google_ads::upload::handle),
        )
        .route(TRACK.trim_end_matches('/'), any(missing_slash))
        .route(PIXEL_TRACK.trim_end_matches('/'), any(missing_slash))
        .route(PIXEL_BATCH.trim_end_matches('/'), any(missing_slash))
        .route(
            "/sandbox/events",
            get(inspect::events).delete(inspect::clear_events),
        )
        .route("/sandbox/stats", get(inspect::stats))
        .route(
            "/sandbox/faults",
            get(inspect::faults)
                .post(inspect::inject_fault)
                .delete(inspect::clear_faults),
        )
        .route(
            "/sandbox/pixels",
            get(inspect::pixels).post(inspect::set_pixel),
        )
        .route(
            "/sandbox/google-ads",
            get(crate::google_ads::control::summary),
        )
        .route(
            "/sandbox/google-ads/clicks",
            post(crate::google_ads::control::set_click)
                .delete(crate::google_ads::control::clear_clicks),
        )
        .route(
            "/sandbox/google-ads/refresh-tokens",
            post(crate::google_ads::control::set_refresh_token),
        )
        .route(
            "/sandbox/google-ads/expire-access-tokens",
            post(crate::google_ads::control::expire_access_tokens),
        )
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(sandbox)
}

/// TikTok's paths end with a slash; a client that drops it is told so instead of silently passing.
async fn missing_slash(uri: Uri) -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        format!(
            "no route for {}: TikTok's Events API paths end with a slash; use {}/",
            uri.path(),
            uri.path()
        ),
    )
}

async fn not_found(method: Method, uri: Uri) -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        format!("no route for {method} {}", uri.path()),
    )
}

/// The error shape of the sandbox's own endpoints: `{"error": "..."}` with a 4xx status.
pub(crate) fn json_error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "error": message.into() })),
    )
        .into_response()
}
