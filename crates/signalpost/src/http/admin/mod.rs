//! The admin API (admin-scoped keys only): pixels, rules and API keys stored in the database. Each
//! resource has its own module; this one merges their routes and maps catalog errors to problems.

pub mod erase;
pub mod keys;
pub mod pixels;
pub mod rules;

use axum::Router;
use utoipa::IntoResponses;

use super::AppState;
use crate::admin::AdminError;
use crate::wire::problem::{ApiError, Problem};

/// The problems every admin route can answer, for its OpenAPI `responses(...)`.
#[derive(IntoResponses)]
pub enum AdminAccessProblems {
    /// No or wrong API key
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// Not an admin key
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
}

/// The problems of a JSON request body refused before it is read, for `responses(...)`.
#[derive(IntoResponses)]
pub enum JsonBodyProblems {
    /// Body is not JSON, or not a JSON object
    #[response(status = 400, content_type = "application/problem+json")]
    NotJson(Problem),
    /// Body not sent as application/json
    #[response(status = 415, content_type = "application/problem+json")]
    NotSentAsJson(Problem),
}

/// Routes of the admin API (authenticated by the caller's admin layer).
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(pixels::router())
        .merge(rules::router())
        .merge(keys::router())
        .merge(erase::router())
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Invalid(errors) => ApiError::Invalid(errors),
            AdminError::NotFound(detail) => ApiError::NotFound { detail },
            AdminError::Conflict { detail, field } => ApiError::Conflict { detail, field },
            AdminError::Sealed(_) => ApiError::internal(e),
            AdminError::Store(store) => store.into(),
        }
    }
}
