//! [`SettingsStore`] on PostgreSQL: plain statements on the pool; every operator edit bumps
//! `settings_version` in the same transaction, which the other nodes poll.

use tokio_postgres::Row;

use super::PostgresStore;
use crate::store::settings::{KeyScope, SettingsStore, StoredKey, StoredPixel, StoredRule};
use crate::store::{StoreError, StoreFuture};

const BUMP: &str = "UPDATE settings_version SET version = version + 1 WHERE id = 1";

const PIXEL_COLUMNS: &str = "code, sealed_token, token_last4, token_set_at_ms, base_url, \
     test_event_code, paused_reason, paused_at_ms, config_digest, created_at_ms, updated_at_ms, \
     site_url, default_region, destination";

fn get<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, i: usize) -> Result<T, StoreError> {
    row.try_get(i)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn pixel(row: &Row) -> Result<StoredPixel, StoreError> {
    Ok(StoredPixel {
        code: get(row, 0)?,
        sealed_token: get(row, 1)?,
        token_last4: get(row, 2)?,
        token_set_at_ms: get(row, 3)?,
        base_url: get(row, 4)?,
        test_event_code: get(row, 5)?,
        paused_reason: get(row, 6)?,
        paused_at_ms: get(row, 7)?,
        config_digest: get(row, 8)?,
        created_at_ms: get(row, 9)?,
        updated_at_ms: get(row, 10)?,
        site_url: get(row, 11)?,
        default_region: get(row, 12)?,
        destination: get(row, 13)?,
    })
}

fn key(row: &Row) -> Result<StoredKey, StoreError> {
    let scope: String = get(row, 3)?;
    Ok(StoredKey {
        id: get(row, 0)?,
        digest: get(row, 1)?,
        prefix: get(row, 2)?,
        scope: KeyScope::parse(&scope)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown key scope {scope:?}")))?,
        label: get(row, 4)?,
        created_at_ms: get(row, 5)?,
        revoked_at_ms: get(row, 6)?,
    })
}

impl PostgresStore {
    /// Runs one statement and bumps the settings version, in one transaction; returns rows changed.
    async fn edit(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let n = tx.execute(sql, params).await?;
        tx.execute(BUMP, &[]).await?;
        tx.commit().await?;
        Ok(n)
    }
}

impl SettingsStore for PostgresStore {
    fn settings_version(&self) -> StoreFuture<'_, i64> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            let row = client
                .query_one("SELECT version FROM settings_version WHERE id = 1", &[])
                .await?;
            get(&row, 0)
        })
    }

    fn list_pixels(&self) -> StoreFuture<'_, Vec<StoredPixel>> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            let rows = client
                .query(
                    &format!("SELECT {PIXEL_COLUMNS} FROM pixels ORDER BY code"),
                    &[],
                )
                .await?;
            rows.iter().map(pixel).collect()
        })
    }

    fn put_pixel(&self, p: StoredPixel) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let sql = format!(
                "INSERT INTO pixels ({PIXEL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                 ON CONFLICT (code) DO UPDATE SET sealed_token = excluded.sealed_token,
                     token_last4 = excluded.token_last4, token_set_at_ms = excluded.token_set_at_ms,
                     base_url = excluded.base_url, test_event_code = excluded.test_event_code,
                     paused_reason = excluded.paused_reason, paused_at_ms = excluded.paused_at_ms,
                     config_digest = excluded.config_digest, updated_at_ms = excluded.updated_at_ms,
                 site_url = excluded.site_url, default_region = excluded.default_region,
                 destination = excluded.destination"
            );
            self.edit(
                &sql,
                &[
                    &p.code,
                    &p.sealed_token,
                    &p.token_last4,
                    &p.token_set_at_ms,
                    &p.base_url,
                    &p.test_event_code,
                    &p.paused_reason,
                    &p.paused_at_ms,
                    &p.config_digest,
                    &p.created_at_ms,
                    &p.updated_at_ms,
                    &p.site_url,
                    &p.default_region,
                    &p.destination,
                ],
            )
            .await?;
            Ok(())
        })
    }

    fn delete_pixel<'a>(&'a self, code: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            Ok(self
                .edit("DELETE FROM pixels WHERE code = $1", &[&code])
                .await?
                > 0)
        })
    }

    fn set_pixel_paused<'a>(
        &'a self,
        code: &'a str,
        token_set_at_ms: i64,
        paused: Option<&'a str>,
        at_ms: i64,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            let at = paused.map(|_| at_ms);
            client
                .execute(
                    "UPDATE pixels SET paused_reason = $3, paused_at_ms = $4 \
                     WHERE code = $1 AND token_set_at_ms = $2",
                    &[&code, &token_set_at_ms, &paused, &at],
                )
                .await?;
            Ok(())
        })
    }

    fn list_rules(&self) -> StoreFuture<'_, Vec<StoredRule>> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            let rows = client
                .query(
                    "SELECT name, config, enabled, config_digest, created_at_ms, updated_at_ms
                     FROM rules ORDER BY position",
                    &[],
                )
                .await?;
            rows.iter()
                .map(|row| {
                    Ok(StoredRule {
                        name: get(row, 0)?,
                        config: get(row, 1)?,
                        enabled: get(row, 2)?,
                        config_digest: get(row, 3)?,
                        created_at_ms: get(row, 4)?,
                        updated_at_ms: get(row, 5)?,
                    })
                })
                .collect()
        })
    }

    fn put_rule(&self, r: StoredRule) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            self.edit(
                "INSERT INTO rules (name, config, enabled, config_digest, created_at_ms, updated_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (name) DO UPDATE SET config = excluded.config, enabled = excluded.enabled,
                     config_digest = excluded.config_digest, updated_at_ms = excluded.updated_at_ms",
                &[
                    &r.name,
                    &r.config,
                    &r.enabled,
                    &r.config_digest,
                    &r.created_at_ms,
                    &r.updated_at_ms,
                ],
            )
            .await?;
            Ok(())
        })
    }

    fn delete_rule<'a>(&'a self, name: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            Ok(self
                .edit("DELETE FROM rules WHERE name = $1", &[&name])
                .await?
                > 0)
        })
    }

    fn list_keys(&self) -> StoreFuture<'_, Vec<StoredKey>> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            let rows = client
                .query(
                    "SELECT id, digest, prefix, scope, label, created_at_ms, revoked_at_ms
                     FROM api_keys ORDER BY created_at_ms, id",
                    &[],
                )
                .await?;
            rows.iter().map(key).collect()
        })
    }

    fn insert_key(&self, k: StoredKey) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            self.edit(
                "INSERT INTO api_keys (id, digest, prefix, scope, label, created_at_ms, revoked_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &k.id,
                    &k.digest,
                    &k.prefix,
                    &k.scope.as_str(),
                    &k.label,
                    &k.created_at_ms,
                    &k.revoked_at_ms,
                ],
            )
            .await?;
            Ok(())
        })
    }

    fn revoke_key<'a>(&'a self, id: &'a str, at_ms: i64) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            Ok(self
                .edit(
                    "UPDATE api_keys SET revoked_at_ms = $2 WHERE id = $1 AND revoked_at_ms IS NULL",
                    &[&id, &at_ms],
                )
                .await?
                > 0)
        })
    }

    fn get_setting<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            let row = client
                .query_opt("SELECT value FROM settings WHERE name = $1", &[&name])
                .await?;
            row.map(|r| get(&r, 0)).transpose()
        })
    }

    fn init_setting<'a>(&'a self, name: &'a str, value: Vec<u8>) -> StoreFuture<'a, Vec<u8>> {
        Box::pin(async move {
            let client = self.pool.get().await?;
            client
                .execute(
                    "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                    &[&name, &value],
                )
                .await?;
            let row = client
                .query_one("SELECT value FROM settings WHERE name = $1", &[&name])
                .await?;
            get(&row, 0)
        })
    }
}
