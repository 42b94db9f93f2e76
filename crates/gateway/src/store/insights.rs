//! Operator reads for the web console: conversions per minute by state, match quality per pixel,
//! lead search by ttclid or hashed email, dead-letter listing with filters, and a replay of chosen
//! conversions. A separate trait (a supertrait of [`super::Store`]) so each store implements it in a
//! file of its own. These reads are for people looking at a page, not for the hot path: each is
//! bounded (a time window or a row limit) and served by an index.

use serde::Serialize;

use super::{PageRepairs, ReplayFrom, ReplayOutcome, StoreFuture};
use crate::domain::{Conversion, ConversionState, Lead};

/// Conversions queued in one minute that are now in one state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MinuteCount {
    /// Start of the minute, unix milliseconds.
    pub minute_ms: i64,
    pub state: ConversionState,
    pub count: u64,
}

/// How many of a pixel's conversions carried each matching signal (TikTok matches events to people
/// with these; the more present, the better the optimization).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MatchQuality {
    pub pixel: String,
    /// Conversions counted (not suppressed ones: those are never sent).
    pub conversions: u64,
    pub ttclid: u64,
    pub ttp: u64,
    pub email: u64,
    pub phone: u64,
    /// Both `ip` and `user_agent`.
    pub ip_and_user_agent: u64,
    /// Meta's click id: an `fbc` cookie, or an `fbclid` it is built from.
    pub fbc: u64,
    /// Meta's browser id (`_fbp`).
    pub fbp: u64,
    /// A Google click id: `gclid`, `gbraid` or `wbraid`.
    pub gclid: u64,
}

/// What a lead search looks for; each is an exact match on an indexed column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeadQuery {
    Ttclid(String),
    /// SHA-256 hex of the normalized email (the store never sees a raw one).
    EmailHash(String),
}

/// Which parked conversions to list (dead ones unless `from` says otherwise). Every set field
/// must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetterFilter {
    /// The state listed: `dead` (the default), `undeliverable` or `paused`.
    pub from: ReplayFrom,
    pub pixel: Option<String>,
    /// A piece of the reason (`last_error`), matched case-insensitively.
    pub reason: Option<String>,
    /// Queued at or after (unix ms).
    pub since_ms: Option<i64>,
    /// Queued before (unix ms).
    pub until_ms: Option<i64>,
    /// Only ids below this (paging, newest first); none: from the newest.
    pub before_id: Option<i64>,
    /// At most this many (at least one).
    pub limit: usize,
}

/// How many parked conversions (of one state) share one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReasonCount {
    pub reason: String,
    pub count: u64,
}

/// Reads (and one write) the console needs beyond the delivery path.
pub trait Insights: Send + Sync {
    /// Conversions queued at or after `since_ms`, counted per minute of queueing and current state,
    /// ordered by minute then state.
    fn conversions_per_minute(&self, since_ms: i64) -> StoreFuture<'_, Vec<MinuteCount>>;

    /// Per pixel, the conversions queued at or after `since_ms` (suppressed ones excepted) and how
    /// many of them had each signal on their lead, ordered by pixel.
    fn match_quality(&self, since_ms: i64) -> StoreFuture<'_, Vec<MatchQuality>>;

    /// Leads matching `query`, newest first, at most `limit`.
    fn search_leads<'a>(&'a self, query: &'a LeadQuery, limit: usize)
    -> StoreFuture<'a, Vec<Lead>>;

    /// Conversions in state `filter.from` matching `filter`, newest (highest id) first.
    fn dead_letters<'a>(&'a self, filter: &'a DeadLetterFilter)
    -> StoreFuture<'a, Vec<Conversion>>;

    /// The most frequent reasons of conversions in state `from`, most frequent first, at most
    /// `limit`.
    fn dead_reasons(&self, from: ReplayFrom, limit: usize) -> StoreFuture<'_, Vec<ReasonCount>>;

    /// Re-queues exactly the conversions in `ids` that are in state `from`, with the semantics of
    /// [`super::Store::replay`] (original event_id and payload, a `replayed` log entry, fresh retry
    /// budget; undeliverable ones naming no page get their pixel's URL from `page_repairs`, as in
    /// [`super::ReplayFilter::page_repairs`]), in one transaction. Ids in
    /// another state are left alone and not counted. `last_id` is the highest id re-queued.
    /// [`crate::Gateway::replay_ids`] passes the pixels' current `site_url`s and destinations.
    fn replay_ids<'a>(
        &'a self,
        from: ReplayFrom,
        ids: &'a [i64],
        page_repairs: &'a PageRepairs,
    ) -> StoreFuture<'a, ReplayOutcome>;
}

/// Most ids one [`Insights::replay_ids`] call takes (a page of the dead-letter list).
pub const MAX_REPLAY_IDS: usize = 1_000;

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern, and wraps it in `%…%`.
pub(crate) fn contains_pattern(needle: &str) -> String {
    let mut out = String::with_capacity(needle.len() + 2);
    out.push('%');
    for c in needle.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(contains_pattern("40002"), "%40002%");
        assert_eq!(contains_pattern("100%_x\\"), "%100\\%\\_x\\\\%");
        assert_eq!(contains_pattern("Too OLD"), "%too old%");
    }
}
