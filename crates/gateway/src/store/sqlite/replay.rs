//! Replay in SQLite: selects one chunk of parked conversions through the `conversions_parked` (or
//! `conversions_undeliverable`) partial index, fills the `page.url` of undeliverable ones from their
//! pixel's `site_url`, logs a `replayed` attempt for each, and moves them to `pending` — all inside
//! the writer's transaction (the write) or a read snapshot (the dry run). See `Store::replay` for
//! the contract.

use rusqlite::types::Value;
use rusqlite::{Connection, params, params_from_iter};

use super::delivery::{append_attempt_log, log_requests};
use crate::domain::{AttemptOutcome, NewAttempt};
use crate::store::replay::replay_message;
use crate::store::{
    PageRepair, PageRepairs, ReplayChunk, ReplayFilter, ReplayFrom, ReplayOutcome, StoreError,
};

/// `SELECT <columns> FROM conversions WHERE <filter> AND id > ? ORDER BY id LIMIT ?` and its values.
/// The state is inlined as a literal (it comes from an enum) so the planner can use the partial index.
fn select(columns: &str, filter: &ReplayFilter, chunk: ReplayChunk) -> (String, Vec<Value>) {
    let mut sql = format!(
        "SELECT {columns} FROM conversions WHERE state = '{}' AND id > ?",
        filter.from.as_str()
    );
    let mut values = vec![Value::Integer(chunk.after_id)];
    if let Some(pixel) = &filter.pixel {
        sql.push_str(" AND pixel = ?");
        values.push(Value::Text(pixel.clone()));
    }
    if let Some(since) = filter.queued_since_ms {
        sql.push_str(" AND created_at_ms >= ?");
        values.push(Value::Integer(since));
    }
    if let Some(rule) = &filter.rule {
        sql.push_str(" AND rule = ?");
        values.push(Value::Text(rule.clone()));
    }
    if let Some(transaction_id) = &filter.transaction_id {
        sql.push_str(" AND transaction_id = ?");
        values.push(Value::Text(transaction_id.clone()));
    }
    sql.push_str(" ORDER BY id LIMIT ?");
    values.push(Value::Integer(
        i64::try_from(chunk.limit.max(1)).unwrap_or(i64::MAX),
    ));
    (sql, values)
}

/// The dry run: how many conversions the chunk would re-queue.
pub(crate) fn count(
    conn: &Connection,
    filter: &ReplayFilter,
    chunk: ReplayChunk,
) -> Result<ReplayOutcome, StoreError> {
    let (inner, values) = select("id", filter, chunk);
    let (matched, last_id): (i64, Option<i64>) = conn
        .prepare_cached(&format!("SELECT COUNT(*), MAX(id) FROM ({inner})"))?
        .query_row(params_from_iter(values), |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(ReplayOutcome {
        matched: u64::try_from(matched).unwrap_or(0),
        requeued: 0,
        last_id,
    })
}

/// The write: logs and re-queues one chunk. Runs inside the writer's transaction.
pub(crate) fn requeue(
    conn: &Connection,
    filter: &ReplayFilter,
    chunk: ReplayChunk,
    now_ms: i64,
) -> Result<ReplayOutcome, StoreError> {
    let (sql, values) = select("id, last_error, pixel", filter, chunk);
    let mut picked: Vec<Picked> = Vec::new();
    {
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params_from_iter(values))?;
        while let Some(row) = rows.next()? {
            picked.push((row.get(0)?, row.get(1)?, row.get(2)?));
        }
    }
    requeue_picked(conn, filter.from, &filter.page_repairs, &picked, now_ms)
}

/// Puts the pixel's `site_url` into conversion `id`'s payload when it names no page (an
/// undeliverable conversion replayed after its pixel got a `site_url`; see `Store::replay`).
fn repair_page(conn: &Connection, id: i64, repair: &PageRepair) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached("SELECT payload FROM payloads WHERE conversion_id = ?1")?;
    let payload = stmt
        .query_and_then([id], |r| super::rows::payload(r, 0))?
        .next()
        .ok_or_else(|| StoreError::Corrupt(format!("conversion {id} has no payload")))??;
    if let Some(filled) = repair.apply(&payload) {
        let stored = crate::store::payload_codec::encode(&filled)?;
        conn.prepare_cached("UPDATE payloads SET payload = ?2 WHERE conversion_id = ?1")?
            .execute(params![id, stored])?;
    }
    Ok(())
}

/// A conversion picked for a replay: `(id, last_error, pixel)`.
pub(crate) type Picked = (i64, Option<String>, String);

/// Re-queues conversions already picked in id order (still in state `from`): undeliverable ones
/// naming no page get their pixel's URL from `repairs` (see [`ReplayFrom::repair_for`]),
/// then one `replayed` attempt-log entry each, then back to pending with a fresh retry budget.
/// Shared by filtered replays and the console's replay of chosen ids.
pub(crate) fn requeue_picked(
    conn: &Connection,
    from: ReplayFrom,
    repairs: &PageRepairs,
    picked: &[Picked],
    now_ms: i64,
) -> Result<ReplayOutcome, StoreError> {
    let Some(last_id) = picked.last().map(|(id, _, _)| *id) else {
        return Ok(ReplayOutcome::default());
    };
    for (id, _, pixel) in picked {
        if let Some(repair) = from.repair_for(repairs, pixel) {
            repair_page(conn, *id, repair)?;
        }
    }
    for (id, previous, _) in picked {
        let entry = NewAttempt {
            at_ms: now_ms,
            http_status: None,
            code: None,
            message: replay_message(from, previous.as_deref()),
            request_id: None,
            latency_ms: 0,
            outcome: AttemptOutcome::Replayed,
            batch_size: 0,
        };
        let log = log_requests(conn, std::slice::from_ref(&entry))?;
        conn.prepare_cached(&format!(
            "UPDATE conversions SET {} WHERE id = ?1",
            append_attempt_log("?2")
        ))?
        .execute(params![id, log])?;
    }
    let ids = serde_json::to_string(&picked.iter().map(|(id, _, _)| *id).collect::<Vec<_>>())
        .map_err(|e| StoreError::Io(e.to_string()))?;
    let requeued = conn
        .prepare_cached(&format!(
            "UPDATE conversions SET state = 'pending', next_attempt_at_ms = ?2, claim = NULL, \
             retries = 0, first_attempt_at_ms = NULL, last_error = NULL \
             WHERE id IN (SELECT value FROM json_each(?1)) AND state = '{}'",
            from.as_str()
        ))?
        .execute(params![ids, now_ms])?;
    Ok(ReplayOutcome {
        matched: picked.len() as u64,
        requeued: requeued as u64,
        last_id: Some(last_id),
    })
}
