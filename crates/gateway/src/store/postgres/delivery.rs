//! The delivery side of the PostgreSQL store: claims, results, pause and resume. Each is one
//! set-based statement (or two in one transaction) on a pooled connection; unlike SQLite, PostgreSQL
//! has many writers, so these do not queue behind ingest.
//!
//! Claims use `FOR UPDATE SKIP LOCKED` over the partial "due" index: several nodes claiming the same
//! pixel at once each get a disjoint batch, and the lease (`next_attempt_at_ms` of an in_flight row) plus
//! the claim token make a crashed node's batch claimable again once the lease expires, while a late
//! result from the old claim is ignored.

use deadpool_postgres::GenericClient;

use super::rows::{self, CLAIM_COLUMNS};
use crate::domain::{AttemptOutcome, ConversionState, NewAttempt};
use crate::store::{ClaimedConversion, DeliveryResult, StoreError};

/// A fresh claim id (positive).
fn new_claim_id() -> i64 {
    i64::try_from(rand::random::<u64>() >> 1)
        .unwrap_or(1)
        .max(1)
}

/// The claim columns qualified with the `c.` alias of the UPDATE's target.
fn qualified_claim_columns() -> String {
    CLAIM_COLUMNS.replace("{c}", "c")
}

/// Claims up to `limit` due conversions of `pixel`, oldest due first.
pub(crate) async fn claim(
    client: &impl GenericClient,
    pixel: &str,
    now_ms: i64,
    limit: usize,
    lease_ms: i64,
) -> Result<Vec<ClaimedConversion>, StoreError> {
    let claim_id = new_claim_id();
    let stmt = client
        .prepare_cached(&format!(
            "UPDATE conversions AS c SET state = 'in_flight', next_attempt_at_ms = $4, claim = $5 \
             FROM (SELECT id FROM conversions \
                   WHERE pixel = $1 AND state IN ('pending', 'retrying', 'in_flight') \
                     AND next_attempt_at_ms <= $2 \
                   ORDER BY next_attempt_at_ms LIMIT $3 \
                   FOR UPDATE SKIP LOCKED) AS due \
             WHERE c.id = due.id \
             RETURNING {}",
            qualified_claim_columns()
        ))
        .await?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let found = client
        .query(
            &stmt,
            &[&pixel, &now_ms, &limit, &(now_ms + lease_ms), &claim_id],
        )
        .await?;
    let mut claimed = found
        .iter()
        .map(rows::claimed)
        .collect::<Result<Vec<_>, _>>()?;
    claimed.sort_by_key(|c| c.id);
    Ok(claimed)
}

/// Claims one held conversion of `pixel` alone (the oldest paused one, else the oldest pending one
/// queued while the pixel was paused), to probe the pixel; `None` when it holds nothing (or another
/// node holds the rows right now).
pub(crate) async fn claim_probe(
    client: &impl GenericClient,
    pixel: &str,
    now_ms: i64,
    lease_ms: i64,
) -> Result<Option<ClaimedConversion>, StoreError> {
    let stmt = client
        .prepare_cached(&format!(
            "UPDATE conversions AS c SET state = 'in_flight', next_attempt_at_ms = $2, claim = $3 \
             FROM (SELECT id FROM conversions WHERE pixel = $1 AND state IN ('paused', 'pending') \
                   ORDER BY state, id LIMIT 1 FOR UPDATE SKIP LOCKED) AS probe \
             WHERE c.id = probe.id \
             RETURNING {}",
            qualified_claim_columns()
        ))
        .await?;
    let found = client
        .query(&stmt, &[&pixel, &(now_ms + lease_ms), &new_claim_id()])
        .await?;
    found.first().map(rows::claimed).transpose()
}

/// Extends the lease of those of `ids` still in flight under `claim`; returns how many.
pub(crate) async fn renew(
    client: &impl GenericClient,
    claim: i64,
    ids: &[i64],
    until_ms: i64,
) -> Result<u64, StoreError> {
    let stmt = client
        .prepare_cached(
            "UPDATE conversions SET next_attempt_at_ms = $3 \
             WHERE id = ANY($1::bigint[]) AND state = 'in_flight' AND claim = $2",
        )
        .await?;
    Ok(client.execute(&stmt, &[&ids, &claim, &until_ms]).await?)
}

