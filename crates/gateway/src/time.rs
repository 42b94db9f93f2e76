//! Wall-clock helpers. Event times are unix seconds (TikTok's unit); delivery bookkeeping (next attempt,
//! leases, attempt times) is unix milliseconds so short test backoffs work.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Now, unix seconds.
pub fn now_secs() -> i64 {
    now_ms() / 1000
}

/// Where the gateway reads "now" from. Rules use it for cap windows, ingest for default event times;
/// tests inject a [`FixedClock`] to roll windows over without sleeping.
pub trait Clock: Send + Sync + 'static {
    /// Now, unix milliseconds.
    fn now_ms(&self) -> i64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        now_ms()
    }
}

/// A clock that reads what it was last set to (tests, replays).
#[derive(Debug, Default)]
pub struct FixedClock(std::sync::atomic::AtomicI64);

impl FixedClock {
    /// A clock reading `ms`.
    pub fn new(ms: i64) -> Self {
        Self(std::sync::atomic::AtomicI64::new(ms))
    }

    /// Sets the time.
    pub fn set_ms(&self, ms: i64) {
        self.0.store(ms, std::sync::atomic::Ordering::SeqCst);
    }

    /// Moves the time forward (or back, with a negative step).
    pub fn advance_ms(&self, step: i64) {
        self.0.fetch_add(step, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now_ms(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl<C: Clock> Clock for std::sync::Arc<C> {
    fn now_ms(&self) -> i64 {
        (**self).now_ms()
    }
}
