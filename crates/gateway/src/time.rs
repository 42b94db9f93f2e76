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
