//! Delivery counters for `/metrics`: plain atomics the engine bumps and the HTTP layer reads, so the
//! gateway crate needs no metrics dependency.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (ms) of the request latency histogram buckets; the last bucket is +Inf.
pub const LATENCY_BUCKETS_MS: &[u64] = &[5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/// Counters since start.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    /// HTTP requests sent to TikTok.
    pub requests: AtomicU64,
    /// Events TikTok accepted.
    pub delivered: AtomicU64,
    /// Events rescheduled after a retryable failure.
    pub retried: AtomicU64,
    /// Events that went dead (invalid, too old, retries exhausted).
    pub dead: AtomicU64,
    /// Events held because their pixel's token was rejected.
    pub paused: AtomicU64,
    /// Of `dead`: events older than the maximum age, never sent.
    pub too_old: AtomicU64,
    /// Batches refused as invalid whose offending events were isolated (set aside by TikTok's
    /// index, or bisected).
    pub bisections: AtomicU64,
    /// Probes of a paused pixel (one held event sent alone).
    pub probes: AtomicU64,
    latency_buckets: [AtomicU64; 12],
    /// Each pixel's delivery window (requests allowed in flight), as its worker last set it.
    windows: Mutex<BTreeMap<String, u64>>,
    latency_sum_ms: AtomicU64,
}

/// A copy of the latency histogram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyHistogram {
    /// Cumulative counts per bucket of [`LATENCY_BUCKETS_MS`], then +Inf (= total count).
    pub cumulative: Vec<u64>,
    pub sum_ms: u64,
}

impl DeliveryStats {
    pub(crate) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn observe_latency(&self, latency: Duration) {
        let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        let bucket = LATENCY_BUCKETS_MS
            .iter()
            .position(|upper| ms <= *upper)
            .unwrap_or(LATENCY_BUCKETS_MS.len());
        if let Some(b) = self.latency_buckets.get(bucket) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.latency_sum_ms.fetch_add(ms, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Records pixel `pixel`'s delivery window.
    pub(crate) fn set_window(&self, pixel: &str, limit: usize) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        match windows.get_mut(pixel) {
            Some(now) => *now = limit as u64,
            None => {
                windows.insert(pixel.to_owned(), limit as u64);
            }
        }
    }

    /// Every pixel's delivery window (requests allowed in flight), by pixel.
    pub fn windows(&self) -> Vec<(String, u64)> {
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        windows.iter().map(|(p, w)| (p.clone(), *w)).collect()
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// The request latency histogram, cumulative (Prometheus style).
    pub fn latency(&self) -> LatencyHistogram {
        let mut total = 0;
        let cumulative = self
            .latency_buckets
            .iter()
            .map(|b| {
                total += b.load(Ordering::Relaxed);
                total
            })
            .collect();
        LatencyHistogram {
            cumulative,
            sum_ms: self.latency_sum_ms.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_lands_in_cumulative_buckets() {
        let s = DeliveryStats::default();
        s.observe_latency(Duration::from_millis(3));
        s.observe_latency(Duration::from_millis(70));
        s.observe_latency(Duration::from_secs(60));
        let h = s.latency();
        assert_eq!(h.cumulative.len(), LATENCY_BUCKETS_MS.len() + 1);
        assert_eq!(h.cumulative[0], 1);
        assert_eq!(h.cumulative[4], 2);
        assert_eq!(*h.cumulative.last().unwrap(), 3);
        assert_eq!(DeliveryStats::get(&s.requests), 3);
    }
}
