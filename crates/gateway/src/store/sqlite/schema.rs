//! The SQLite schema and its migrations. Each migration runs once, in order, inside a transaction;
//! `schema_version` holds the last one applied. Opening a database written by a newer build fails
//! instead of guessing.

use rusqlite::{Connection, OptionalExtension};

use crate::store::StoreError;

/// Migrations, oldest first. Never edit a released one: append.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE leads (
    transaction_id TEXT PRIMARY KEY NOT NULL,
    email          TEXT,
    phone          TEXT,
    external_id    TEXT,
    ip             TEXT,
    user_agent     TEXT,
    ttclid         TEXT,
    ttp            TEXT,
    landing_url    TEXT,
    referrer       TEXT,
    source         TEXT,
    fields         TEXT NOT NULL,
    warnings       TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    stored_at_ms   INTEGER NOT NULL
);

CREATE TABLE lifecycle_events (
    id              INTEGER PRIMARY KEY,
    transaction_id  TEXT NOT NULL REFERENCES leads(transaction_id),
    trigger         TEXT NOT NULL,
    name            TEXT,
    buyer           TEXT,
    offer           TEXT,
    revenue         REAL,
    currency        TEXT,
    occurred_at     INTEGER NOT NULL,
    idempotency_key TEXT,
    stored_at_ms    INTEGER NOT NULL
);
-- A repeat of (lead, key) is a replay. NULL keys never collide.
CREATE UNIQUE INDEX lifecycle_events_idempotency ON lifecycle_events(transaction_id, idempotency_key);

CREATE TABLE conversions (
    id                  INTEGER PRIMARY KEY,
    transaction_id      TEXT NOT NULL,
    lifecycle_id        INTEGER NOT NULL REFERENCES lifecycle_events(id),
    rule                TEXT NOT NULL,
    pixel               TEXT NOT NULL,
    event_name          TEXT NOT NULL,
    event_id            TEXT NOT NULL,
    test_event_code     TEXT,
    event_time          INTEGER NOT NULL,
    state               TEXT NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    retries             INTEGER NOT NULL DEFAULT 0,
    -- pending/retrying: when due; in_flight: when the lease expires.
    next_attempt_at_ms  INTEGER,
    claim               INTEGER,
    first_attempt_at_ms INTEGER,
    last_error          TEXT,
    payload             TEXT NOT NULL,
    created_at_ms       INTEGER NOT NULL,
    -- TikTok's dedup key: each rule fires once per lead unless its event_id template says otherwise.
    UNIQUE (pixel, event_name, event_id)
);
CREATE INDEX conversions_due ON conversions(pixel, state, next_attempt_at_ms);
-- By lifecycle event (ids grow, so this index only appends; a lead's conversions are found through
-- its lifecycle events instead of a random-order index on transaction_id).
CREATE INDEX conversions_lifecycle ON conversions(lifecycle_id);

CREATE TABLE attempts (
    id            INTEGER PRIMARY KEY,
    conversion_id INTEGER NOT NULL REFERENCES conversions(id),
    at_ms         INTEGER NOT NULL,
    http_status   INTEGER,
    code          INTEGER,
    message       TEXT NOT NULL,
    request_id    TEXT,
    latency_ms    INTEGER NOT NULL,
    outcome       TEXT NOT NULL,
    batch_size    INTEGER NOT NULL
);
CREATE INDEX attempts_conversion ON attempts(conversion_id);
"#,
    r#"
-- What an offer network pays out for a lifecycle step (rules: value = "payout").
ALTER TABLE lifecycle_events ADD COLUMN payout REAL;
-- Caps count a rule's conversions since the start of a window, inside the ingest transaction.
CREATE INDEX conversions_rule_created ON conversions(rule, created_at_ms);
"#,
    // 3: the event JSON moves out of the hot conversions row. A conversion's row is rewritten on every
    // claim and every recorded result; with the payload inside, each rewrite copied the whole event
    // (most of the row's bytes) into the WAL twice per delivery. The payload is written once, appended,
    // and only read.
    r#"
CREATE TABLE payloads (
    conversion_id INTEGER PRIMARY KEY NOT NULL,
    payload       TEXT NOT NULL
);
INSERT INTO payloads (conversion_id, payload) SELECT id, payload FROM conversions;
ALTER TABLE conversions DROP COLUMN payload;
"#,
    // 4: replay walks dead or paused conversions in id order. Partial, so it holds only parked rows and
    // costs nothing on the hot path (pending → in_flight → delivered never enters it). The OR form
    // (not IN) is what lets SQLite prove `state = 'dead'` implies the index's condition.
    r#"
CREATE INDEX conversions_parked ON conversions(state, id) WHERE state = 'dead' OR state = 'paused';
"#,
    // 5: what operators configure through the admin API (see `store::settings`). Access tokens are
    // stored sealed by the application's vault; API keys as SHA-256 digests only.
    r#"
