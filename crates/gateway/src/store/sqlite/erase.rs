//! Erasure in SQLite (see `Store::erase`), inside the writer's transaction. Leads are found by
//! transaction id (its key) or by a scan for the email or phone hash: erasure is rare, and an index
//! on the hashes would cost every ingest.

use rusqlite::{Connection, OptionalExtension, params};

use crate::store::{EraseRequest, Erased, StoreError};

/// Deletes what `who` matches.
pub(crate) fn erase(conn: &Connection, who: &EraseRequest) -> Result<Erased, StoreError> {
    let mut erased = Erased::default();
    if who.is_empty() {
        return Ok(erased);
    }
    let mut leads: Vec<String> = Vec::new();
    if let Some(id) = &who.transaction_id {
        let found: Option<String> = conn
            .prepare_cached("SELECT transaction_id FROM leads WHERE transaction_id = ?1")?
            .query_row(params![id], |r| r.get(0))
            .optional()?;
        leads.extend(found);
    }
    if who.email.is_some() || who.phone.is_some() {
        let mut stmt = conn.prepare_cached(
            "SELECT transaction_id FROM leads WHERE email = ?1 OR phone = ?2 \
             OR (?2 IS NOT NULL AND instr(phone_by_region, ?2) > 0)",
        )?;
        let rows = stmt.query_map(params![who.email, who.phone], |r| r.get::<_, String>(0))?;
        for row in rows {
            let id = row?;
            if !leads.contains(&id) {
                leads.push(id);
            }
        }
    }
    for id in &leads {
        let lifecycle: Vec<i64> = conn
            .prepare_cached("SELECT id FROM lifecycle_events WHERE transaction_id = ?1")?
            .query_map(params![id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for event in &lifecycle {
            let conversions: Vec<i64> = conn
                .prepare_cached("SELECT id FROM conversions WHERE lifecycle_id = ?1")?
                .query_map(params![event], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for conversion in &conversions {
                erased.attempts += count(
                    conn.prepare_cached("DELETE FROM attempts WHERE conversion_id = ?1")?
                        .execute(params![conversion])?,
                );
                conn.prepare_cached("DELETE FROM payloads WHERE conversion_id = ?1")?
                    .execute(params![conversion])?;
                erased.conversions += count(
                    conn.prepare_cached("DELETE FROM conversions WHERE id = ?1")?
                        .execute(params![conversion])?,
                );
            }
        }
        erased.events += count(
            conn.prepare_cached("DELETE FROM lifecycle_events WHERE transaction_id = ?1")?
                .execute(params![id])?,
        );
        erased.leads += count(
            conn.prepare_cached("DELETE FROM leads WHERE transaction_id = ?1")?
                .execute(params![id])?,
        );
    }
    Ok(erased)
}

fn count(rows: usize) -> u64 {
    u64::try_from(rows).unwrap_or(u64::MAX)
}
