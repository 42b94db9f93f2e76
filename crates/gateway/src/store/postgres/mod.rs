//! The shared store for running several stateless signalpost nodes: one PostgreSQL schema holds
//! everything, so any node can ingest and any node can deliver. Ingest goes through the group-commit
//! [`writer`] (set-based multi-row statements, one transaction per group); claims, results and lookups
//! run on a small connection pool; [`notify`] carries "new work for pixel P" between nodes with
//! LISTEN/NOTIFY. Semantics match the SQLite store exactly (the same integration suite runs on both).
//!
//! The database URL is a libpq-style `postgres://user@host:port/db?…` URL; `sslmode` (with
//! `sslrootcert`) chooses TLS as [`tls`] describes, and `options=-csearch_path%3Dname` picks the
//! schema.

mod delivery;
mod erase;
mod error;
mod ingest;
mod insights;
mod notify;
mod read;
mod replay;
mod rows;
pub mod schema;
mod settings;
pub mod tls;
mod writer;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use writer::PgWriterConfig;

use crate::domain::Lead;
use crate::store::{
    ClaimedConversion, DeliveryResult, EraseRequest, Erased, IngestResult, IngestUnit, LeadView,
    QueueDepth, ReplayChunk, ReplayFilter, ReplayOutcome, Store, StoreError, StoreFuture,
    WorkWaker,
};
use crate::time::now_ms;
use notify::Wakers;
use writer::WriterHandle;

/// Connection and writer tuning.
#[derive(Debug, Clone, Copy)]
pub struct PostgresOptions {
    /// Pooled connections for claims, results, lookups and the writer tasks (the LISTEN connection
    /// is extra).
    pub pool_size: usize,
    /// How long a caller waits for a pooled connection before the store answers "busy" (503).
    pub pool_wait: Duration,
    /// Connect timeout for new connections.
    pub connect_timeout: Duration,
    pub writer: PgWriterConfig,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            pool_size: 16,
            pool_wait: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            writer: PgWriterConfig::default(),
        }
    }
}

/// The PostgreSQL store.
pub struct PostgresStore {
    pool: Pool,
    writer: WriterHandle,
    writer_tasks: Mutex<Vec<JoinHandle<()>>>,
    listener: Mutex<Option<JoinHandle<()>>>,
    stop_listener: CancellationToken,
    wakers: Wakers,
    channel: Arc<str>,
    schema: String,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// Whether `url` names a PostgreSQL database (rather than a path for SQLite).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl PostgresStore {
    /// Connects to `url`, applies migrations (safe when several nodes start at once) and starts the
    /// writer and the LISTEN connection.
    ///
    /// Connecting never touches leases, whoever connects (a node, or an operator tool beside
    /// running nodes): unlike the SQLite store's single server, a starting node cannot tell the
    /// leases of a node that died from those of a node still sending, so a dead node's claims are
    /// taken over by any node once their lease (`[delivery] lease_ms`) expires.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        Self::connect_with(url, PostgresOptions::default()).await
    }

    /// [`PostgresStore::connect`] with explicit tuning.
    pub async fn connect_with(
        url: &str,
        options: PostgresOptions,
    ) -> Result<PostgresStore, StoreError> {
        let tls::ConnectSettings {
            mut config, tls, ..
        } = tls::connect_settings(url)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.connect_timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("signalpost");
        }

        // Migrate on a connection of its own before anything else touches the tables.
        let (mut client, connection) = config.connect(tls.clone()).await.map_err(|e| {
            StoreError::Io(format!(
                "cannot connect to the database: {}",
                error::from_pg(&e)
            ))
        })?;
        let driver = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "migration connection ended");
            }
        });
        let migrated = schema::migrate(&mut client).await;
        drop(client);
        let _ = driver.await;
        let schema = migrated?;

        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(options.writer.tasks + 2))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.pool_wait))
            .create_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| StoreError::Io(format!("cannot build the connection pool: {e}")))?;

        // One channel per schema: gateways sharing a database do not wake each other.
        let channel: Arc<str> = {
            let client = pool.get().await?;
            let row = client
                .query_one("SELECT 'signalpost_work_' || md5(current_schema())", &[])
                .await?;
            let name: String = row
                .try_get(0)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            name.into()
        };
        let (writer, writer_tasks) = writer::spawn(pool.clone(), options.writer, channel.clone());
        let wakers = Wakers::default();
        let stop_listener = CancellationToken::new();
        let listener = notify::spawn_listener(
            config,
            tls,
            channel.clone(),
            wakers.clone(),
            stop_listener.clone(),
        );
        tracing::info!(schema = %schema, "PostgreSQL store ready");
        Ok(PostgresStore {
            pool,
            writer,
            writer_tasks: Mutex::new(writer_tasks),
            listener: Mutex::new(Some(listener)),
            stop_listener,
            wakers,
            channel,
            schema,
        })
    }

    /// The schema holding the tables (the connection's `current_schema()`).
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Commits every write queued so far, stops the writer and the listener, and closes the pool.
    /// Later writes fail with [`StoreError::Closed`].
    pub async fn close(&self) {
        self.writer.close();
        let tasks = match self.writer_tasks.lock() {
            Ok(mut tasks) => std::mem::take(&mut *tasks),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        for task in tasks {
            let _ = task.await;
        }
        self.stop_listener.cancel();
        let listener = self.listener.lock().ok().and_then(|mut l| l.take());
        if let Some(listener) = listener {
            let _ = listener.await;
        }
        self.pool.close();
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // The writer tasks drain and exit once the sender is gone; the listener needs telling.
        self.writer.close();
        self.stop_listener.cancel();
    }
}

