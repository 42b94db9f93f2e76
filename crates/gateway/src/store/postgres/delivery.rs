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

/// Records results and their attempts in the caller's transaction: one UPDATE for every result and
/// one INSERT for every attempt, as arrays. A result whose claim is no longer the row's (its lease
/// expired and another worker took it) still has its attempts logged (the request did happen), and
/// a final answer (delivered, or dead on TikTok's refusal) is applied unless the row is final
/// already: TikTok's verdict does not depend on the claim that sent the event. Delivered wins over
/// dead. A retry or pause from a stale claim is left to the current claim.
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
    let update = tx
        .prepare_cached(
            "UPDATE conversions AS c SET state = r.state, next_attempt_at_ms = r.next, \
             last_error = r.error, attempts = c.attempts + r.tries, retries = c.retries + r.retry, \
             first_attempt_at_ms = COALESCE(c.first_attempt_at_ms, r.first_at), claim = NULL \
             FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::text[], \
                         $6::int[], $7::int[], $8::bigint[]) \
                  AS r(id, claim, state, next, error, tries, retry, first_at) \
             WHERE c.id = r.id AND c.state = 'in_flight' AND c.claim = r.claim",
        )
        .await?;
    let changed = tx
        .execute(
            &update,
            &[
                &id, &claim, &state, &next, &error, &tries, &retry, &first_at,
            ],
        )
        .await?;
    if changed < results.len() as u64 {
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

    let attempts: Vec<(i64, &NewAttempt)> = results
        .iter()
        .flat_map(|r| r.attempts.iter().map(move |a| (r.conversion_id, a)))
        .collect();
    if attempts.is_empty() {
        return Ok(());
    }
    let conversion: Vec<i64> = attempts.iter().map(|(id, _)| *id).collect();
    let at: Vec<i64> = attempts.iter().map(|(_, a)| a.at_ms).collect();
    let status: Vec<Option<i32>> = attempts
        .iter()
        .map(|(_, a)| a.http_status.map(i32::from))
        .collect();
    let code: Vec<Option<i64>> = attempts.iter().map(|(_, a)| a.code).collect();
    let message: Vec<&str> = attempts.iter().map(|(_, a)| a.message.as_str()).collect();
    let request: Vec<Option<&str>> = attempts
        .iter()
        .map(|(_, a)| a.request_id.as_deref())
        .collect();
    let latency: Vec<i64> = attempts
        .iter()
        .map(|(_, a)| i64::try_from(a.latency_ms).unwrap_or(i64::MAX))
        .collect();
    let outcome: Vec<&str> = attempts
        .iter()
        .map(|(_, a)| AttemptOutcome::as_str(a.outcome))
        .collect();
    let batch: Vec<i64> = attempts
        .iter()
        .map(|(_, a)| i64::from(a.batch_size))
        .collect();
    let insert = tx
        .prepare_cached(
            "INSERT INTO attempts (conversion_id, at_ms, http_status, code, message, request_id, \
             latency_ms, outcome, batch_size) \
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::bigint[], $5::text[], \
                                  $6::text[], $7::bigint[], $8::text[], $9::bigint[])",
        )
        .await?;
    tx.execute(
        &insert,
        &[
            &conversion,
            &at,
            &status,
            &code,
            &message,
            &request,
            &latency,
            &outcome,
            &batch,
        ],
    )
    .await?;
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
