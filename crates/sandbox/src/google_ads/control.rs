//! The Google Ads sandbox's own endpoints under `/sandbox/google-ads`: clicks to treat specially,
//! revoked refresh tokens, expiring every access token, and a summary. Never subject to faults or
//! rate limits; bad input gets a 400 with `{"error": "..."}` naming what is wrong, like the other
//! `/sandbox/` endpoints. Tokens are never echoed.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::state::ClickState;
use crate::Sandbox;
use crate::http::json_error;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClickRequest {
    gclid: String,
    /// `not_found`, `too_recent` or `normal`.
    state: String,
}

/// `POST /sandbox/google-ads/clicks` with `{"gclid": G, "state": "not_found"|"too_recent"|"normal"}`.
pub(crate) async fn set_click(State(sandbox): State<Sandbox>, body: Bytes) -> Response {
    let request: ClickRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(err) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                format!(
                    "invalid click: {err}; expected {{\"gclid\": G, \"state\": \"not_found\"|\"too_recent\"|\"normal\"}}"
                ),
            );
        }
    };
    let Some(state) = ClickState::parse(&request.state) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "invalid click: state must be not_found, too_recent or normal",
        );
    };
    if request.gclid.is_empty() || request.gclid.len() > 512 {
        return json_error(
            StatusCode::BAD_REQUEST,
            "invalid click: gclid must be 1 to 512 bytes",
        );
    }
    sandbox.set_google_ads_click(&request.gclid, state);
    Json(json!({ "gclid": request.gclid, "state": state })).into_response()
}

/// `DELETE /sandbox/google-ads/clicks`: every click back to normal.
pub(crate) async fn clear_clicks(State(sandbox): State<Sandbox>) -> Response {
    let cleared = sandbox.google().clear_clicks();
    Json(json!({ "cleared": cleared })).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshTokenRequest {
    refresh_token: String,
    revoked: bool,
}

/// `POST /sandbox/google-ads/refresh-tokens` with `{"refresh_token": T, "revoked": true|false}`:
/// a revoked refresh token gets `invalid_grant` from `POST /token`.
pub(crate) async fn set_refresh_token(State(sandbox): State<Sandbox>, body: Bytes) -> Response {
    match serde_json::from_slice::<RefreshTokenRequest>(&body) {
        Ok(r) if !r.refresh_token.is_empty() => {
            sandbox.set_google_ads_refresh_token_revoked(&r.refresh_token, r.revoked);
            Json(json!({ "revoked": r.revoked })).into_response()
        }
        Ok(_) => json_error(
            StatusCode::BAD_REQUEST,
            "invalid refresh token: refresh_token is empty",
        ),
        Err(err) => json_error(
            StatusCode::BAD_REQUEST,
            format!(
                "invalid refresh token: {err}; expected {{\"refresh_token\": T, \"revoked\": true|false}}"
            ),
        ),
    }
}

/// `POST /sandbox/google-ads/expire-access-tokens`: every issued access token is expired from
/// now on (the next upload with one gets 401 `OAUTH_TOKEN_EXPIRED`).
pub(crate) async fn expire_access_tokens(State(sandbox): State<Sandbox>) -> Response {
    let expired = sandbox.expire_google_ads_access_tokens();
    Json(json!({ "expired": expired })).into_response()
}

/// `GET /sandbox/google-ads`: customers (ids only), special clicks and token counters.
pub(crate) async fn summary(State(sandbox): State<Sandbox>) -> Response {
    let state = sandbox.google();
    let clicks: serde_json::Map<String, serde_json::Value> = state
        .clicks()
        .into_iter()
        .map(|(gclid, s)| (gclid, json!(s)))
        .collect();
    Json(json!({
        "customers": state.customer_ids(),
        "clicks": clicks,
        "access_tokens_issued": state.tokens_issued,
    }))
    .into_response()
}
