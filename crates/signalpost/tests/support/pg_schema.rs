//! A PostgreSQL schema of one test's own, on the server `SIGNALPOST_TEST_DATABASE_URL` names, dropped
//! at the end whether the test passed or not. Test binaries include this file with `#[path]`.
//!
//! Each test binary uses a part of it.
#![allow(dead_code)]

/// A schema created for one test.
pub struct PgSchema {
    admin_url: String,
    name: String,
}

impl PgSchema {
    /// Creates `{prefix}_<random>` on the server at `admin_url`.
    pub async fn create(admin_url: &str, prefix: &str) -> PgSchema {
        let name = format!("{prefix}_{:012x}", rand::random::<u64>() >> 16);
        connect(admin_url)
            .await
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .expect("the test database lets us create a schema");
        PgSchema {
            admin_url: admin_url.to_owned(),
            name,
        }
    }

    /// [`PgSchema::create`] on `SIGNALPOST_TEST_DATABASE_URL`; `None` (with a notice) when it is
    /// not set.
    pub async fn from_env(prefix: &str) -> Option<PgSchema> {
        let Ok(admin_url) = std::env::var("SIGNALPOST_TEST_DATABASE_URL") else {
            eprintln!(
                "notice: SIGNALPOST_TEST_DATABASE_URL is not set; the PostgreSQL run is skipped"
            );
            return None;
        };
        Some(PgSchema::create(&admin_url, prefix).await)
    }

    /// The URL that points a node at this schema (same server, `search_path` set).
    pub fn url(&self) -> String {
        let sep = if self.admin_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{sep}options=-csearch_path%3D{}",
            self.admin_url, self.name
        )
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime: the cleanup gets a runtime of its own. That runtime
        // is blocked meanwhile, so a connection of the test's app that is in a transaction (a
        // delivery being recorded when the test ended) can never finish it: such sessions are
        // ended, or DROP SCHEMA would wait for their locks forever.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let client = connect(&url).await;
                let _ = client.batch_execute("SET lock_timeout = '2s'").await;
                for _ in 0..5 {
                    let _ = client
                        .execute(
                            "SELECT pg_terminate_backend(l.pid) FROM pg_locks l \
                             JOIN pg_class c ON c.oid = l.relation \
                             JOIN pg_namespace n ON n.oid = c.relnamespace \
                             WHERE n.nspname = $1 AND l.pid <> pg_backend_pid()",
                            &[&name],
                        )
                        .await;
                    let drop = format!("DROP SCHEMA IF EXISTS {name} CASCADE");
                    if client.batch_execute(&drop).await.is_ok() {
                        break;
                    }
                }
            });
        })
        .join();
    }
}

/// A connection to `url`; its driver runs on the current runtime.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("the test database accepts connections");
    tokio::spawn(connection);
    client
}
