//! The embedded default store: one SQLite file (WAL, `synchronous=FULL`) under `data_dir`. Writes go
//! through the group-commit [`writer`]; lookups through a small pool of read-only connections
//! ([`read`]). Claims and results are writes, so they go through the writer too: SQLite has exactly one
//! writer, and this way it never waits on a lock.
//!
//! Two kinds of process open the file: the one server that delivers (`signalpost serve`, opened with
//! [`OpenMode::Serve`]) and any number of operator tools beside it (`keys`, `pixels`, `import`,
//! `replay`, `apply`…, opened with [`OpenMode::Tool`]). Only the server may decide that leases are
//! orphaned; see [`serve_lock`].

pub mod backup;
mod caps;
mod checkpoint;
mod delivery;
mod episode;
mod erase;
mod insights;
mod private_files;
mod read;
mod replay;
mod rows;
pub mod schema;
mod serve_lock;
mod settings;
mod wal_sync;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;

pub use private_files::create_private_dir;
pub use serve_lock::SERVE_LOCK_FILE;
pub use writer::WriterConfig;

use crate::domain::Lead;
use crate::store::settings::{SettingsStore, StoredKey, StoredPixel, StoredRule};
use crate::store::{
    ClaimedConversion, DeliveryResult, EraseRequest, Erased, IngestResult, IngestUnit, LeadView,
    QueueDepth, ReplayChunk, ReplayFilter, ReplayOutcome, Store, StoreError, StoreFuture,
};
use crate::time::now_ms;
use checkpoint::Checkpointer;
use read::ReadPool;
use serve_lock::ServeLock;
use writer::{Command, PackedUnit, WriterHandle};

/// File name of the database inside `data_dir`.
pub const DB_FILE: &str = "signalpost.db";

/// Why a process opens the store, which decides whether it may recover leases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OpenMode {
    /// An operator tool, a test or a benchmark: reads and writes like any client, never takes the
    /// serve lock and never touches leases, so it can run beside a live server without making it
    /// send a batch twice. The default, because only one caller is a server.
    #[default]
    Tool,
    /// The serving process (`signalpost serve`): takes the data directory's serve lock for the life
    /// of the store, refusing to open (with [`StoreError::Busy`]) when another server holds it, and
    /// then makes the batches a dead server left in flight due at once. Holding the lock is what
    /// proves those leases are orphaned rather than another live server's.
    Serve,
}

/// The SQLite store.
pub struct SqliteStore {
    path: PathBuf,
    writer: WriterHandle,
    reads: ReadPool,
    settings: settings::SettingsWriter,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    checkpointer: Mutex<Option<Checkpointer>>,
    /// Held while a serving store is open ([`OpenMode::Serve`]); `None` for tools.
    serve_lock: Mutex<Option<ServeLock>>,
}

impl SqliteStore {
    /// Opens (creating if needed) `data_dir/signalpost.db` as a tool ([`OpenMode::Tool`]): applies
    /// migrations and starts the writer, and leaves every lease alone.
    pub fn open(data_dir: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        Self::open_with(data_dir, WriterConfig::default(), OpenMode::Tool)
    }

    /// Opens the store for the process that delivers ([`OpenMode::Serve`]): fails if another server
    /// serves `data_dir`, otherwise recovers the leases a killed server left behind.
    pub fn open_for_serving(data_dir: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        Self::open_with(data_dir, WriterConfig::default(), OpenMode::Serve)
    }

