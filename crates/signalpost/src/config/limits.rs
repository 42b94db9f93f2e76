//! `[limits]`: what one client, one key or one slow connection may cost the server. Every key is
//! optional; the defaults suit one node on a small machine and stay far above what the load
//! benchmarks send. Durations carry their unit in the key name.

use std::time::Duration;

use serde::Deserialize;

/// `[limits]`. Absent keys keep the defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// A client must send a request's headers within this (slowloris); the connection is closed
    /// otherwise (default 10 s).
    pub header_read_timeout_secs: u64,
    /// A request (its body included) must be answered within this, else 503 (default 30 s).
    pub request_timeout_secs: u64,
    /// Requests handled at once by this node; beyond it, 503 with `Retry-After` at once (default
    /// 2,048).
    pub max_concurrent_requests: usize,
    /// Sustained requests per second one API key may make; 0 = unlimited (default 2,000).
    pub requests_per_second_per_key: u32,
    /// Requests one key may make in a burst above that rate (default 4,000).
    pub burst_per_key: u32,
    /// Whether admin keys are rate limited too (default false: an operator's tools are not).
    pub limit_admin_keys: bool,
    /// `/metrics` recomputes its store figures at most this often (default 5 s).
    pub metrics_refresh_secs: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            header_read_timeout_secs: 10,
            request_timeout_secs: 30,
            max_concurrent_requests: 2048,
            requests_per_second_per_key: 2000,
            burst_per_key: 4000,
            limit_admin_keys: false,
            metrics_refresh_secs: 5,
        }
    }
}

impl LimitsConfig {
    /// The header read timeout.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs)
    }

    /// The whole-request timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// The problems of these values, as (key, message).
    pub fn problems(&self) -> Vec<(&'static str, &'static str)> {
        let mut problems = Vec::new();
        if self.header_read_timeout_secs == 0 {
            problems.push(("limits.header_read_timeout_secs", "must be at least 1"));
        }
        if self.request_timeout_secs == 0 {
            problems.push(("limits.request_timeout_secs", "must be at least 1"));
        }
        if self.max_concurrent_requests == 0 {
            problems.push(("limits.max_concurrent_requests", "must be at least 1"));
        }
        if self.requests_per_second_per_key > 0 && self.burst_per_key == 0 {
            problems.push((
                "limits.burst_per_key",
                "must be at least 1 when requests_per_second_per_key is set",
            ));
        }
        problems
    }
}
