//! What one request may cost (`[limits]`): a per-key rate limit (token bucket per API key; admin
//! keys exempt unless `limit_admin_keys`), a cap on the requests this node handles at once (503 with
//! `Retry-After` at once, never a queue that grows), and a whole-request timeout (503). The header
//! read timeout lives with the connection, in `app.rs`. Every refusal is a problem+json.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::api_keys::{ApiKeys, KeyScope, key_digest};
use crate::config::LimitsConfig;
use crate::wire::problem::ApiError;

/// The limits every request passes, shared by the node's connections.
#[derive(Clone)]
pub struct RequestLimits {
    permits: Arc<Semaphore>,
    timeout: Duration,
    keys: ApiKeys,
    rates: Option<Arc<KeyRates>>,
    limit_admin_keys: bool,
}

impl RequestLimits {
    /// The limits of `[limits]`, checking keys against `keys`.
    pub fn new(config: &LimitsConfig, keys: ApiKeys) -> Self {
        let rates = (config.requests_per_second_per_key > 0).then(|| {
            Arc::new(KeyRates::new(
                f64::from(config.requests_per_second_per_key),
                f64::from(config.burst_per_key.max(1)),
            ))
        });
        Self {
            permits: Arc::new(Semaphore::new(config.max_concurrent_requests.max(1))),
            timeout: config.request_timeout(),
            keys,
            rates,
            limit_admin_keys: config.limit_admin_keys,
        }
    }
}

/// Middleware: rate limit by key, then the concurrency cap, then the timeout.
pub async fn enforce(
    State(limits): State<RequestLimits>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(rates) = &limits.rates
        && let Some(digest) = presented_key(&request).map(|key| key_digest(&key))
    {
        let scope = limits.keys.scope_of_digest(&digest);
        let limited = match scope {
            None => false,
            Some(KeyScope::Admin) => limits.limit_admin_keys,
            Some(_) => true,
        };
        if limited && let Err(wait) = rates.take(digest, Instant::now()) {
            return ApiError::RateLimited {
                retry_after_secs: whole_secs(wait),
            }
            .into_response();
        }
    }
    let Ok(_permit) = limits.permits.clone().try_acquire_owned() else {
        crate::metrics::request_refused_busy();
        return ApiError::Busy {
            retry_after_secs: 1,
        }
        .into_response();
    };
    match tokio::time::timeout(limits.timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(timeout_secs = limits.timeout.as_secs(), "request timed out");
            ApiError::TimedOut {
                after_secs: limits.timeout.as_secs(),
            }
            .into_response()
        }
    }
}

/// The API key a request carries: the bearer token, else a `key=` query parameter.
fn presented_key(request: &Request) -> Option<String> {
    if let Some(value) = request.headers().get(header::AUTHORIZATION) {
        let (scheme, rest) = value.to_str().ok()?.trim().split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| rest.trim().to_owned());
    }
    let query = request.uri().query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "key")
        .map(|(_, v)| v.into_owned())
}

/// Whole seconds to wait, at least one.
fn whole_secs(wait: Duration) -> u32 {
    u32::try_from(wait.as_secs_f64().ceil() as u64)
        .unwrap_or(u32::MAX)
        .max(1)
}

/// A token bucket per key digest. Only known keys get a bucket, so the map is as large as the
/// key list.
pub struct KeyRates {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<[u8; 32], Bucket>>,
}

struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl KeyRates {
    /// `per_second` sustained, `burst` at most at once.
    pub fn new(per_second: f64, burst: f64) -> Self {
        Self {
            per_second,
            burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request's token for `key` at `now`, or says how long until one is available.
    pub fn take(&self, key: [u8; 32], now: Instant) -> Result<(), Duration> {
        let mut buckets = match self.buckets.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: self.burst,
            refilled: now,
        });
        let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.per_second,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let rates = KeyRates::new(10.0, 3.0);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(rates.take([1; 32], start).is_ok());
        }
        let wait = rates.take([1; 32], start).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        assert!(
            rates.take([2; 32], start).is_ok(),
            "another key has its own bucket"
        );
        assert!(
            rates
                .take([1; 32], start + Duration::from_millis(100))
                .is_ok()
        );
        assert!(
            rates
                .take([1; 32], start + Duration::from_millis(100))
                .is_err()
        );
        assert_eq!(whole_secs(Duration::from_millis(1)), 1);
        assert_eq!(whole_secs(Duration::from_millis(2500)), 3);
    }
}
