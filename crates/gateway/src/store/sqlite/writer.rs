//! The group-commit writer: one OS thread owns the only write connection. Callers send commands through
//! a bounded channel and wait on a oneshot; the thread takes everything queued (up to a cap), runs it in
//! ONE transaction with cached prepared statements and commits once. The answers wait for the fsync
//! of the WAL that makes the commit durable, done by the `wal_sync` thread while this one goes on
//! with the next group; one fsync covers every group committed meanwhile. A full channel is backpressure, never a drop. If a group's transaction fails, each
//! command is retried alone so one bad command cannot fail its neighbours (and, on a nearly full disk,
//! the small ones still fit). A full disk is logged when it starts, while it lasts and when it ends,
//! not once per refused write.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rusqlite::{CachedStatement, Connection, TransactionBehavior, params};
use tokio::sync::{mpsc, oneshot};

use super::caps;
use super::delivery;
use super::episode::Episode;
use super::rows;
use super::schema;
use super::wal_sync::{self, WalSync};
use crate::domain::{Conversion, ConversionState, Lead, LifecycleEvent};
use crate::store::{
    ClaimedConversion, DeliveryResult, IngestResult, IngestUnit, PageRepairs, ReplayChunk,
    ReplayFilter, ReplayFrom, ReplayOutcome, StoreError,
};
use crate::time::now_ms;

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// A unit of work for the writer thread.
pub(crate) enum Command {
    Ingest {
        units: Vec<PackedUnit>,
        reply: Reply<Vec<Result<IngestResult, StoreError>>>,
    },
    Claim {
        pixel: String,
        now_ms: i64,
        limit: usize,
        lease_ms: i64,
        reply: Reply<Vec<ClaimedConversion>>,
    },
    Record {
        results: Vec<DeliveryResult>,
        reply: Reply<()>,
    },
    /// Extends the lease of conversions still held under a claim (see `Store::renew_lease`).
    Renew {
        claim: i64,
        ids: Vec<i64>,
        until_ms: i64,
        reply: Reply<u64>,
    },
    /// Claims one paused conversion to probe its pixel (see `Store::claim_probe`).
    ClaimProbe {
        pixel: String,
        now_ms: i64,
        lease_ms: i64,
        reply: Reply<Vec<ClaimedConversion>>,
    },
    Pause {
        pixel: String,
        reason: String,
        reply: Reply<u64>,
    },
    Resume {
        pixel: String,
        now_ms: i64,
        reply: Reply<u64>,
    },
    /// Retrying conversions of a pixel due later become due now (see `Store::expedite_retries`).
    Expedite {
        pixel: String,
        now_ms: i64,
        reply: Reply<u64>,
    },
    /// One retention batch (see `Store::purge_expired`).
    Purge {
        cutoff_ms: i64,
        limit: usize,
        reply: Reply<crate::store::Erased>,
    },
    /// The erasure of one person (see `Store::erase`).
    Erase {
        who: crate::store::EraseRequest,
        reply: Reply<crate::store::Erased>,
    },
    /// One chunk of a replay (see `Store::replay`).
    Replay {
        filter: ReplayFilter,
        chunk: ReplayChunk,
        reply: Reply<ReplayOutcome>,
    },
    /// A replay of chosen conversions (see `Insights::replay_ids`).
    ReplayIds {
        from: ReplayFrom,
        ids: Vec<i64>,
        /// Pixel code → its page repair, for undeliverable ones (see `Insights::replay_ids`).
        page_repairs: PageRepairs,
        reply: Reply<ReplayOutcome>,
    },
    /// Commit what came before, then stop; later commands are answered `Closed`.
    Stop { reply: Reply<()> },
}

/// An ingest unit with its conversions' payloads already encoded for the `payloads` table (see
/// `store::payload_codec`), on the caller's thread: the writer thread is the store's bottleneck.
pub(crate) struct PackedUnit {
    unit: IngestUnit,
    /// One per `unit.conversions`, in order.
    payloads: Vec<Vec<u8>>,
}

