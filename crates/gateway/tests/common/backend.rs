//! One integration suite, two stores: [`TestDb`] is a fresh database of either kind (a SQLite file in
//! a temporary directory, or a PostgreSQL schema of its own with a random name, dropped afterwards),
//! and [`both_stores!`] turns each test body into a `sqlite::name` and a `postgres::name` test.
//! The PostgreSQL variants read `SIGNALPOST_TEST_DATABASE_URL`; when it is unset they print a notice
//! and pass without running (CI sets it).

use std::ops::Deref;
use std::sync::Arc;

use signalpost_gateway::store::postgres::{PostgresOptions, PostgresStore};
use signalpost_gateway::{SqliteStore, Store};

/// The environment variable naming the PostgreSQL server the tests may use.
pub const DATABASE_URL_VAR: &str = "SIGNALPOST_TEST_DATABASE_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, empty database for one test.
pub struct TestDb {
    pub backend: Backend,
    dir: tempfile::TempDir,
    schema: Option<PgSchema>,
}

impl TestDb {
    /// A new database; `None` (after a notice) for PostgreSQL when no server is configured.
    pub async fn create(backend: Backend) -> Option<TestDb> {
        let dir = tempfile::tempdir().unwrap();
        let schema = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(PgSchema::create().await?),
        };
        Some(TestDb {
            backend,
            dir,
            schema,
        })
    }

    /// Opens a store on this database (again, after a close, to test durability).
    pub async fn open(&self) -> TestStore {
        match &self.schema {
            None => TestStore::Sqlite(Arc::new(SqliteStore::open(self.dir.path()).unwrap())),
            Some(schema) => TestStore::Postgres(Arc::new(
                PostgresStore::connect_with(&schema.url, PostgresOptions::default())
                    .await
                    .unwrap(),
            )),
        }
    }

    /// Opens a store the way the serving process does: SQLite takes the serve lock and recovers the
    /// leases a dead server left (PostgreSQL opens as always: it has no start-up recovery).
    #[allow(dead_code)]
    pub async fn open_for_serving(&self) -> TestStore {
        match &self.schema {
            None => TestStore::Sqlite(Arc::new(
                SqliteStore::open_for_serving(self.dir.path()).unwrap(),
            )),
            Some(_) => self.open().await,
        }
    }

    /// The PostgreSQL URL (with the schema's search_path) of a PostgreSQL database.
    pub fn url(&self) -> Option<&str> {
        self.schema.as_ref().map(|s| s.url.as_str())
    }

    /// The one integer `sql` answers, read straight from the database (SQLite read-only), to
    /// check what the store wrote where its API does not show it.
    #[allow(dead_code)]
    pub async fn scalar(&self, sql: &str) -> i64 {
        match self.url() {
            None => {
                let conn = rusqlite::Connection::open_with_flags(
                    self.sqlite_file(),
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                )
                .unwrap();
                conn.query_row(sql, [], |r| r.get(0)).unwrap()
            }
            Some(url) => connect(url).await.query_one(sql, &[]).await.unwrap().get(0),
        }
    }

    /// Runs statements straight on the database (SQLite through its own connection, beside the
    /// store's), to put it in a state only an older build could have written.
    #[allow(dead_code)]
    pub async fn execute(&self, sql: &str) {
        match self.url() {
            None => {
                let conn = rusqlite::Connection::open(self.sqlite_file()).unwrap();
                conn.busy_timeout(std::time::Duration::from_secs(5))
                    .unwrap();
                conn.execute_batch(sql).unwrap();
            }
            Some(url) => connect(url).await.batch_execute(sql).await.unwrap(),
        }
    }

    fn sqlite_file(&self) -> std::path::PathBuf {
        self.dir
            .path()
            .join(signalpost_gateway::store::sqlite::DB_FILE)
    }

    /// A scratch directory that lives as long as the database.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

