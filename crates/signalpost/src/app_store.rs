//! The store the application runs on, opened the same way by `serve` and the operator tools.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use signalpost_gateway::store::Store;
use signalpost_gateway::store::postgres::is_postgres_url;
use signalpost_gateway::store::settings::SharedSettings;
use signalpost_gateway::store::sqlite::OpenMode;
use signalpost_gateway::{PostgresStore, SqliteStore, WriterConfig};

/// The store the application runs on: SQLite under `data_dir` (one node), or PostgreSQL shared by
/// every node pointing at the same `database_url`.
#[derive(Clone)]
pub(crate) enum AppStore {
    Sqlite(Arc<SqliteStore>),
    Postgres(Arc<PostgresStore>),
}

impl AppStore {
    /// `database_url` when set (it must be a PostgreSQL URL), else SQLite in `data_dir`.
    ///
    /// `mode` says who is opening it. [`OpenMode::Serve`] is for `serve` alone: with SQLite it takes
    /// the data directory's serve lock (a second server on the same directory fails here, naming
    /// the first) and then frees the leases a killed server left in flight. [`OpenMode::Tool`] is
    /// for every operator command: it never touches leases, so running one beside `serve` cannot
    /// make it send a batch twice. PostgreSQL has no start-up recovery to guard (several nodes
    /// share it, so a starting node cannot tell a dead node's leases from a live one's; they are
    /// taken over when they expire), and opens the same way in both modes.
    pub(crate) async fn open(
        database_url: Option<&str>,
        data_dir: &Path,
        mode: OpenMode,
    ) -> anyhow::Result<AppStore> {
        match database_url {
            Some(url) if is_postgres_url(url) => {
                let store = PostgresStore::connect(url).await.map_err(|e| {
                    anyhow::anyhow!("server.database_url: cannot open the PostgreSQL store: {e}")
                })?;
                Ok(AppStore::Postgres(Arc::new(store)))
            }
            Some(_) => anyhow::bail!(
                "server.database_url: expected a postgres:// or postgresql:// URL (leave it unset to use SQLite under data_dir)"
            ),
            None => {
                let store = SqliteStore::open_with(data_dir, WriterConfig::default(), mode)
                    .with_context(|| format!("cannot open the store in {}", data_dir.display()))?;
                Ok(AppStore::Sqlite(Arc::new(store)))
            }
        }
    }

    pub(crate) fn shared(&self) -> Arc<dyn Store> {
        match self {
            AppStore::Sqlite(s) => s.clone(),
            AppStore::Postgres(s) => s.clone(),
        }
    }

    /// The same store's pixels, rules and keys.
    pub(crate) fn settings(&self) -> SharedSettings {
        match self {
            AppStore::Sqlite(s) => s.clone(),
            AppStore::Postgres(s) => s.clone(),
        }
    }

    /// Commits what the writer holds and stops the store's background work.
    pub(crate) async fn close(&self) {
        match self {
            AppStore::Sqlite(s) => s.close().await,
            AppStore::Postgres(s) => s.close().await,
        }
    }

    /// Which store this is, for the start-up log: `sqlite:<path>` or `postgres (schema …)`.
    pub(crate) fn describe(&self) -> String {
        match self {
            AppStore::Sqlite(s) => format!("sqlite:{}", s.path().display()),
            AppStore::Postgres(s) => format!("postgres (schema {})", s.schema()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_database_url_that_is_not_postgres_or_cannot_be_reached_names_the_key() {
        let dir = tempfile::tempdir().unwrap();
        for url in [
            "mysql://root@127.0.0.1/db",
            "postgres://nobody@127.0.0.1:1/none",
        ] {
            let err = AppStore::open(Some(url), dir.path(), OpenMode::Tool)
                .await
                .err()
                .unwrap()
                .to_string();
            assert!(err.starts_with("server.database_url:"), "{url}: {err}");
        }
        let sqlite = AppStore::open(None, dir.path(), OpenMode::Tool)
            .await
            .unwrap();
        assert!(sqlite.describe().starts_with("sqlite:"));
        sqlite.close().await;
    }
}