impl PackedUnit {
    pub fn new(unit: IngestUnit) -> Result<Self, StoreError> {
        let payloads = unit
            .conversions
            .iter()
            .map(|c| crate::store::payload_codec::encode(&c.payload))
            .collect::<Result<_, _>>()?;
        Ok(PackedUnit { unit, payloads })
    }
}

/// What a command produced, held until the commit succeeds.
enum Done {
    Ingest(Vec<Result<IngestResult, StoreError>>),
    Claim(Vec<ClaimedConversion>),
    Record,
    Count(u64),
    Replay(ReplayOutcome),
    Erased(crate::store::Erased),
}

/// Tuning of the writer.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// Commands the channel holds before callers wait.
    pub queue_capacity: usize,
    /// Most commands folded into one transaction.
    pub max_group: usize,
    /// How long a caller waits for queue space before [`StoreError::Backpressure`].
    pub enqueue_timeout: Duration,
    /// WAL frames (pages) past which the WAL is started over from its beginning between two
    /// commits, bounding the WAL file at about this many pages. None (the default): an eighth of the
    /// disk's free space, between 32 and 256 MiB (see `checkpoint::wal_bound_bytes`).
    pub wal_restart_frames: Option<i64>,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 16_384,
            max_group: 2_048,
            enqueue_timeout: Duration::from_secs(2),
            wal_restart_frames: None,
        }
    }
}

/// The caller's side of the writer.
#[derive(Clone)]
pub(crate) struct WriterHandle {
    tx: mpsc::Sender<Command>,
    enqueue_timeout: Duration,
}

impl WriterHandle {
    /// Sends `make(reply)` and waits for the committed answer.
    pub async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        let command = make(reply);
        match self.tx.try_send(command) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(StoreError::Closed),
            Err(mpsc::error::TrySendError::Full(command)) => {
                match self.tx.send_timeout(command, self.enqueue_timeout).await {
                    Ok(()) => {}
                    Err(mpsc::error::SendTimeoutError::Closed(_)) => {
                        return Err(StoreError::Closed);
                    }
                    Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                        return Err(StoreError::Backpressure {
                            retry_after: Duration::from_secs(1),
                        });
                    }
                }
            }
        }
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

/// Starts the writer thread on `conn`, the database at `db_path`. The connection's commits are not
/// fsynced by SQLite (`synchronous=NORMAL`): a [`WalSync`] thread fsyncs the WAL and only then
/// answers. `restart_wal` is raised by the checkpointer when the WAL should start over (see
/// [`restart_wal`]).
pub(crate) fn spawn(
    conn: Connection,
    db_path: &Path,
    config: WriterConfig,
    restart_wal: Arc<AtomicBool>,
) -> Result<(WriterHandle, std::thread::JoinHandle<()>), StoreError> {
    let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
    let max_group = config.max_group.max(1);
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let mut wal = db_path.as_os_str().to_owned();
    wal.push("-wal");
    let wal = PathBuf::from(wal);
    // The WAL file exists from the connection's first access; make its directory entry durable.
    wal_sync::sync_dir_of(&wal)?;
    let sync = WalSync::start(wal, |(command, done): (Command, Done), synced| {
        answer(command, synced.map(|()| done));
    })?;
    let join = std::thread::Builder::new()
        .name("signalpost-writer".into())
        .spawn(move || run(conn, rx, max_group, &restart_wal, sync))
        .map_err(|e| StoreError::Io(format!("cannot start the writer thread: {e}")))?;
    Ok((
        WriterHandle {
            tx,
            enqueue_timeout: config.enqueue_timeout,
        },
        join,
    ))
}

