//! Prometheus metrics: the process-wide recorder, the names of every series signalpost exports, and
//! the request-latency middleware.
//!
//! The recorder is installed once per process (a `OnceLock`): tests start many applications in one
//! process and every one of them gets the same handle. There is no listener of its own; `GET
//! /metrics` renders the handle. No series carries PII or a key: labels are route templates, event
//! types, pixel codes and field names only.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use signalpost_gateway::delivery::DeliveryStats;
use signalpost_gateway::delivery::stats::LATENCY_BUCKETS_MS;

/// Leads accepted (first posts only, not replays).
pub const LEADS_INGESTED: &str = "signalpost_leads_ingested_total";
/// Lifecycle events accepted, by `type`.
pub const EVENTS_INGESTED: &str = "signalpost_events_ingested_total";
/// Conversions written to the outbox, by `pixel`.
pub const CONVERSIONS_QUEUED: &str = "signalpost_conversions_queued_total";
/// Identifiers dropped at ingest because they could not be normalized, by `field`.
pub const IDENTIFIER_WARNINGS: &str = "signalpost_identifier_warnings_total";
/// Conversions refused at ingest because TikTok would reject them, by `pixel` and TikTok `field`
/// (`page.url`, `event_id`): kept as undeliverable, or not stored (`event_id`).
pub const CONVERSIONS_REFUSED: &str = "signalpost_conversions_refused_total";
/// Request latency, by matched `route` template and `status`.
pub const HTTP_REQUEST_DURATION: &str = "signalpost_http_request_duration_seconds";
/// Conversions TikTok accepted (engine total).
pub const CONVERSIONS_DELIVERED: &str = "signalpost_conversions_delivered_total";
/// Conversions rescheduled after a retryable failure (engine total).
pub const CONVERSIONS_RETRIED: &str = "signalpost_conversions_retried_total";
/// Conversions given up on (engine total).
pub const CONVERSIONS_DEAD: &str = "signalpost_conversions_dead_total";
/// Conversions held because the pixel's token was refused (engine total).
pub const CONVERSIONS_PAUSED: &str = "signalpost_conversions_paused_total";
/// Batches TikTok refused as invalid whose offending events were then isolated.
pub const REFUSED_BATCHES: &str = "signalpost_refused_batches_total";
/// Probes of a paused pixel (one held event sent alone).
pub const PAUSE_PROBES: &str = "signalpost_pause_probes_total";
/// Conversions waiting to be delivered (pending, retrying or paused), by `pixel`.
pub const QUEUE_DEPTH: &str = "signalpost_queue_depth";
/// Requests refused because the node already handled `limits.max_concurrent_requests`.
pub const REQUESTS_REFUSED_BUSY: &str = "signalpost_requests_refused_busy_total";

/// Latency buckets in seconds: from a group commit on a fast disk to a slow client.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the recorder (first call) and returns the handle used to render `/metrics`.
///
/// If another recorder was already installed globally (an embedding program's), the handle still
/// renders, but only what reaches it; a warning says so.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(HTTP_REQUEST_DURATION.to_owned()),
                    LATENCY_BUCKETS,
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
            }
            describe();
            handle
        })
        .clone()
}

fn describe() {
    describe_counter!(LEADS_INGESTED, "Leads accepted (replays not counted).");
    describe_counter!(EVENTS_INGESTED, "Lifecycle events accepted, by type.");
    describe_counter!(
        CONVERSIONS_QUEUED,
        "Conversions queued for delivery, by pixel."
    );
    describe_counter!(
        IDENTIFIER_WARNINGS,
        "Identifiers dropped at ingest because they could not be normalized, by field."
    );
    describe_counter!(
        CONVERSIONS_REFUSED,
        "Conversions refused at ingest because TikTok would reject them, by pixel and field."
    );
    describe_histogram!(
        HTTP_REQUEST_DURATION,
        metrics::Unit::Seconds,
        "HTTP request latency, by route template and status."
    );
    describe_counter!(
        CONVERSIONS_DELIVERED,
        "Conversions TikTok accepted, by pixel."
    );
    describe_counter!(
        CONVERSIONS_RETRIED,
        "Delivery attempts scheduled for retry."
    );
    describe_counter!(CONVERSIONS_DEAD, "Conversions given up on, by pixel.");
    describe_counter!(CONVERSIONS_PAUSED, "Conversions paused by a refused token.");
    describe_counter!(
        REFUSED_BATCHES,
        "Batches refused as invalid whose offending events were set aside (by TikTok's index, or by bisection)."
    );
    describe_counter!(
        PAUSE_PROBES,
        "Probes of a paused pixel: one held event sent alone to learn whether it is accepted again."
    );
    describe_gauge!(QUEUE_DEPTH, "Conversions waiting for delivery, by pixel.");
    describe_gauge!(
        DELIVERY_WINDOW,
        "Requests the pixel may have in flight now: its adaptive window, from initial_in_flight up to max_in_flight."
    );
    describe_counter!(
        REQUESTS_REFUSED_BUSY,
        "Requests answered 503 at once because the node handled as many as [limits] allows."
    );
    describe_gauge!(
        PIXEL_PAUSED,
        "1 while TikTok rejects the pixel's access token (its events are held)."
    );
    describe_gauge!(PIXEL_TOKEN_AGE, "Age of the pixel's access token, seconds.");
    describe_gauge!(
        PIXEL_INFO,
        "1 for every pixel, labelled with its destination (tiktok, meta)."
    );
    describe_gauge!(
        PIXEL_TOKEN_ROTATE_SOON,
        "1 when the pixel's access token is older than the rotation age."
    );
    describe_gauge!(
        CONVERSIONS_BY_STATE,
        "Stored conversions, by pixel and state."
    );
}

