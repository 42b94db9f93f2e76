//! The PostgreSQL schema and its migrations. All pending migrations run in ONE transaction that first
//! takes a transaction-scoped advisory lock keyed on the schema, so several nodes starting at once
//! apply each migration exactly once (the others wait, then find the work done). The tables live in
//! the connection's `current_schema()`, so one database can hold several independent gateways (and
//! tests can run in parallel, one schema each).

use tokio_postgres::Client;

use crate::store::StoreError;

/// Migrations, oldest first. Never edit a released one: append.
///
/// Ids come from explicit sequences so the group-commit writer can reserve a whole group's ids in one
/// round trip and keep them in arrival order. Foreign keys are not declared: the writer checks a
/// lead exists before writing its events, and an enforced key would take a row lock on the parent
/// for every child inserted (a write to the lead's page on every conversion).
const MIGRATIONS: &[&str] = &[
    r#"
CREATE SEQUENCE lifecycle_event_ids;
CREATE SEQUENCE conversion_ids;

CREATE TABLE leads (
    transaction_id TEXT PRIMARY KEY,
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
    created_at     BIGINT NOT NULL,
    stored_at_ms   BIGINT NOT NULL
);

CREATE TABLE lifecycle_events (
    id              BIGINT PRIMARY KEY DEFAULT nextval('lifecycle_event_ids'),
    transaction_id  TEXT NOT NULL,
    trigger         TEXT NOT NULL,
    name            TEXT,
    buyer           TEXT,
    offer           TEXT,
    revenue         DOUBLE PRECISION,
    currency        TEXT,
    occurred_at     BIGINT NOT NULL,
    idempotency_key TEXT,
    stored_at_ms    BIGINT NOT NULL,
    -- A repeat of (lead, key) is a replay. NULL keys never collide.
    CONSTRAINT lifecycle_events_idempotency UNIQUE (transaction_id, idempotency_key)
);

CREATE TABLE conversions (
    id                  BIGINT PRIMARY KEY DEFAULT nextval('conversion_ids'),
    transaction_id      TEXT NOT NULL,
    lifecycle_id        BIGINT NOT NULL,
    rule                TEXT NOT NULL,
    pixel               TEXT NOT NULL,
    event_name          TEXT NOT NULL,
    event_id            TEXT NOT NULL,
    test_event_code     TEXT,
    event_time          BIGINT NOT NULL,
    state               TEXT NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    retries             INTEGER NOT NULL DEFAULT 0,
    -- pending/retrying: when due; in_flight: when the lease expires.
    next_attempt_at_ms  BIGINT,
    claim               BIGINT,
    first_attempt_at_ms BIGINT,
    last_error          TEXT,
    payload             TEXT NOT NULL,
    created_at_ms       BIGINT NOT NULL,
    -- TikTok's dedup key: each rule fires once per lead unless its event_id template says otherwise.
    CONSTRAINT conversions_dedup UNIQUE (pixel, event_name, event_id)
);
-- Only work that may still be sent is indexed for claiming: delivered and dead rows leave this index,
-- so a claim walks (pixel, due time) over live rows only, however large the history grows.
CREATE INDEX conversions_due ON conversions (pixel, next_attempt_at_ms)
    WHERE state IN ('pending', 'retrying', 'in_flight');
CREATE INDEX conversions_paused ON conversions (pixel) WHERE state = 'paused';
CREATE INDEX conversions_lifecycle ON conversions (lifecycle_id);

CREATE TABLE attempts (
    id            BIGSERIAL PRIMARY KEY,
    conversion_id BIGINT NOT NULL,
    at_ms         BIGINT NOT NULL,
    http_status   INTEGER,
    code          BIGINT,
    message       TEXT NOT NULL,
    request_id    TEXT,
    latency_ms    BIGINT NOT NULL,
    outcome       TEXT NOT NULL,
    batch_size    BIGINT NOT NULL
);
CREATE INDEX attempts_conversion ON attempts (conversion_id);
"#,
    r#"
-- What an offer network pays out for a lifecycle step (rules: value = "payout").
ALTER TABLE lifecycle_events ADD COLUMN payout DOUBLE PRECISION;
-- Caps count a rule's conversions since the start of a window, inside the ingest transaction.
CREATE INDEX conversions_rule_created ON conversions (rule, created_at_ms);
"#,
    // Replay walks dead or paused conversions in id order; partial, so only parked rows are in it.
    r#"
CREATE INDEX conversions_parked ON conversions (state, id) WHERE state = 'dead' OR state = 'paused';
"#,
    // What operators configure through the admin API (see `store::settings`). Access tokens are
    // stored sealed by the application's vault; API keys as SHA-256 digests only.
    r#"
CREATE TABLE pixels (
    code            TEXT PRIMARY KEY,
    sealed_token    BYTEA NOT NULL,
    token_last4     TEXT NOT NULL,
    token_set_at_ms BIGINT NOT NULL,
    base_url        TEXT,
    test_event_code TEXT,
    paused_reason   TEXT,
    paused_at_ms    BIGINT,
    config_digest   TEXT,
    created_at_ms   BIGINT NOT NULL,
    updated_at_ms   BIGINT NOT NULL
);
CREATE TABLE rules (
    position      BIGSERIAL PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    config        TEXT NOT NULL,
    enabled       BOOLEAN NOT NULL,
    config_digest TEXT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    digest        TEXT NOT NULL UNIQUE,
    prefix        TEXT NOT NULL,
    scope         TEXT NOT NULL,
    label         TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);
CREATE TABLE settings_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO settings_version (id, version) VALUES (1, 0);
"#,
    // 6: console indexes (see the SQLite schema for why each exists).
    r#"
CREATE INDEX IF NOT EXISTS conversions_created ON conversions (created_at_ms);
"#,
    // A pixel's site_url and replay's walk over undeliverable conversions (see the SQLite schema).
    r#"
ALTER TABLE pixels ADD COLUMN site_url TEXT;
CREATE INDEX conversions_undeliverable ON conversions (state, id) WHERE state = 'undeliverable';
"#,
    // 8: a lead's country and regional phone readings, a pixel's default_region (see the SQLite
    // schema).
    r#"
ALTER TABLE leads ADD COLUMN country TEXT;
ALTER TABLE leads ADD COLUMN phone_by_region TEXT;
ALTER TABLE pixels ADD COLUMN default_region TEXT;
"#,
    // 9: a lead's Meta and Google click ids, Meta cookies and CRM lead ids as one JSON object (see
    // `store::click_ids`).
    r#"
ALTER TABLE leads ADD COLUMN click_ids TEXT;
"#,
    // 10: a pixel's destination and its settings, as JSON (`destinations::stored`); NULL is a
    // TikTok web pixel, as every pixel was before.
    r#"
ALTER TABLE pixels ADD COLUMN destination TEXT;
"#,
    // 11: the event JSON moves out of the hot conversions row, as SQLite's migration 3 did. A row is
    // rewritten on every claim and every recorded result, and under MVCC each rewrite copied the
    // whole event into a new row version (an outage's retries left several dead ones per
    // conversion). The payload is written once and only read.
    r#"
CREATE TABLE payloads (
    conversion_id BIGINT PRIMARY KEY,
    payload       TEXT NOT NULL
);
INSERT INTO payloads (conversion_id, payload) SELECT id, payload FROM conversions;
ALTER TABLE conversions DROP COLUMN payload;
"#,
    // 12: one row per request sent instead of one per conversion it carried, as SQLite's migration
    // 11: a delivered batch of 1,000 wrote 1,000 copies of one answer; it now writes one `requests`
    // row, and each conversion keeps the ids of the requests that carried it, oldest first, in
    // `attempt_log` (comma-separated), in the row version its settle writes anyway.
    r#"
CREATE TABLE requests (
    id          BIGSERIAL PRIMARY KEY,
    at_ms       BIGINT NOT NULL,
    http_status INTEGER,
    code        BIGINT,
    message     TEXT NOT NULL,
    request_id  TEXT,
    latency_ms  BIGINT NOT NULL,
    outcome     TEXT NOT NULL,
    batch_size  BIGINT NOT NULL
);
ALTER TABLE conversions ADD COLUMN attempt_log TEXT;
INSERT INTO requests (id, at_ms, http_status, code, message, request_id, latency_ms, outcome,
                      batch_size)
    SELECT id, at_ms, http_status, code, message, request_id, latency_ms, outcome, batch_size
    FROM attempts;
SELECT setval(pg_get_serial_sequence('requests', 'id'), GREATEST((SELECT max(id) FROM requests), 1));
UPDATE conversions c SET attempt_log = a.log
    FROM (SELECT conversion_id, string_agg(id::text, ',' ORDER BY id) AS log
          FROM attempts GROUP BY conversion_id) a
    WHERE c.id = a.conversion_id;
DROP TABLE attempts;
"#,
    // 13: a payload is stored as bytes: zstd against a built-in dictionary (see
    // `store::payload_codec`), a third of its JSON. TOAST compresses only values over 2 KB, so
    // these never were. Rows already stored keep their JSON, which the codec reads as it is.
    r#"
ALTER TABLE payloads ALTER COLUMN payload TYPE bytea USING convert_to(payload, 'UTF8');
"#,
];

