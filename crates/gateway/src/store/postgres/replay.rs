//! Replay in PostgreSQL, with the same semantics as the SQLite store (see `Store::replay`): one chunk
//! of parked conversions, walked in id order through the `conversions_parked` (or
//! `conversions_undeliverable`) partial index, locked, undeliverable ones given their pixel's
//! `site_url` as `page.url` when they have none, logged with a `replayed` attempt each, moved to
//! `pending` — one transaction — and every node is told (on commit) that those pixels have due work.
//! The dry run only counts.

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use super::delivery::{appended_attempt_log, log_requests};
use super::rows::PAYLOAD_COLUMN;
use crate::domain::{AttemptOutcome, NewAttempt};
use crate::store::replay::replay_message;
use crate::store::{PageRepairs, ReplayChunk, ReplayFilter, ReplayFrom, ReplayOutcome, StoreError};

/// `SELECT <columns> FROM conversions WHERE <filter> AND id > $1 ORDER BY id LIMIT $n` and its
/// parameters. The state is a literal (from an enum) so the planner can use the partial index.
fn select(
    columns: &str,
    filter: &ReplayFilter,
    chunk: ReplayChunk,
) -> (String, Vec<Box<dyn ToSql + Sync + Send>>) {
    let mut sql = format!(
        "SELECT {columns} FROM conversions WHERE state = '{}' AND id > $1",
        filter.from.as_str()
    );
    let mut params: Vec<Box<dyn ToSql + Sync + Send>> = vec![Box::new(chunk.after_id)];
    let mut add = |clause: &str, value: Box<dyn ToSql + Sync + Send>| {
        params.push(value);
        sql.push_str(&format!(" AND {clause} ${}", params.len()));
    };
    if let Some(pixel) = &filter.pixel {
        add("pixel =", Box::new(pixel.clone()));
    }
    if let Some(since) = filter.queued_since_ms {
        add("created_at_ms >=", Box::new(since));
    }
    if let Some(rule) = &filter.rule {
        add("rule =", Box::new(rule.clone()));
    }
    if let Some(transaction_id) = &filter.transaction_id {
        add("transaction_id =", Box::new(transaction_id.clone()));
    }
    params.push(Box::new(
        i64::try_from(chunk.limit.max(1)).unwrap_or(i64::MAX),
    ));
    sql.push_str(&format!(" ORDER BY id LIMIT ${}", params.len()));
    (sql, params)
}