impl Store for PostgresStore {
    fn ingest(&self, unit: IngestUnit) -> StoreFuture<'_, IngestResult> {
        Box::pin(async move {
            let mut answers = self.writer.ingest(vec![unit]).await?;
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
            self.writer.ingest(units).await
        })
    }

    fn schema_version(&self) -> StoreFuture<'_, crate::store::SchemaVersion> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            let found = schema::read_version(&client).await?;
            Ok(crate::store::SchemaVersion {
                found,
                expected: schema::CURRENT_VERSION,
            })
        })
    }

    fn find_lead<'a>(&'a self, transaction_id: &'a str) -> StoreFuture<'a, Option<Lead>> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            read::find_lead(&client, transaction_id).await
        })
    }

    fn get_lead<'a>(&'a self, transaction_id: &'a str) -> StoreFuture<'a, Option<LeadView>> {
        Box::pin(async move {
            let mut client = self.pool.get().await?;
            // One snapshot for the lead, its events, conversions and attempts.
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let view = read::get_lead(&tx, transaction_id).await?;
            tx.commit().await?;
            Ok(view)
        })
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
            let client = self.pool.get().await?;
            delivery::claim(&client, pixel, now_ms, limit, lease_ms).await
        })
    }

    fn record_results(&self, results: Vec<DeliveryResult>) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            if results.is_empty() {
                return Ok(());
            }
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            delivery::record(&tx, &results).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn renew_lease(&self, claim: i64, ids: Vec<i64>, until_ms: i64) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            if ids.is_empty() {
                return Ok(0);
            }
            let client = self.pool.get().await?;
            delivery::renew(&client, claim, &ids, until_ms).await
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
            let client = self.pool.get().await?;
            delivery::claim_probe(&client, pixel, now_ms, lease_ms).await
        })
    }

    fn pause_pixel<'a>(&'a self, pixel: &'a str, reason: &'a str) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            delivery::pause(&client, pixel, reason).await
        })
    }

    fn resume_pixel<'a>(&'a self, pixel: &'a str) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            let n = delivery::resume(&tx, pixel, now_ms(), &self.channel).await?;
            tx.commit().await?;
            Ok(n)
        })
    }

    fn expedite_retries<'a>(&'a self, pixel: &'a str, now_ms: i64) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            let n = delivery::expedite(&tx, pixel, now_ms, &self.channel).await?;
            tx.commit().await?;
            Ok(n)
        })
    }

    fn cap_usage<'a>(&'a self, rule: &'a str, window_start_ms: i64) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            let row = client
                .query_one(
                    "SELECT COUNT(*) FROM conversions \
                     WHERE rule = $1 AND created_at_ms >= $2 AND state NOT IN ('suppressed', 'undeliverable')",
                    &[&rule, &window_start_ms],
                )
                .await?;
            let n: i64 = row
                .try_get(0)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    fn queue_depth(&self) -> StoreFuture<'_, Vec<QueueDepth>> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            read::queue_depth(&client).await
        })
    }

    fn pixels_with_due_work(&self, now_ms: i64) -> StoreFuture<'_, Vec<String>> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            read::pixels_with_due_work(&client, now_ms).await
        })
    }

    fn purge_expired(&self, cutoff_ms: i64, limit: usize) -> StoreFuture<'_, Erased> {
        Box::pin(async move {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            let purged = erase::purge_expired(&tx, cutoff_ms, limit).await?;
            tx.commit().await?;
            Ok(purged)
        })
    }

    fn erase<'a>(&'a self, who: &'a EraseRequest) -> StoreFuture<'a, Erased> {
        Box::pin(async move {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            let erased = erase::erase(&tx, who).await?;
            tx.commit().await?;
            Ok(erased)
        })
    }

    fn replay<'a>(
        &'a self,
        filter: &'a ReplayFilter,
        chunk: ReplayChunk,
    ) -> StoreFuture<'a, ReplayOutcome> {
        Box::pin(async move {
            let mut client = self.pool.get().await?;
            if chunk.dry_run {
                return replay::count(&client, filter, chunk).await;
            }
            let tx = client.transaction().await?;
            let outcome = replay::requeue(&tx, filter, chunk, now_ms(), &self.channel).await?;
            tx.commit().await?;
            Ok(outcome)
        })
    }

    fn watch_remote_work(&self, waker: WorkWaker) {
        self.wakers.add(waker);
    }
}
