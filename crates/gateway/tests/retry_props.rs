//! Property tests of the retry schedule (`delivery::retry`, `delivery::policy`): every delay is a
//! full-jitter draw in `[0, ceiling]`, the ceiling starts at the base, doubles and stops at the cap,
//! a failing conversion is retried only while it is younger than `max_age` and then goes dead, and
//! only retryable outcomes are ever rescheduled. Case counts are kept small so the file runs in well
//! under a second.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use signalpost_gateway::AttemptOutcome;
use signalpost_gateway::delivery::{DeliveryPolicy, NextStep, RetryPolicy};

/// Policies with a base of 1 ms–10 s, a cap from below the base to 1 h, and a max age of 1 s–2 d.
fn policy() -> impl Strategy<Value = RetryPolicy> {
    (1u64..10_000, 1u64..3_600_000, 1_000u64..172_800_000).prop_map(|(base, cap, age)| {
        RetryPolicy {
            base: Duration::from_millis(base),
            cap: Duration::from_millis(cap),
            max_age: Duration::from_millis(age),
        }
    })
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn the_ceiling_starts_at_the_base_doubles_and_stops_at_the_cap(p in policy(), retry in 1u32..200) {
        prop_assert_eq!(p.ceiling(1), p.base.min(p.cap));
        // Retry 0 (no failure yet) is treated like the first retry, never as a zero delay.
        prop_assert_eq!(p.ceiling(0), p.ceiling(1));
        let (now, next) = (p.ceiling(retry), p.ceiling(retry + 1));
        prop_assert!(now <= p.cap);
        prop_assert!(now <= next, "ceiling shrank from retry {} to {}", retry, retry + 1);
        prop_assert!(next <= now.saturating_mul(2), "ceiling more than doubled at retry {}", retry);
        prop_assert_eq!(p.ceiling(u32::MAX), p.cap);
    }

    #[test]
    fn every_delay_is_within_zero_and_the_ceiling(p in policy(), retry in 0u32..10_000, seed in any::<u64>()) {
        let mut rng = StdRng::seed_from_u64(seed);
        for _ in 0..16 {
            let delay = p.delay(retry, &mut rng);
            prop_assert!(delay <= p.ceiling(retry));
            prop_assert!(delay <= p.cap);
        }
    }

    #[test]
    fn jitter_spreads_over_the_whole_range(retry in 1u32..40, seed in any::<u64>()) {
        // Default policy: every ceiling is at least 1 s, so quarters of it are distinct milliseconds.
        let p = RetryPolicy::default();
        let ceiling = p.ceiling(retry);
        let mut rng = StdRng::seed_from_u64(seed);
        let draws: Vec<Duration> = (0..400).map(|_| p.delay(retry, &mut rng)).collect();
        let (min, max) = (draws.iter().min().unwrap(), draws.iter().max().unwrap());
        prop_assert!(*min < ceiling / 4, "no draw in the lowest quarter: min {:?} of {:?}", min, ceiling);
        prop_assert!(*max > ceiling * 3 / 4, "no draw in the top quarter: max {:?} of {:?}", max, ceiling);
    }

    #[test]
    fn a_failing_conversion_retries_within_its_max_age_then_goes_dead(
        p in policy(), first in 0i64..4_000_000_000_000, seed in any::<u64>(),
    ) {
        // Keep the walk short: at least 1/200 of the max age per ceiling once it is capped.
        prop_assume!(ms(p.cap) * 200 >= ms(p.max_age));
        let mut rng = StdRng::seed_from_u64(seed);
        let deadline = first + ms(p.max_age);
        let (mut now, mut retries) = (first, 0u32);
        loop {
            retries += 1;
            match p.next_step(AttemptOutcome::Retryable, "HTTP 503", retries, first, now, &mut rng) {
                NextStep::RetryAt(at) => {
                    prop_assert!(now < deadline, "retry scheduled at age {} ms ≥ max age", now - first);
                    prop_assert!(at >= now && at - now <= ms(p.ceiling(retries)));
                    now = at;
                }
                NextStep::Dead(why) => {
                    prop_assert!(now >= deadline, "dead at age {} ms, before the max age", now - first);
                    prop_assert!(now <= deadline + ms(p.cap), "overshot the max age by more than one cap");
                    prop_assert!(why.contains("retries exhausted"), "{}", why);
                    prop_assert!(why.contains(&format!("after {retries} attempts")), "{}", why);
                    break;
                }
                other => prop_assert!(false, "a retryable failure became {:?}", other),
            }
            prop_assert!(retries < 100_000, "the schedule never gave up");
        }
    }

    #[test]
    fn only_retryable_outcomes_are_rescheduled(
        p in policy(), retries in 0u32..1_000, first in 0i64..1_000_000, age in 0i64..200_000_000,
        seed in any::<u64>(),
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let now = first + age;
        let mut step = |outcome| p.next_step(outcome, "40002 bad", retries, first, now, &mut rng);
        prop_assert_eq!(step(AttemptOutcome::Delivered), NextStep::Delivered);
        // An auth failure pauses the pixel whatever the age: it spends no retry budget.
        prop_assert_eq!(step(AttemptOutcome::Auth), NextStep::Pause);
        prop_assert!(matches!(step(AttemptOutcome::Invalid), NextStep::Dead(why) if why.contains("40002 bad")));
        let retry = step(AttemptOutcome::Retryable);
        prop_assert_eq!(matches!(retry, NextStep::RetryAt(_)), age < ms(p.max_age), "{:?}", retry);
    }

    #[test]
    fn extreme_clocks_and_counts_saturate_instead_of_overflowing(
        retries in prop_oneof![Just(0u32), Just(u32::MAX), any::<u32>()],
        first in prop_oneof![Just(i64::MIN), Just(0i64), Just(i64::MAX), any::<i64>()],
        now in prop_oneof![Just(i64::MIN), Just(0i64), Just(i64::MAX), any::<i64>()],
        seed in any::<u64>(),
    ) {
        let p = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(seed);
        match p.next_step(AttemptOutcome::Retryable, "x", retries, first, now, &mut rng) {
            NextStep::RetryAt(at) => prop_assert!(at >= now),
            NextStep::Dead(_) => {}
            other => prop_assert!(false, "unexpected {:?}", other),
        }
    }
}

#[test]
fn the_default_delivery_policy_retries_sensibly() {
    let policy = DeliveryPolicy::default();
    let retry = policy.retry;
    assert_eq!(retry, RetryPolicy::default());
    assert!(retry.base > Duration::ZERO);
    assert!(retry.base <= retry.cap);
    assert!(
        retry.cap < retry.max_age,
        "a capped delay must fit in the max age"
    );
    assert!(
        retry.max_age <= policy.max_event_age,
        "retrying past the event age only to drop it as too old"
    );
    assert!(policy.lease > policy.request_timeout);
    assert!(
        policy.max_batch_events <= 2000,
        "no destination takes more per request"
    );
}