/// Renders the Prometheus text exposition, running the recorder's upkeep first.
pub fn render() -> String {
    let handle = install();
    handle.run_upkeep();
    handle.render()
}

/// Counts one request refused for the concurrency cap.
pub fn request_refused_busy() {
    counter!(REQUESTS_REFUSED_BUSY).increment(1);
}

/// Counts one accepted lead.
pub fn lead_ingested() {
    counter!(LEADS_INGESTED).increment(1);
}

/// Counts one accepted lifecycle event of `kind` (`form_submit`, `lead_sold`, …).
pub fn event_ingested(kind: &str) {
    counter!(EVENTS_INGESTED, "type" => kind.to_owned()).increment(1);
}

/// Counts one conversion queued for `pixel`.
pub fn conversion_queued(pixel: &str) {
    counter!(CONVERSIONS_QUEUED, "pixel" => pixel.to_owned()).increment(1);
}

/// Counts one conversion of `pixel` refused at ingest for its TikTok `field`.
pub fn conversion_refused(pixel: &str, field: &str) {
    counter!(CONVERSIONS_REFUSED, "pixel" => pixel.to_owned(), "field" => field.to_owned())
        .increment(1);
}

/// Counts one identifier dropped at ingest (`email`, `phone`, `external_id`).
pub fn identifier_warning(field: &str) {
    counter!(IDENTIFIER_WARNINGS, "field" => field.to_owned()).increment(1);
}

/// Conversions per pixel and state (all states, final ones included).
pub const CONVERSIONS_BY_STATE: &str = "signalpost_conversions";

/// States that still wait for delivery and so count towards [`QUEUE_DEPTH`].
const WAITING_STATES: &[&str] = &["pending", "in_flight", "retrying", "paused"];

/// Label sets set before, so a pixel/state that has drained to zero reads 0 instead of its last value.
static SEEN_DEPTHS: Mutex<BTreeSet<(String, String)>> = Mutex::new(BTreeSet::new());

/// Publishes the store's conversion counts: `signalpost_conversions{pixel,state}` for every state,
/// and `signalpost_queue_depth{pixel}` for those still waiting. `counts` is (pixel, state, count).
pub fn set_conversion_counts<'a>(counts: impl IntoIterator<Item = (&'a str, &'a str, u64)>) {
    let mut seen = match SEEN_DEPTHS.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    let mut now: BTreeMap<(String, String), u64> = seen.iter().map(|k| (k.clone(), 0)).collect();
    for (pixel, state, count) in counts {
        *now.entry((pixel.to_owned(), state.to_owned())).or_insert(0) += count;
    }
    let mut depth: BTreeMap<&str, u64> = BTreeMap::new();
    for ((pixel, state), count) in &now {
        gauge!(CONVERSIONS_BY_STATE, "pixel" => pixel.clone(), "state" => state.clone())
            .set(*count as f64);
        let waiting = depth.entry(pixel).or_insert(0);
        if WAITING_STATES.contains(&state.as_str()) {
            *waiting += count;
        }
    }
    for (pixel, count) in depth {
        gauge!(QUEUE_DEPTH, "pixel" => pixel.to_owned()).set(count as f64);
    }
    seen.extend(now.into_keys());
}

/// Requests sent to TikTok (or the configured destination).
pub const TIKTOK_REQUESTS: &str = "signalpost_tiktok_requests_total";
/// Latency of requests to TikTok (rendered from the engine's own buckets).
pub const TIKTOK_REQUEST_DURATION: &str = "signalpost_tiktok_request_duration_seconds";

/// Publishes the delivery engine's counters (totals since start; the engine keeps them as atomics
/// so the gateway crate needs no metrics dependency).
pub fn set_delivery_stats(stats: &DeliveryStats) {
    let get = DeliveryStats::get;
    counter!(CONVERSIONS_DELIVERED).absolute(get(&stats.delivered));
    counter!(CONVERSIONS_RETRIED).absolute(get(&stats.retried));
    counter!(CONVERSIONS_DEAD).absolute(get(&stats.dead));
    counter!(CONVERSIONS_PAUSED).absolute(get(&stats.paused));
    counter!(REFUSED_BATCHES).absolute(get(&stats.bisections));
    counter!(PAUSE_PROBES).absolute(get(&stats.probes));
    counter!(TIKTOK_REQUESTS).absolute(get(&stats.requests));
    for (pixel, window) in stats.windows() {
        gauge!(DELIVERY_WINDOW, "pixel" => pixel).set(window as f64);
    }
}

