//! Caps: "at most N conversions of this rule per hour/day/week/month/ever". The rules decide which
//! window a conversion falls in (in the operator's time zone); the store decides whether the window
//! is full, inside the same write transaction that would queue the conversion, so a cap holds exactly
//! under any concurrency and across restarts. This module is the contract between the two.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The length of a cap window. Windows are calendar periods in the rule's time zone: an hour starts
/// at :00, a day at local midnight, a week on Monday at local midnight, a month on the 1st.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapPeriod {
    Hourly,
    Daily,
    Weekly,
    Monthly,
    /// Since the rule first fired: one window that never rolls over.
    Total,
}

/// Every period, shortest first (the order caps are checked and reported in).
pub const ALL_PERIODS: &[CapPeriod] = &[
    CapPeriod::Hourly,
    CapPeriod::Daily,
    CapPeriod::Weekly,
    CapPeriod::Monthly,
    CapPeriod::Total,
];

impl CapPeriod {
    /// The config key (`[rules.cap] daily = 100`).
    pub fn as_str(self) -> &'static str {
        match self {
            CapPeriod::Hourly => "hourly",
            CapPeriod::Daily => "daily",
            CapPeriod::Weekly => "weekly",
            CapPeriod::Monthly => "monthly",
            CapPeriod::Total => "total",
        }
    }
}

impl fmt::Display for CapPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The string names no cap period.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown cap period {0:?} (expected hourly, daily, weekly, monthly or total)")]
pub struct UnknownPeriod(pub String);

impl FromStr for CapPeriod {
    type Err = UnknownPeriod;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL_PERIODS
            .iter()
            .copied()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPeriod(s.to_owned()))
    }
}

/// One cap a conversion is subject to, resolved to a concrete window.
///
/// Store semantics (every [`crate::store::Store`] implements exactly this): inside the transaction
/// that inserts the conversion, count the conversions already stored with the same `rule`, a
/// `created_at_ms >= window_start_ms`, and a state other than `suppressed` or `undeliverable` (those
/// are never sent, so they use no capacity; an undeliverable conversion is not checked against the
/// caps either). When that count is
/// `>= limit`, the conversion is inserted with state `suppressed` and `last_error =`
/// [`CapCheck::reason`] and is never sent; otherwise it is queued as usual. A conversion with several
/// caps is suppressed by the first (in order) that is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapCheck {
    pub period: CapPeriod,
    /// Conversions allowed per window; `0` suppresses every conversion of the rule.
    pub limit: u64,
    /// Start of the current window, unix milliseconds (`i64::MIN` for [`CapPeriod::Total`]).
    pub window_start_ms: i64,
}

impl CapCheck {
    /// The `last_error` of a conversion this cap suppressed, e.g. `cap: daily cap of 100 reached`.
    pub fn reason(&self) -> String {
        format!("cap: {} cap of {} reached", self.period, self.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_names_round_trip() {
        for p in ALL_PERIODS {
            assert_eq!(p.as_str().parse::<CapPeriod>(), Ok(*p));
            assert_eq!(
                serde_json::to_string(p).unwrap(),
                format!("\"{}\"", p.as_str())
            );
        }
        assert!("yearly".parse::<CapPeriod>().is_err());
    }

    #[test]
    fn the_reason_names_the_period_and_limit() {
        let check = CapCheck {
            period: CapPeriod::Daily,
            limit: 100,
            window_start_ms: 0,
        };
        assert_eq!(check.reason(), "cap: daily cap of 100 reached");
    }
}
