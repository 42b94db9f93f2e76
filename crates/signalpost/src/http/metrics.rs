//! `GET /metrics`: the Prometheus text exposition.
//!
//! Unauthenticated by default: Prometheus scrapers rarely carry bearer tokens, and nothing here is
//! sensitive — labels are route templates, event types, pixel codes and field names; no identifier,
//! transaction id, token or key ever becomes a label. `[server] metrics_require_key = true` makes it
//! need an ingest or admin key (`Authorization: Bearer`); `[server] metrics_listen` moves it to an
//! address of its own (no key there), off the public port. The store figures (conversions by pixel and
//! state) are recomputed at most every `limits.metrics_refresh_secs`, by one scrape at a time, so
//! scraping cannot be used to load the store.

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use super::AppState;
use super::auth::check_bearer;
use crate::api_keys::KeyScope;
use crate::metrics;
use crate::wire::problem::ApiError;

/// How long the queue-depth query may take before the scrape goes out without fresh depths.
const DEPTH_TIMEOUT: Duration = Duration::from_secs(2);

/// The metrics route.
pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(scrape))
}

/// When the store figures were last read, and how often they may be.
pub struct MetricsRefresh {
    every: Duration,
    /// Held while a scrape reads the store: concurrent scrapes wait for that one read.
    last: tokio::sync::Mutex<Option<Instant>>,
    /// Whether a scrape needs an ingest or admin key.
    pub require_key: bool,
    /// Whether metrics have a listener of their own (`[server] metrics_listen`): then the main
    /// router has no `/metrics`, and the own listener needs no key.
    pub own_listener: bool,
}

impl MetricsRefresh {
    /// Store figures at most every `every` (zero: at every scrape).
    pub fn new(every: Duration, require_key: bool, own_listener: bool) -> Self {
        Self {
            every,
            last: tokio::sync::Mutex::new(None),
            require_key: require_key && !own_listener,
            own_listener,
        }
    }
}

/// Prometheus metrics, text exposition format (no key needed).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"))
)]
pub(super) async fn scrape(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    if state.metrics_refresh.require_key {
        check_bearer(&state.keys, &headers, KeyScope::Ingest)?;
    }
    refresh_store_figures(&state).await;
    // The engine keeps its own counters and latency buckets; publish them as of this scrape.
    metrics::set_delivery_stats(&state.delivery_stats);
    let mut text = metrics::render();
    metrics::render_tiktok_latency(&state.delivery_stats, &mut text);
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    ))
}

/// Reads the conversions by pixel and state from the store, unless another scrape did within
/// `limits.metrics_refresh_secs` (the gauges then keep that reading).
async fn refresh_store_figures(state: &AppState) {
    let refresh = &state.metrics_refresh;
    let mut last = refresh.last.lock().await;
    if last.is_some_and(|at| at.elapsed() < refresh.every) {
        return;
    }
    let depths = state.gateway.store().queue_depth();
    match tokio::time::timeout(DEPTH_TIMEOUT, depths).await {
        Ok(Ok(rows)) => metrics::set_conversion_counts(
            rows.iter()
                .map(|r| (r.pixel.as_str(), r.state.as_str(), r.count)),
        ),
        Ok(Err(e)) => tracing::warn!(error = %e, "metrics: queue depth query failed"),
        Err(_) => tracing::warn!("metrics: queue depth query timed out"),
    }
    *last = Some(Instant::now());
}
