//! The admin API (admin-scoped keys only): pixels, rules and API keys stored in the database. Each
//! resource has its own module; this one merges their routes and maps catalog errors to problems.

pub mod keys;
pub mod pixels;
pub mod rules;

use axum::Router;

use super::AppState;
use super::problem::ApiError;
use crate::admin::AdminError;

/// Routes of the admin API (authenticated by the caller's admin layer).
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(pixels::router())
        .merge(rules::router())
        .merge(keys::router())
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