fn run(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Command>,
    max_group: usize,
    restart: &AtomicBool,
    mut sync: WalSync<(Command, Done)>,
) {
    let mut disk = disk_episode();
    let mut group = Vec::with_capacity(max_group);
    let mut stop = None;
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        while let Some(command) = next.take() {
            if let Command::Stop { reply } = command {
                stop = Some(reply);
                break;
            }
            group.push(command);
            if group.len() < max_group {
                next = rx.try_recv().ok();
            }
        }
        let mut committed = Vec::with_capacity(group.len());
        commit_group(
            &mut conn,
            std::mem::take(&mut group),
            &mut committed,
            &mut disk,
        );
        sync.after_sync(committed);
        if stop.is_some() {
            break;
        }
        if restart.swap(false, Ordering::Relaxed) {
            restart_wal(&conn);
        }
    }
    rx.close();
    while let Ok(command) = rx.try_recv() {
        answer(command, Err(StoreError::Closed));
    }
    // Every committed answer is released before the connection (and with it the WAL) is closed.
    sync.finish();
    drop(conn);
    if let Some(reply) = stop {
        let _ = reply.send(Ok(()));
    }
    tracing::debug!("store writer stopped");
}

/// How long a WAL restart waits for readers still using the WAL before it gives up until the
/// checkpointer asks again; the writer commits nothing meanwhile, so this bounds the stall.
const RESTART_WAIT: Duration = Duration::from_millis(20);

/// Starts the WAL over from its beginning, between two commits. The checkpointer has already copied
/// nearly all of the WAL into the database; this copies the rest, fsyncs the database file, and waits
/// (at most [`RESTART_WAIT`]) for readers to leave the WAL, so that the next commit writes at the start
/// of the file again instead of growing it. A reader that stays longer (a long console query) only
/// postpones the restart to the checkpointer's next request.
fn restart_wal(conn: &Connection) {
    let restarted = conn.busy_timeout(RESTART_WAIT).and_then(|()| {
        conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get::<_, i64>(0))
    });
    match restarted {
        Ok(0) => tracing::debug!("WAL restarted"),
        Ok(_) => tracing::debug!("WAL restart postponed: readers are still using it"),
        Err(e) => tracing::debug!(error = %e, "WAL restart failed; will retry"),
    }
    if let Err(e) = conn.busy_timeout(schema::BUSY_TIMEOUT) {
        tracing::warn!(error = %e, "could not restore the writer's busy timeout");
    }
}

/// A full disk, as the writer logs it.
fn disk_episode() -> Episode {
    Episode::new(
        "the disk holding the database is full: writes are refused (clients get 503) until space is freed",
        "disk space available again: the store accepts writes",
    )
}

/// Feeds a commit's outcome to the disk-full episode.
fn watch_disk(disk: &mut Episode, outcome: Result<(), &StoreError>) {
    match outcome {
        Ok(()) => {
            disk.succeeded(Instant::now());
        }
        Err(StoreError::DiskFull(detail)) => {
            disk.failed(detail, Instant::now());
        }
        Err(_) => {}
    }
}

/// Runs `group` in one transaction. What committed goes to `committed`, to be answered once the WAL
/// is fsynced; a failure is answered at once.
fn commit_group(
    conn: &mut Connection,
    group: Vec<Command>,
    committed: &mut Vec<(Command, Done)>,
    disk: &mut Episode,
) {
    match execute_all(conn, &group) {
        Ok(done) => {
            watch_disk(disk, Ok(()));
            committed.extend(group.into_iter().zip(done));
        }
        Err(e) if group.len() == 1 => {
            watch_disk(disk, Err(&e));
            for command in group {
                answer(command, Err(e.clone()));
            }
        }
        Err(e) => {
            if matches!(e, StoreError::DiskFull(_)) {
                // Logged by the disk episode when the single commands fail too.
                tracing::debug!(
                    size = group.len(),
                    "group commit hit a full disk; retrying each command alone"
                );
            } else {
                tracing::warn!(error = %e, size = group.len(), "group commit failed; retrying each command alone");
            }
            for command in group {
                let single = vec![command];
                commit_group(conn, single, committed, disk);
            }
        }
    }
}

fn execute_all(conn: &mut Connection, group: &[Command]) -> Result<Vec<Done>, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let now = now_ms();
    let mut done = Vec::with_capacity(group.len());
    for command in group {
        done.push(execute(&tx, command, now)?);
    }
    tx.commit()?;
    Ok(done)
}