/// A store of either kind, usable as `dyn Store`.
#[derive(Clone)]
pub enum TestStore {
    Sqlite(Arc<SqliteStore>),
    Postgres(Arc<PostgresStore>),
}

impl TestStore {
    pub fn shared(&self) -> Arc<dyn Store> {
        match self {
            TestStore::Sqlite(s) => s.clone(),
            TestStore::Postgres(s) => s.clone(),
        }
    }

    /// The same store's pixels, rules and keys.
    #[allow(dead_code)]
    pub fn settings(&self) -> Arc<dyn signalpost_gateway::store::settings::SettingsStore> {
        match self {
            TestStore::Sqlite(s) => s.clone(),
            TestStore::Postgres(s) => s.clone(),
        }
    }

    /// Commits what is queued and stops the store's background work.
    pub async fn close(&self) {
        match self {
            TestStore::Sqlite(s) => s.close().await,
            TestStore::Postgres(s) => s.close().await,
        }
    }
}

impl Deref for TestStore {
    type Target = dyn Store;

    fn deref(&self) -> &Self::Target {
        match self {
            TestStore::Sqlite(s) => s.as_ref(),
            TestStore::Postgres(s) => s.as_ref(),
        }
    }
}

/// A schema with a random name, created on the configured server and dropped (with everything in
/// it) when the test ends, pass or fail.
pub struct PgSchema {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgSchema {
    pub async fn create() -> Option<PgSchema> {
        let Some(admin_url) = std::env::var(DATABASE_URL_VAR)
            .ok()
            .filter(|v| !v.is_empty())
        else {
            eprintln!("notice: {DATABASE_URL_VAR} is not set; skipping the PostgreSQL variant");
            return None;
        };
        let name = format!("sp_test_{:016x}", rand::random::<u64>());
        let (client, connection) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("{DATABASE_URL_VAR}={admin_url}: cannot connect: {e}"));
        let driver = tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .unwrap();
        drop(client);
        let _ = driver.await;
        let sep = if admin_url.contains('?') { '&' } else { '?' };
        let url = format!("{admin_url}{sep}options=-csearch_path%3D{name}");
        Some(PgSchema {
            admin_url,
            name,
            url,
        })
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let sql = format!(
            "SET lock_timeout = '20s'; DROP SCHEMA IF EXISTS {} CASCADE",
            self.name
        );
        // Drop runs inside the test's runtime: do the async cleanup on a thread with its own.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let (client, connection) =
                    tokio_postgres::connect(&admin_url, tokio_postgres::NoTls).await?;
                let driver = tokio::spawn(connection);
                let dropped = client.batch_execute(&sql).await;
                drop(client);
                let _ = driver.await;
                dropped
            })
        })
        .join();
        if !matches!(done, Ok(Ok(()))) {
            eprintln!(
                "warning: could not drop test schema {}: {done:?}",
                self.name
            );
        }
    }
}

/// Generates `sqlite::$name` and `postgres::$name` tests from `async fn $name(db: TestDb)` bodies.
#[macro_export]
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(db) = $crate::common::backend::TestDb::create(
                        $crate::common::backend::Backend::Sqlite,
                    )
                    .await
                    {
                        super::$name(db).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(db) = $crate::common::backend::TestDb::create(
                        $crate::common::backend::Backend::Postgres,
                    )
                    .await
                    {
                        super::$name(db).await;
                    }
                }
            )*
        }
    };
}

/// Generates `postgres::$name` tests for behaviour only a shared database has (several nodes).
#[macro_export]
macro_rules! postgres_only {
    ($($name:ident),* $(,)?) => {
        mod postgres_only {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(db) = $crate::common::backend::TestDb::create(
                        $crate::common::backend::Backend::Postgres,
                    )
                    .await
                    {
                        super::$name(db).await;
                    }
                }
            )*
        }
    };
}

/// A plain connection to a test schema's URL, its driver spawned.
async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, driver) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(driver);
    client
}
