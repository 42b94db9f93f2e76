//! Cap counting (see [`crate::domain::CapCheck`] for the contract). The writer calls [`reached`]
//! inside the ingest transaction, on the only write connection, so the count it sees includes every
//! conversion committed before and every one written earlier in the same transaction: the check and
//! the insert cannot interleave with another writer, which is what makes a cap exact.

use rusqlite::{Connection, params};

use crate::domain::CapCheck;
use crate::store::StoreError;

/// Conversions of `rule` counting toward a window starting at `window_start_ms`, stopping at
/// `stop_at` (a check only needs to know whether the limit is reached, so it never scans further
/// than the limit). Walks the `(rule, created_at_ms)` index.
pub(crate) fn usage(
    conn: &Connection,
    rule: &str,
    window_start_ms: i64,
    stop_at: Option<u64>,
) -> Result<u64, StoreError> {
    let limit = stop_at.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
    let n: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM (SELECT 1 FROM conversions \
             WHERE rule = ?1 AND created_at_ms >= ?2 AND state NOT IN ('suppressed', 'undeliverable') LIMIT ?3)",
        )?
        .query_row(params![rule, window_start_ms, limit], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The first of `caps` whose window is full for `rule`, if any.
pub(crate) fn reached<'c>(
    conn: &Connection,
    rule: &str,
    caps: &'c [CapCheck],
) -> Result<Option<&'c CapCheck>, StoreError> {
    for cap in caps {
        if cap.limit == 0 || usage(conn, rule, cap.window_start_ms, Some(cap.limit))? >= cap.limit {
            return Ok(Some(cap));
        }
    }
    Ok(None)
}
