//! Read-only connections for lookups (`find_lead`, `get_lead`, metrics). WAL lets them read a
//! consistent snapshot while the writer commits; each query runs on the blocking pool so the async
//! runtime never waits on disk.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags, params};

use super::rows::{
    self, CONVERSION_COLUMNS, CONVERSIONS_WITH_PAYLOAD, EVENT_COLUMNS, REQUEST_COLUMNS,
};
use super::schema;
use crate::domain::{Attempt, ConversionState, Lead};
use crate::store::{ConversionView, LeadView, QueueDepth, StoreError};

/// Idle read connections kept open.
const MAX_IDLE: usize = 4;

/// A small pool of read-only connections.
#[derive(Clone)]
pub(crate) struct ReadPool {
    path: Arc<PathBuf>,
    idle: Arc<Mutex<Vec<Connection>>>,
}

impl ReadPool {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path: Arc::new(path),
            idle: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Runs `f` on a pooled connection inside a read transaction (one snapshot).
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let pool = self.clone();
        tokio::task::spawn_blocking(move || {
            let conn = pool.take()?;
            conn.execute_batch("BEGIN")?;
            let out = f(&conn);
            let _ = conn.execute_batch("COMMIT");
            pool.give_back(conn);
            out
        })
        .await
        .map_err(|e| StoreError::Io(format!("read task failed: {e}")))?
    }

    fn take(&self) -> Result<Connection, StoreError> {
        if let Some(conn) = self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            return Ok(conn);
        }
        let conn = Connection::open_with_flags(
            self.path.as_path(),
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        schema::configure(&conn, false)?;
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push(conn);
        }
    }
}

pub(crate) fn find_lead(
    conn: &Connection,
    transaction_id: &str,
) -> Result<Option<Lead>, StoreError> {
    rows::find_lead(conn, transaction_id)
}

pub(crate) fn get_lead(
    conn: &Connection,
    transaction_id: &str,
) -> Result<Option<LeadView>, StoreError> {
    let Some(lead) = rows::find_lead(conn, transaction_id)? else {
        return Ok(None);
    };
    let mut events = Vec::new();
    {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM lifecycle_events WHERE transaction_id = ?1 ORDER BY id"
        ))?;
        let mut found = stmt.query(params![transaction_id])?;
        while let Some(row) = found.next()? {
            events.push(rows::event(row)?);
        }
    }
    let mut conversions = Vec::new();
    let mut logs = Vec::new();
    {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {CONVERSION_COLUMNS}, attempt_log FROM {CONVERSIONS_WITH_PAYLOAD} \
             WHERE lifecycle_id IN (SELECT id FROM lifecycle_events WHERE transaction_id = ?1) \
             ORDER BY id"
        ))?;
        let mut found = stmt.query(params![transaction_id])?;
        while let Some(row) = found.next()? {
            conversions.push(ConversionView {
                conversion: rows::conversion(row)?,
                attempt_log: Vec::new(),
            });
            logs.push(parse_attempt_log(row.get(15)?)?);
        }
    }
    attach_attempts(conn, &mut conversions, &logs)?;
    Ok(Some(LeadView {
        lead,
        events,
        conversions,
    }))
}

/// A conversion's `attempt_log`: the ids of the requests that carried it, oldest first.
pub(crate) fn parse_attempt_log(log: Option<String>) -> Result<Vec<i64>, StoreError> {
    let Some(log) = log else {
        return Ok(Vec::new());
    };
    log.split(',')
        .map(|id| {
            id.parse()
                .map_err(|_| StoreError::Corrupt(format!("attempt_log entry {id:?}")))
        })
        .collect()
}

/// Fills each conversion's attempt log from the requests its `attempt_log` (`logs`, in the same
/// order) names, oldest first.
fn attach_attempts(
    conn: &Connection,
    conversions: &mut [ConversionView],
    logs: &[Vec<i64>],
) -> Result<(), StoreError> {
    let wanted: Vec<i64> = logs.iter().flatten().copied().collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let ids = serde_json::to_string(&wanted).map_err(|e| StoreError::Io(e.to_string()))?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {REQUEST_COLUMNS} FROM requests WHERE id IN (SELECT value FROM json_each(?1))"
    ))?;
    let mut found = stmt.query(params![ids])?;
    let mut requests = std::collections::HashMap::new();
    while let Some(row) = found.next()? {
        requests.insert(row.get::<_, i64>(0)?, rows::attempt(row, 0)?);
    }
    for (view, log) in conversions.iter_mut().zip(logs) {
        let id = view.conversion.id;
        view.attempt_log = log
            .iter()
            .filter_map(|request| requests.get(request))
            .map(|attempt| Attempt {
                conversion_id: id,
                ..attempt.clone()
            })
            .collect();
    }
    Ok(())
}

pub(crate) fn queue_depth(conn: &Connection) -> Result<Vec<QueueDepth>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT pixel, state, COUNT(*) FROM conversions GROUP BY pixel, state ORDER BY pixel, state",
    )?;
    let mut found = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = found.next()? {
        let state: String = row.get(1)?;
        let count: i64 = row.get(2)?;
        out.push(QueueDepth {
            pixel: row.get(0)?,
            state: state
                .parse::<ConversionState>()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            count: u64::try_from(count).unwrap_or(0),
        });
    }
    Ok(out)
}

pub(crate) fn pixels_with_due_work(
    conn: &Connection,
    now_ms: i64,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT pixel FROM conversions \
         WHERE state IN ('pending', 'retrying', 'in_flight') AND next_attempt_at_ms <= ?1 ORDER BY pixel",
    )?;
    let mut found = stmt.query(params![now_ms])?;
    let mut out = Vec::new();
    while let Some(row) = found.next()? {
        out.push(row.get(0)?);
    }
    Ok(out)
}
