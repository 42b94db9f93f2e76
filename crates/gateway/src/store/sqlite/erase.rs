//! Erasure and retention in SQLite (see `Store::erase`, `Store::purge_expired`), inside the writer's
//! transaction. Leads are found by transaction id (its key) or by a scan for the email or phone hash:
//! erasure is rare, and an index on the hashes would cost every ingest.

use rusqlite::{Connection, OptionalExtension, params};

use super::read::parse_attempt_log;
use crate::store::{EraseRequest, Erased, StoreError};

/// Deletes what `who` matches.
pub(crate) fn erase(conn: &Connection, who: &EraseRequest) -> Result<Erased, StoreError> {
    if who.is_empty() {
        return Ok(Erased::default());
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
    delete_leads(conn, &leads)
}

/// Deletes up to `limit` leads stored before `cutoff_ms` whose events are all older too and none of
/// whose conversions still waits for delivery, with everything they led to.
pub(crate) fn purge_expired(
    conn: &Connection,
    cutoff_ms: i64,
    limit: usize,
) -> Result<Erased, StoreError> {
    let leads: Vec<String> = conn
        .prepare_cached(
            "SELECT l.transaction_id FROM leads l WHERE l.stored_at_ms < ?1 \
             AND NOT EXISTS (SELECT 1 FROM lifecycle_events e \
                 WHERE e.transaction_id = l.transaction_id AND e.stored_at_ms >= ?1) \
             AND NOT EXISTS (SELECT 1 FROM lifecycle_events e JOIN conversions c ON c.lifecycle_id = e.id \
                 WHERE e.transaction_id = l.transaction_id \
                 AND c.state IN ('pending', 'in_flight', 'retrying', 'paused')) \
             LIMIT ?2",
        )?
        .query_map(
            params![cutoff_ms, i64::try_from(limit).unwrap_or(i64::MAX)],
            |r| r.get(0),
        )?
        .collect::<Result<_, _>>()?;
    let mut erased = delete_leads(conn, &leads)?;
    erased.requests = purge_requests(conn, cutoff_ms, limit)?;
    Ok(erased)
}

/// Deletes up to `limit` request log rows sent before `cutoff_ms`. A conversion kept longer (its
/// lead had later events) then shows only its newer attempts.
fn purge_requests(conn: &Connection, cutoff_ms: i64, limit: usize) -> Result<u64, StoreError> {
    // Ids grow with time, so the oldest rows come first in the primary key's order.
    let deleted = conn
        .prepare_cached(
            "DELETE FROM requests WHERE id IN \
             (SELECT id FROM requests WHERE at_ms < ?1 ORDER BY id LIMIT ?2)",
        )?
        .execute(params![cutoff_ms, i64::try_from(limit).unwrap_or(i64::MAX)])?;
    Ok(count(deleted))
}

/// Deletes these leads with their lifecycle events, conversions, payloads and attempts.
fn delete_leads(conn: &Connection, leads: &[String]) -> Result<Erased, StoreError> {
    let mut erased = Erased::default();
    for id in leads {
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
                // The requests it rode in stay: they hold TikTok's answer to a whole batch, no
                // personal data, and are dropped by age with the rest (`purge_expired`).
                let log: Option<String> = conn
                    .prepare_cached("SELECT attempt_log FROM conversions WHERE id = ?1")?
                    .query_row(params![conversion], |r| r.get(0))?;
                erased.attempts += count(parse_attempt_log(log)?.len());
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
