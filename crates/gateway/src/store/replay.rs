//! Replay: the types of the one store operation that moves parked conversions (dead, paused by a
//! rejected token, or undeliverable: refused at ingest) back to `pending`. A replay keeps everything
//! TikTok dedups on — the original `event_id` and event name — and the whole attempt log; it adds a
//! `replayed` entry to that log, and gives the conversion a fresh retry budget. The payload is kept
//! too, with one repair: an undeliverable conversion whose payload still names no page (TikTok's
//! `page.url`, Meta's `event_source_url`) gets its pixel's current `site_url`
//! ([`ReplayFilter::page_repairs`]), since a missing `site_url` is what the operator fixes before
//! replaying them. It works in chunks (ids ascending), so re-queuing a million
//! dead letters never holds one giant write transaction.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::destinations::Destination;
use crate::domain::ConversionState;

/// How a replay of undeliverable conversions repairs the payloads of one pixel: the pixel's current
/// `site_url`, put where its destination names the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRepair {
    pub site_url: String,
    pub destination: Destination,
}

impl PageRepair {
    /// `payload` with the page filled in, or `None` when it already names one (or needs none).
    pub fn apply(&self, payload: &str) -> Option<String> {
        self.destination.fill_page_url(payload, &self.site_url)
    }
}

/// Pixel code → how to repair its payloads on a replay of undeliverable conversions.
pub type PageRepairs = BTreeMap<String, PageRepair>;

/// The states a replay takes conversions from (the only ones an operator needs to re-queue:
/// retrying ones are already queued, delivered ones must not be sent twice).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayFrom {
    #[default]
    Dead,
    Paused,
    /// Refused at ingest (TikTok would reject them); replayed once the cause is fixed.
    Undeliverable,
}

impl ReplayFrom {
    /// The stored state this stands for.
    pub fn state(self) -> ConversionState {
        match self {
            ReplayFrom::Dead => ConversionState::Dead,
            ReplayFrom::Paused => ConversionState::Paused,
            ReplayFrom::Undeliverable => ConversionState::Undeliverable,
        }
    }

    /// The state's name (`dead` | `paused` | `undeliverable`).
    pub fn as_str(self) -> &'static str {
        self.state().as_str()
    }

    /// Parses `dead`, `paused` or `undeliverable`, with an error listing them.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "dead" => Ok(ReplayFrom::Dead),
            "paused" => Ok(ReplayFrom::Paused),
            "undeliverable" => Ok(ReplayFrom::Undeliverable),
            other => Err(format!(
                "{other:?} cannot be replayed; expected \"dead\", \"paused\" or \"undeliverable\""
            )),
        }
    }

    /// The repair (from `repairs`) of a replayed payload of `pixel`: only when replaying
    /// undeliverable conversions. Filtered replays and replays of chosen ids both decide through
    /// this.
    pub fn repair_for<'a>(self, repairs: &'a PageRepairs, pixel: &str) -> Option<&'a PageRepair> {
        match self {
            ReplayFrom::Undeliverable => repairs.get(pixel),
            ReplayFrom::Dead | ReplayFrom::Paused => None,
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
    /// Pixel code → its current `site_url` and destination. Replaying `undeliverable` conversions
    /// puts that URL where the destination names the page, in payloads that name none; other
    /// replays ignore it. [`crate::Gateway::replay`] fills it from the pixels it knows when left
    /// empty.
    pub page_repairs: PageRepairs,
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
            page_repairs: PageRepairs::new(),
        }
    }

    /// The repair of a replayed payload of `pixel`: only when replaying undeliverable conversions.
    pub fn repair_for(&self, pixel: &str) -> Option<&PageRepair> {
        self.from.repair_for(&self.page_repairs, pixel)
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
