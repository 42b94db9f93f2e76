//! The console's reads on SQLite (see `store::insights`), each on a pooled read-only connection in one
//! snapshot, and the replay of chosen ids, which runs in the writer's transaction like every write.
//! Time windows use the `conversions_created` index; dead letters walk `conversions_parked`
//! (undeliverable ones `conversions_undeliverable`).

use rusqlite::types::Value;
use rusqlite::{Connection, params, params_from_iter};

use super::SqliteStore;
use super::replay::Picked;
use super::rows::{self, CONVERSION_COLUMNS, CONVERSIONS_WITH_PAYLOAD, LEAD_COLUMNS};
use super::writer::Command;
use crate::domain::{Conversion, ConversionState, Lead};
use crate::store::insights::{MAX_REPLAY_IDS, contains_pattern};
use crate::store::{
    DeadLetterFilter, Insights, LeadQuery, MatchQuality, MinuteCount, PageRepairs, ReasonCount,
    ReplayFrom, ReplayOutcome, StoreError, StoreFuture,
};

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn limit(n: usize) -> i64 {
    i64::try_from(n.max(1)).unwrap_or(i64::MAX)
}

fn per_minute(conn: &Connection, since_ms: i64) -> Result<Vec<MinuteCount>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT (created_at_ms / 60000) * 60000 AS minute, state, COUNT(*) FROM conversions \
         WHERE created_at_ms >= ?1 GROUP BY minute, state ORDER BY minute, state",
    )?;
    let mut found = stmt.query(params![since_ms])?;
    let mut out = Vec::new();
    while let Some(row) = found.next()? {
        let state: String = row.get(1)?;
        out.push(MinuteCount {
            minute_ms: row.get(0)?,
            state: state
                .parse::<ConversionState>()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            count: count(row.get(2)?),
        });
    }
    Ok(out)
}

fn match_quality(conn: &Connection, since_ms: i64) -> Result<Vec<MatchQuality>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.pixel, COUNT(*), \
           SUM(l.ttclid IS NOT NULL AND l.ttclid <> ''), \
           SUM(l.ttp IS NOT NULL AND l.ttp <> ''), \
           SUM(l.email IS NOT NULL), \
           SUM(l.phone IS NOT NULL), \
           SUM(l.ip IS NOT NULL AND l.ip <> '' AND l.user_agent IS NOT NULL AND l.user_agent <> ''), \
           SUM(l.click_ids IS NOT NULL AND (json_extract(l.click_ids, '$.fbc') IS NOT NULL \
               OR json_extract(l.click_ids, '$.fbclid') IS NOT NULL)), \
           SUM(l.click_ids IS NOT NULL AND json_extract(l.click_ids, '$.fbp') IS NOT NULL), \
           SUM(l.click_ids IS NOT NULL AND (json_extract(l.click_ids, '$.gclid') IS NOT NULL \
               OR json_extract(l.click_ids, '$.gbraid') IS NOT NULL \
               OR json_extract(l.click_ids, '$.wbraid') IS NOT NULL)) \
         FROM conversions c JOIN leads l ON l.transaction_id = c.transaction_id \
         WHERE c.created_at_ms >= ?1 AND c.state <> 'suppressed' \
         GROUP BY c.pixel ORDER BY c.pixel",
    )?;
    let mut found = stmt.query(params![since_ms])?;
    let mut out = Vec::new();
    while let Some(row) = found.next()? {
        out.push(MatchQuality {
            pixel: row.get(0)?,
            conversions: count(row.get(1)?),
            ttclid: count(row.get(2)?),
            ttp: count(row.get(3)?),
            email: count(row.get(4)?),
            phone: count(row.get(5)?),
            ip_and_user_agent: count(row.get(6)?),
            fbc: count(row.get(7)?),
            fbp: count(row.get(8)?),
            gclid: count(row.get(9)?),
        });
    }
    Ok(out)
}

fn search_leads(conn: &Connection, query: &LeadQuery, max: usize) -> Result<Vec<Lead>, StoreError> {
    let (column, value) = match query {
        LeadQuery::Ttclid(v) => ("ttclid", v),
        LeadQuery::EmailHash(v) => ("email", v),
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {LEAD_COLUMNS} FROM leads WHERE {column} = ?1 \
         ORDER BY created_at DESC, transaction_id LIMIT ?2"
    ))?;
    let mut found = stmt.query(params![value, limit(max)])?;
    let mut out = Vec::new();
    while let Some(row) = found.next()? {
        out.push(rows::lead(row)?);
    }
    Ok(out)
}

