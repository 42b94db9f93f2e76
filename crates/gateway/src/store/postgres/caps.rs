//! Cap enforcement (see [`crate::domain::CapCheck`] for the contract). Several writer tasks and several
//! nodes write at once, so counting alone is not enough: before counting, the transaction takes a
//! transaction-scoped advisory lock per capped rule (in name order, so two groups never wait on each
//! other in a cycle). The lock is held until COMMIT, and the count runs after it is granted, so it
//! sees every conversion of that rule any other transaction committed: check and insert act as one.

use std::collections::HashMap;

use deadpool_postgres::GenericClient;

use super::error::Failure;
use crate::domain::CapCheck;
use crate::store::StoreError;

const LOCK: &str = "SELECT pg_advisory_xact_lock(hashtextextended('signalpost-cap:' || $1, 0))";

const USAGE: &str = "SELECT count(*) FROM (SELECT 1 FROM conversions \
     WHERE rule = $1 AND created_at_ms >= $2 AND state <> 'suppressed' LIMIT $3) AS t";

/// A conversion whose caps must be checked.
pub(crate) struct Candidate<'a> {
    pub rule: &'a str,
    pub caps: &'a [CapCheck],
    /// When it counts (its `created_at_ms`).
    pub created_at_ms: i64,
}

/// Conversions of `rule` counting toward a window starting at `window_start_ms`; stops counting at
/// `stop_at` when given.
pub(crate) async fn usage(
    client: &impl GenericClient,
    rule: &str,
    window_start_ms: i64,
    stop_at: Option<u64>,
) -> Result<u64, StoreError> {
    let limit: Option<i64> = stop_at.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
    let stmt = client.prepare_cached(USAGE).await?;
    let row = client
        .query_one(&stmt, &[&rule, &window_start_ms, &limit])
        .await?;
    let n: i64 = row
        .try_get(0)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// For each candidate (in arrival order), the reason a full cap suppresses it, or `None`. Counts what
/// is stored plus the candidates this group already let through.
pub(crate) async fn decide(
    tx: &impl GenericClient,
    candidates: &[Candidate<'_>],
) -> Result<Vec<Option<String>>, Failure> {
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let mut rules: Vec<&str> = candidates.iter().map(|c| c.rule).collect();
    rules.sort_unstable();
    rules.dedup();
    let lock = tx.prepare_cached(LOCK).await?;
    for rule in &rules {
        tx.execute(&lock, &[rule]).await?;
    }
    let mut stored: HashMap<(&str, i64), u64> = HashMap::new();
    for c in candidates {
        for cap in c.caps {
            if let std::collections::hash_map::Entry::Vacant(slot) =
                stored.entry((c.rule, cap.window_start_ms))
            {
                slot.insert(usage(tx, c.rule, cap.window_start_ms, Some(cap.limit)).await?);
            }
        }
    }
    let mut let_through: HashMap<&str, Vec<i64>> = HashMap::new();
    let mut out = Vec::with_capacity(candidates.len());
    for c in candidates {
        let earlier = let_through.get(c.rule).map(Vec::as_slice).unwrap_or(&[]);
        let full = c.caps.iter().find(|cap| {
            let in_group = earlier
                .iter()
                .filter(|&&at| at >= cap.window_start_ms)
                .count() as u64;
            let before = stored
                .get(&(c.rule, cap.window_start_ms))
                .copied()
                .unwrap_or(0);
            cap.limit == 0 || before + in_group >= cap.limit
        });
        match full {
            Some(cap) => out.push(Some(cap.reason())),
            None => {
                let_through.entry(c.rule).or_default().push(c.created_at_ms);
                out.push(None);
            }
        }
    }
    Ok(out)
}
