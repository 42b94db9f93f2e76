//! A per-pixel token bucket: at most `rate` requests per second on average, `burst` at once. TikTok
//! answers over-limit traffic with 40100, so pacing ourselves costs less than being throttled.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The bucket arithmetic, pure over the instants it is given.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// `rate` requests per second (values ≤ 0 mean unlimited), bursts of up to `burst`.
    pub fn new(rate: f64, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            rate,
            burst,
            tokens: burst,
            last: now,
        }
    }

    /// Takes a token at `now` and says how long to wait before using it. The token is reserved even
    /// when the caller must wait, so concurrent callers queue up fairly instead of all waking at once.
    pub fn reserve(&mut self, now: Instant) -> Duration {
        if !(self.rate > 0.0 && self.rate.is_finite()) {
            return Duration::ZERO;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// A bucket shared by the concurrent requests of one pixel.
#[derive(Debug, Clone)]
pub struct SharedBucket(Arc<Mutex<TokenBucket>>);

impl SharedBucket {
    /// A shared bucket starting full.
    pub fn new(rate: f64, burst: u32) -> Self {
        Self(Arc::new(Mutex::new(TokenBucket::new(
            rate,
            burst,
            Instant::now(),
        ))))
    }

    /// Waits until a request may be sent.
    pub async fn acquire(&self) {
        let wait = match self.0.lock() {
            Ok(mut bucket) => bucket.reserve(Instant::now()),
            Err(_) => Duration::ZERO,
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_lets_a_burst_through_then_paces_at_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 3, t0);
        let waits: Vec<Duration> = (0..5).map(|_| b.reserve(t0)).collect();
        assert_eq!(&waits[..3], &[Duration::ZERO; 3]);
        assert_eq!(waits[3], Duration::from_millis(100));
        assert_eq!(waits[4], Duration::from_millis(200));
    }

    #[test]
    fn tokens_refill_with_time_up_to_the_burst() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 2, t0);
        b.reserve(t0);
        b.reserve(t0);
        let later = t0 + Duration::from_secs(60);
        assert_eq!(b.reserve(later), Duration::ZERO);
        assert_eq!(b.reserve(later), Duration::ZERO);
        assert!(
            b.reserve(later) > Duration::ZERO,
            "refill stops at the burst size"
        );
    }

    #[test]
    fn a_zero_rate_means_unlimited() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(0.0, 1, t0);
        assert!((0..1000).all(|_| b.reserve(t0).is_zero()));
    }
}
