//! The console's reads on PostgreSQL (see `store::insights`), with the same semantics as the SQLite
//! store, and the replay of chosen ids: locked, logged and re-queued in one transaction, with every
//! node told (on commit) which pixels have work again.

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use super::PostgresStore;
use super::rows::{self, CONVERSION_COLUMNS, LEAD_COLUMNS, PAYLOAD_COLUMN};
use crate::domain::{Conversion, ConversionState, Lead};
use crate::store::insights::{MAX_REPLAY_IDS, contains_pattern};
use crate::store::{
    DeadLetterFilter, Insights, LeadQuery, MatchQuality, MinuteCount, PageRepairs, ReasonCount,
    ReplayFrom, ReplayOutcome, StoreError, StoreFuture,
};
use crate::time::now_ms;

fn column<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a tokio_postgres::Row,
    index: usize,
) -> Result<T, StoreError> {
    row.try_get(index)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn count(row: &tokio_postgres::Row, index: usize) -> Result<u64, StoreError> {
    let n: i64 = column(row, index)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

fn limit(n: usize) -> i64 {
    i64::try_from(n.max(1)).unwrap_or(i64::MAX)
}

fn refs(params: &[Box<dyn ToSql + Sync + Send>]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

async fn per_minute(
    client: &impl GenericClient,
    since_ms: i64,
) -> Result<Vec<MinuteCount>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT (created_at_ms / 60000) * 60000 AS minute, state, COUNT(*) FROM conversions \
             WHERE created_at_ms >= $1 GROUP BY minute, state ORDER BY minute, state",
        )
        .await?;
    let mut out = Vec::new();
    for row in client.query(&stmt, &[&since_ms]).await? {
        let state: &str = column(&row, 1)?;
        out.push(MinuteCount {
            minute_ms: column(&row, 0)?,
            state: state
                .parse::<ConversionState>()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            count: count(&row, 2)?,
        });
    }
    Ok(out)
}

async fn match_quality(
    client: &impl GenericClient,
    since_ms: i64,
) -> Result<Vec<MatchQuality>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT c.pixel, COUNT(*), \
               COUNT(*) FILTER (WHERE l.ttclid IS NOT NULL AND l.ttclid <> ''), \
               COUNT(*) FILTER (WHERE l.ttp IS NOT NULL AND l.ttp <> ''), \
               COUNT(*) FILTER (WHERE l.email IS NOT NULL), \
               COUNT(*) FILTER (WHERE l.phone IS NOT NULL), \
               COUNT(*) FILTER (WHERE l.ip IS NOT NULL AND l.ip <> '' \
                                  AND l.user_agent IS NOT NULL AND l.user_agent <> ''), \
               COUNT(*) FILTER (WHERE l.click_ids IS NOT NULL \
                                  AND ((l.click_ids::jsonb ->> 'fbc') IS NOT NULL \
                                       OR (l.click_ids::jsonb ->> 'fbclid') IS NOT NULL)), \
               COUNT(*) FILTER (WHERE l.click_ids IS NOT NULL \
                                  AND (l.click_ids::jsonb ->> 'fbp') IS NOT NULL), \
               COUNT(*) FILTER (WHERE l.click_ids IS NOT NULL \
                                  AND ((l.click_ids::jsonb ->> 'gclid') IS NOT NULL \
                                       OR (l.click_ids::jsonb ->> 'gbraid') IS NOT NULL \
                                       OR (l.click_ids::jsonb ->> 'wbraid') IS NOT NULL)) \
             FROM conversions c JOIN leads l ON l.transaction_id = c.transaction_id \
             WHERE c.created_at_ms >= $1 AND c.state <> 'suppressed' \
             GROUP BY c.pixel ORDER BY c.pixel",
        )
        .await?;
    let mut out = Vec::new();
    for row in client.query(&stmt, &[&since_ms]).await? {
        out.push(MatchQuality {
            pixel: column(&row, 0)?,
            conversions: count(&row, 1)?,
            ttclid: count(&row, 2)?,
            ttp: count(&row, 3)?,
            email: count(&row, 4)?,
            phone: count(&row, 5)?,
            ip_and_user_agent: count(&row, 6)?,
            fbc: count(&row, 7)?,
            fbp: count(&row, 8)?,
            gclid: count(&row, 9)?,
        });
    }
    Ok(out)
}

