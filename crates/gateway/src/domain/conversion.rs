//! A conversion: one TikTok event to deliver, produced by one rule for one lifecycle event. It carries
//! its TikTok event object already serialized, so delivery only concatenates JSON.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::cap::CapCheck;

/// Where a conversion is in its delivery life (DESIGN.md "Domain words").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversionState {
    /// Waiting for its first send.
    Pending,
    /// Claimed by a delivery worker under a lease; reclaimed if the lease expires.
    InFlight,
    /// TikTok answered code 0.
    Delivered,
    /// A transient failure; sent again at `next_attempt_at_ms`.
    Retrying,
    /// Never sent again (invalid, too old, retries exhausted); `last_error` says why.
    Dead,
    /// The pixel's token was rejected; resumes when the token is replaced.
    Paused,
    /// Kept but never sent (cap or schedule).
    Suppressed,
    /// Refused at ingest: TikTok would reject its event (`last_error` names the field and why,
    /// e.g. `page.url missing: …`), so it is kept out of the queue instead of going dead at
    /// delivery. Never claimed; an operator replays it once the cause is fixed (a pixel's
    /// `site_url` set), and the replay fills what it can (see `Store::replay`).
    Undeliverable,
}

/// Every state, for metrics.
pub const ALL_STATES: &[ConversionState] = &[
    ConversionState::Pending,
    ConversionState::InFlight,
    ConversionState::Delivered,
    ConversionState::Retrying,
    ConversionState::Dead,
    ConversionState::Paused,
    ConversionState::Suppressed,
    ConversionState::Undeliverable,
];

impl ConversionState {
    /// The snake_case name used in storage and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ConversionState::Pending => "pending",
            ConversionState::InFlight => "in_flight",
            ConversionState::Delivered => "delivered",
            ConversionState::Retrying => "retrying",
            ConversionState::Dead => "dead",
            ConversionState::Paused => "paused",
            ConversionState::Suppressed => "suppressed",
            ConversionState::Undeliverable => "undeliverable",
        }
    }

    /// Whether the conversion will never be sent again without an operator (a replay).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ConversionState::Delivered
                | ConversionState::Dead
                | ConversionState::Suppressed
                | ConversionState::Undeliverable
        )
    }
}

impl fmt::Display for ConversionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored state name this build does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown conversion state {0:?}")]
pub struct UnknownState(pub String);

impl FromStr for ConversionState {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL_STATES
            .iter()
            .copied()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_owned()))
    }
}

/// A conversion as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversion {
    /// Store-assigned id.
    pub id: i64,
    pub transaction_id: String,
    /// The lifecycle event that produced it.
    pub lifecycle_id: i64,
    /// The rule that produced it.
    pub rule: String,
    /// Pixel code (`event_source_id`).
    pub pixel: String,
    /// TikTok event name (`data[].event`).
    pub event_name: String,
    /// TikTok dedup key together with pixel and event name.
    pub event_id: String,
    /// The rule's test code; the pixel's applies at send time when this is absent.
    pub test_event_code: Option<String>,
    /// Unix seconds of the lifecycle event.
    pub event_time: i64,
    pub state: ConversionState,
    /// Attempts recorded so far (every HTTP request that carried it).
    pub attempts: u32,
    /// When it will next be sent, unix milliseconds (pending/retrying only).
    pub next_attempt_at_ms: Option<i64>,
    /// Why it is dead, paused or retrying.
    pub last_error: Option<String>,
    /// The TikTok event object (`data[]` element), serialized once at ingest.
    pub payload: String,
    /// When it was queued, unix milliseconds.
    pub created_at_ms: i64,
}

/// A conversion the rules produced, before the store gives it an id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewConversion {
    pub rule: String,
    pub pixel: String,
    pub event_name: String,
    pub event_id: String,
    pub test_event_code: Option<String>,
    pub event_time: i64,
    /// The TikTok event object as JSON.
    pub payload: String,
    /// Caps of the rule, each with its current window. The store suppresses the conversion when one
    /// is reached (see [`CapCheck`] for the exact semantics); empty for an uncapped rule.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caps: Vec<CapCheck>,
    /// Set when the rules already decided the conversion must not be sent (outside the rule's
    /// schedule): the store keeps it as `suppressed` with this as `last_error` (`schedule: …`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<String>,
    /// Set when the gateway's ingest check found TikTok would refuse the event: the store keeps it
    /// as `undeliverable` with this as `last_error` (the field first: `page.url missing: …`), never
    /// claims it, and does not count it against the rule's caps. Ignored when `suppressed` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undeliverable: Option<String>,
}

/// A conversion the rules planned but the gateway's ingest check found TikTok would refuse (see
/// `crate::deliverable`): kept as `undeliverable` (`stored`), or not stored at all when keeping it
/// would do harm (an `event_id` that would dedup unrelated leads' conversions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedConversion {
    pub rule: String,
    pub pixel: String,
    /// TikTok event name.
    pub event: String,
    /// The TikTok field at fault, relative to the event: `page.url`, `event_id`, `user.ip`.
    pub field: String,
    /// One line for people, field first, with what to do: `page.url missing: set the pixel's
    /// site_url or send landing_url`. Stored as the conversion's `last_error`.
    pub problem: String,
    /// Whether it was kept as `undeliverable` (replayable) rather than dropped.
    pub stored: bool,
}

impl RefusedConversion {
    /// The warning the ingest answer lists for it.
    pub fn warning(&self) -> super::Warning {
        super::Warning {
            field: self.field.clone(),
            problem: self.problem.clone(),
            rule: Some(self.rule.clone()),
            pixel: Some(self.pixel.clone()),
            event: Some(self.event.clone()),
        }
    }

    /// The refusal of a stored `undeliverable` conversion, read back from its `last_error` (the
    /// field is its first word): how a repeated request's answer lists what the first one refused.
    pub fn of_stored(c: &Conversion) -> Option<RefusedConversion> {
        if c.state != ConversionState::Undeliverable {
            return None;
        }
        let problem = c.last_error.clone().unwrap_or_default();
        let field = problem
            .split([' ', ':'])
            .next()
            .unwrap_or_default()
            .to_owned();
        Some(RefusedConversion {
            rule: c.rule.clone(),
            pixel: c.pixel.clone(),
            event: c.event_name.clone(),
            field,
            problem,
            stored: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names_are_snake_case_in_serde_and_storage() {
        for st in ALL_STATES {
            assert_eq!(
                serde_json::to_string(st).unwrap(),
                format!("\"{}\"", st.as_str())
            );
            assert_eq!(st.as_str().parse::<ConversionState>(), Ok(*st));
        }
        assert_eq!(ConversionState::InFlight.as_str(), "in_flight");
        assert_eq!(
            "undeliverable".parse::<ConversionState>(),
            Ok(ConversionState::Undeliverable)
        );
    }
}