CREATE TABLE pixels (
    code            TEXT PRIMARY KEY NOT NULL,
    sealed_token    BLOB NOT NULL,
    token_last4     TEXT NOT NULL,
    token_set_at_ms INTEGER NOT NULL,
    base_url        TEXT,
    test_event_code TEXT,
    paused_reason   TEXT,
    paused_at_ms    INTEGER,
    config_digest   TEXT,
    created_at_ms   INTEGER NOT NULL,
    updated_at_ms   INTEGER NOT NULL
);
CREATE TABLE rules (
    position      INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    config        TEXT NOT NULL,
    enabled       INTEGER NOT NULL,
    config_digest TEXT,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY NOT NULL,
    digest        TEXT NOT NULL UNIQUE,
    prefix        TEXT NOT NULL,
    scope         TEXT NOT NULL,
    label         TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER
);
CREATE TABLE settings (
    name  TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
);
CREATE TABLE settings_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO settings_version (id, version) VALUES (1, 0);
"#,
    // 6: console indexes. The console's time windows (conversions per minute, match quality, dead
    // letters by time) read conversions by queue time; `created_at_ms` never changes, so this index
    // is appended to once per conversion and never rewritten by delivery. Lead search by ttclid or
    // hashed email deliberately has no index: both are random-order values that nearly every lead
    // carries, so an index on each would add two random page writes to every durable ingest for
    // the sake of an occasional operator search, which scans instead.
    r#"
CREATE INDEX IF NOT EXISTS conversions_created ON conversions(created_at_ms);
"#,
    // 7: a pixel's site_url, the page.url of its events when a lead brings neither a landing URL nor
    // a referrer; and replay's walk over undeliverable conversions (refused at ingest), partial like
    // `conversions_parked` so the hot path never touches it.
    r#"
ALTER TABLE pixels ADD COLUMN site_url TEXT;
CREATE INDEX conversions_undeliverable ON conversions(state, id) WHERE state = 'undeliverable';
"#,
    // 8: a lead's own country (ISO alpha-2, upper-case), its phone read with pixels' own regions
    // (JSON object region → SHA-256 hex; NULL when there is none, as for most leads), and a pixel's
    // default_region for national phone numbers.
    r#"
ALTER TABLE leads ADD COLUMN country TEXT;
ALTER TABLE leads ADD COLUMN phone_by_region TEXT;
ALTER TABLE pixels ADD COLUMN default_region TEXT;
"#,
    // 9: a lead's Meta and Google click ids, Meta cookies and CRM lead ids, as one JSON object of the
    // ids present (NULL when none): see `store::click_ids` for why one column rather than eight.
    r#"
ALTER TABLE leads ADD COLUMN click_ids TEXT;
"#,
    // 10: a pixel's destination and its settings, as JSON (`destinations::stored`); NULL is a
    // TikTok web pixel, as every pixel was before.
    r#"
ALTER TABLE pixels ADD COLUMN destination TEXT;
"#,
    // 11: one row per request sent instead of one per conversion it carried. A delivered batch of
    // 1,000 wrote 1,000 copies of the same answer (and 1,000 index entries); it now writes one
    // `requests` row, and each conversion keeps the ids of the requests that carried it, oldest
    // first, in `attempt_log` (comma-separated), inside the row its settle rewrites anyway.
    r#"
CREATE TABLE requests (
    id          INTEGER PRIMARY KEY,
    at_ms       INTEGER NOT NULL,
    http_status INTEGER,
    code        INTEGER,
    message     TEXT NOT NULL,
    request_id  TEXT,
    latency_ms  INTEGER NOT NULL,
    outcome     TEXT NOT NULL,
    batch_size  INTEGER NOT NULL
);
ALTER TABLE conversions ADD COLUMN attempt_log TEXT;
INSERT INTO requests (id, at_ms, http_status, code, message, request_id, latency_ms, outcome,
                      batch_size)
    SELECT id, at_ms, http_status, code, message, request_id, latency_ms, outcome, batch_size
    FROM attempts;
UPDATE conversions SET attempt_log =
    (SELECT group_concat(a.id, ',' ORDER BY a.id) FROM attempts a WHERE a.conversion_id = conversions.id)
    WHERE id IN (SELECT conversion_id FROM attempts);
DROP TABLE attempts;
"#,
];

