//! `POST /token`: Google's OAuth 2.0 token endpoint for the refresh-token grant (RFC 6749 §6), as
//! the gateway uses it: form fields `grant_type=refresh_token`, `client_id`, `client_secret`,
//! `refresh_token`, all required and non-empty. Any client and any refresh token are accepted
//! except a refresh token registered as revoked (`invalid_grant`, Google's wording). Answers are
//! never faulted or delayed: the token endpoint is another Google service than the Ads API.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use signalpost_google_ads::model::ADWORDS_SCOPE;
use signalpost_google_ads::{TokenError, TokenResponse};

use super::state::ACCESS_TOKEN_SECS;
use crate::Sandbox;

pub(crate) async fn handle(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    // RFC 6749 §4.1.3: form encoding; a body without a type (curl -d) reads the same way.
    if !(media.is_empty() || media == "application/x-www-form-urlencoded") {
        return refuse(
            "invalid_request",
            &format!("Unsupported content type {media:?}: send application/x-www-form-urlencoded."),
        );
    }
    let mut fields: Vec<(String, String)> = Vec::new();
    for (key, value) in url::form_urlencoded::parse(&body) {
        if fields.iter().any(|(k, _)| *k == key) {
            return refuse("invalid_request", &format!("Duplicate parameter: {key}"));
        }
        fields.push((key.into_owned(), value.into_owned()));
    }
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    match field("grant_type") {
        None => return refuse("invalid_request", "Missing required parameter: grant_type"),
        Some("refresh_token") => {}
        Some(other) => {
            return refuse(
                "unsupported_grant_type",
                &format!("Invalid grant_type: {other}"),
            );
        }
    }
    for name in ["client_id", "client_secret", "refresh_token"] {
        if field(name).is_none() {
            return refuse(
                "invalid_request",
                &format!("Missing required parameter: {name}"),
            );
        }
    }
    let refresh_token = field("refresh_token").unwrap_or_default();
    let mut state = sandbox.google();
    if state.is_revoked(refresh_token) {
        return refuse("invalid_grant", "Token has been expired or revoked.");
    }
    let access_token = state.issue_token(Instant::now());
    drop(state);
    tracing::debug!("sandbox issued a Google Ads access token");
    let mut response = Json(TokenResponse {
        access_token,
        expires_in: ACCESS_TOKEN_SECS,
        token_type: "Bearer".to_owned(),
        scope: Some(ADWORDS_SCOPE.to_owned()),
    })
    .into_response();
    // Google's token answers must not be cached.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, max-age=0, must-revalidate"),
    );
    response
}

/// HTTP 400 with RFC 6749's error shape.
fn refuse(error: &str, description: &str) -> Response {
    tracing::debug!(error, "sandbox refused a token request");
    (
        StatusCode::BAD_REQUEST,
        Json(TokenError {
            error: error.to_owned(),
            error_description: Some(description.to_owned()),
        }),
    )
        .into_response()
}
