//! Console failures as HTML pages with the right status: a refused CSRF token (403), a form too large
//! (413), and anything the API would answer as a problem (404 for an unknown lead, 503 when the store
//! is busy, 500 with no internals), worded the same way the API words it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use signalpost_gateway::{GatewayError, StoreError};

use super::layout;
use crate::wire::problem::ApiError;

/// Why a console request failed.
#[derive(Debug)]
pub enum ConsoleError {
    /// A POST without its session's CSRF token.
    Csrf,
    /// A form body over the limit.
    TooLarge,
    /// What the API would answer with a problem.
    Api(ApiError),
}

impl From<ApiError> for ConsoleError {
    fn from(e: ApiError) -> Self {
        ConsoleError::Api(e)
    }
}

impl From<GatewayError> for ConsoleError {
    fn from(e: GatewayError) -> Self {
        ConsoleError::Api(e.into())
    }
}

impl From<StoreError> for ConsoleError {
    fn from(e: StoreError) -> Self {
        ConsoleError::Api(e.into())
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, title, detail) = match self {
            ConsoleError::Csrf => (
                StatusCode::FORBIDDEN,
                "Form refused".to_owned(),
                "The form did not carry this session's security token (it may come from another \
                 site, or from a page opened before you signed in again). Reload the page and retry."
                    .to_owned(),
            ),
            ConsoleError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Form too large".to_owned(),
                "The form sent more data than the console accepts.".to_owned(),
            ),
            ConsoleError::Api(e) => {
                if let ApiError::Internal(context) = &e {
                    tracing::error!(error = %context, "console: internal error");
                }
                let problem = e.problem();
                let mut detail = problem.detail;
                for field in &problem.errors {
                    detail.push_str(&format!(" — {}: {}", field.field, field.detail));
                }
                (e.status(), problem.title.to_owned(), detail)
            }
        };
        let body = layout::bare(
            &title,
            html! {
                h1 { (title) }
                p role="alert" { (detail) }
                p { a href="/console" { "Back to the console" } }
            },
        );
        (status, body).into_response()
    }
}