/// The schema version this build writes.
pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// How long a connection waits for a lock another connection holds.
pub(crate) const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Applies the pragmas every connection needs.
pub fn configure(conn: &Connection, write: bool) -> Result<(), StoreError> {
    // WAL: readers never block the writer. FULL: every commit is fsynced, so an acknowledged write
    // survives power loss. (The store's writer then lowers its own connection to NORMAL and fsyncs
    // the WAL itself before it answers: see `wal_sync`.)
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Foreign keys are declared (documentation, and for tools) but not enforced: the writer checks the
    // lead exists before writing its events, and enforcement would make SQLite keep a statement
    // journal for every insert (it measured as a third of the writer's time).
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", -16_000)?;
    if write {
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Io(format!(
                "could not switch the database to WAL (journal_mode is {mode})"
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
    }
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// The version recorded in the database; 0 when there is none yet.
pub fn read_version(conn: &Connection) -> Result<i64, StoreError> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version')",
        [],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(0);
    }
    Ok(conn
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// The refusal of a database a newer build wrote: schema versions only move forward, and this build
/// cannot know what the newer one changed.
fn newer_schema(found: i64) -> String {
    format!(
        "the database has schema version {found}, newer than this build's {CURRENT_VERSION}: it was \
         migrated by a newer signalpost, and schema versions only move forward. Run that version \
         (or newer), or restore a backup taken before the upgrade"
    )
}

/// Brings the database up to [`CURRENT_VERSION`].
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    let current: i64 = conn
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .optional()?
        .unwrap_or(0);
    if current > CURRENT_VERSION {
        return Err(StoreError::SchemaTooNew(newer_schema(current)));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index as i64 + 1;
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute("DELETE FROM schema_version", [])?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            [version],
        )?;
        tx.commit()?;
        tracing::info!(version, "applied schema migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_of_a_newer_build_is_refused_and_left_unchanged() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.execute(
            "UPDATE schema_version SET version = ?1",
            [CURRENT_VERSION + 1],
        )
        .unwrap();
        let err = migrate(&mut conn).unwrap_err().to_string();
        assert!(err.contains("newer than this build"), "{err}");
        assert!(
            err.contains(&format!("version {}", CURRENT_VERSION + 1)),
            "{err}"
        );
        assert_eq!(read_version(&conn).unwrap(), CURRENT_VERSION + 1);
    }

    #[test]
    fn migrating_from_version_1_moves_every_payload_out_of_the_conversions_row() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_version (version INTEGER NOT NULL);
             INSERT INTO schema_version VALUES (1);
             INSERT INTO leads (transaction_id, fields, warnings, created_at, stored_at_ms)
                 VALUES ('t', 'null', '[]', 1, 1);
             INSERT INTO lifecycle_events (id, transaction_id, trigger, occurred_at, stored_at_ms)
                 VALUES (1, 't', 'form_submit', 1, 1);
             INSERT INTO conversions (id, transaction_id, lifecycle_id, rule, pixel, event_name,
                 event_id, event_time, state, payload, created_at_ms)
                 VALUES (7, 't', 1, 'r', 'P', 'Lead', 't', 1, 'pending', '{\"event\":\"Lead\"}', 1);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let payload: String = conn
            .query_row(
                "SELECT payload FROM payloads WHERE conversion_id = 7",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(payload, r#"{"event":"Lead"}"#);
        let has_column: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM pragma_table_info('conversions') WHERE name = 'payload'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(has_column, 0);
        let version: i64 = conn
            .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, CURRENT_VERSION);
    }

    #[test]
    fn migration_11_keeps_every_attempt_as_a_request_in_each_conversions_log_in_order() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "OFF").unwrap();
        for sql in &MIGRATIONS[..10] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "CREATE TABLE schema_version (version INTEGER NOT NULL);
             INSERT INTO schema_version VALUES (10);
             INSERT INTO conversions (id, transaction_id, lifecycle_id, rule, pixel, event_name,
                 event_id, event_time, state, created_at_ms)
                 VALUES (1, 't', 1, 'r', 'P', 'Lead', 'a', 1, 'retrying', 1),
                        (2, 't', 1, 'r', 'P', 'Buy', 'b', 1, 'pending', 1);
             INSERT INTO attempts (id, conversion_id, at_ms, http_status, code, message, request_id,
                 latency_ms, outcome, batch_size)
                 VALUES (9, 1, 20, 500, NULL, 'later', NULL, 5, 'retryable', 2),
                        (4, 1, 10, 200, 40002, 'first', 'rq', 5, 'invalid', 2);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let logs: Vec<Option<String>> = conn
            .prepare("SELECT attempt_log FROM conversions ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(logs, [Some("4,9".to_owned()), None]);
        let (message, code): (String, i64) = conn
            .query_row("SELECT message, code FROM requests WHERE id = 4", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((message.as_str(), code), ("first", 40002));
        let old_table: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'attempts'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(old_table, 0);
    }

    #[test]
    fn a_lead_stored_before_migration_9_reads_back_without_click_ids() {
        let mut conn = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..8] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "CREATE TABLE schema_version (version INTEGER NOT NULL);
             INSERT INTO schema_version VALUES (8);
             INSERT INTO leads (transaction_id, ttclid, fields, warnings, created_at, stored_at_ms)
                 VALUES ('old', 'E.C.P.old', 'null', '[]', 1, 1);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let sql = format!(
            "SELECT {} FROM leads WHERE transaction_id = 'old'",
            super::super::rows::LEAD_COLUMNS
        );
        let lead = conn
            .query_row(&sql, [], |row| Ok(super::super::rows::lead(row)))
            .unwrap()
            .unwrap();
        assert_eq!(lead.ttclid.as_deref(), Some("E.C.P.old"));
        assert_eq!(
            (lead.fbclid, lead.fbc, lead.meta_lead_id),
            (None, None, None)
        );
    }
}
