//! Retention: `[server] retention_days` (default 90; 0 keeps everything). Once an hour, and a minute
//! after start, leads stored longer ago than that — whose lifecycle events are all that old too and
//! none of whose conversions still waits for delivery — are deleted with their events, conversions,
//! payloads and attempt log, in batches of [`BATCH`] with a pause between them, so ingest never
//! waits behind a long delete.

use std::sync::Arc;
use std::time::Duration;

use signalpost_gateway::Store;
use tokio_util::sync::CancellationToken;

/// Leads deleted per transaction.
pub const BATCH: usize = 500;
/// How often the sweep runs.
const EVERY: Duration = Duration::from_secs(3600);
/// The first sweep waits this long after start (start-up is busy enough).
const FIRST_AFTER: Duration = Duration::from_secs(60);
/// Pause between two batches of one sweep.
const BETWEEN_BATCHES: Duration = Duration::from_millis(100);

/// Starts the sweeper; it stops with `stop`. Does nothing when `days` is 0.
pub fn spawn(store: Arc<dyn Store>, days: u32, stop: CancellationToken) {
    if days == 0 {
        return;
    }
    let keep = Duration::from_secs(u64::from(days) * 86_400);
    tokio::spawn(async move {
        let mut wait = FIRST_AFTER;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            wait = EVERY;
            let cutoff = signalpost_gateway::time::now_ms()
                - i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
            let mut purged = 0u64;
            loop {
                match store.purge_expired(cutoff, BATCH).await {
                    Ok(batch) if batch.leads == 0 => break,
                    Ok(batch) => purged += batch.leads,
                    Err(e) => {
                        tracing::warn!(error = %e, "retention: a purge batch failed; next sweep in an hour");
                        break;
                    }
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(BETWEEN_BATCHES) => {}
                }
            }
            if purged > 0 {
                tracing::info!(
                    leads = purged,
                    days,
                    "retention: leads past the retention period deleted"
                );
            }
        }
    });
}
