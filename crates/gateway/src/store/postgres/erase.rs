//! Erasure in PostgreSQL (see `Store::erase`): one transaction, the same semantics as SQLite. Leads
//! are found by transaction id (its key) or by a scan for the email or phone hash.

use deadpool_postgres::GenericClient;

use crate::store::{EraseRequest, Erased, StoreError};

/// Deletes what `who` matches.
pub(crate) async fn erase(
    tx: &impl GenericClient,
    who: &EraseRequest,
) -> Result<Erased, StoreError> {
    let mut erased = Erased::default();
    if who.is_empty() {
        return Ok(erased);
    }
    let rows = tx
        .query(
            "SELECT transaction_id FROM leads WHERE transaction_id = $1 OR email = $2 OR phone = $3 \
             OR ($3::text IS NOT NULL AND strpos(phone_by_region, $3) > 0) FOR UPDATE",
            &[&who.transaction_id, &who.email, &who.phone],
        )
        .await?;
    let leads: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
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
    erased.attempts = tx
        .execute(
            "DELETE FROM attempts WHERE conversion_id = ANY($1)",
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
