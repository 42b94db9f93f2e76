//! Replay as the operator tools run it (`POST /v1/replay`, `signalpost replay`): loops over the
//! store's chunks until the filter is exhausted, reporting progress after each, and wakes the
//! delivery workers. Each chunk is its own transaction, so a large replay never blocks ingest for
//! long and an interrupted one leaves every finished chunk re-queued.

use std::borrow::Cow;

use crate::error::GatewayError;
use crate::gateway::Gateway;
use crate::store::{PageRepair, PageRepairs, ReplayChunk, ReplayFilter, ReplayFrom, ReplayOutcome};

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
    /// a payload still naming no page (TikTok's `page.url`, Meta's `event_source_url`) gets its
    /// pixel's current `site_url` (from the rules' pixels when `filter.page_repairs` is empty). The
    /// conversion is then `pending` like any replayed one and is not checked again here: if the
    /// destination still refuses it, delivery records its own answer and it goes dead, where it
    /// can be inspected and replayed once more.
    pub async fn replay(
        &self,
        filter: &ReplayFilter,
        dry_run: bool,
        chunk: usize,
        mut progress: impl FnMut(ReplayTotals),
    ) -> Result<ReplayTotals, GatewayError> {
        let filter: Cow<'_, ReplayFilter> = if filter.page_repairs.is_empty() {
            match self.page_repairs(filter.from) {
                Some(page_repairs) => Cow::Owned(ReplayFilter {
                    page_repairs,
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
    /// [`Gateway::replay`]: undeliverable ones naming no page get their pixel's current
    /// `site_url`. Does not wake the delivery workers; the caller does.
    pub async fn replay_ids(
        &self,
        from: ReplayFrom,
        ids: &[i64],
    ) -> Result<ReplayOutcome, GatewayError> {
        let repairs = self.page_repairs(from).unwrap_or_default();
        Ok(self.store().replay_ids(from, ids, &repairs).await?)
    }

    /// The pixels' current `site_url`s and destinations when replaying `from` repairs pages
    /// (undeliverable conversions); `None` for other states.
    fn page_repairs(&self, from: ReplayFrom) -> Option<PageRepairs> {
        match from {
            ReplayFrom::Undeliverable => {
                let rules = self.rules();
                let repairs = rules.site_urls().iter().map(|(pixel, site_url)| {
                    let repair = PageRepair {
                        site_url: site_url.clone(),
                        destination: rules.destination(pixel),
                    };
                    (pixel.clone(), repair)
                });
                Some(repairs.collect())
            }
            ReplayFrom::Dead | ReplayFrom::Paused => None,
        }
    }
}
