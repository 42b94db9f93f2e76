//! Injected failures and the automatic rate limit. Owns which failure the next track request gets;
//! it never applies to the inspection endpoints. Time is passed in (`Instant`), so expiry and the
//! per-second window are tested without sleeping.
//!
//! Two kinds of fault are drawn independently for each request: the first live *answer* fault (every
//! kind but `slow`) decides what the request gets, and the first live `slow` fault decides how long it
//! waits for it. So "slow and then a 502" can be played, and a long timed `slow` fault does not hold
//! back a `rate_limit` injected after it. Within each kind, faults apply in injection order.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};

use crate::latency::Latency;

/// A failure the sandbox can play, each one a way TikTok (or the path to it) is known to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// HTTP 500 with an HTML body.
    Http500,
    /// HTTP 502 with an nginx-style HTML body.
    Http502,
    /// Sleep for the configured `hang` duration, then answer normally.
    Hang,
    /// Code 40100, "Too many requests".
    RateLimit,
    /// Code 40105, as if the token had been revoked.
    TokenRevoked,
    /// Code 40001, as if the token had lost access to the pixel.
    NoPermission,
    /// Code 50002, a transient server error.
    ServerError,
    /// Answer after a delay drawn from this distribution, overriding the sandbox's `--latency-ms`.
    /// Combines with the other kinds: it delays whatever answer the request gets.
    Slow(Latency),
}

impl FaultKind {
    /// Every kind named without parameters (all but `slow`), in documentation order.
    pub const ALL: [FaultKind; 7] = [
        FaultKind::Http500,
        FaultKind::Http502,
        FaultKind::Hang,
        FaultKind::RateLimit,
        FaultKind::TokenRevoked,
        FaultKind::NoPermission,
        FaultKind::ServerError,
    ];

    /// The name used by `POST /sandbox/faults`.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Http500 => "http_500",
            FaultKind::Http502 => "http_502",
            FaultKind::Hang => "hang",
            FaultKind::RateLimit => "rate_limit",
            FaultKind::TokenRevoked => "token_revoked",
            FaultKind::NoPermission => "no_permission",
            FaultKind::ServerError => "server_error",
            FaultKind::Slow(_) => "slow",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not a fault kind without parameters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown fault kind {0:?}; expected one of: http_500, http_502, hang, rate_limit, token_revoked, no_permission, server_error, or slow (which takes latency_ms)"
)]
pub struct UnknownFaultKind(pub String);

/// Parses the kinds named without parameters; `slow` needs its latency and is built as
/// `FaultKind::Slow(latency)`.
impl FromStr for FaultKind {
    type Err = UnknownFaultKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FaultKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownFaultKind(s.to_owned()))
    }
}

impl Serialize for FaultKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// How long a fault lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultSpan {
    /// The next N track requests.
    Requests(u32),
    /// Every track request for this long.
    For(Duration),
}

/// A fault to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    pub span: FaultSpan,
}

impl Fault {
    /// `kind` for the next `count` track requests.
    pub fn requests(kind: FaultKind, count: u32) -> Self {
        Fault {
            kind,
            span: FaultSpan::Requests(count),
        }
    }

    /// `kind` for every track request during `duration`.
    pub fn lasting(kind: FaultKind, duration: Duration) -> Self {
        Fault {
            kind,
            span: FaultSpan::For(duration),
        }
    }
}

/// An active fault as `GET /sandbox/faults` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaultStatus {
    pub id: u64,
    pub kind: FaultKind,
    /// Requests still to be failed (count-based faults).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining: Option<u32>,
    /// When it stops (time-based faults).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "rfc3339")]
    pub until: Option<DateTime<Utc>>,
    /// The delay of a `slow` fault, `P50[:P99]` in milliseconds (the `kind` field is only its name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<Latency>,
}

fn rfc3339<S: Serializer>(at: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true)),
        None => serializer.serialize_none(),
    }
}

#[derive(Debug)]
struct Active {
    id: u64,
    kind: FaultKind,
    remaining: Option<u32>,
    until: Option<(Instant, DateTime<Utc>)>,
}

