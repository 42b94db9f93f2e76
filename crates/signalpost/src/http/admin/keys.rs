//! `/v1/keys`: API keys with a scope (`postback` only fires `GET /v1/postback`; `ingest` sends leads
//! and events; `admin` manages everything).
//! A key is shown once, in the answer that creates it; the server keeps only its SHA-256 digest.

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get};
use serde::Deserialize;
use signalpost_gateway::store::settings::KeyScope;

use super::super::{AppState, Json};
use super::{AdminAccessProblems, JsonBodyProblems};
use crate::admin::views::{KeyView, NewKeyView};
use crate::wire::json::ApiJson;
use crate::wire::problem::{ApiError, Problem};

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/keys", get(list_keys).post(create_key))
        .route("/v1/keys/{id}", delete(revoke_key))
}

/// A key to create.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// `postback` (only `GET /v1/postback`; the only scope accepted in a URL's `key=`), `ingest`
    /// (leads, events, lead lookups) or `admin` (everything).
    #[schema(pattern = "^(postback|ingest|admin)$")]
    pub scope: String,
    /// What the key is for (e.g. the lead platform using it); at most 100 characters, no control
    /// characters.
    #[serde(default)]
    #[schema(max_length = 100)]
    pub label: Option<String>,
}

/// Every key created through the API or the CLI (never the key itself). Config-file keys are not
/// listed.
#[utoipa::path(
    get,
    path = "/v1/keys",
    tag = "admin",
    responses(
        (status = 200, description = "The keys", body = [KeyView]),
        AdminAccessProblems,
    ),
    security(("bearer" = []))
)]
pub async fn list_keys(State(state): State<AppState>) -> Result<Json<Vec<KeyView>>, ApiError> {
    Ok(Json(state.admin.list_keys().await?))
}

/// Create a key. The answer carries the key: it is never shown again.
#[utoipa::path(
    post,
    path = "/v1/keys",
    tag = "admin",
    request_body = CreateKey,
    responses(
        (status = 201, description = "Created; `key` is shown only now", body = NewKeyView),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
        JsonBodyProblems,
        AdminAccessProblems,
    ),
    security(("bearer" = []))
)]
pub async fn create_key(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateKey>,
) -> Result<impl IntoResponse, ApiError> {
    let scope = KeyScope::parse(&body.scope).ok_or_else(|| {
        ApiError::invalid("scope", "must be \"postback\", \"ingest\" or \"admin\"")
    })?;
    let created = state
        .admin
        .create_key(scope, body.label.as_deref().unwrap_or(""))
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Revoke a key: refused from then on (on other nodes within their settings poll, 2 s).
#[utoipa::path(
    delete,
    path = "/v1/keys/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "Key id (key_…)")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such key", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already revoked", body = Problem, content_type = "application/problem+json"),
        AdminAccessProblems,
    ),
    security(("bearer" = []))
)]
pub async fn revoke_key(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(id) = path?;
    state.admin.revoke_key(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
