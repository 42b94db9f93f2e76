//! Replay: the types of the one store operation that moves parked conversions (dead, or paused by a
//! rejected token) back to `pending`. A replay keeps everything TikTok dedups on — the original
//! `event_id`, event name and payload — and the whole attempt log; it adds a `replayed` entry to that
//! log, and gives the conversion a fresh retry budget. It works in chunks (ids ascending), so
//! re-queuing a million dead letters never holds one giant write transaction.

use serde::{Deserialize, Serialize};

use crate::domain::ConversionState;

/// The states a replay takes conversions from (the only ones an operator needs to re-queue:
/// retrying ones are already queued, delivered ones must not be sent twice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayFrom {
    Dead,
    Paused,
}

impl ReplayFrom {
    /// The stored state this stands for.
    pub fn state(self) -> ConversionState {
        match self {
            ReplayFrom::Dead => ConversionState::Dead,
            ReplayFrom::Paused => ConversionState::Paused,
        }
    }

    /// The state's name (`dead` | `paused`).
    pub fn as_str(self) -> &'static str {
        self.state().as_str()
    }

    /// Parses `dead` or `paused`, with an error listing both.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "dead" => Ok(ReplayFrom::Dead),
            "paused" => Ok(ReplayFrom::Paused),
            other => Err(format!(
                "{other:?} cannot be replayed; expected \"dead\" or \"paused\""
            )),
        }
    }
}

/// Which conversions a replay re-queues. Every set field must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayFilter {
    pub from: ReplayFrom,
    /// Pixel code.
    pub pixel: Option<String>,
    /// Only conversions queued at or after this time (unix milliseconds).
    pub queued_since_ms: Option<i64>,
    /// Rule name.
    pub rule: Option<String>,
    /// Only this lead's conversions.
    pub transaction_id: Option<String>,
}

impl ReplayFilter {
    /// Every conversion in `from`.
    pub fn all(from: ReplayFrom) -> Self {
        Self {
            from,
            pixel: None,
            queued_since_ms: None,
            rule: None,
            transaction_id: None,
        }
    }
}

/// One chunk of a replay: conversions with an id above `after_id`, in id order, at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayChunk {
    pub after_id: i64,
    pub limit: usize,
    /// Count what matches; change nothing.
    pub dry_run: bool,
}

/// What one chunk did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReplayOutcome {
    /// Conversions in the chunk that match the filter.
    pub matched: u64,
    /// Of those, moved to `pending` (0 on a dry run).
    pub requeued: u64,
    /// The highest id in the chunk: the next chunk's `after_id`. `None` when nothing matched, i.e.
    /// the replay is complete.
    pub last_id: Option<i64>,
}

/// The message of the `replayed` entry added to a conversion's attempt log.
pub fn replay_message(from: ReplayFrom, previous_error: Option<&str>) -> String {
    match previous_error {
        Some(error) => format!("replayed by an operator; was {}: {error}", from.as_str()),
        None => format!("replayed by an operator; was {}", from.as_str()),
    }
}