/// Stores one `requests` row per distinct attempt of `results` (the results of one request share
/// theirs) and answers, per result, its `attempt_log` suffix ("17" or "17,18"; empty when it has
/// none). One statement: ids come from the table's sequence inside it, so each row's id is known
/// without relying on the order of `RETURNING`.
pub(crate) async fn log_requests(
    tx: &impl GenericClient,
    results: &[&[NewAttempt]],
) -> Result<Vec<String>, StoreError> {
    let mut distinct: Vec<&NewAttempt> = Vec::new();
    let positions: Vec<Vec<usize>> = results
        .iter()
        .map(|attempts| {
            attempts
                .iter()
                .map(|a| match distinct.iter().position(|d| *d == a) {
                    Some(i) => i,
                    None => {
                        distinct.push(a);
                        distinct.len() - 1
                    }
                })
                .collect()
        })
        .collect();
    if distinct.is_empty() {
        return Ok(vec![String::new(); results.len()]);
    }
    let at: Vec<i64> = distinct.iter().map(|a| a.at_ms).collect();
    let status: Vec<Option<i32>> = distinct
        .iter()
        .map(|a| a.http_status.map(i32::from))
        .collect();
    let code: Vec<Option<i64>> = distinct.iter().map(|a| a.code).collect();
    let message: Vec<&str> = distinct.iter().map(|a| a.message.as_str()).collect();
    let request: Vec<Option<&str>> = distinct.iter().map(|a| a.request_id.as_deref()).collect();
    let latency: Vec<i64> = distinct
        .iter()
        .map(|a| i64::try_from(a.latency_ms).unwrap_or(i64::MAX))
        .collect();
    let outcome: Vec<&str> = distinct
        .iter()
        .map(|a| AttemptOutcome::as_str(a.outcome))
        .collect();
    let batch: Vec<i64> = distinct.iter().map(|a| i64::from(a.batch_size)).collect();
    // `a` is referenced twice, so PostgreSQL materializes it: one nextval per row.
    let insert = tx
        .prepare_cached(
            "WITH a AS ( \
               SELECT nextval(pg_get_serial_sequence('requests', 'id')) AS id, u.* \
               FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::text[], $5::text[], \
                           $6::bigint[], $7::text[], $8::bigint[]) WITH ORDINALITY \
                    AS u(at_ms, http_status, code, message, request_id, latency_ms, outcome, \
                         batch_size, position)), \
             ins AS (INSERT INTO requests (id, at_ms, http_status, code, message, request_id, \
                                           latency_ms, outcome, batch_size) \
                     SELECT id, at_ms, http_status, code, message, request_id, latency_ms, \
                            outcome, batch_size FROM a) \
             SELECT position, id FROM a",
        )
        .await?;
    let rows = tx
        .query(
            &insert,
            &[
                &at, &status, &code, &message, &request, &latency, &outcome, &batch,
            ],
        )
        .await?;
    let mut ids = vec![0i64; distinct.len()];
    for row in &rows {
        let position: i64 = row.try_get(0).map_err(rows::corrupt)?;
        let id: i64 = row.try_get(1).map_err(rows::corrupt)?;
        if let Some(slot) = usize::try_from(position - 1)
            .ok()
            .and_then(|i| ids.get_mut(i))
        {
            *slot = id;
        }
    }
    Ok(positions
        .iter()
        .map(|p| {
            p.iter()
                .map(|&i| ids[i].to_string())
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect())
}

/// The SQL expression of conversion `c`'s `attempt_log` with `log` (an expression holding a
/// [`log_requests`] answer) appended.
pub(crate) fn appended_attempt_log(log: &str) -> String {
    format!(
        "CASE WHEN {log} = '' THEN c.attempt_log WHEN c.attempt_log IS NULL THEN {log} \
         ELSE c.attempt_log || ',' || {log} END"
    )
}

/// Records results and their attempts in the caller's transaction: one INSERT of the requests
/// (one row per request, however many conversions it carried) and one UPDATE for every result, as
/// arrays. A result whose claim is no longer the row's (its lease expired and another worker took
/// it) still has its attempts logged (the request did happen), and a final answer (delivered, or
/// dead on TikTok's refusal) is applied unless the row is final already: TikTok's verdict does not
/// depend on the claim that sent the event. Delivered wins over dead. A retry or pause from a stale
/// claim is left to the current claim.
pub(crate) async fn record(
    tx: &impl GenericClient,
    results: &[DeliveryResult],
) -> Result<(), StoreError> {
    let id: Vec<i64> = results.iter().map(|r| r.conversion_id).collect();
    let claim: Vec<i64> = results.iter().map(|r| r.claim).collect();
    let state: Vec<&str> = results.iter().map(|r| r.state.as_str()).collect();
    let next: Vec<Option<i64>> = results.iter().map(|r| r.next_attempt_at_ms).collect();
    let error: Vec<Option<&str>> = results.iter().map(|r| r.last_error.as_deref()).collect();
    let tries: Vec<i32> = results
        .iter()
        .map(|r| i32::try_from(r.attempts.len()).unwrap_or(i32::MAX))
        .collect();
    let retry: Vec<i32> = results
        .iter()
        .map(|r| i32::from(r.counts_as_retry))
        .collect();
    let first_at: Vec<Option<i64>> = results
        .iter()
        .map(|r| r.attempts.iter().map(|a| a.at_ms).min())
        .collect();
    let attempts: Vec<&[NewAttempt]> = results.iter().map(|r| r.attempts.as_slice()).collect();
    let log = log_requests(tx, &attempts).await?;
    let update = tx
        .prepare_cached(&format!(
            "UPDATE conversions AS c SET state = r.state, next_attempt_at_ms = r.next, \
             last_error = r.error, attempts = c.attempts + r.tries, retries = c.retries + r.retry, \
             first_attempt_at_ms = COALESCE(c.first_attempt_at_ms, r.first_at), claim = NULL, \
             attempt_log = {} \
             FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::text[], \
                         $6::int[], $7::int[], $8::bigint[], $9::text[]) \
                  AS r(id, claim, state, next, error, tries, retry, first_at, log) \
             WHERE c.id = r.id AND c.state = 'in_flight' AND c.claim = r.claim",
            appended_attempt_log("r.log")
        ))
        .await?;
    let changed = tx
        .execute(
            &update,
            &[
                &id, &claim, &state, &next, &error, &tries, &retry, &first_at, &log,
            ],
        )
        .await?;
    if changed < results.len() as u64 {
        // The rows the UPDATE above did not settle still get their requests logged: a row that
        // holds its log's first new id was settled already.
        let logged = tx
            .prepare_cached(&format!(
                "UPDATE conversions AS c SET attempt_log = {} \
                 FROM unnest($1::bigint[], $2::text[]) AS r(id, log) \
                 WHERE c.id = r.id AND r.log <> '' \
                   AND NOT (split_part(r.log, ',', 1) = ANY(string_to_array(COALESCE(c.attempt_log, ''), ',')))",
                appended_attempt_log("r.log")
            ))
            .await?;
        tx.execute(&logged, &[&id, &log]).await?;
        let final_ids: Vec<i64> = results
            .iter()
            .filter(|r| matches!(r.state, ConversionState::Delivered | ConversionState::Dead))
            .map(|r| r.conversion_id)
            .collect();
        let late = if final_ids.is_empty() {
            0
        } else {
            // Rows the statement above settled are final now, so this touches only the others.
            let late = tx
                .prepare_cached(
                    "UPDATE conversions AS c SET state = r.state, next_attempt_at_ms = NULL, \
                     last_error = r.error, attempts = c.attempts + r.tries, \
                     first_attempt_at_ms = COALESCE(c.first_attempt_at_ms, r.first_at), claim = NULL \
                     FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::bigint[]) \
                          AS r(id, state, error, tries, first_at) \
                     WHERE c.id = r.id AND c.id = ANY($6::bigint[]) \
                       AND (c.state IN ('pending', 'retrying', 'in_flight', 'paused') \
                            OR (r.state = 'delivered' AND c.state = 'dead'))",
                )
                .await?;
            tx.execute(&late, &[&id, &state, &error, &tries, &first_at, &final_ids])
                .await?
        };
        tracing::debug!(
            stale = results.len() as u64 - changed,
            applied = late,
            "results for stale claims (lease expired and reclaimed): final answers applied, others left to the new claim"
        );
    }
    Ok(())
}

/// Holds the pixel's pending and retrying conversions.
pub(crate) async fn pause(
    client: &impl GenericClient,
    pixel: &str,
    reason: &str,
) -> Result<u64, StoreError> {
    let stmt = client
        .prepare_cached(
            "UPDATE conversions SET state = 'paused', last_error = $2 \
             WHERE pixel = $1 AND state IN ('pending', 'retrying')",
        )
        .await?;
    Ok(client.execute(&stmt, &[&pixel, &reason]).await?)
}

/// Releases the pixel's held conversions, due at `now_ms`, and tells every node (on commit).
pub(crate) async fn resume(
    tx: &impl GenericClient,
    pixel: &str,
    now_ms: i64,
    channel: &str,
) -> Result<u64, StoreError> {
    let stmt = tx
        .prepare_cached(
            "UPDATE conversions SET state = 'pending', next_attempt_at_ms = $2, last_error = NULL \
             WHERE pixel = $1 AND state = 'paused'",
        )
        .await?;
    let n = tx.execute(&stmt, &[&pixel, &now_ms]).await?;
    if n > 0 {
        let notify = tx.prepare_cached("SELECT pg_notify($1, $2)").await?;
        tx.execute(&notify, &[&channel, &pixel]).await?;
    }
    Ok(n)
}

/// Retrying conversions of `pixel` due after `now_ms` become due now; other nodes are told.
pub(crate) async fn expedite(
    tx: &impl GenericClient,
    pixel: &str,
    now_ms: i64,
    channel: &str,
) -> Result<u64, StoreError> {
    let stmt = tx
        .prepare_cached(
            "UPDATE conversions SET next_attempt_at_ms = $2 \
             WHERE pixel = $1 AND state = 'retrying' AND next_attempt_at_ms > $2",
        )
        .await?;
    let n = tx.execute(&stmt, &[&pixel, &now_ms]).await?;
    if n > 0 {
        let notify = tx.prepare_cached("SELECT pg_notify($1, $2)").await?;
        tx.execute(&notify, &[&channel, &pixel]).await?;
    }
    Ok(n)
}
