//! Keeping a batch's lease while it is delivered. A claim holds its conversions until
//! `now + lease`; a delivery that takes longer (a refused batch resolved request by request against a
//! slow destination, a long rate-limit wait) renews the lease of the conversions it has not settled
//! yet, so no other worker or node reclaims them mid-way and sends them a second time.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::deliver::Ctx;
use crate::time::now_ms;

/// Renews the lease of the batch's unsettled conversions every third of a lease for as long as the
/// delivery runs (the caller drops this future when the round ends). Sets `lost` if some of them are
/// no longer held under `claim`: another worker or node took them after the lease ran out (the
/// process stalled longer than a lease), so this round must stop sending them.
pub(crate) async fn keep_lease(
    ctx: &Ctx,
    claim: i64,
    open: &Mutex<BTreeSet<i64>>,
    lost: &AtomicBool,
) {
    let lease = ctx.policy.lease;
    let every = (lease / 3).max(Duration::from_millis(10));
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
    loop {
        tokio::time::sleep(every).await;
        let ids: Vec<i64> = match open.lock() {
            Ok(open) => open.iter().copied().collect(),
            Err(_) => continue,
        };
        if ids.is_empty() {
            continue;
        }
        match ctx
            .store
            .renew_lease(claim, ids.clone(), now_ms() + lease_ms)
            .await
        {
            Ok(renewed) => {
                let still_open = match open.lock() {
                    Ok(open) => ids.iter().filter(|id| open.contains(id)).count(),
                    Err(_) => 0,
                };
                if (renewed as usize) < still_open {
                    lost.store(true, Ordering::Relaxed);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not renew a delivery lease; will try again");
            }
        }
    }
}