impl Active {
    fn live(&self, now: Instant) -> bool {
        self.remaining != Some(0) && self.until.is_none_or(|(end, _)| now < end)
    }

    fn status(&self) -> FaultStatus {
        let latency_ms = match self.kind {
            FaultKind::Slow(latency) => Some(latency),
            _ => None,
        };
        FaultStatus {
            id: self.id,
            kind: self.kind,
            remaining: self.remaining,
            until: self.until.map(|(_, at)| at),
            latency_ms,
        }
    }

    fn is_slow(&self) -> bool {
        matches!(self.kind, FaultKind::Slow(_))
    }

    /// Uses the fault for one request (count-based faults count down).
    fn spend(&mut self) -> FaultKind {
        if let Some(n) = self.remaining.as_mut() {
            *n = n.saturating_sub(1);
        }
        self.kind
    }
}

/// What one track request drew from the active faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Drawn {
    /// The answer fault it gets (never `Slow`), if any.
    pub(crate) answer: Option<FaultKind>,
    /// The delay of the `slow` fault it gets, if any; it replaces the configured latency.
    pub(crate) slow: Option<Latency>,
}

/// Active faults, applied in the order they were injected.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    active: Vec<Active>,
    next_id: u64,
}

impl Faults {
    /// Adds a fault; returns its status (with its id).
    pub(crate) fn inject(&mut self, fault: Fault, now: Instant) -> FaultStatus {
        self.next_id += 1;
        let (remaining, until) = match fault.span {
            FaultSpan::Requests(n) => (Some(n), None),
            FaultSpan::For(d) => {
                let wall = chrono::Duration::from_std(d)
                    .ok()
                    .and_then(|d| Utc::now().checked_add_signed(d))
                    .unwrap_or(DateTime::<Utc>::MAX_UTC);
                let end = now
                    .checked_add(d)
                    .unwrap_or(now + Duration::from_secs(86_400 * 365));
                (None, Some((end, wall)))
            }
        };
        let active = Active {
            id: self.next_id,
            kind: fault.kind,
            remaining,
            until,
        };
        let status = active.status();
        self.active.push(active);
        status
    }

    /// The faults the next track request gets: the first live answer fault and the first live `slow`
    /// fault, each used up by one request if count-based.
    pub(crate) fn take(&mut self, now: Instant) -> Drawn {
        self.active.retain(|f| f.live(now));
        if self.active.is_empty() {
            return Drawn::default();
        }
        let answer = self
            .active
            .iter_mut()
            .find(|f| !f.is_slow())
            .map(Active::spend);
        let slow = self.active.iter_mut().find_map(|f| match f.kind {
            FaultKind::Slow(latency) => {
                f.spend();
                Some(latency)
            }
            _ => None,
        });
        self.active.retain(|f| f.live(now));
        Drawn { answer, slow }
    }

    pub(crate) fn list(&mut self, now: Instant) -> Vec<FaultStatus> {
        self.active.retain(|f| f.live(now));
        self.active.iter().map(Active::status).collect()
    }

    pub(crate) fn clear(&mut self) {
        self.active.clear();
    }
}

/// A fixed one-second window counting admitted requests, for `max_rps`.
#[derive(Debug)]
pub(crate) struct RateWindow {
    started: Option<Instant>,
    count: u32,
}

impl RateWindow {
    pub(crate) fn new() -> Self {
        Self {
            started: None,
            count: 0,
        }
    }

    /// Whether one more request fits in the current second.
    pub(crate) fn admit(&mut self, now: Instant, max_per_second: u32) -> bool {
        let expired = self
            .started
            .is_none_or(|start| now.duration_since(start) >= Duration::from_secs(1));
        if expired {
            self.started = Some(now);
            self.count = 0;
        }
        if self.count >= max_per_second {
            return false;
        }
        self.count += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in FaultKind::ALL {
            assert_eq!(kind.as_str().parse::<FaultKind>(), Ok(kind));
        }
        assert!("http500".parse::<FaultKind>().is_err());
    }

