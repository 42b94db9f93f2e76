//! Lookups: single leads, a lead's whole record, queue metrics, and the set-based reads the writer
//! needs (leads, replayed events and existing conversions by key, each one query for a whole group).

use std::collections::HashMap;

use deadpool_postgres::GenericClient;

use super::rows::{self, ATTEMPT_COLUMNS, CONVERSION_COLUMNS, EVENT_COLUMNS, LEAD_COLUMNS};
use crate::domain::{Conversion, ConversionState, Lead, LifecycleEvent};
use crate::store::{ConversionView, LeadView, QueueDepth, StoreError};

/// Reads one lead by key.
pub(crate) async fn find_lead(
    client: &impl GenericClient,
    transaction_id: &str,
) -> Result<Option<Lead>, StoreError> {
    if transaction_id.contains('\0') {
        // PostgreSQL text cannot hold NUL, so no stored lead has this id (and asking would fail).
        return Ok(None);
    }
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {LEAD_COLUMNS} FROM leads WHERE transaction_id = $1"
        ))
        .await?;
    match client.query_opt(&stmt, &[&transaction_id]).await? {
        Some(row) => Ok(Some(rows::lead(&row)?)),
        None => Ok(None),
    }
}

/// The lead with its events, conversions and attempts. The caller runs it in one snapshot.
pub(crate) async fn get_lead(
    client: &impl GenericClient,
    transaction_id: &str,
) -> Result<Option<LeadView>, StoreError> {
    let Some(lead) = find_lead(client, transaction_id).await? else {
        return Ok(None);
    };
    let events_stmt = client
        .prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM lifecycle_events WHERE transaction_id = $1 ORDER BY id"
        ))
        .await?;
    let conversions_stmt = client
        .prepare_cached(&format!(
            "SELECT {CONVERSION_COLUMNS} FROM conversions WHERE lifecycle_id IN \
             (SELECT id FROM lifecycle_events WHERE transaction_id = $1) ORDER BY id"
        ))
        .await?;
    let attempts_stmt = client
        .prepare_cached(&format!(
            "SELECT {ATTEMPT_COLUMNS} FROM conversions c \
             CROSS JOIN LATERAL unnest(string_to_array(c.attempt_log, ',')::bigint[]) \
                 WITH ORDINALITY AS l(request, position) \
             JOIN requests r ON r.id = l.request \
             WHERE c.lifecycle_id IN (SELECT id FROM lifecycle_events WHERE transaction_id = $1) \
             ORDER BY c.id, l.position"
        ))
        .await?;
    // Issued together: the driver pipelines them on the one connection.
    let params: &[&(dyn tokio_postgres::types::ToSql + Sync)] = &[&transaction_id];
    let (event_rows, conversion_rows, attempt_rows) = tokio::try_join!(
        client.query(&events_stmt, params),
        client.query(&conversions_stmt, params),
        client.query(&attempts_stmt, params),
    )?;
    let events = event_rows
        .iter()
        .map(rows::event)
        .collect::<Result<Vec<_>, _>>()?;
    let mut conversions = conversion_rows
        .iter()
        .map(|row| {
            Ok(ConversionView {
                conversion: rows::conversion(row)?,
                attempt_log: Vec::new(),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    for row in &attempt_rows {
        let attempt = rows::attempt(row)?;
        if let Some(view) = conversions
            .iter_mut()
            .find(|v| v.conversion.id == attempt.conversion_id)
        {
            view.attempt_log.push(attempt);
        }
    }
    Ok(Some(LeadView {
        lead,
        events,
        conversions,
    }))
}

/// Conversion counts per pixel and state.
pub(crate) async fn queue_depth(
    client: &impl GenericClient,
) -> Result<Vec<QueueDepth>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT pixel, state, COUNT(*) FROM conversions GROUP BY pixel, state ORDER BY pixel, state",
        )
        .await?;
    let mut out = Vec::new();
    for row in client.query(&stmt, &[]).await? {
        let state: &str = row.try_get(1).map_err(corrupt)?;
        let count: i64 = row.try_get(2).map_err(corrupt)?;
        out.push(QueueDepth {
            pixel: row.try_get(0).map_err(corrupt)?,
            state: state.parse::<ConversionState>().map_err(corrupt)?,
            count: u64::try_from(count).unwrap_or(0),
        });
    }
    Ok(out)
}

/// Pixels with conversions due at `now_ms`.
pub(crate) async fn pixels_with_due_work(
    client: &impl GenericClient,
    now_ms: i64,
) -> Result<Vec<String>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT DISTINCT pixel FROM conversions \
             WHERE state IN ('pending', 'retrying', 'in_flight') AND next_attempt_at_ms <= $1 \
             ORDER BY pixel",
        )
        .await?;
    client
        .query(&stmt, &[&now_ms])
        .await?
        .iter()
        .map(|row| row.try_get(0).map_err(corrupt))
        .collect()
}