fn refs(params: &[Box<dyn ToSql + Sync + Send>]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

fn column<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a tokio_postgres::Row,
    index: usize,
) -> Result<T, StoreError> {
    row.try_get(index)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The dry run: how many conversions the chunk would re-queue.
pub(crate) async fn count(
    client: &impl GenericClient,
    filter: &ReplayFilter,
    chunk: ReplayChunk,
) -> Result<ReplayOutcome, StoreError> {
    let (inner, params) = select("id", filter, chunk);
    let stmt = client
        .prepare_cached(&format!("SELECT COUNT(*), MAX(id) FROM ({inner}) AS chunk"))
        .await?;
    let row = client.query_one(&stmt, &refs(&params)).await?;
    let matched: i64 = column(&row, 0)?;
    let last_id: Option<i64> = column(&row, 1)?;
    Ok(ReplayOutcome {
        matched: u64::try_from(matched).unwrap_or(0),
        requeued: 0,
        last_id,
    })
}

/// The write, in the caller's transaction.
pub(crate) async fn requeue(
    tx: &impl GenericClient,
    filter: &ReplayFilter,
    chunk: ReplayChunk,
    now_ms: i64,
    channel: &str,
) -> Result<ReplayOutcome, StoreError> {
    let columns = format!("id, last_error, pixel, {PAYLOAD_COLUMN}");
    let (sql, params) = select(&columns, filter, chunk);
    // Locked (not skipped): only another replay touches parked rows, and it must not be passed by.
    let stmt = tx.prepare_cached(&format!("{sql} FOR UPDATE")).await?;
    let rows = tx.query(&stmt, &refs(&params)).await?;
    requeue_rows(
        tx,
        filter.from,
        &filter.page_repairs,
        &rows,
        now_ms,
        channel,
    )
    .await
}

/// Puts the pixel's `site_url` into the payloads of locked rows `(id, _, pixel, payload)` that name
/// no page, when replaying undeliverable conversions (see `Store::replay` and
/// [`ReplayFrom::repair_for`]).
async fn repair_pages(
    tx: &impl GenericClient,
    from: ReplayFrom,
    repairs: &PageRepairs,
    rows: &[tokio_postgres::Row],
) -> Result<(), StoreError> {
    let mut ids: Vec<i64> = Vec::new();
    let mut payloads: Vec<Vec<u8>> = Vec::new();
    for row in rows {
        let pixel: String = column(row, 2)?;
        let Some(repair) = from.repair_for(repairs, &pixel) else {
            continue;
        };
        let payload = super::rows::payload(row, 3)?;
        if let Some(filled) = repair.apply(&payload) {
            ids.push(column(row, 0)?);
            payloads.push(crate::store::payload_codec::encode(&filled)?);
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    let update = tx
        .prepare_cached(
            "UPDATE payloads AS p SET payload = r.payload \
             FROM unnest($1::bigint[], $2::bytea[]) AS r(id, payload) WHERE p.conversion_id = r.id",
        )
        .await?;
    tx.execute(&update, &[&ids, &payloads]).await?;
    Ok(())
}

/// Re-queues locked rows selected as `(id, last_error, pixel, payload)` in id order (still in state
/// `from`): undeliverable ones naming no page get their pixel's URL from `repairs`, then one
/// `replayed` attempt-log entry each, back to pending with a fresh retry budget, and a NOTIFY per
/// pixel. Shared by filtered replays and the console's replay of chosen ids.
pub(crate) async fn requeue_rows(
    tx: &impl GenericClient,
    from: ReplayFrom,
    repairs: &PageRepairs,
    rows: &[tokio_postgres::Row],
    now_ms: i64,
    channel: &str,
) -> Result<ReplayOutcome, StoreError> {
    repair_pages(tx, from, repairs, rows).await?;
    let mut ids = Vec::with_capacity(rows.len());
    let mut messages = Vec::with_capacity(rows.len());
    let mut pixels: Vec<String> = Vec::new();
    for row in rows {
        ids.push(column::<i64>(row, 0)?);
        let previous: Option<String> = column(row, 1)?;
        messages.push(replay_message(from, previous.as_deref()));
        let pixel: String = column(row, 2)?;
        if !pixels.contains(&pixel) {
            pixels.push(pixel);
        }
    }
    let Some(&last_id) = ids.last() else {
        return Ok(ReplayOutcome::default());
    };
    let entries: Vec<[NewAttempt; 1]> = messages
        .into_iter()
        .map(|message| {
            [NewAttempt {
                at_ms: now_ms,
                http_status: None,
                code: None,
                message,
                request_id: None,
                latency_ms: 0,
                outcome: AttemptOutcome::Replayed,
                batch_size: 0,
            }]
        })
        .collect();
    let entries: Vec<&[NewAttempt]> = entries.iter().map(|e| e.as_slice()).collect();
    let logs = log_requests(tx, &entries).await?;
    let update = tx
        .prepare_cached(&format!(
            "UPDATE conversions AS c SET state = 'pending', next_attempt_at_ms = $3, claim = NULL, \
             retries = 0, first_attempt_at_ms = NULL, last_error = NULL, attempt_log = {} \
             FROM unnest($1::bigint[], $2::text[]) AS r(id, log) \
             WHERE c.id = r.id AND c.state = '{}'",
            appended_attempt_log("r.log"),
            from.as_str()
        ))
        .await?;
    let requeued = tx.execute(&update, &[&ids, &logs, &now_ms]).await?;
    let notify = tx.prepare_cached("SELECT pg_notify($1, $2)").await?;
    for pixel in &pixels {
        tx.execute(&notify, &[&channel, pixel]).await?;
    }
    Ok(ReplayOutcome {
        matched: ids.len() as u64,
        requeued,
        last_id: Some(last_id),
    })
}