    #[test]
    fn count_faults_fail_exactly_n_requests_in_injection_order() {
        let t = Instant::now();
        let mut faults = Faults::default();
        faults.inject(Fault::requests(FaultKind::Http502, 2), t);
        faults.inject(Fault::requests(FaultKind::RateLimit, 1), t);
        let seen: Vec<_> = (0..4).map(|_| faults.take(t).answer).collect();
        assert_eq!(
            seen,
            [
                Some(FaultKind::Http502),
                Some(FaultKind::Http502),
                Some(FaultKind::RateLimit),
                None
            ]
        );
    }

    #[test]
    fn timed_faults_apply_until_they_expire() {
        let t = Instant::now();
        let mut faults = Faults::default();
        let status = faults.inject(
            Fault::lasting(FaultKind::ServerError, Duration::from_secs(5)),
            t,
        );
        assert!(status.until.is_some() && status.remaining.is_none());
        for s in 0..5 {
            assert_eq!(
                faults.take(t + Duration::from_secs(s)).answer,
                Some(FaultKind::ServerError)
            );
        }
        assert_eq!(faults.take(t + Duration::from_secs(5)), Drawn::default());
        assert!(faults.list(t + Duration::from_secs(5)).is_empty());
    }

    #[test]
    fn listing_shows_remaining_counts_and_clear_removes_all() {
        let t = Instant::now();
        let mut faults = Faults::default();
        faults.inject(Fault::requests(FaultKind::Hang, 3), t);
        faults.take(t);
        let list = faults.list(t);
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].remaining, Some(2));
        faults.clear();
        assert_eq!(faults.take(t), Drawn::default());
    }

    fn slow(p50: u64, p99: u64) -> FaultKind {
        FaultKind::Slow(Latency::new(p50, p99).unwrap())
    }

    #[test]
    fn slow_faults_combine_with_answer_faults_and_count_down_separately() {
        let t = Instant::now();
        let mut faults = Faults::default();
        faults.inject(Fault::requests(slow(200, 200), 2), t);
        faults.inject(Fault::requests(FaultKind::Http502, 1), t);
        let latency = Latency::constant(200).unwrap();
        assert_eq!(
            faults.take(t),
            Drawn {
                answer: Some(FaultKind::Http502),
                slow: Some(latency)
            }
        );
        assert_eq!(
            faults.take(t),
            Drawn {
                answer: None,
                slow: Some(latency)
            }
        );
        assert_eq!(faults.take(t), Drawn::default());
        assert!(faults.list(t).is_empty());
    }

    #[test]
    fn the_first_injected_slow_fault_applies_until_it_expires() {
        let t = Instant::now();
        let mut faults = Faults::default();
        faults.inject(Fault::lasting(slow(100, 300), Duration::from_secs(2)), t);
        faults.inject(Fault::requests(slow(500, 500), 1), t);
        assert_eq!(faults.take(t).slow, Latency::new(100, 300).ok());
        let later = t + Duration::from_secs(2);
        assert_eq!(faults.take(later).slow, Latency::constant(500).ok());
        assert_eq!(faults.take(later).slow, None);
    }

    #[test]
    fn a_listed_slow_fault_shows_its_latency() {
        let t = Instant::now();
        let mut faults = Faults::default();
        faults.inject(Fault::requests(slow(100, 300), 3), t);
        faults.inject(Fault::requests(FaultKind::Hang, 1), t);
        let listed = serde_json::to_value(faults.list(t)).unwrap();
        assert_eq!(
            listed,
            serde_json::json!([
                {"id": 1, "kind": "slow", "latency_ms": "100:300", "remaining": 3},
                {"id": 2, "kind": "hang", "remaining": 1}
            ])
        );
        assert!("slow".parse::<FaultKind>().is_err());
    }

    #[test]
    fn rate_window_admits_max_per_second_then_resets() {
        let t = Instant::now();
        let mut window = RateWindow::new();
        assert!(window.admit(t, 2));
        assert!(window.admit(t + Duration::from_millis(10), 2));
        assert!(!window.admit(t + Duration::from_millis(999), 2));
        assert!(window.admit(t + Duration::from_secs(1), 2));
        assert!(!RateWindow::new().admit(t, 0));
    }
}
