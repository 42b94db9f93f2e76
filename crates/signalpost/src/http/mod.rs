//! The HTTP API (axum): one module per resource, each with its own `router()`, merged here with the
//! shared layers — problem+json for every failure (unknown route, wrong method, bad body), API-key
//! checks, body limits (1 MiB; 16 MiB for the batch), latency metrics by route template, and a panic
//! guard that answers a bare 500 problem.

pub mod auth;
pub mod batch;
pub mod dto;
pub mod events;
pub mod health;
pub mod json;
pub mod leads;
pub mod metrics;
pub mod postback;
pub mod problem;
pub mod views;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use signalpost_gateway::Gateway;
use signalpost_gateway::store::IngestResult;
use tower_http::catch_panic::CatchPanicLayer;

pub use axum::Json;
pub use dto::lead::IdentifierPolicy;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// Ingest and read entry point (rules, store, delivery wake-ups).
    pub gateway: Arc<Gateway>,
    /// Configured API keys (digests only).
    pub keys: auth::ApiKeys,
    /// Default phone region and strictness for identifiers.
    pub identifiers: IdentifierPolicy,
}

/// The whole API with its layers, ready to serve.
pub fn router(state: AppState) -> Router {
    let with_bearer = Router::new()
        .merge(leads::router())
        .merge(events::router())
        .merge(batch::router())
        .route_layer(from_fn_with_state(state.keys.clone(), auth::require_bearer));
    Router::new()
        .merge(with_bearer)
        .merge(postback::router(&state))
        .merge(health::router())
        .merge(metrics::router())
        .method_not_allowed_fallback(problem::method_not_allowed)
        .fallback(problem::route_not_found)
        .layer(DefaultBodyLimit::max(json::SINGLE_BODY_LIMIT))
        .layer(from_fn(crate::metrics::track_http))
        .layer(CatchPanicLayer::custom(problem::panic_response))
        .with_state(state)
}

/// Counts what a first (non-replayed) ingest stored.
pub(crate) fn record_ingest(result: &IngestResult) {
    if result.lead_created {
        crate::metrics::lead_ingested();
        for warning in &result.lead.warnings {
            crate::metrics::identifier_warning(&warning.field);
        }
    }
    crate::metrics::event_ingested(result.event.trigger.as_str());
    for conversion in &result.conversions {
        crate::metrics::conversion_queued(&conversion.pixel);
    }
}
