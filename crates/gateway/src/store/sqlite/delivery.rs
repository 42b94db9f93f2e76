//! The delivery side of the SQLite store, run on the writer thread: claims, lease renewal, results,
//! and the probe of a paused pixel. A claim marks rows `in_flight` under a random claim id with the
//! lease's end in `next_attempt_at_ms`; only the holder of the claim settles them, except that a
//! final answer TikTok already gave (delivered, or refused as invalid) is never thrown away, even
//! when it arrives after the lease was lost.

use rusqlite::{Connection, params};

use super::rows::{self, CLAIM_COLUMNS};
use crate::domain::ConversionState;
use crate::domain::NewAttempt;
use crate::store::{ClaimedConversion, DeliveryResult, StoreError};

/// A fresh claim id (positive, so it never equals a NULL-claim sentinel).
fn new_claim_id() -> i64 {
    i64::try_from(rand::random::<u64>() >> 1)
        .unwrap_or(1)
        .max(1)
}

/// Claims up to `limit` due conversions of `pixel`.
pub(super) fn claim(
    conn: &Connection,
    pixel: &str,
    now_ms: i64,
    limit: usize,
    lease_ms: i64,
) -> Result<Vec<ClaimedConversion>, StoreError> {
    let claim_id = new_claim_id();
    // Expired leases first (a crashed worker's batch), then due retries, then new work, oldest first;
    // each branch walks the (pixel, state, next_attempt_at_ms) index.
    let mut stmt = conn.prepare_cached(&format!(
        "UPDATE conversions SET state = 'in_flight', next_attempt_at_ms = ?4, claim = ?5 \
         WHERE id IN ( \
           SELECT id FROM (SELECT id FROM conversions WHERE pixel = ?1 AND state = 'in_flight' \
                           AND next_attempt_at_ms <= ?2 ORDER BY next_attempt_at_ms LIMIT ?3) \
           UNION ALL \
           SELECT id FROM (SELECT id FROM conversions WHERE pixel = ?1 AND state = 'retrying' \
                           AND next_attempt_at_ms <= ?2 ORDER BY next_attempt_at_ms LIMIT ?3) \
           UNION ALL \
           SELECT id FROM (SELECT id FROM conversions WHERE pixel = ?1 AND state = 'pending' \
                           AND next_attempt_at_ms <= ?2 ORDER BY next_attempt_at_ms LIMIT ?3) \
           LIMIT ?3) \
         RETURNING {CLAIM_COLUMNS}"
    ))?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut rows_out = stmt.query(params![pixel, now_ms, limit, now_ms + lease_ms, claim_id])?;
    let mut claimed = Vec::new();
    while let Some(row) = rows_out.next()? {
        claimed.push(rows::claimed(row)?);
    }
    drop(rows_out);
    claimed.sort_by_key(|c| c.id);
    rows::fill_payloads(conn, &mut claimed)?;
    Ok(claimed)
}

/// Claims one held conversion of `pixel` on its own (the oldest paused one, else the oldest pending
/// one queued while the pixel was paused), to probe whether the destination accepts the pixel again.
/// Empty when the pixel holds nothing.
pub(super) fn claim_probe(
    conn: &Connection,
    pixel: &str,
    now_ms: i64,
    lease_ms: i64,
) -> Result<Vec<ClaimedConversion>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "UPDATE conversions SET state = 'in_flight', next_attempt_at_ms = ?2, claim = ?3 \
         WHERE id = (SELECT id FROM conversions WHERE pixel = ?1 AND state IN ('paused', 'pending') \
                     ORDER BY state, id LIMIT 1) \
         RETURNING {CLAIM_COLUMNS}"
    ))?;
    let mut rows_out = stmt.query(params![pixel, now_ms + lease_ms, new_claim_id()])?;
    let mut claimed = Vec::new();
    while let Some(row) = rows_out.next()? {
        claimed.push(rows::claimed(row)?);
    }
    drop(rows_out);
    rows::fill_payloads(conn, &mut claimed)?;
    Ok(claimed)
}

/// Extends the lease of the conversions `ids` still held under `claim` to `until_ms`; returns how
/// many it extended (fewer than asked means the others were settled or taken by another claim).
pub(super) fn renew(
    conn: &Connection,
    claim: i64,
    ids: &[i64],
    until_ms: i64,
) -> Result<u64, StoreError> {
    let ids = serde_json::to_string(ids).map_err(|e| StoreError::Io(e.to_string()))?;
    let n = conn
        .prepare_cached(
            "UPDATE conversions SET next_attempt_at_ms = ?3 \
             WHERE id IN (SELECT value FROM json_each(?1)) AND state = 'in_flight' AND claim = ?2",
        )?
        .execute(params![ids, claim, until_ms])?;
    Ok(n as u64)
}

/// Whether two results differ only in their conversion id (one request's answer, settled alike).
fn same_outcome(a: &DeliveryResult, b: &DeliveryResult) -> bool {
    a.claim == b.claim
        && a.state == b.state
        && a.next_attempt_at_ms == b.next_attempt_at_ms
        && a.last_error == b.last_error
        && a.counts_as_retry == b.counts_as_retry
        && a.attempts == b.attempts
}

