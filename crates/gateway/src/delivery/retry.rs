//! The retry schedule, as a pure function of the attempt history: exponential backoff with full
//! jitter, capped, and a maximum age after which a conversion goes dead instead of retrying forever.
//! Only retryable outcomes are ever rescheduled; an invalid event is never sent again blindly.

use std::time::Duration;

use rand::Rng;

use crate::domain::AttemptOutcome;

/// How transient failures are retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Ceiling of the first delay; doubles per retry.
    pub base: Duration,
    /// No delay exceeds this.
    pub cap: Duration,
    /// Give up this long after the first attempt ("retries exhausted").
    pub max_age: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(10 * 60),
            max_age: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// What to do with a conversion after an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum NextStep {
    Delivered,
    /// Send again at this unix ms.
    RetryAt(i64),
    /// Pause the pixel; the conversion waits for a new token (no retry budget spent).
    Pause,
    /// Never send again, for this reason.
    Dead(String),
}

impl RetryPolicy {
    /// The longest delay before retry number `retry` (1 = after the first failure):
    /// `min(cap, base · 2^(retry-1))`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// A delay drawn uniformly from `[0, ceiling(retry)]` ("full jitter": retries of a failed batch
    /// spread out instead of hitting TikTok together).
    pub fn delay(&self, retry: u32, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling(retry).as_millis();
        let ceiling = u64::try_from(ceiling).unwrap_or(u64::MAX);
        Duration::from_millis(rng.random_range(0..=ceiling))
    }

    /// Decides the next step after an attempt ending in `outcome`.
    ///
    /// `retries` counts retryable failures including this one; `first_attempt_ms` is when the
    /// conversion was first sent.
    pub fn next_step(
        &self,
        outcome: AttemptOutcome,
        message: &str,
        retries: u32,
        first_attempt_ms: i64,
        now_ms: i64,
        rng: &mut impl Rng,
    ) -> NextStep {
        match outcome {
            AttemptOutcome::Delivered => NextStep::Delivered,
            AttemptOutcome::Auth => NextStep::Pause,
            // The caller names the destination (`rejected by Meta: …`).
            AttemptOutcome::Invalid => NextStep::Dead(message.to_owned()),
            // A replay marker is never an answer to classify; if one got here, retrying is the safe
            // reading (as for an unknown stored outcome).
            AttemptOutcome::Retryable | AttemptOutcome::Replayed => {
                let max_age_ms = i64::try_from(self.max_age.as_millis()).unwrap_or(i64::MAX);
                if now_ms.saturating_sub(first_attempt_ms) >= max_age_ms {
                    return NextStep::Dead(format!(
                        "retries exhausted after {retries} attempts over {}; last error: {message}",
                        humanize(self.max_age)
                    ));
                }
                let delay = i64::try_from(self.delay(retries, rng).as_millis()).unwrap_or(i64::MAX);
                NextStep::RetryAt(now_ms.saturating_add(delay))
            }
        }
    }
}

fn humanize(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 3600 && secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else if secs >= 60 && secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{:?}", d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn ceilings_double_from_the_base_up_to_the_cap() {
        let p = RetryPolicy::default();
        let secs: Vec<u64> = (1..=12).map(|n| p.ceiling(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]);
        assert_eq!(p.ceiling(u32::MAX), p.cap);
    }

    #[test]
    fn gives_up_once_the_max_age_has_passed() {
        let p = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(7);
        let day_ms = 24 * 3600 * 1000;
        let step = p.next_step(
            AttemptOutcome::Retryable,
            "HTTP 503",
            40,
            0,
            day_ms,
            &mut rng,
        );
        assert!(
            matches!(&step, NextStep::Dead(why) if why.contains("retries exhausted") && why.contains("24h")),
            "{step:?}"
        );
        let step = p.next_step(
            AttemptOutcome::Retryable,
            "HTTP 503",
            40,
            0,
            day_ms - 1,
            &mut rng,
        );
        assert!(matches!(step, NextStep::RetryAt(_)));
    }

    #[test]
    fn auth_pauses_and_delivered_is_final() {
        let p = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(
            p.next_step(AttemptOutcome::Auth, "40105", 0, 0, 0, &mut rng),
            NextStep::Pause
        );
        assert_eq!(
            p.next_step(AttemptOutcome::Delivered, "OK", 0, 0, 0, &mut rng),
            NextStep::Delivered
        );
    }

    proptest! {
        #[test]
        fn backoff_never_exceeds_the_cap(retry in 0u32..10_000, seed in any::<u64>(),
                                         base_ms in 1u64..5_000, cap_ms in 1u64..1_000_000) {
            let p = RetryPolicy {
                base: Duration::from_millis(base_ms),
                cap: Duration::from_millis(cap_ms),
                max_age: Duration::from_secs(3600),
            };
            let mut rng = StdRng::seed_from_u64(seed);
            prop_assert!(p.delay(retry, &mut rng) <= p.cap);
            prop_assert!(p.delay(retry, &mut rng) <= p.ceiling(retry));
        }

        #[test]
        fn never_retries_an_invalid_event(retries in 0u32..100, first in 0i64..1_000_000,
                                          later in 0i64..100_000_000, seed in any::<u64>()) {
            let p = RetryPolicy::default();
            let mut rng = StdRng::seed_from_u64(seed);
            let step = p.next_step(AttemptOutcome::Invalid, "40002", retries, first, first + later, &mut rng);
            prop_assert!(matches!(step, NextStep::Dead(_)));
        }

        #[test]
        fn a_retry_is_scheduled_no_later_than_the_ceiling(retries in 1u32..64, now in 0i64..1_000_000_000,
                                                          seed in any::<u64>()) {
            let p = RetryPolicy::default();
            let mut rng = StdRng::seed_from_u64(seed);
            match p.next_step(AttemptOutcome::Retryable, "x", retries, now, now, &mut rng) {
                NextStep::RetryAt(at) => {
                    prop_assert!(at >= now);
                    prop_assert!(at - now <= p.ceiling(retries).as_millis() as i64);
                }
                other => prop_assert!(false, "unexpected {other:?}"),
            }
        }
    }
}