    /// [`SqliteStore::open`] or [`SqliteStore::open_for_serving`], with explicit writer tuning.
    pub fn open_with(
        data_dir: impl AsRef<Path>,
        config: WriterConfig,
        mode: OpenMode,
    ) -> Result<SqliteStore, StoreError> {
        let dir = data_dir.as_ref();
        create_private_dir(dir).map_err(|e| {
            StoreError::Io(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        // The lock comes first: a second server must not even migrate under a live one.
        let serve_lock = match mode {
            OpenMode::Serve => Some(ServeLock::acquire(dir)?),
            OpenMode::Tool => None,
        };
        let path = dir.join(DB_FILE);
        private_files::prepare_private_file(&path).map_err(|e| {
            StoreError::Io(format!("cannot create database {}: {e}", path.display()))
        })?;
        let mut conn = Connection::open(&path)
            .map_err(|e| StoreError::Io(format!("cannot open database {}: {e}", path.display())))?;
        schema::configure(&conn, true)?;
        schema::migrate(&mut conn)?;
        if let Some(lock) = &serve_lock {
            release_orphaned_leases(&conn, lock)?;
        }
        // Checkpoints happen on their own thread, never inside a commit the requests wait for.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let restart_wal = Arc::new(AtomicBool::new(false));
        let checkpointer =
            Checkpointer::start(&path, config.wal_restart_frames, restart_wal.clone())?;
        let (writer, join) = writer::spawn(conn, &path, config, restart_wal)?;
        Ok(SqliteStore {
            checkpointer: Mutex::new(Some(checkpointer)),
            reads: ReadPool::new(path.clone()),
            settings: settings::SettingsWriter::new(path.clone()),
            path,
            writer,
            writer_thread: Mutex::new(Some(join)),
            serve_lock: Mutex::new(serve_lock),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this store was opened for serving and still holds the serve lock.
    pub fn is_serving(&self) -> bool {
        self.serve_lock.lock().is_ok_and(|lock| lock.is_some())
    }

    /// Commits every write queued so far, stops the writer and waits for it to close the file.
    /// Later writes fail with [`StoreError::Closed`]; reads keep working. A serving store then
    /// releases the serve lock: with the writer stopped it can claim nothing more, so the next
    /// server may start (a restart in the same process included).
    pub async fn close(&self) {
        let _ = self.writer.call(|reply| Command::Stop { reply }).await;
        let join = self.writer_thread.lock().ok().and_then(|mut j| j.take());
        if let Some(join) = join {
            let _ = tokio::task::spawn_blocking(move || join.join()).await;
        }
        let checkpointer = self.checkpointer.lock().ok().and_then(|mut c| c.take());
        if let Some(mut checkpointer) = checkpointer {
            let _ = tokio::task::spawn_blocking(move || checkpointer.stop()).await;
        }
        let lock = self.serve_lock.lock().ok().and_then(|mut l| l.take());
        drop(lock);
    }
}

/// Makes the batches a previous server had claimed and not settled (it was killed, or crashed, while
/// they were in flight) due at once, instead of when their leases expire (two minutes by default).
/// Taking `lock` is the proof that no live server holds these leases: tools never claim, and the
/// only process that does (a server) would still hold the lock. Without it this would cut a live
/// server's leases short and make it send those batches twice.
fn release_orphaned_leases(conn: &Connection, lock: &ServeLock) -> Result<(), StoreError> {
    let now = crate::time::now_ms();
    let released = conn.execute(
        "UPDATE conversions SET next_attempt_at_ms = ?1 \
         WHERE state = 'in_flight' AND next_attempt_at_ms > ?1",
        [now],
    )?;
    if released > 0 {
        tracing::info!(
            released,
            lock = %lock.path().display(),
            "conversions in flight when the previous server stopped are due again now"
        );
    }
    Ok(())
}

impl Store for SqliteStore {
    fn ingest(&self, unit: IngestUnit) -> StoreFuture<'_, IngestResult> {
        Box::pin(async move {
            let unit = PackedUnit::new(unit)?;
            let mut answers = self
                .writer
                .call(|reply| Command::Ingest {
                    units: vec![unit],
                    reply,
                })
                .await?;
            answers
                .pop()
                .unwrap_or_else(|| Err(StoreError::Io("the writer returned no answer".into())))
        })
    }

    fn ingest_many(
        &self,
        units: Vec<IngestUnit>,
    ) -> StoreFuture<'_, Vec<Result<IngestResult, StoreError>>> {
        Box::pin(async move {
            if units.is_empty() {
                return Ok(Vec::new());
            }
            let units = units
                .into_iter()
                .map(PackedUnit::new)
                .collect::<Result<Vec<_>, _>>()?;
            self.writer
                .call(|reply| Command::Ingest { units, reply })
                .await
        })
    }

    fn free_space(&self) -> Option<u64> {
        let dir = self.path.parent().unwrap_or_else(|| Path::new("."));
        fs4::available_space(dir).ok()
    }

    fn schema_version(&self) -> StoreFuture<'_, crate::store::SchemaVersion> {
        Box::pin(async move {
            let found = self.reads.run(schema::read_version).await?;
            Ok(crate::store::SchemaVersion {
                found,
                expected: schema::CURRENT_VERSION,
            })
        })
    }

    fn find_lead<'a>(&'a self, transaction_id: &'a str) -> StoreFuture<'a, Option<Lead>> {
        let id = transaction_id.to_owned();
        Box::pin(async move { self.reads.run(move |c| read::find_lead(c, &id)).await })
    }

    fn get_lead<'a>(&'a self, transaction_id: &'a str) -> StoreFuture<'a, Option<LeadView>> {
        let id = transaction_id.to_owned();
        Box::pin(async move { self.reads.run(move |c| read::get_lead(c, &id)).await })
    }

    fn claim_due<'a>(
        &'a self,
        pixel: &'a str,
        now_ms: i64,
        limit: usize,
        lease: Duration,
    ) -> StoreFuture<'a, Vec<ClaimedConversion>> {
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        Box::pin(async move {
            if limit == 0 {
                return Ok(Vec::new());
            }
            self.writer
                .call(|reply| Command::Claim {
                    pixel: pixel.to_owned(),
                    now_ms,
                    limit,
                    lease_ms,
                    reply,
                })
                .await
        })
    }

    fn record_results(&self, results: Vec<DeliveryResult>) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            if results.is_empty() {
                return Ok(());
            }
            self.writer
                .call(|reply| Command::Record { results, reply })
                .await
        })
    }

    fn renew_lease(&self, claim: i64, ids: Vec<i64>, until_ms: i64) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            if ids.is_empty() {
                return Ok(0);
            }
            self.writer
                .call(|reply| Command::Renew {
                    claim,
                    ids,
                    until_ms,
                    reply,
                })
                .await
        })
    }

    fn claim_probe<'a>(
        &'a self,
        pixel: &'a str,
        now_ms: i64,
        lease: Duration,
    ) -> StoreFuture<'a, Option<ClaimedConversion>> {
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        Box::pin(async move {
            let claimed = self
                .writer
                .call(|reply| Command::ClaimProbe {
                    pixel: pixel.to_owned(),
                    now_ms,
                    lease_ms,
                    reply,
                })
                .await?;
            Ok(claimed.into_iter().next())
        })
    }

    fn pause_pixel<'a>(&'a self, pixel: &'a str, reason: &'a str) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            self.writer
                .call(|reply| Command::Pause {
                    pixel: pixel.to_owned(),
                    reason: reason.to_owned(),
                    reply,
                })
                .await
        })
    }

    fn resume_pixel<'a>(&'a self, pixel: &'a str) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            self.writer
                .call(|reply| Command::Resume {
                    pixel: pixel.to_owned(),
                    now_ms: now_ms(),
                    reply,
                })
                .await
        })
    }

    fn expedite_retries<'a>(&'a self, pixel: &'a str, now_ms: i64) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            self.writer
                .call(|reply| Command::Expedite {
                    pixel: pixel.to_owned(),
                    now_ms,
                    reply,
                })
                .await
        })
    }

    fn cap_usage<'a>(&'a self, rule: &'a str, window_start_ms: i64) -> StoreFuture<'a, u64> {
        let rule = rule.to_owned();
        Box::pin(async move {
            self.reads
                .run(move |c| caps::usage(c, &rule, window_start_ms, None))
                .await
        })
    }

    fn queue_depth(&self) -> StoreFuture<'_, Vec<QueueDepth>> {
        Box::pin(async move { self.reads.run(read::queue_depth).await })
    }

    fn pixels_with_due_work(&self, now_ms: i64) -> StoreFuture<'_, Vec<String>> {
        Box::pin(async move {
            self.reads
                .run(move |c| read::pixels_with_due_work(c, now_ms))
                .await
        })
    }

    fn purge_expired(&self, cutoff_ms: i64, limit: usize) -> StoreFuture<'_, Erased> {
        Box::pin(async move {
            self.writer
                .call(|reply| Command::Purge {
                    cutoff_ms,
                    limit,
                    reply,
                })
                .await
        })
    }

    fn erase<'a>(&'a self, who: &'a EraseRequest) -> StoreFuture<'a, Erased> {
        Box::pin(async move {
            self.writer
                .call(|reply| Command::Erase {
                    who: who.clone(),
                    reply,
                })
                .await
        })
    }

    fn replay<'a>(
        &'a self,
        filter: &'a ReplayFilter,
        chunk: ReplayChunk,
    ) -> StoreFuture<'a, ReplayOutcome> {
        Box::pin(async move {
            if chunk.dry_run {
                let filter = filter.clone();
                return self
                    .reads
                    .run(move |c| replay::count(c, &filter, chunk))
                    .await;
            }
            self.writer
                .call(|reply| Command::Replay {
                    filter: filter.clone(),
                    chunk,
                    reply,
                })
                .await
        })
    }
}

