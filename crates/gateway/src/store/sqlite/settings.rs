//! [`SettingsStore`] on SQLite. Settings change rarely, so their writes take a connection of their
//! own (WAL lets it take turns with the group-commit writer under the busy timeout) instead of
//! passing through the hot ingest path; reads use the shared read pool.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::schema;
use crate::store::StoreError;
use crate::store::settings::{KeyScope, StoredKey, StoredPixel, StoredRule};

/// The settings writer: one lazily opened connection, used from the blocking pool.
#[derive(Clone)]
pub(crate) struct SettingsWriter {
    path: Arc<PathBuf>,
    conn: Arc<Mutex<Option<Connection>>>,
}

impl SettingsWriter {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path: Arc::new(path),
            conn: Arc::new(Mutex::new(None)),
        }
    }

    /// Runs `f` in an immediate transaction and bumps the settings version when `bump` is set.
    pub async fn write<T: Send + 'static>(
        &self,
        bump: bool,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = match this.conn.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            if guard.is_none() {
                let conn = Connection::open(this.path.as_path())?;
                schema::configure(&conn, true)?;
                *guard = Some(conn);
            }
            let conn = guard
                .as_mut()
                .ok_or_else(|| StoreError::Io("settings connection missing".into()))?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            if bump {
                tx.execute(
                    "UPDATE settings_version SET version = version + 1 WHERE id = 1",
                    [],
                )?;
            }
            tx.commit()?;
            Ok(out)
        })
        .await
        .map_err(|e| StoreError::Io(format!("settings task failed: {e}")))?
    }
}

pub(crate) fn version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row(
        "SELECT version FROM settings_version WHERE id = 1",
        [],
        |r| r.get(0),
    )?)
}

const PIXEL_COLUMNS: &str = "code, sealed_token, token_last4, token_set_at_ms, base_url, \
     test_event_code, paused_reason, paused_at_ms, config_digest, created_at_ms, updated_at_ms, \
     site_url, default_region, destination";

fn pixel(row: &Row<'_>) -> rusqlite::Result<StoredPixel> {
    Ok(StoredPixel {
        code: row.get(0)?,
        sealed_token: row.get(1)?,
        token_last4: row.get(2)?,
        token_set_at_ms: row.get(3)?,
        base_url: row.get(4)?,
        test_event_code: row.get(5)?,
        paused_reason: row.get(6)?,
        paused_at_ms: row.get(7)?,
        config_digest: row.get(8)?,
        created_at_ms: row.get(9)?,
        updated_at_ms: row.get(10)?,
        site_url: row.get(11)?,
        default_region: row.get(12)?,
        destination: row.get(13)?,
    })
}

pub(crate) fn list_pixels(conn: &Connection) -> Result<Vec<StoredPixel>, StoreError> {
    let mut stmt = conn.prepare(&format!("SELECT {PIXEL_COLUMNS} FROM pixels ORDER BY code"))?;
    let rows = stmt.query_map([], pixel)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn put_pixel(conn: &Connection, p: &StoredPixel) -> Result<(), StoreError> {
    conn.execute(
        &format!(
            "INSERT INTO pixels ({PIXEL_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT (code) DO UPDATE SET sealed_token = excluded.sealed_token,
                 token_last4 = excluded.token_last4, token_set_at_ms = excluded.token_set_at_ms,
                 base_url = excluded.base_url, test_event_code = excluded.test_event_code,
                 paused_reason = excluded.paused_reason, paused_at_ms = excluded.paused_at_ms,
                 config_digest = excluded.config_digest, updated_at_ms = excluded.updated_at_ms,
                 site_url = excluded.site_url, default_region = excluded.default_region,
                 destination = excluded.destination"
        ),
        params![
            p.code,
            p.sealed_token,
            p.token_last4,
            p.token_set_at_ms,
            p.base_url,
            p.test_event_code,
            p.paused_reason,
            p.paused_at_ms,
            p.config_digest,
            p.created_at_ms,
            p.updated_at_ms,
            p.site_url,
            p.default_region,
            p.destination
        ],
    )?;
    Ok(())
}

pub(crate) fn delete_pixel(conn: &Connection, code: &str) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM pixels WHERE code = ?1", [code])? > 0)
}

pub(crate) fn set_pixel_paused(
    conn: &Connection,
    code: &str,
    token_set_at_ms: i64,
    reason: Option<&str>,
    at_ms: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE pixels SET paused_reason = ?3, paused_at_ms = CASE WHEN ?3 IS NULL THEN NULL ELSE ?4 END
         WHERE code = ?1 AND token_set_at_ms = ?2",
        params![code, token_set_at_ms, reason, at_ms],
    )?;
    Ok(())
}

pub(crate) fn list_rules(conn: &Connection) -> Result<Vec<StoredRule>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT name, config, enabled, config_digest, created_at_ms, updated_at_ms
         FROM rules ORDER BY position",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok(StoredRule {
            name: row.get(0)?,
            config: row.get(1)?,
            enabled: row.get(2)?,
            config_digest: row.get(3)?,
            created_at_ms: row.get(4)?,
            updated_at_ms: row.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn put_rule(conn: &Connection, r: &StoredRule) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO rules (name, config, enabled, config_digest, created_at_ms, updated_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (name) DO UPDATE SET config = excluded.config, enabled = excluded.enabled,
             config_digest = excluded.config_digest, updated_at_ms = excluded.updated_at_ms",
        params![
            r.name,
            r.config,
            r.enabled,
            r.config_digest,
            r.created_at_ms,
            r.updated_at_ms
        ],
    )?;
    Ok(())
}

pub(crate) fn delete_rule(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM rules WHERE name = ?1", [name])? > 0)
}

pub(crate) fn list_keys(conn: &Connection) -> Result<Vec<StoredKey>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, digest, prefix, scope, label, created_at_ms, revoked_at_ms
         FROM api_keys ORDER BY created_at_ms, id",
    )?;
    let mut rows = stmt.query([])?;
    let mut keys = Vec::new();
    while let Some(row) = rows.next()? {
        let scope: String = row.get(3)?;
        keys.push(StoredKey {
            id: row.get(0)?,
            digest: row.get(1)?,
            prefix: row.get(2)?,
            scope: KeyScope::parse(&scope)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown key scope {scope:?}")))?,
            label: row.get(4)?,
            created_at_ms: row.get(5)?,
            revoked_at_ms: row.get(6)?,
        });
    }
    Ok(keys)
}

pub(crate) fn insert_key(conn: &Connection, k: &StoredKey) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO api_keys (id, digest, prefix, scope, label, created_at_ms, revoked_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            k.id,
            k.digest,
            k.prefix,
            k.scope.as_str(),
            k.label,
            k.created_at_ms,
            k.revoked_at_ms
        ],
    )?;
    Ok(())
}

pub(crate) fn revoke_key(conn: &Connection, id: &str, at_ms: i64) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE api_keys SET revoked_at_ms = ?2 WHERE id = ?1 AND revoked_at_ms IS NULL",
        params![id, at_ms],
    )? > 0)
}

pub(crate) fn get_setting(conn: &Connection, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .query_row("SELECT value FROM settings WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()?)
}

pub(crate) fn init_setting(
    conn: &Connection,
    name: &str,
    value: &[u8],
) -> Result<Vec<u8>, StoreError> {
    conn.execute(
        "INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
        params![name, value],
    )?;
    get_setting(conn, name)?.ok_or_else(|| StoreError::Io(format!("setting {name} vanished")))
}