fn answer(command: Command, result: Result<Done, StoreError>) {
    // A waiter that went away (request cancelled) is not an error: the write is committed regardless.
    let mismatch =
        || StoreError::Io("writer answered a command with another command's result".into());
    match command {
        Command::Ingest { reply, .. } => {
            let _ = reply.send(result.and_then(|d| match d {
                Done::Ingest(r) => Ok(r),
                _ => Err(mismatch()),
            }));
        }
        Command::Claim { reply, .. } | Command::ClaimProbe { reply, .. } => {
            let _ = reply.send(result.and_then(|d| match d {
                Done::Claim(r) => Ok(r),
                _ => Err(mismatch()),
            }));
        }
        Command::Record { reply, .. } => {
            let _ = reply.send(result.and_then(|d| match d {
                Done::Record => Ok(()),
                _ => Err(mismatch()),
            }));
        }
        Command::Stop { reply } => {
            let _ = reply.send(result.map(|_| ()));
        }
        Command::Erase { reply, .. } | Command::Purge { reply, .. } => {
            let _ = reply.send(result.and_then(|d| match d {
                Done::Erased(e) => Ok(e),
                _ => Err(mismatch()),
            }));
        }
        Command::Replay { reply, .. } | Command::ReplayIds { reply, .. } => {
            let _ = reply.send(result.and_then(|d| match d {
                Done::Replay(r) => Ok(r),
                _ => Err(mismatch()),
            }));
        }
        Command::Pause { reply, .. }
        | Command::Renew { reply, .. }
        | Command::Resume { reply, .. }
        | Command::Expedite { reply, .. } => {
            let _ = reply.send(result.and_then(|d| match d {
                Done::Count(n) => Ok(n),
                _ => Err(mismatch()),
            }));
        }
    }
}

fn execute(conn: &Connection, command: &Command, now: i64) -> Result<Done, StoreError> {
    match command {
        Command::Ingest { units, .. } => {
            let mut inserts = Inserts::prepare(conn)?;
            let mut out = Vec::with_capacity(units.len());
            for packed in units {
                out.push(ingest_unit(conn, &mut inserts, packed, now)?);
            }
            Ok(Done::Ingest(out))
        }
        Command::Claim {
            pixel,
            now_ms,
            limit,
            lease_ms,
            ..
        } => delivery::claim(conn, pixel, *now_ms, *limit, *lease_ms).map(Done::Claim),
        Command::ClaimProbe {
            pixel,
            now_ms,
            lease_ms,
            ..
        } => delivery::claim_probe(conn, pixel, *now_ms, *lease_ms).map(Done::Claim),
        Command::Record { results, .. } => {
            delivery::record(conn, results)?;
            Ok(Done::Record)
        }
        Command::Renew {
            claim,
            ids,
            until_ms,
            ..
        } => delivery::renew(conn, *claim, ids, *until_ms).map(Done::Count),
        Command::Pause { pixel, reason, .. } => {
            let n = conn
                .prepare_cached(
                    "UPDATE conversions SET state = 'paused', last_error = ?2 \
                     WHERE pixel = ?1 AND state IN ('pending', 'retrying')",
                )?
                .execute(params![pixel, reason])?;
            Ok(Done::Count(n as u64))
        }
        Command::Stop { .. } => Ok(Done::Record),
        Command::Erase { who, .. } => super::erase::erase(conn, who).map(Done::Erased),
        Command::Purge {
            cutoff_ms, limit, ..
        } => super::erase::purge_expired(conn, *cutoff_ms, *limit).map(Done::Erased),
        Command::Replay { filter, chunk, .. } => {
            super::replay::requeue(conn, filter, *chunk, now).map(Done::Replay)
        }
        Command::ReplayIds {
            from,
            ids,
            page_repairs,
            ..
        } => super::insights::requeue_ids(conn, *from, ids, page_repairs, now).map(Done::Replay),
        Command::Resume { pixel, now_ms, .. } => {
            let n = conn
                .prepare_cached(
                    "UPDATE conversions SET state = 'pending', next_attempt_at_ms = ?2, last_error = NULL \
                     WHERE pixel = ?1 AND state = 'paused'",
                )?
                .execute(params![pixel, now_ms])?;
            Ok(Done::Count(n as u64))
        }
        Command::Expedite { pixel, now_ms, .. } => {
            let n = conn
                .prepare_cached(
                    "UPDATE conversions SET next_attempt_at_ms = ?2 \
                     WHERE pixel = ?1 AND state = 'retrying' AND next_attempt_at_ms > ?2",
                )?
                .execute(params![pixel, now_ms])?;
            Ok(Done::Count(n as u64))
        }
    }
}