async fn search_leads(
    client: &impl GenericClient,
    query: &LeadQuery,
    max: usize,
) -> Result<Vec<Lead>, StoreError> {
    let (column_name, value) = match query {
        LeadQuery::Ttclid(v) => ("ttclid", v),
        LeadQuery::EmailHash(v) => ("email", v),
    };
    if value.contains('\0') {
        // PostgreSQL text cannot hold NUL, so nothing stored matches (and asking would fail).
        return Ok(Vec::new());
    }
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {LEAD_COLUMNS} FROM leads WHERE {column_name} = $1 \
             ORDER BY created_at DESC, transaction_id LIMIT $2"
        ))
        .await?;
    let mut out = Vec::new();
    for row in client.query(&stmt, &[value, &limit(max)]).await? {
        out.push(rows::lead(&row)?);
    }
    Ok(out)
}

async fn dead_letters(
    client: &impl GenericClient,
    filter: &DeadLetterFilter,
) -> Result<Vec<Conversion>, StoreError> {
    // The state is a literal (from an enum) so the planner can use its partial index.
    let mut sql = format!(
        "SELECT {CONVERSION_COLUMNS} FROM conversions WHERE state = '{}'",
        filter.from.as_str()
    );
    let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    let mut add = |clause: &str, value: Box<dyn ToSql + Sync + Send>| {
        params.push(value);
        sql.push_str(&format!(" AND {clause} ${}", params.len()));
    };
    if let Some(pixel) = &filter.pixel {
        if pixel.contains('\0') {
            return Ok(Vec::new());
        }
        add("pixel =", Box::new(pixel.clone()));
    }
    if let Some(reason) = &filter.reason {
        if reason.contains('\0') {
            return Ok(Vec::new());
        }
        add("lower(last_error) LIKE", Box::new(contains_pattern(reason)));
    }
    if let Some(since) = filter.since_ms {
        add("created_at_ms >=", Box::new(since));
    }
    if let Some(until) = filter.until_ms {
        add("created_at_ms <", Box::new(until));
    }
    if let Some(before) = filter.before_id {
        add("id <", Box::new(before));
    }
    params.push(Box::new(limit(filter.limit)));
    sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", params.len()));
    let stmt = client.prepare_cached(&sql).await?;
    let mut out = Vec::new();
    for row in client.query(&stmt, &refs(&params)).await? {
        out.push(rows::conversion(&row)?);
    }
    Ok(out)
}

async fn dead_reasons(
    client: &impl GenericClient,
    from: ReplayFrom,
    max: usize,
) -> Result<Vec<ReasonCount>, StoreError> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT COALESCE(last_error, '') AS reason, COUNT(*) FROM conversions \
             WHERE state = '{}' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $1",
            from.as_str()
        ))
        .await?;
    let mut out = Vec::new();
    for row in client.query(&stmt, &[&limit(max)]).await? {
        out.push(ReasonCount {
            reason: column(&row, 0)?,
            count: count(&row, 1)?,
        });
    }
    Ok(out)
}

/// The write, in the caller's transaction.
async fn requeue_ids(
    tx: &impl GenericClient,
    from: ReplayFrom,
    ids: &[i64],
    page_repairs: &PageRepairs,
    now_ms: i64,
    channel: &str,
) -> Result<ReplayOutcome, StoreError> {
    let select = tx
        .prepare_cached(&format!(
            "SELECT id, last_error, pixel, {PAYLOAD_COLUMN} FROM conversions \
             WHERE id = ANY($1::bigint[]) AND state = '{}' ORDER BY id FOR UPDATE",
            from.as_str()
        ))
        .await?;
    let ids_param: Vec<i64> = ids.to_vec();
    let rows = tx.query(&select, &[&ids_param]).await?;
    super::replay::requeue_rows(tx, from, page_repairs, &rows, now_ms, channel).await
}

impl Insights for PostgresStore {
    fn conversions_per_minute(&self, since_ms: i64) -> StoreFuture<'_, Vec<MinuteCount>> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            per_minute(&client, since_ms).await
        })
    }

    fn match_quality(&self, since_ms: i64) -> StoreFuture<'_, Vec<MatchQuality>> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            match_quality(&client, since_ms).await
        })
    }

    fn search_leads<'a>(
        &'a self,
        query: &'a LeadQuery,
        limit: usize,
    ) -> StoreFuture<'a, Vec<Lead>> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            search_leads(&client, query, limit).await
        })
    }

    fn dead_letters<'a>(
        &'a self,
        filter: &'a DeadLetterFilter,
    ) -> StoreFuture<'a, Vec<Conversion>> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            dead_letters(&client, filter).await
        })
    }

    fn dead_reasons(&self, from: ReplayFrom, limit: usize) -> StoreFuture<'_, Vec<ReasonCount>> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            dead_reasons(&client, from, limit).await
        })
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
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            let outcome =
                requeue_ids(&tx, from, ids, page_repairs, now_ms(), &self.channel).await?;
            tx.commit().await?;
            Ok(outcome)
        })
    }
}