/// Stored leads among `ids`, by transaction id.
pub(crate) async fn leads_by_id(
    client: &impl GenericClient,
    ids: &[&str],
) -> Result<HashMap<String, Lead>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {LEAD_COLUMNS} FROM leads WHERE transaction_id = ANY($1::text[])"
        ))
        .await?;
    let mut out = HashMap::with_capacity(ids.len());
    for row in client.query(&stmt, &[&ids]).await? {
        let lead = rows::lead(&row)?;
        out.insert(lead.transaction_id.clone(), lead);
    }
    Ok(out)
}

/// Stored lifecycle events by (transaction id, idempotency key), each with the conversions it queued
/// (oldest first): what a replay answers.
pub(crate) async fn events_by_key(
    client: &impl GenericClient,
    keys: &[(&str, &str)],
) -> Result<HashMap<(String, String), (LifecycleEvent, Vec<Conversion>)>, StoreError> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let tids: Vec<&str> = keys.iter().map(|k| k.0).collect();
    let idem: Vec<&str> = keys.iter().map(|k| k.1).collect();
    let events_stmt = client
        .prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM lifecycle_events \
             WHERE (transaction_id, idempotency_key) IN \
             (SELECT * FROM unnest($1::text[], $2::text[]))"
        ))
        .await?;
    let mut events = HashMap::with_capacity(keys.len());
    let mut by_id = HashMap::with_capacity(keys.len());
    for row in client.query(&events_stmt, &[&tids, &idem]).await? {
        let event = rows::event(&row)?;
        let key = (
            event.transaction_id.clone(),
            event.idempotency_key.clone().unwrap_or_default(),
        );
        by_id.insert(event.id, key.clone());
        events.insert(key, (event, Vec::new()));
    }
    let ids: Vec<i64> = by_id.keys().copied().collect();
    let conversions_stmt = client
        .prepare_cached(&format!(
            "SELECT {CONVERSION_COLUMNS} FROM conversions WHERE lifecycle_id = ANY($1::bigint[]) \
             ORDER BY id"
        ))
        .await?;
    for row in client.query(&conversions_stmt, &[&ids]).await? {
        let conversion = rows::conversion(&row)?;
        if let Some(entry) = by_id
            .get(&conversion.lifecycle_id)
            .and_then(|key| events.get_mut(key))
        {
            entry.1.push(conversion);
        }
    }
    Ok(events)
}

/// The key TikTok dedups on: (pixel, event name, event_id).
pub(crate) type DedupKey = (String, String, String);

/// Stored conversions holding any of `keys`.
pub(crate) async fn conversions_by_key(
    client: &impl GenericClient,
    keys: &[(&str, &str, &str)],
) -> Result<HashMap<DedupKey, Conversion>, StoreError> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let pixels: Vec<&str> = keys.iter().map(|k| k.0).collect();
    let names: Vec<&str> = keys.iter().map(|k| k.1).collect();
    let ids: Vec<&str> = keys.iter().map(|k| k.2).collect();
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {CONVERSION_COLUMNS} FROM conversions \
             WHERE (pixel, event_name, event_id) IN \
             (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]))"
        ))
        .await?;
    let mut out = HashMap::with_capacity(keys.len());
    for row in client.query(&stmt, &[&pixels, &names, &ids]).await? {
        let c = rows::conversion(&row)?;
        out.insert(
            (c.pixel.clone(), c.event_name.clone(), c.event_id.clone()),
            c,
        );
    }
    Ok(out)
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}