/// Stores one `requests` row per attempt and answers their ids as an `attempt_log` suffix
/// ("17" or "17,18"), oldest first; empty when there are none.
pub(super) fn log_requests(
    conn: &Connection,
    attempts: &[NewAttempt],
) -> Result<String, StoreError> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO requests (at_ms, http_status, code, message, request_id, latency_ms, outcome, \
         batch_size) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let mut log = String::new();
    for a in attempts {
        insert.execute(params![
            a.at_ms,
            a.http_status,
            a.code,
            a.message,
            a.request_id,
            i64::try_from(a.latency_ms).unwrap_or(i64::MAX),
            a.outcome.as_str(),
            a.batch_size,
        ])?;
        if !log.is_empty() {
            log.push(',');
        }
        log.push_str(&conn.last_insert_rowid().to_string());
    }
    Ok(log)
}

/// The SQL assignment appending the parameter `log` (a [`log_requests`] answer, e.g. `?9`) to a
/// conversion's `attempt_log`.
pub(super) fn append_attempt_log(log: &str) -> String {
    format!(
        "attempt_log = CASE WHEN {log} = '' THEN attempt_log \
         WHEN attempt_log IS NULL THEN {log} ELSE attempt_log || ',' || {log} END"
    )
}

/// Records results: each run of results settled alike (typically a whole delivered batch) is
/// acknowledged with one UPDATE over the run's ids as a JSON array, and each request that carried
/// the run is logged once (one `requests` row, its id appended to every conversion's
/// `attempt_log`).
///
/// A result whose claim is no longer the row's (its lease expired and another worker took it) still
/// has its attempts logged, since the request did happen. If TikTok's answer was final (delivered,
/// or refused as invalid), it is applied too unless the row is already final: TikTok's verdict does
/// not depend on which claim sent the event, and discarding it would only make the new claim send
/// the event again. Delivered wins over dead (an event TikTok accepted once is delivered, whatever
/// another request said). A retry or a pause from a stale claim is left to the current claim.
pub(super) fn record(conn: &Connection, results: &[DeliveryResult]) -> Result<(), StoreError> {
    let mut start = 0;
    while start < results.len() {
        let first = &results[start];
        let len = results[start..]
            .iter()
            .take_while(|r| same_outcome(first, r))
            .count();
        let run = &results[start..start + len];
        start += len;
        let ids = serde_json::to_string(&run.iter().map(|r| r.conversion_id).collect::<Vec<_>>())
            .map_err(|e| StoreError::Io(e.to_string()))?;
        let first_at = first.attempts.iter().map(|a| a.at_ms).min();
        let tries = i64::try_from(first.attempts.len()).unwrap_or(i64::MAX);
        let log = log_requests(conn, &first.attempts)?;
        let changed = conn
            .prepare_cached(&format!(
                "UPDATE conversions SET state = ?2, next_attempt_at_ms = ?3, last_error = ?4, \
                 attempts = attempts + ?5, retries = retries + ?6, \
                 first_attempt_at_ms = COALESCE(first_attempt_at_ms, ?7), claim = NULL, \
                 {} \
                 WHERE id IN (SELECT value FROM json_each(?1)) AND state = 'in_flight' AND claim = ?8",
                append_attempt_log("?9")
            ))?
            .execute(params![
                ids,
                first.state.as_str(),
                first.next_attempt_at_ms,
                first.last_error,
                tries,
                i64::from(first.counts_as_retry),
                first_at,
                first.claim,
                log,
            ])?;
        if changed < run.len() {
            settle_stale(
                conn,
                first,
                &ids,
                tries,
                first_at,
                &log,
                run.len() - changed,
            )?;
        }
    }
    Ok(())
}

/// The rows of a run the claim no longer held: the requests are logged on each (the ones the main
/// UPDATE settled already carry the run's first new request id), and a final answer is applied.
fn settle_stale(
    conn: &Connection,
    first: &DeliveryResult,
    ids: &str,
    tries: i64,
    first_at: Option<i64>,
    log: &str,
    stale: usize,
) -> Result<(), StoreError> {
    if let Some(marker) = log.split(',').next().filter(|id| !id.is_empty()) {
        conn.prepare_cached(&format!(
            "UPDATE conversions SET {} \
             WHERE id IN (SELECT value FROM json_each(?1)) \
               AND instr(',' || COALESCE(attempt_log, '') || ',', ',' || ?2 || ',') = 0",
            append_attempt_log("?3")
        ))?
        .execute(params![ids, marker, log])?;
    }
    let late = if matches!(
        first.state,
        ConversionState::Delivered | ConversionState::Dead
    ) {
        // Rows the main UPDATE settled are final now, so this touches only the others.
        conn.prepare_cached(
            "UPDATE conversions SET state = ?2, next_attempt_at_ms = NULL, last_error = ?3, \
             attempts = attempts + ?4, first_attempt_at_ms = COALESCE(first_attempt_at_ms, ?5), \
             claim = NULL \
             WHERE id IN (SELECT value FROM json_each(?1)) \
               AND (state IN ('pending', 'retrying', 'in_flight', 'paused') \
                    OR (?2 = 'delivered' AND state = 'dead'))",
        )?
        .execute(params![
            ids,
            first.state.as_str(),
            first.last_error,
            tries,
            first_at
        ])?
    } else {
        0
    };
    tracing::debug!(
        stale,
        applied = late,
        "results for stale claims (lease expired and reclaimed): final answers applied, others left to the new claim"
    );
    Ok(())
}
