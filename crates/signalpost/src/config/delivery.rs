//! `[delivery]`: the few delivery-engine knobs an operator (or a crash test, or a benchmark) needs to
//! turn. Every key is optional; an absent key keeps the engine's default (DESIGN.md's delivery
//! policy). Durations are integers with their unit in the key name, so a config never needs a
//! duration parser and a typo in a unit cannot go unnoticed.

use std::time::Duration;

use serde::Deserialize;
use signalpost_gateway::delivery::DeliveryPolicy;

/// `[delivery]`. Absent keys keep the engine's defaults.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Ceiling of the first retry delay; it doubles per retry (default 1,000 ms).
    pub retry_base_ms: Option<u64>,
    /// No retry delay exceeds this (default 600,000 ms).
    pub retry_cap_ms: Option<u64>,
    /// A conversion that keeps failing goes dead this long after its first attempt (default 86,400 s).
    pub retry_max_age_secs: Option<u64>,
    /// How long a claimed batch stays reserved; after a crash its conversions are sent again once it
    /// expires (default 30,000 ms). A delivery that takes longer (a refused batch being resolved
    /// against a slow destination) renews it every third of a lease. Keep it above
    /// `request_timeout_ms`.
    pub lease_ms: Option<u64>,
    /// Whole-request timeout towards TikTok (default 10,000 ms).
    pub request_timeout_ms: Option<u64>,
    /// Events older than this go dead unsent, "too old" (default 604,800 s = 7 days).
    pub max_event_age_secs: Option<u64>,
    /// Most concurrent requests per pixel: the ceiling of its adaptive window (default 32).
    pub max_in_flight: Option<usize>,
    /// Concurrent requests per pixel at start; the window grows from there while the destination
    /// answers well and halves on rate limits and failures (default 4, at most `max_in_flight`).
    pub initial_in_flight: Option<usize>,
    /// Requests per second per pixel; 0 = unlimited (default 200).
    pub requests_per_second: Option<f64>,
    /// How long a worker woken by new work waits for more before claiming (default 20 ms).
    pub linger_ms: Option<u64>,
    /// How often a paused pixel sends one held event alone to learn whether the destination accepts
    /// it again (default 300,000 ms = 5 minutes).
    pub pause_probe_ms: Option<u64>,
}

impl DeliveryConfig {
    /// The engine policy: defaults overridden by the keys that are set.
    pub fn policy(&self) -> DeliveryPolicy {
        let mut p = DeliveryPolicy::default();
        let ms = Duration::from_millis;
        let secs = Duration::from_secs;
        if let Some(v) = self.retry_base_ms {
            p.retry.base = ms(v);
        }
        if let Some(v) = self.retry_cap_ms {
            p.retry.cap = ms(v);
        }
        if let Some(v) = self.retry_max_age_secs {
            p.retry.max_age = secs(v);
        }
        if let Some(v) = self.lease_ms {
            p.lease = ms(v);
        }
        if let Some(v) = self.request_timeout_ms {
            p.request_timeout = ms(v);
        }
        if let Some(v) = self.max_event_age_secs {
            p.max_event_age = secs(v);
        }
        if let Some(v) = self.max_in_flight {
            p.max_in_flight = v;
        }
        if let Some(v) = self.initial_in_flight {
            p.initial_in_flight = v;
        }
        if let Some(v) = self.requests_per_second {
            p.requests_per_second = v;
        }
        if let Some(v) = self.linger_ms {
            p.linger = ms(v);
        }
        if let Some(v) = self.pause_probe_ms {
            p.pause_probe = ms(v);
        }
        p
    }

    /// Checks values that would make the engine misbehave; errors name the key.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let positive = |key: &str, v: Option<u64>| match v {
            Some(0) => Err((
                format!("delivery.{key}"),
                "must be greater than 0".to_owned(),
            )),
            _ => Ok(()),
        };
        positive("retry_base_ms", self.retry_base_ms)?;
        positive("retry_cap_ms", self.retry_cap_ms)?;
        positive("lease_ms", self.lease_ms)?;
        positive("request_timeout_ms", self.request_timeout_ms)?;
        positive("pause_probe_ms", self.pause_probe_ms)?;
        for (key, v) in [
            ("max_in_flight", self.max_in_flight),
            ("initial_in_flight", self.initial_in_flight),
        ] {
            if v == Some(0) {
                return Err((format!("delivery.{key}"), "must be greater than 0".into()));
            }
        }
        if self
            .requests_per_second
            .is_some_and(|r| !r.is_finite() || r < 0.0)
        {
            return Err((
                "delivery.requests_per_second".into(),
                "must be 0 (unlimited) or a positive number".into(),
            ));
        }
        let policy = self.policy();
        if policy.lease <= policy.request_timeout {
            return Err((
                "delivery.lease_ms".into(),
                format!(
                    "the lease ({} ms) must be longer than the request timeout ({} ms), or a slow request's batch is sent twice",
                    policy.lease.as_millis(),
                    policy.request_timeout.as_millis()
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_keys_keep_the_engine_defaults() {
        assert_eq!(
            DeliveryConfig::default().policy(),
            DeliveryPolicy::default()
        );
    }

    #[test]
    fn set_keys_override_the_policy() {
        let c: DeliveryConfig = toml::from_str(
            "retry_base_ms = 50\nretry_cap_ms = 400\nlease_ms = 2000\nrequest_timeout_ms = 500\n\
             max_in_flight = 8\nrequests_per_second = 0\n",
        )
        .unwrap();
        let p = c.policy();
        assert_eq!(p.retry.base, Duration::from_millis(50));
        assert_eq!(p.retry.cap, Duration::from_millis(400));
        assert_eq!(p.lease, Duration::from_secs(2));
        assert_eq!(p.request_timeout, Duration::from_millis(500));
        assert_eq!(p.max_in_flight, 8);
        assert_eq!(p.requests_per_second, 0.0);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn a_lease_shorter_than_the_request_timeout_is_refused() {
        let c = DeliveryConfig {
            lease_ms: Some(1000),
            request_timeout_ms: Some(5000),
            ..Default::default()
        };
        assert_eq!(c.validate().unwrap_err().0, "delivery.lease_ms");
        let zero = DeliveryConfig {
            retry_base_ms: Some(0),
            ..Default::default()
        };
        assert_eq!(zero.validate().unwrap_err().0, "delivery.retry_base_ms");
    }
}
