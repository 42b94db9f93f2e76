//! `/v1/rules`: list, add, replace, enable/disable and delete rules. A rule's body is the same
//! document as a `[[rules]]` table of the config file, as JSON; every problem is reported at its path
//! (`when.all[1].gt`), with the pixel checked to exist.

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use serde::Deserialize;
use signalpost_gateway::RuleConfig;

use super::super::{AppState, Json};
use super::{AdminAccessProblems, JsonBodyProblems};
use crate::admin::views::RuleView;
use crate::wire::json::ApiJson;
use crate::wire::problem::{ApiError, Problem};

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/rules", get(list_rules).post(create_rule))
        .route(
            "/v1/rules/{name}",
            get(get_rule)
                .put(replace_rule)
                .patch(update_rule)
                .delete(delete_rule),
        )
}

/// Enable or disable a rule.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRule {
    /// `false` keeps the rule but stops it firing.
    pub enabled: bool,
}

/// Every stored rule, in the order they were created.
#[utoipa::path(
    get,
    path = "/v1/rules",
    tag = "admin",
    responses(
        (status = 200, description = "The rules", body = [RuleView]),
        AdminAccessProblems,
    ),
    security(("bearer" = []))
)]
pub async fn list_rules(State(state): State<AppState>) -> Result<Json<Vec<RuleView>>, ApiError> {
    Ok(Json(state.admin.list_rules().await?))
}

/// Add a rule (the body is a `[[rules]]` table as JSON: name, trigger, pixel, event, value, …).
#[utoipa::path(
    post,
    path = "/v1/rules",
    tag = "admin",
    request_body(content = Object, description = "A rule, as a `[[rules]]` table in JSON"),
    responses(
        (status = 201, description = "Added", body = RuleView),
        (status = 409, description = "A rule with this name exists", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The rule is invalid (every problem at its path)", body = Problem, content_type = "application/problem+json"),
        JsonBodyProblems,
        AdminAccessProblems,
    ),
    security(("bearer" = []))
)]
pub async fn create_rule(
    State(state): State<AppState>,
    ApiJson(cfg): ApiJson<RuleConfig>,
) -> Result<impl IntoResponse, ApiError> {
    let view = state.admin.create_rule(cfg).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// One rule.
#[utoipa::path(
    get,
    path = "/v1/rules/{name}",
    tag = "admin",
    params(("name" = String, Path, description = "Rule name")),
    responses(
        (status = 200, description = "The rule", body = RuleView),
        (status = 404, description = "No such rule", body = Problem, content_type = "application/problem+json"),
        AdminAccessProblems,
    ),
    security(("bearer" = []))
)]
pub async fn get_rule(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<RuleView>, ApiError> {
    let Path(name) = path?;
    Ok(Json(state.admin.get_rule(&name).await?))
}

/// Replace the rule (or create it); the body's `name` may be left out, and must match when given.
#[utoipa::path(
    put,
    path = "/v1/rules/{name}",
    tag = "admin",
    params(("name" = String, Path, description = "Rule name")),
    request_body(content = Object, description = "A rule, as a `[[rules]]` table in JSON"),
    responses(
        (status = 200, description = "Replaced or created", body = RuleView),
        (status = 422, description = "The rule is invalid (every problem at its path)", body = Problem, content_type = "application/problem+json"),
        JsonBodyProblems,
        AdminAccessProblems,
    ),
    security(("bearer" = []))
)]
pub async fn replace_rule(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    ApiJson(cfg): ApiJson<RuleConfig>,
) -> Result<Json<RuleView>, ApiError> {
    let Path(name) = path?;
    Ok(Json(state.admin.replace_rule(&name, cfg).await?))
}

/// Enable or disable a rule.
#[utoipa::path(
    patch,
    path = "/v1/rules/{name}",
    tag = "admin",
    params(("name" = String, Path, description = "Rule name")),
    request_body = UpdateRule,
    responses(
        (status = 200, description = "Updated", body = RuleView),
        (status = 404, description = "No such rule", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
        JsonBodyProblems,
        AdminAccessProblems,
    ),
    security(("bearer" = []))
)]
pub async fn update_rule(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    ApiJson(body): ApiJson<UpdateRule>,
) -> Result<Json<RuleView>, ApiError> {
    let Path(name) = path?;
    Ok(Json(
        state.admin.set_rule_enabled(&name, body.enabled).await?,
    ))
}

/// Delete a rule (conversions it already queued are still delivered).
#[utoipa::path(
    delete,
    path = "/v1/rules/{name}",
    tag = "admin",
    params(("name" = String, Path, description = "Rule name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such rule", body = Problem, content_type = "application/problem+json"),
        AdminAccessProblems,
    ),
    security(("bearer" = []))
)]
pub async fn delete_rule(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(name) = path?;
    state.admin.delete_rule(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