/// Writes one unit. The outer error aborts the transaction; the inner one is this unit's own answer
/// (checked before anything is written, so a refused unit writes nothing).
fn ingest_unit(
    conn: &Connection,
    inserts: &mut Inserts<'_>,
    packed: &PackedUnit,
    now: i64,
) -> Result<Result<IngestResult, StoreError>, StoreError> {
    let unit = &packed.unit;
    let transaction_id = &unit.event.transaction_id;
    let (lead, lead_created) = match &unit.lead {
        Some(lead) => {
            if insert_lead(inserts, lead, now)? {
                (lead.clone(), true)
            } else {
                match rows::find_lead(conn, &lead.transaction_id)? {
                    Some(stored) => (stored, false),
                    None => return Err(StoreError::Io("lead vanished during ingest".into())),
                }
            }
        }
        None => match &unit.planned_with {
            // The gateway has read it to plan the event: only check it was not erased since.
            Some(planned) if planned.transaction_id == *transaction_id => {
                if !rows::lead_exists(conn, transaction_id)? {
                    return Ok(Err(StoreError::LeadNotFound(transaction_id.clone())));
                }
                (planned.clone(), false)
            }
            _ => match rows::find_lead(conn, transaction_id)? {
                Some(stored) => (stored, false),
                None => return Ok(Err(StoreError::LeadNotFound(transaction_id.clone()))),
            },
        },
    };

    let Some(event_id) = insert_event(inserts, &unit.event, now)? else {
        // Idempotency key seen before: answer what the first request got.
        let key = unit.event.idempotency_key.as_deref().unwrap_or_default();
        let Some(event) = rows::find_event_by_key(conn, transaction_id, key)? else {
            return Err(StoreError::Io(
                "lifecycle event vanished during ingest".into(),
            ));
        };
        let conversions = rows::conversions_of_event(conn, transaction_id, event.id)?;
        return Ok(Ok(IngestResult {
            lead,
            lead_created,
            event,
            event_created: false,
            conversions,
            duplicates: Vec::new(),
            refused: Vec::new(),
        }));
    };
    let event = LifecycleEvent {
        id: event_id,
        ..unit.event.clone()
    };

    let mut conversions = Vec::with_capacity(unit.conversions.len());
    let mut duplicates = Vec::new();
    let queued_at = unit.queued_at_ms.unwrap_or(now);
    for (c, stored_payload) in unit.conversions.iter().zip(&packed.payloads) {
        // Suppressed by the rules (schedule), or by a full cap window: kept, never sent. Refused by
        // the gateway's ingest check: kept as undeliverable, outside the caps, never claimed.
        let (state, next_attempt, last_error) = match (&c.suppressed, &c.undeliverable) {
            (Some(reason), _) => (ConversionState::Suppressed, None, Some(reason.clone())),
            (None, Some(reason)) => (ConversionState::Undeliverable, None, Some(reason.clone())),
            (None, None) => match caps::reached(conn, &c.rule, &c.caps)? {
                Some(cap) => (ConversionState::Suppressed, None, Some(cap.reason())),
                None => (ConversionState::Pending, Some(now), None),
            },
        };
        // Plain INSERT + last_insert_rowid: RETURNING would materialize every statement's output.
        let inserted = inserts.conversion.execute(params![
            transaction_id,
            event_id,
            c.rule,
            c.pixel,
            c.event_name,
            c.event_id,
            c.test_event_code,
            c.event_time,
            state.as_str(),
            next_attempt,
            queued_at,
            last_error,
        ])?;
        match (inserted == 1).then(|| conn.last_insert_rowid()) {
            Some(id) => conversions.push({
                inserts.payload.execute(params![id, stored_payload])?;
                Conversion {
                    id,
                    transaction_id: transaction_id.clone(),
                    lifecycle_id: event_id,
                    rule: c.rule.clone(),
                    pixel: c.pixel.clone(),
                    event_name: c.event_name.clone(),
                    event_id: c.event_id.clone(),
                    test_event_code: c.test_event_code.clone(),
                    event_time: c.event_time,
                    state,
                    attempts: 0,
                    next_attempt_at_ms: next_attempt,
                    last_error,
                    payload: c.payload.clone(),
                    created_at_ms: queued_at,
                }
            }),
            None => {
                match rows::find_conversion_by_key(conn, &c.pixel, &c.event_name, &c.event_id)? {
                    Some(existing) => duplicates.push(existing),
                    None => {
                        return Err(StoreError::Io(format!(
                            "conversion {}/{}/{} was neither stored nor found",
                            c.pixel, c.event_name, c.event_id
                        )));
                    }
                }
            }
        }
    }
    Ok(Ok(IngestResult {
        lead,
        lead_created,
        event,
        event_created: true,
        conversions,
        duplicates,
        refused: Vec::new(),
    }))
}

