//! The sandbox's own endpoints: received events, stats, faults and pixels. Never subject to faults or
//! rate limits. Bad input gets a 400 with `{"error": "..."}` naming what is wrong.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::fault_body::parse_fault;
use super::json_error;
use crate::Sandbox;
use crate::store::{Destination, EventList};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventsQuery {
    pixel: Option<String>,
    /// `tiktok`, `meta` or `google_ads`.
    destination: Option<String>,
}

#[derive(Serialize)]
struct EventsBody {
    events: EventList,
}

/// `GET /sandbox/events[?pixel=CODE][&destination=tiktok|meta|google_ads]`.
pub(crate) async fn events(
    State(sandbox): State<Sandbox>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Response {
    let Query(query) = match query {
        Ok(q) => q,
        Err(rejection) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                format!(
                    "bad query: {}; the parameters are pixel=CODE and destination=tiktok|meta|google_ads",
                    rejection.body_text()
                ),
            );
        }
    };
    let destination = match query.destination.as_deref().map(Destination::parse) {
        None => None,
        Some(Some(destination)) => Some(destination),
        Some(None) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "bad query: destination must be tiktok, meta or google_ads",
            );
        }
    };
    let snapshot = sandbox
        .store()
        .snapshot(query.pixel.as_deref(), destination);
    // Serialized outside the lock: only the Arcs were copied under it.
    Json(EventsBody {
        events: EventList(snapshot),
    })
    .into_response()
}

/// `DELETE /sandbox/events`: forget events, dedup index and counters.
pub(crate) async fn clear_events(State(sandbox): State<Sandbox>) -> Response {
    let cleared = sandbox.clear();
    Json(json!({ "cleared_events": cleared })).into_response()
}

/// `GET /sandbox/stats`.
pub(crate) async fn stats(State(sandbox): State<Sandbox>) -> Response {
    Json(sandbox.stats()).into_response()
}

/// `POST /sandbox/faults` with `{"kind":K,"count":N}` or `{"kind":K,"seconds":S}` (see
/// [`parse_fault`] for `slow`).
pub(crate) async fn inject_fault(State(sandbox): State<Sandbox>, body: Bytes) -> Response {
    match parse_fault(&body) {
        Ok(fault) => (
            StatusCode::CREATED,
            Json(json!({ "fault": sandbox.inject(fault) })),
        )
            .into_response(),
        Err(message) => json_error(StatusCode::BAD_REQUEST, message),
    }
}

/// `GET /sandbox/faults`: active faults.
pub(crate) async fn faults(State(sandbox): State<Sandbox>) -> Response {
    Json(json!({ "faults": sandbox.faults() })).into_response()
}

/// `DELETE /sandbox/faults`.
pub(crate) async fn clear_faults(State(sandbox): State<Sandbox>) -> Response {
    sandbox.clear_faults();
    Json(json!({ "faults": [] })).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PixelRequest {
    code: String,
    token: String,
    /// `tiktok` (default), `meta` or `google_ads`.
    destination: Option<String>,
}

/// `POST /sandbox/pixels` with `{"code","token"[,"destination":"meta"|"google_ads"]}`: token
/// rotation (or a new pixel) of a TikTok pixel, of a Meta pixel (`code` is then the pixel id), or
/// of a Google Ads customer (`code` the customer id, `token` its developer token).
pub(crate) async fn set_pixel(State(sandbox): State<Sandbox>, body: Bytes) -> Response {
    let request: PixelRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(err) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                format!(
                    "invalid pixel: {err}; expected {{\"code\": C, \"token\": T, \"destination\": \"tiktok\"|\"meta\"|\"google_ads\"}}"
                ),
            );
        }
    };
    let set = match request.destination.as_deref() {
        None | Some("tiktok") => sandbox.set_token(&request.code, &request.token),
        Some("meta") => sandbox.set_meta_token(&request.code, &request.token),
        Some("google_ads") => sandbox.set_google_ads_customer(&request.code, &request.token),
        Some(_) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "invalid pixel: destination must be tiktok, meta or google_ads",
            );
        }
    };
    match set {
        Ok(()) => Json(json!({ "pixel": request.code })).into_response(),
        Err(err) => json_error(StatusCode::BAD_REQUEST, err.to_string()),
    }
}

/// `GET /sandbox/pixels`: codes (TikTok), ids (Meta) and customer ids (Google Ads) only, never
/// tokens.
pub(crate) async fn pixels(State(sandbox): State<Sandbox>) -> Response {
    Json(json!({
        "pixels": sandbox.pixels(),
        "meta_pixels": sandbox.meta_pixels(),
        "google_ads_customers": sandbox.google_ads_customers(),
    }))
    .into_response()
}
