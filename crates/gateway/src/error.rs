//! The gateway facade's error: what the HTTP layer maps to problem+json answers (422 naming the field,
//! 404 for an unknown lead, 503 + Retry-After for backpressure and for a full disk).

use crate::domain::RefusedConversion;
use crate::store::StoreError;

/// Why the gateway refused or could not store a request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GatewayError {
    /// A field of the request is unusable; `field` is the request's name for it.
    #[error("{field}: {problem}")]
    InvalidField {
        field: &'static str,
        problem: String,
    },
    /// Under `strict_delivery`: conversions of the request TikTok would refuse (each names its TikTok
    /// field, e.g. `page.url`); nothing was stored.
    #[error("{}", .0.first().map(|r| r.problem.as_str()).unwrap_or("a conversion would be refused"))]
    Undeliverable(Vec<RefusedConversion>),
    /// A lifecycle event names a lead that was never submitted.
    #[error("no lead with transaction_id {0:?}")]
    LeadNotFound(String),
    /// The store failed or pushed back.
    #[error(transparent)]
    Store(StoreError),
}

impl GatewayError {
    pub(crate) fn invalid(field: &'static str, problem: impl Into<String>) -> Self {
        GatewayError::InvalidField {
            field,
            problem: problem.into(),
        }
    }
}

impl From<StoreError> for GatewayError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::LeadNotFound(id) => GatewayError::LeadNotFound(id),
            other => GatewayError::Store(other),
        }
    }
}