fn insert_lead(inserts: &mut Inserts<'_>, lead: &Lead, now: i64) -> Result<bool, StoreError> {
    let fields = serde_json::to_string(&lead.fields).map_err(|e| StoreError::Io(e.to_string()))?;
    let warnings =
        serde_json::to_string(&lead.warnings).map_err(|e| StoreError::Io(e.to_string()))?;
    let phones = crate::store::phones_to_json(lead)?;
    let click_ids = crate::store::click_ids::to_json(lead)?;
    let n = inserts.lead.execute(params![
        lead.transaction_id,
        lead.email,
        lead.phone,
        lead.external_id,
        lead.ip,
        lead.user_agent,
        lead.ttclid,
        lead.ttp,
        lead.landing_url,
        lead.referrer,
        lead.source,
        fields,
        warnings,
        lead.created_at,
        now,
        lead.country,
        phones,
        click_ids,
    ])?;
    Ok(n == 1)
}

/// Inserts the lifecycle event; `None` when its idempotency key was already used for this lead.
fn insert_event(
    inserts: &mut Inserts<'_>,
    event: &LifecycleEvent,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let inserted = inserts.event.execute(params![
        event.transaction_id,
        event.trigger.as_str(),
        event.name,
        event.buyer,
        event.offer,
        event.revenue,
        event.currency,
        event.occurred_at,
        event.idempotency_key,
        now,
        event.payout,
    ])?;
    Ok((inserted == 1).then(|| inserts.conn.last_insert_rowid()))
}

/// The INSERT statements an ingest command runs for each unit, looked up in the statement cache
/// once per command rather than once per unit (a 500-item batch ran 2,000 cache lookups, each hashing
/// the whole SQL text).
struct Inserts<'c> {
    conn: &'c Connection,
    lead: CachedStatement<'c>,
    event: CachedStatement<'c>,
    conversion: CachedStatement<'c>,
    payload: CachedStatement<'c>,
}