/// The schema version this build writes.
pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// The version recorded in the connection's schema; 0 when there is none yet.
pub async fn read_version(client: &Client) -> Result<i64, StoreError> {
    let row = client
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .await?;
    let exists: bool = row
        .try_get(0)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    if !exists {
        return Ok(0);
    }
    match client
        .query_opt("SELECT version FROM schema_version", &[])
        .await?
    {
        Some(row) => row
            .try_get(0)
            .map_err(|e| StoreError::Corrupt(e.to_string())),
        None => Ok(0),
    }
}

/// Brings the connection's schema up to [`CURRENT_VERSION`]; returns the schema's name.
pub async fn migrate(client: &mut Client) -> Result<String, StoreError> {
    let schema: Option<String> = client
        .query_one("SELECT current_schema()::text", &[])
        .await?
        .try_get(0)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let Some(schema) = schema else {
        return Err(StoreError::Io(
            "the connection's search_path names no existing schema; create it first \
             (e.g. CREATE SCHEMA signalpost) or fix `options=-csearch_path=…` in the database URL"
                .into(),
        ));
    };
    let tx = client.transaction().await?;
    // Serializes concurrent starts: the lock is released by COMMIT (or by the connection dying).
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('signalpost-migrate:' || $1))",
        &[&schema],
    )
    .await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
        .await?;
    let current: i64 = match tx
        .query_opt("SELECT version FROM schema_version", &[])
        .await?
    {
        Some(row) => row
            .try_get(0)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        None => 0,
    };
    if current > CURRENT_VERSION {
        return Err(StoreError::SchemaTooNew(format!(
            "schema {schema} has version {current}, newer than this build's {CURRENT_VERSION}: it \
             was migrated by a newer signalpost, and schema versions only move forward. Run that \
             version (or newer) on every node"
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index as i64 + 1;
        tx.batch_execute(sql).await?;
        tx.execute("DELETE FROM schema_version", &[]).await?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&version],
        )
        .await?;
        tracing::info!(version, schema = %schema, "applied schema migration");
    }
    tx.commit().await?;
    Ok(schema)
}