fn dead_letters(
    conn: &Connection,
    filter: &DeadLetterFilter,
) -> Result<Vec<Conversion>, StoreError> {
    // The state is a literal (from an enum) so the planner walks its partial index
    // (`conversions_parked` or `conversions_undeliverable`) newest first.
    let mut sql = format!(
        "SELECT {CONVERSION_COLUMNS} FROM {CONVERSIONS_WITH_PAYLOAD} WHERE state = '{}'",
        filter.from.as_str()
    );
    let mut values = Vec::new();
    if let Some(pixel) = &filter.pixel {
        sql.push_str(" AND pixel = ?");
        values.push(Value::Text(pixel.clone()));
    }
    if let Some(reason) = &filter.reason {
        sql.push_str(" AND lower(last_error) LIKE ? ESCAPE '\\'");
        values.push(Value::Text(contains_pattern(reason)));
    }
    if let Some(since) = filter.since_ms {
        sql.push_str(" AND created_at_ms >= ?");
        values.push(Value::Integer(since));
    }
    if let Some(until) = filter.until_ms {
        sql.push_str(" AND created_at_ms < ?");
        values.push(Value::Integer(until));
    }
    if let Some(before) = filter.before_id {
        sql.push_str(" AND conversions.id < ?");
        values.push(Value::Integer(before));
    }
    sql.push_str(" ORDER BY conversions.id DESC LIMIT ?");
    values.push(Value::Integer(limit(filter.limit)));
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut found = stmt.query(params_from_iter(values))?;
    let mut out = Vec::new();
    while let Some(row) = found.next()? {
        out.push(rows::conversion(row)?);
    }
    Ok(out)
}

fn dead_reasons(
    conn: &Connection,
    from: ReplayFrom,
    max: usize,
) -> Result<Vec<ReasonCount>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT COALESCE(last_error, ''), COUNT(*) FROM conversions WHERE state = '{}' \
         GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?1",
        from.as_str()
    ))?;
    let mut found = stmt.query(params![limit(max)])?;
    let mut out = Vec::new();
    while let Some(row) = found.next()? {
        out.push(ReasonCount {
            reason: row.get(0)?,
            count: count(row.get(1)?),
        });
    }
    Ok(out)
}

/// Logs and re-queues the chosen conversions still in `from` (repairing the page of undeliverable
/// ones from `page_repairs` like a filtered replay). Runs inside the writer's transaction.
pub(crate) fn requeue_ids(
    conn: &Connection,
    from: ReplayFrom,
    ids: &[i64],
    page_repairs: &PageRepairs,
    now_ms: i64,
) -> Result<ReplayOutcome, StoreError> {
    let ids_json = serde_json::to_string(ids).map_err(|e| StoreError::Io(e.to_string()))?;
    let mut picked: Vec<Picked> = Vec::new();
    {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT id, last_error, pixel FROM conversions \
             WHERE id IN (SELECT value FROM json_each(?1)) AND state = '{}' ORDER BY id",
            from.as_str()
        ))?;
        let mut found = stmt.query(params![ids_json])?;
        while let Some(row) = found.next()? {
            picked.push((row.get(0)?, row.get(1)?, row.get(2)?));
        }
    }
    super::replay::requeue_picked(conn, from, page_repairs, &picked, now_ms)
}

impl Insights for SqliteStore {
    fn conversions_per_minute(&self, since_ms: i64) -> StoreFuture<'_, Vec<MinuteCount>> {
        Box::pin(async move { self.reads.run(move |c| per_minute(c, since_ms)).await })
    }

    fn match_quality(&self, since_ms: i64) -> StoreFuture<'_, Vec<MatchQuality>> {
        Box::pin(async move { self.reads.run(move |c| match_quality(c, since_ms)).await })
    }

    fn search_leads<'a>(
        &'a self,
        query: &'a LeadQuery,
        limit: usize,
    ) -> StoreFuture<'a, Vec<Lead>> {
        let query = query.clone();
        Box::pin(async move {
            self.reads
                .run(move |c| search_leads(c, &query, limit))
                .await
        })
    }

    fn dead_letters<'a>(
        &'a self,
        filter: &'a DeadLetterFilter,
    ) -> StoreFuture<'a, Vec<Conversion>> {
        let filter = filter.clone();
        Box::pin(async move { self.reads.run(move |c| dead_letters(c, &filter)).await })
    }

    fn dead_reasons(&self, from: ReplayFrom, limit: usize) -> StoreFuture<'_, Vec<ReasonCount>> {
        Box::pin(async move { self.reads.run(move |c| dead_reasons(c, from, limit)).await })
    }

    fn replay_ids<'a>(
        &'a self,
        from: ReplayFrom,
        ids: &'a [i64],
        page_repairs: &'a PageRepairs,
    ) -> StoreFuture<'a, ReplayOutcome> {
        Box::pin(async move {
            if ids.is_empty() {
                return Ok(ReplayOutcome::default());
            }
            if ids.len() > MAX_REPLAY_IDS {
                return Err(StoreError::Io(format!(
                    "at most {MAX_REPLAY_IDS} conversions can be replayed by id at once"
                )));
            }
            self.writer
                .call(|reply| Command::ReplayIds {
                    from,
                    ids: ids.to_vec(),
                    page_repairs: page_repairs.clone(),
                    reply,
                })
                .await
        })
    }
}