impl<'c> Inserts<'c> {
    fn prepare(conn: &'c Connection) -> Result<Self, StoreError> {
        Ok(Inserts {
            conn,
            lead: conn.prepare_cached(
                "INSERT OR IGNORE INTO leads (transaction_id, email, phone, external_id, ip, \
                 user_agent, ttclid, ttp, landing_url, referrer, source, fields, warnings, \
                 created_at, stored_at_ms, country, phone_by_region, click_ids) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
                 ?18)",
            )?,
            event: conn.prepare_cached(
                "INSERT OR IGNORE INTO lifecycle_events (transaction_id, trigger, name, buyer, \
                 offer, revenue, currency, occurred_at, idempotency_key, stored_at_ms, payout) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?,
            conversion: conn.prepare_cached(
                "INSERT OR IGNORE INTO conversions (transaction_id, lifecycle_id, rule, pixel, \
                 event_name, event_id, test_event_code, event_time, state, next_attempt_at_ms, \
                 created_at_ms, last_error) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?,
            payload: conn
                .prepare_cached("INSERT INTO payloads (conversion_id, payload) VALUES (?1, ?2)")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{NewLead, Trigger};
    use crate::gateway::lead_from;
    use crate::store::sqlite::schema;

    /// A form submission with a bulky custom field, so a few of them fill a page.
    fn unit(n: usize) -> IngestUnit {
        let lead = lead_from(
            NewLead {
                transaction_id: Some(format!("full-{n}")),
                ip: Some("203.0.113.7".into()),
                fields: serde_json::json!({ "note": "x".repeat(1500) }),
                ..NewLead::default()
            },
            1_700_000_000,
        )
        .unwrap();
        let event = LifecycleEvent {
            id: 0,
            transaction_id: lead.transaction_id.clone(),
            trigger: Trigger::FormSubmit,
            name: None,
            buyer: None,
            offer: None,
            revenue: None,
            payout: None,
            currency: None,
            occurred_at: lead.created_at,
            idempotency_key: Some("form_submit".into()),
        };
        IngestUnit {
            lead: Some(lead),
            planned_with: None,
            event,
            conversions: Vec::new(),
            queued_at_ms: None,
        }
    }

    /// A database that may grow only a few pages past its schema: SQLite answers SQLITE_FULL exactly
    /// as on a full disk, deterministically and without a special filesystem.
    fn capped_writer(path: &std::path::Path) -> (WriterHandle, std::thread::JoinHandle<()>) {
        let mut conn = Connection::open(path).unwrap();
        schema::configure(&conn, true).unwrap();
        schema::migrate(&mut conn).unwrap();
        let pages: i64 = conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        conn.query_row(
            &format!("PRAGMA max_page_count = {}", pages + 12),
            [],
            |_| Ok(()),
        )
        .unwrap();
        spawn(conn, path, WriterConfig::default(), Arc::default()).unwrap()
    }

    #[tokio::test]
    async fn a_full_disk_refuses_writes_as_disk_full_and_keeps_the_writer_and_store_sound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("full.db");
        let (writer, join) = capped_writer(&path);

        // Concurrent callers, so whole groups hit the limit, not just single commands.
        let mut calls = Vec::new();
        for n in 0..200 {
            let writer = writer.clone();
            calls.push(tokio::spawn(async move {
                let answer = writer
                    .call(|reply| Command::Ingest {
                        units: vec![PackedUnit::new(unit(n)).unwrap()],
                        reply,
                    })
                    .await;
                (n, answer)
            }));
        }
        let mut stored = Vec::new();
        let mut refused = 0;
        for call in calls {
            match call.await.unwrap() {
                (n, Ok(mut answers)) => {
                    assert!(answers.pop().unwrap().is_ok());
                    stored.push(format!("full-{n}"));
                }
                (_, Err(StoreError::DiskFull(_))) => refused += 1,
                (_, Err(other)) => panic!("a full disk must read as DiskFull, got {other:?}"),
            }
        }
        assert!(refused > 0, "the cap was never reached");
        assert!(!stored.is_empty(), "nothing fitted before the cap");

        // The writer still answers: a claim that finds nothing writes nothing and succeeds.
        let claimed = writer
            .call(|reply| Command::Claim {
                pixel: "P".into(),
                now_ms: 0,
                limit: 10,
                lease_ms: 1000,
                reply,
            })
            .await
            .unwrap();
        assert!(claimed.is_empty());
        writer.call(|reply| Command::Stop { reply }).await.unwrap();
        join.join().unwrap();

        // Every acknowledged lead is there, nothing refused is, and the file is sound.
        let conn = Connection::open(&path).unwrap();
        let mut ids: Vec<String> = conn
            .prepare("SELECT transaction_id FROM leads")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        ids.sort();
        stored.sort();
        assert_eq!(ids, stored);
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
    }

    #[test]
    fn sqlite_full_maps_to_disk_full() {
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            Some("database or disk is full".into()),
        );
        assert!(matches!(StoreError::from(full), StoreError::DiskFull(_)));
    }
}
