//! The delivery engine's knobs, with defaults that follow DESIGN.md's delivery policy.

use std::time::Duration;

use super::retry::RetryPolicy;

/// How the engine batches, paces, retries and gives up.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryPolicy {
    /// Most events per request; each destination's own limit applies within it (TikTok and Meta
    /// 1,000, Google Ads 2,000).
    pub max_batch_events: usize,
    /// Approximate body size cap.
    pub max_batch_bytes: usize,
    /// How long a worker woken by new work waits for more before claiming (≤ 100 ms).
    pub linger: Duration,
    /// How often an idle worker looks for due retries and expired leases.
    pub poll_interval: Duration,
    /// How long a claim holds its conversions before another worker may take them.
    pub lease: Duration,
    pub retry: RetryPolicy,
    /// Events whose `event_time` is older than this go dead unsent ("too old").
    pub max_event_age: Duration,
    /// Most concurrent requests per pixel: the ceiling of the adaptive window (see
    /// [`super::window`]).
    pub max_in_flight: usize,
    /// Concurrent requests per pixel at start, and the pace a window regains after a destination's
    /// trouble; also how many parts of one refused batch are sent at once.
    pub initial_in_flight: usize,
    /// After a retryable answer halves a pixel's window, how long further ones leave it alone.
    pub window_cooldown: Duration,
    /// Requests per second per pixel (≤ 0: unlimited).
    pub requests_per_second: f64,
    /// Requests a pixel may send at once before pacing starts.
    pub burst: u32,
    /// Whole-request timeout (a hang counts as retryable).
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// How often a paused pixel sends one held event to learn whether it is accepted again.
    pub pause_probe: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            max_batch_events: signalpost_google_ads::MAX_CONVERSIONS_PER_REQUEST,
            max_batch_bytes: 1_000_000,
            linger: Duration::from_millis(20),
            poll_interval: Duration::from_secs(1),
            // Renewed every third while a batch is worked on, so only a dead worker's batches
            // expire: a survivor (or a restarted node) takes them over within 30 s.
            lease: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            max_event_age: Duration::from_secs(7 * 24 * 3600),
            max_in_flight: 32,
            initial_in_flight: 4,
            window_cooldown: Duration::from_millis(500),
            requests_per_second: 200.0,
            burst: 20,
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            pause_probe: Duration::from_secs(5 * 60),
        }
    }
}
