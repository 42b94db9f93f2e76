//! The HTTP API (axum): one module per resource, each with its own `router()`, merged here with the
//! shared layers — problem+json for every failure (unknown route, wrong method, bad body), API-key
//! checks, body limits (1 MiB; the batch reads its own body, up to 4 MiB), latency metrics by route
//! template, and a panic guard that answers a bare 500 problem.

mod access_log;
pub mod admin;
pub mod auth;
pub mod batch;
pub mod capture;
pub mod events;
pub mod health;
pub mod leads;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod postback;
pub mod preview;
pub mod replay;
pub mod serve;
pub mod test_postback;
pub mod views;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use signalpost_gateway::Gateway;
use signalpost_gateway::delivery::{DeliveryStats, PixelRegistry};
use signalpost_gateway::domain::RefusedConversion;
use signalpost_gateway::store::IngestResult;
use tower_http::catch_panic::CatchPanicLayer;

use crate::api_keys::ApiKeys;
use crate::wire::{IdentifierPolicy, json, problem};

pub use axum::Json;

/// What every handler shares: one allocation behind an `Arc`, since axum clones the state for every
/// extractor and layer of every request (cloning the parts one by one was a dozen atomic counter
/// updates each time).
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl AppState {
    /// The state of a server made of `parts`.
    pub fn new(parts: AppParts) -> AppState {
        AppState(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct AppParts {
    /// Ingest and read entry point (rules, store, delivery wake-ups).
    pub gateway: Arc<Gateway>,
    /// Configured API keys (digests only).
    pub keys: ApiKeys,
    /// The delivery engine's counters, published on `/metrics`.
    pub delivery_stats: Arc<DeliveryStats>,
    /// The pixels (tokens, destinations, paused or not): the test postback sends with them, replay
    /// resumes them.
    pub pixels: PixelRegistry,
    /// Pixels, rules and keys stored in the database (admin API, console).
    pub admin: crate::admin::Admin,
    /// Default phone region and strictness for identifiers (without the pixels' regions: see
    /// [`AppParts::identifier_policy`]).
    pub identifiers: IdentifierPolicy,
    /// Per-key rate, concurrency and timeout limits (`[limits]`).
    pub limits: limits::RequestLimits,
    /// How often `/metrics` may recompute its store figures, and whether it needs a key.
    pub metrics_refresh: Arc<metrics::MetricsRefresh>,
}

impl AppParts {
    /// The identifier policy with the regions of the pixels as currently loaded (the admin API and
    /// the console change pixels at runtime; the gateway's rules follow them).
    pub fn identifier_policy(&self) -> IdentifierPolicy {
        self.identifiers.with_pixels_of(&self.gateway.rules())
    }
}

/// The whole API with its layers, ready to serve. `console` (the web console's routes, built by
/// `console::router` above this module) is served beside the API behind the same layers.
pub fn router(state: AppState, console: Router<AppState>) -> Router {
    let ingest = Router::new()
        .merge(leads::router())
        .merge(events::router())
        .merge(batch::router())
        .route_layer(from_fn_with_state(state.keys.clone(), auth::require_bearer));
    let operator = Router::new()
        .merge(test_postback::router())
        .merge(preview::router())
        .merge(replay::router())
        .merge(admin::router())
        .route_layer(from_fn_with_state(state.keys.clone(), auth::require_admin));
    let routes = Router::new()
        .merge(ingest)
        .merge(operator)
        .merge(postback::router(&state))
        .merge(health::router())
        .merge(capture::router())
        .merge(openapi::router())
        .merge(console);
    // With `[server] metrics_listen`, metrics are served there ([`metrics_router`]) and not here.
    let routes = if state.metrics_refresh.own_listener {
        routes
    } else {
        routes.merge(metrics::router())
    };
    common_layers(routes)
        .layer(from_fn_with_state(state.limits.clone(), limits::enforce))
        .with_state(state)
}

/// `GET /metrics` alone, for `[server] metrics_listen`: no key, no rate limit (a scrape costs
/// at most one store read per `limits.metrics_refresh_secs`).
pub fn metrics_router(state: AppState) -> Router {
    common_layers(metrics::router()).with_state(state)
}

/// The layers every route gets; must be applied after all routes are added (axum applies layers
/// and the method-not-allowed fallback to the routes present at that point).
fn common_layers<S: Clone + Send + Sync + 'static>(routes: Router<S>) -> Router<S> {
    routes
        .method_not_allowed_fallback(problem::method_not_allowed)
        .fallback(problem::route_not_found)
        .layer(DefaultBodyLimit::max(json::SINGLE_BODY_LIMIT))
        .layer(from_fn(crate::metrics::track_http))
        .layer(CatchPanicLayer::custom(problem::panic_response))
        .layer(from_fn(access_log::access_log))
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
        match RefusedConversion::of_stored(conversion) {
            Some(refused) => crate::metrics::conversion_refused(&refused.pixel, &refused.field),
            None => crate::metrics::conversion_queued(&conversion.pixel),
        }
    }
    for refused in &result.refused {
        crate::metrics::conversion_refused(&refused.pixel, &refused.field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, to_bytes};
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use tower::ServiceExt;

    async fn boom() -> &'static str {
        panic!("secret internals: /var/lib/signalpost");
    }

    async fn call(router: Router, uri: &str) -> (StatusCode, String, String) {
        let response = router
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (
            status,
            content_type,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_a_500_problem_without_internals() {
        let router = common_layers(Router::new().route("/boom", get(boom)));
        let (status, content_type, body) = call(router, "/boom").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(content_type, problem::PROBLEM_JSON);
        assert!(body.contains("urn:signalpost:problem:internal"), "{body}");
        assert!(
            !body.contains("secret") && !body.contains("/var/lib"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn unknown_routes_and_methods_answer_problems() {
        let router = common_layers(Router::new().route("/only-get", get(|| async { "ok" })));
        let (status, content_type, body) = call(router.clone(), "/missing?key=secret").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(content_type, problem::PROBLEM_JSON);
        assert!(
            !body.contains("secret"),
            "the query string is not echoed: {body}"
        );
        let response = router
            .oneshot(Request::post("/only-get").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()["allow"], "GET,HEAD");
    }
}
