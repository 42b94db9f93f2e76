//! Erasure and retention in PostgreSQL (see `Store::erase`, `Store::purge_expired`): one transaction
//! each, the same semantics as SQLite. Leads are found by transaction id (its key) or by a scan for
//! the email or phone hash.

use deadpool_postgres::GenericClient;

use crate::store::{EraseRequest, Erased, StoreError};

/// Deletes what `who` matches.
pub(crate) async fn erase(
    tx: &impl GenericClient,
    who: &EraseRequest,
) -> Result<Erased, StoreError> {
    if who.is_empty() {
        return Ok(Erased::default());
    }
    let rows = tx
        .query(
            "SELECT transaction_id FROM leads WHERE transaction_id = $1 OR email = $2 OR phone = $3 \
             OR ($3::text IS NOT NULL AND strpos(phone_by_region, $3) > 0) FOR UPDATE",
            &[&who.transaction_id, &who.email, &who.phone],
        )
        .await?;
    let leads: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    delete_leads(tx, &leads).await
}

/// Deletes up to `limit` leads stored before `cutoff_ms` whose events are all older too and none of
/// whose conversions still waits for delivery, with everything they led to.
pub(crate) async fn purge_expired(
    tx: &impl GenericClient,
    cutoff_ms: i64,
    limit: usize,
) -> Result<Erased, StoreError> {
    let rows = tx
        .query(
            "SELECT l.transaction_id FROM leads l WHERE l.stored_at_ms < $1 \
             AND NOT EXISTS (SELECT 1 FROM lifecycle_events e \
                 WHERE e.transaction_id = l.transaction_id AND e.stored_at_ms >= $1) \
             AND NOT EXISTS (SELECT 1 FROM lifecycle_events e JOIN conversions c ON c.lifecycle_id = e.id \
                 WHERE e.transaction_id = l.transaction_id \
                 AND c.state IN ('pending', 'in_flight', 'retrying', 'paused')) \
             LIMIT $2 FOR UPDATE OF l SKIP LOCKED",
            &[&cutoff_ms, &i64::try_from(limit).unwrap_or(i64::MAX)],
        )
        .await?;
    let leads: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    let mut erased = delete_leads(tx, &leads).await?;
    // Request log rows by age; ids grow with time, so the oldest come first in key order. A
    // conversion kept longer (its lead had later events) then shows only its newer attempts.
    erased.requests = tx
        .execute(
            "DELETE FROM requests WHERE id IN \
             (SELECT id FROM requests WHERE at_ms < $1 ORDER BY id LIMIT $2)",
            &[&cutoff_ms, &i64::try_from(limit).unwrap_or(i64::MAX)],
        )
        .await?;
    Ok(erased)
}

/// Deletes these leads with their lifecycle events, conversions, their payloads and attempts.
async fn delete_leads(tx: &impl GenericClient, leads: &[String]) -> Result<Erased, StoreError> {
    let mut erased = Erased::default();
    if leads.is_empty() {
        return Ok(erased);
    }
    let conversions: Vec<i64> = tx
        .query(
            "SELECT c.id FROM conversions c JOIN lifecycle_events e ON e.id = c.lifecycle_id \
             WHERE e.transaction_id = ANY($1)",
            &[&leads],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    // The requests they rode in stay: they hold the destination's answer to a whole batch, no
    // personal data, and are dropped by age (`purge_expired`).
    let logged: i64 = tx
        .query_one(
            "SELECT COALESCE(sum(cardinality(string_to_array(attempt_log, ','))), 0)::bigint \
             FROM conversions WHERE id = ANY($1)",
            &[&conversions],
        )
        .await?
        .get(0);
    erased.attempts = u64::try_from(logged).unwrap_or(0);
    tx.execute(
        "DELETE FROM payloads WHERE conversion_id = ANY($1)",
        &[&conversions],
    )
    .await?;
    erased.conversions = tx
        .execute(
            "DELETE FROM conversions WHERE id = ANY($1)",
            &[&conversions],
        )
        .await?;
    erased.events = tx
        .execute(
            "DELETE FROM lifecycle_events WHERE transaction_id = ANY($1)",
            &[&leads],
        )
        .await?;
    erased.leads = tx
        .execute(
            "DELETE FROM leads WHERE transaction_id = ANY($1)",
            &[&leads],
        )
        .await?;
    Ok(erased)
}
