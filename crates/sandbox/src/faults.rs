//! Injected failures and the automatic rate limit. Owns which failure the next track request gets;
//! it never applies to the inspection endpoints. Time is passed in (`Instant`), so expiry and the
//! per-second window are tested without sleeping.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};

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
}

impl FaultKind {
    /// Every kind, in documentation order.
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
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not a fault kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown fault kind {0:?}; expected one of: http_500, http_502, hang, rate_limit, token_revoked, no_permission, server_error"
)]
pub struct UnknownFaultKind(pub String);

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
        FaultStatus {
            id: self.id,
            kind: self.kind,
            remaining: self.remaining,
            until: self.until.map(|(_, at)| at),
        }
    }
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

    /// The fault the next track request gets, if any; count-based faults are used up one per call.
    pub(crate) fn take(&mut self, now: Instant) -> Option<FaultKind> {
        self.active.retain(|f| f.live(now));
        let first = self.active.first_mut()?;
        if let Some(n) = first.remaining.as_mut() {
            *n -= 1;
        }
        let kind = first.kind;
        self.active.retain(|f| f.live(now));
        Some(kind)
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
        let seen: Vec<_> = (0..4).map(|_| faults.take(t)).collect();
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
                faults.take(t + Duration::from_secs(s)),
                Some(FaultKind::ServerError)
            );
        }
        assert_eq!(faults.take(t + Duration::from_secs(5)), None);
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
        assert_eq!(faults.take(t), None);
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