impl SettingsStore for SqliteStore {
    fn settings_version(&self) -> StoreFuture<'_, i64> {
        Box::pin(self.reads.run(settings::version))
    }

    fn list_pixels(&self) -> StoreFuture<'_, Vec<StoredPixel>> {
        Box::pin(self.reads.run(settings::list_pixels))
    }

    fn put_pixel(&self, pixel: StoredPixel) -> StoreFuture<'_, ()> {
        Box::pin(
            self.settings
                .write(true, move |c| settings::put_pixel(c, &pixel)),
        )
    }

    fn delete_pixel<'a>(&'a self, code: &'a str) -> StoreFuture<'a, bool> {
        let code = code.to_owned();
        Box::pin(
            self.settings
                .write(true, move |c| settings::delete_pixel(c, &code)),
        )
    }

    fn set_pixel_paused<'a>(
        &'a self,
        code: &'a str,
        token_set_at_ms: i64,
        paused: Option<&'a str>,
        at_ms: i64,
    ) -> StoreFuture<'a, ()> {
        let code = code.to_owned();
        let paused = paused.map(str::to_owned);
        Box::pin(self.settings.write(false, move |c| {
            settings::set_pixel_paused(c, &code, token_set_at_ms, paused.as_deref(), at_ms)
        }))
    }

    fn list_rules(&self) -> StoreFuture<'_, Vec<StoredRule>> {
        Box::pin(self.reads.run(settings::list_rules))
    }

    fn put_rule(&self, rule: StoredRule) -> StoreFuture<'_, ()> {
        Box::pin(
            self.settings
                .write(true, move |c| settings::put_rule(c, &rule)),
        )
    }

    fn delete_rule<'a>(&'a self, name: &'a str) -> StoreFuture<'a, bool> {
        let name = name.to_owned();
        Box::pin(
            self.settings
                .write(true, move |c| settings::delete_rule(c, &name)),
        )
    }

    fn list_keys(&self) -> StoreFuture<'_, Vec<StoredKey>> {
        Box::pin(self.reads.run(settings::list_keys))
    }

    fn insert_key(&self, key: StoredKey) -> StoreFuture<'_, ()> {
        Box::pin(
            self.settings
                .write(true, move |c| settings::insert_key(c, &key)),
        )
    }

    fn revoke_key<'a>(&'a self, id: &'a str, at_ms: i64) -> StoreFuture<'a, bool> {
        let id = id.to_owned();
        Box::pin(
            self.settings
                .write(true, move |c| settings::revoke_key(c, &id, at_ms)),
        )
    }

    fn get_setting<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        let name = name.to_owned();
        Box::pin(self.reads.run(move |c| settings::get_setting(c, &name)))
    }

    fn init_setting<'a>(&'a self, name: &'a str, value: Vec<u8>) -> StoreFuture<'a, Vec<u8>> {
        let name = name.to_owned();
        Box::pin(
            self.settings
                .write(false, move |c| settings::init_setting(c, &name, &value)),
        )
    }
}
