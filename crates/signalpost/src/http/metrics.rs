//! `GET /metrics`: the Prometheus text exposition.
//!
//! Unauthenticated on purpose: Prometheus scrapers rarely carry bearer tokens, and nothing here is
//! sensitive — labels are route templates, event types, pixel codes and field names; no identifier,
//! transaction id, token or key ever becomes a label. Restrict it at the network level if pixel
//! codes themselves are confidential to you.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use super::AppState;
use crate::metrics;

/// How long the queue-depth query may take before the scrape goes out without fresh depths.
const DEPTH_TIMEOUT: Duration = Duration::from_secs(2);

/// The metrics route (no authentication).
pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(scrape))
}

/// Prometheus metrics, text exposition format (no key needed).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"))
)]
pub(super) async fn scrape(State(state): State<AppState>) -> impl IntoResponse {
    // Queue depths are read at scrape time, so they are exactly as fresh as the scrape.
    let depths = state.gateway.store().queue_depth();
    match tokio::time::timeout(DEPTH_TIMEOUT, depths).await {
        Ok(Ok(rows)) => metrics::set_conversion_counts(
            rows.iter()
                .map(|r| (r.pixel.as_str(), r.state.as_str(), r.count)),
        ),
        Ok(Err(e)) => tracing::warn!(error = %e, "metrics: queue depth query failed"),
        Err(_) => tracing::warn!("metrics: queue depth query timed out"),
    }
    // The engine keeps its own counters and latency buckets; publish them as of this scrape.
    metrics::set_delivery_stats(&state.delivery_stats);
    let mut text = metrics::render();
    metrics::render_tiktok_latency(&state.delivery_stats, &mut text);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}
