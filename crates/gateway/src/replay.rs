//! Replay as the operator tools run it (`POST /v1/replay`, `signalpost replay`): loops over the
//! store's chunks until the filter is exhausted, reporting progress after each, and wakes the
//! delivery workers. Each chunk is its own transaction, so a large replay never blocks ingest for
//! long and an interrupted one leaves every finished chunk re-queued.

use std::borrow::Cow;

use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::store::{ReplayChunk, ReplayFilter, ReplayFrom};

/// Conversions re-queued per transaction.
pub const DEFAULT_REPLAY_CHUNK: usize = 1_000;

/// Running totals of a replay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReplayTotals {
    /// Conversions that matched the filter (so far).
    pub matched: u64,
    /// Of those, re-queued as pending (0 on a dry run).
    pub requeued: u64,
}

impl Gateway {
    /// Re-queues every conversion `filter` selects (or, with `dry_run`, counts them), `chunk`
    /// conversions per transaction, calling `progress` with the totals after each chunk.
    ///
    /// Replaying `undeliverable` conversions (refused at ingest) re-renders what the fix changed:
    /// a payload still without `page.url` gets its pixel's current `site_url` (from the rules'
    /// pixels when `filter.site_urls` is empty). The conversion is then `pending` like any replayed
    /// one and is not checked again here: if TikTok still refuses it, delivery records TikTok's own
    /// answer and it goes dead, where it can be inspected and replayed once more.
    pub async fn replay(
        &self,
        filter: &ReplayFilter,
        dry_run: bool,
        chunk: usize,
        mut progress: impl FnMut(ReplayTotals),
    ) -> Result<ReplayTotals, GatewayError> {
        let filter: Cow<'_, ReplayFilter> =
            if filter.from == ReplayFrom::Undeliverable && filter.site_urls.is_empty() {
                Cow::Owned(ReplayFilter {
                    site_urls: self.rules().site_urls().clone(),
                    ..filter.clone()
                })
            } else {
                Cow::Borrowed(filter)
            };
        let filter = filter.as_ref();
        let mut totals = ReplayTotals::default();
        let mut after_id = 0;
        loop {
            let outcome = self
                .store()
                .replay(
                    filter,
                    ReplayChunk {
                        after_id,
                        limit: chunk.max(1),
                        dry_run,
                    },
                )
                .await?;
            let Some(last_id) = outcome.last_id else {
                break;
            };
            totals.matched += outcome.matched;
            totals.requeued += outcome.requeued;
            progress(totals);
            if outcome.requeued > 0
                && let Some(pixel) = &filter.pixel
            {
                self.wake_pixel(pixel);
            }
            after_id = last_id;
        }
        Ok(totals)
    }
}
