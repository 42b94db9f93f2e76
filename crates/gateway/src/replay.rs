//! Replay as the operator tools run it (`POST /v1/replay`, `signalpost replay`): loops over the
//! store's chunks until the filter is exhausted, reporting progress after each, and wakes the
//! delivery workers. Each chunk is its own transaction, so a large replay never blocks ingest for
//! long and an interrupted one leaves every finished chunk re-queued.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::store::{ReplayChunk, ReplayFilter, ReplayFrom, ReplayOutcome};

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
        let filter: Cow<'_, ReplayFilter> = if filter.site_urls.is_empty() {
            match self.replay_site_urls(filter.from) {
                Some(site_urls) => Cow::Owned(ReplayFilter {
                    site_urls,
                    ..filter.clone()
                }),
                None => Cow::Borrowed(filter),
            }
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

    /// Re-queues the conversions in `ids` that are in state `from` (the console's replay of chosen
    /// conversions, at most [`crate::store::insights::MAX_REPLAY_IDS`]), with the same repair as
    /// [`Gateway::replay`]: undeliverable ones without `page.url` get their pixel's current
    /// `site_url`. Does not wake the delivery workers; the caller does.
    pub async fn replay_ids(
        &self,
        from: ReplayFrom,
        ids: &[i64],
    ) -> Result<ReplayOutcome, GatewayError> {
        let site_urls = self.replay_site_urls(from).unwrap_or_default();
        Ok(self.store().replay_ids(from, ids, &site_urls).await?)
    }

    /// The pixels' current `site_url`s (pixel code → URL) when replaying `from` repairs `page.url`
    /// (undeliverable conversions); `None` for other states.
    fn replay_site_urls(&self, from: ReplayFrom) -> Option<BTreeMap<String, String>> {
        match from {
            ReplayFrom::Undeliverable => Some(self.rules().site_urls().clone()),
            ReplayFrom::Dead | ReplayFrom::Paused => None,
        }
    }
}