/// Requests each pixel may have in flight now (its adaptive window).
pub const DELIVERY_WINDOW: &str = "signalpost_delivery_window";

/// Appends the engine's request-latency histogram in the text exposition format.
pub fn render_tiktok_latency(stats: &DeliveryStats, out: &mut String) {
    use std::fmt::Write;
    let latency = stats.latency();
    let name = TIKTOK_REQUEST_DURATION;
    let _ = writeln!(out, "# HELP {name} Latency of delivery requests to TikTok.");
    let _ = writeln!(out, "# TYPE {name} histogram");
    let mut count = 0;
    for (i, cumulative) in latency.cumulative.iter().enumerate() {
        let le = match LATENCY_BUCKETS_MS.get(i) {
            Some(ms) => format!("{}", *ms as f64 / 1000.0),
            None => "+Inf".to_owned(),
        };
        let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        count = *cumulative;
    }
    let _ = writeln!(out, "{name}_sum {}", latency.sum_ms as f64 / 1000.0);
    let _ = writeln!(out, "{name}_count {count}");
}

/// Middleware: times every request and records it under its route template (`/v1/leads/{id}`, not
/// the raw URI: bounded label values, and no transaction id or postback key in a label or a log).
/// Requests that match no route are recorded as `unmatched`.
pub async fn track_http(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().clone();
    let response = next.run(request).await;
    let elapsed = start.elapsed();
    let status = response.status().as_u16();
    record_request(&route, status, elapsed);
    tracing::debug!(%method, route, status, latency_ms = elapsed.as_secs_f64() * 1e3, "request");
    response
}

fn record_request(route: &str, status: u16, elapsed: Duration) {
    histogram!(
        HTTP_REQUEST_DURATION,
        "route" => route.to_owned(),
        "status" => status.to_string()
    )
    .record(elapsed.as_secs_f64());
}

/// 1 while TikTok rejects the pixel's access token (its events are held), else 0, by `pixel`.
pub const PIXEL_PAUSED: &str = "signalpost_pixel_paused";
/// Age of the pixel's access token in seconds (since it was set), by `pixel`.
pub const PIXEL_TOKEN_AGE: &str = "signalpost_pixel_token_age_seconds";
/// 1 when the pixel's token is older than the rotation age (`[server] token_rotation_days`), by
/// `pixel`.
pub const PIXEL_TOKEN_ROTATE_SOON: &str = "signalpost_pixel_token_rotate_soon";

/// 1 for every pixel, labelled with its `destination` (`tiktok`, `meta`): join it on `pixel` to
/// break any per-pixel series down by destination.
pub const PIXEL_INFO: &str = "signalpost_pixel_info";

/// Publishes one pixel's token health and its destination.
pub fn set_pixel_health(
    pixel: &str,
    destination: &str,
    paused: bool,
    token_age_secs: u64,
    rotate_soon: bool,
) {
    let label = pixel.to_owned();
    gauge!(PIXEL_INFO, "pixel" => label.clone(), "destination" => destination.to_owned()).set(1.0);
    gauge!(PIXEL_PAUSED, "pixel" => label.clone()).set(if paused { 1.0 } else { 0.0 });
    gauge!(PIXEL_TOKEN_AGE, "pixel" => label.clone()).set(token_age_secs as f64);
    gauge!(PIXEL_TOKEN_ROTATE_SOON, "pixel" => label).set(if rotate_soon { 1.0 } else { 0.0 });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installing_twice_returns_a_working_handle_both_times() {
        let first = install();
        let second = install();
        lead_ingested();
        identifier_warning("email");
        record_request("/v1/leads", 202, Duration::from_millis(3));
        let text = second.render();
        assert!(text.contains("signalpost_leads_ingested_total"), "{text}");
        assert!(
            text.contains(r#"signalpost_identifier_warnings_total{field="email"}"#),
            "{text}"
        );
        assert!(
            text.contains(r#"signalpost_http_request_duration_seconds_bucket{route="/v1/leads",status="202",le="0.005"}"#),
            "{text}"
        );
        assert_eq!(first.render().is_empty(), text.is_empty());
    }

    #[test]
    fn queue_depth_counts_waiting_states_and_drained_pixels_read_zero() {
        let handle = install();
        set_conversion_counts([
            ("QDPIX", "pending", 3),
            ("QDPIX", "retrying", 2),
            ("QDPIX", "delivered", 10),
        ]);
        let text = handle.render();
        assert!(
            text.contains(r#"signalpost_queue_depth{pixel="QDPIX"} 5"#),
            "{text}"
        );
        assert!(
            text.contains(r#"signalpost_conversions{pixel="QDPIX",state="delivered"} 10"#),
            "{text}"
        );
        set_conversion_counts([("QDPIX", "delivered", 15)]);
        let text = handle.render();
        assert!(
            text.contains(r#"signalpost_queue_depth{pixel="QDPIX"} 0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"signalpost_conversions{pixel="QDPIX",state="pending"} 0"#),
            "{text}"
        );
    }
}
