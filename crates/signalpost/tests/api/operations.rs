//! Running it as operators do: readiness (`/readyz`) on both stores, the refusal of a schema a newer
//! build migrated, `signalpost backup` / `restore` under load, `signalpost healthcheck`, and the
//! `SIGNALPOST_*` environment over the config file.

use std::process::{Command, Output};

use serde_json::json;
use signalpost::config::{Config, LogFormat};
use signalpost_gateway::store::postgres::PostgresStore;
use signalpost_gateway::{SqliteStore, StoreError};

use crate::common::{TestApp, spawn_app, spawn_app_with};
use crate::pg_schema::PgSchema;

fn signalpost(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_signalpost"))
        .args(args)
        .env_remove("SIGNALPOST_CONFIG")
        .env_remove("SIGNALPOST_MASTER_KEY")
        .env_remove("SIGNALPOST_DATABASE_URL")
        .env_remove("SIGNALPOST_DATA_DIR")
        .env("RUST_LOG", "warn")
        .output()
        .expect("the signalpost binary runs")
}

async fn run(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        signalpost(&args)
    })
    .await
    .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn data_dir(app: &TestApp) -> std::path::PathBuf {
    app.config_path.parent().unwrap().join("data")
}

/// Moves the SQLite store's recorded schema version by `delta` (another build's migration).
fn shift_sqlite_version(data_dir: &std::path::Path, delta: i64) {
    let conn = rusqlite::Connection::open(data_dir.join("signalpost.db")).unwrap();
    conn.execute("UPDATE schema_version SET version = version + ?1", [delta])
        .unwrap();
}

async fn shift_pg_version(url: &str, delta: i64) {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .execute(
            "UPDATE schema_version SET version = version + $1",
            &[&delta],
        )
        .await
        .unwrap();
}

/// Ready, then (after a newer build moved the schema on) 503 naming why, then ready again.
async fn readiness_follows_the_schema(app: &TestApp, shift: impl AsyncFn(i64)) {
    let ready = app.send(app.client.get(app.url("/readyz"))).await;
    assert_eq!(ready.status, 200, "{:#}", ready.body);
    assert_eq!(ready.body["status"], "ready");
    assert!(ready.body["schema_version"].as_i64().unwrap() > 0);

    shift(1).await;
    let refused = app.send(app.client.get(app.url("/readyz"))).await;
    let problem = refused.problem(503);
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("newer than this build"), "{detail}");
    // Liveness is not readiness: the process and its store still answer.
    let live = app.send(app.client.get(app.url("/healthz"))).await;
    assert_eq!(live.status, 200);

    shift(-1).await;
    let again = app.send(app.client.get(app.url("/readyz"))).await;
    assert_eq!(again.status, 200, "{:#}", again.body);
}

#[tokio::test]
async fn readyz_on_sqlite_is_200_until_a_newer_build_migrates_the_store() {
    let app = spawn_app().await;
    let dir = data_dir(&app);
    readiness_follows_the_schema(&app, async |delta| shift_sqlite_version(&dir, delta)).await;
    // No key needed, and never a key in the answer.
    let answer = app
        .send(reqwest::Client::new().get(app.url("/readyz")))
        .await;
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn readyz_on_postgres_is_200_until_a_newer_build_migrates_the_schema() {
    let Some(schema) = PgSchema::from_env("sp_readyz").await else {
        return;
    };
    let url = schema.url();
    let app = spawn_app_with(&format!("database_url = \"{url}\""), "").await;
    readiness_follows_the_schema(&app, async |delta| shift_pg_version(&url, delta).await).await;
    app.stop().await;
}

fn assert_newer_schema_refused(err: &StoreError) {
    assert!(matches!(err, StoreError::SchemaTooNew(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("newer than this build"), "{message}");
    assert!(message.contains("only move forward"), "{message}");
}

#[tokio::test]
async fn an_older_build_refuses_a_sqlite_store_a_newer_build_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    store.close().await;
    drop(store);
    shift_sqlite_version(dir.path(), 1);
    let err = SqliteStore::open(dir.path()).err().unwrap();
    assert_newer_schema_refused(&err);
}

#[tokio::test]
async fn an_older_build_refuses_a_postgres_schema_a_newer_build_migrated() {
    let Some(schema) = PgSchema::from_env("sp_newer").await else {
        return;
    };
    let store = PostgresStore::connect(&schema.url()).await.unwrap();
    store.close().await;
    drop(store);
    shift_pg_version(&schema.url(), 1).await;
    let err = PostgresStore::connect(&schema.url()).await.err().unwrap();
    assert_newer_schema_refused(&err);
}

#[tokio::test]
async fn a_backup_taken_under_load_restores_every_lead_acknowledged_before_it() {
    let app = spawn_app().await;
    // Leads acknowledged before the backup starts.
    let mut before = Vec::new();
    for i in 0..40 {
        let id = format!("before-{i}");
        let answer = app
            .post(
                "/v1/leads",
                &json!({"transaction_id": id, "email": format!("p{i}@example.com")}),
            )
            .await;
        assert_eq!(answer.status, 202, "{:#}", answer.body);
        before.push(id);
    }
    // More leads keep coming while the backup runs, until it is done.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let client = app.client.clone();
        let url = app.url("/v1/leads");
        let done = done.clone();
        tokio::spawn(async move {
            let mut acknowledged = 0u32;
            while !done.load(std::sync::atomic::Ordering::Relaxed) || acknowledged == 0 {
                let answer = client
                    .post(&url)
                    .bearer_auth(crate::common::KEY)
                    .json(&json!({"transaction_id": format!("during-{acknowledged}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(answer.status(), 202);
                acknowledged += 1;
            }
            acknowledged
        })
    };
    let root = tempfile::tempdir().unwrap();
    let backup = root.path().join("signalpost.backup");
    let out = run(vec![
        "backup".into(),
        "--config".into(),
        app.config_path.display().to_string(),
        "--to".into(),
        backup.display().to_string(),
    ])
    .await;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("backup written"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("master.key"),
        "{}",
        text(&out.stderr)
    );
    assert!(load.await.unwrap() > 0);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A backup never overwrites.
    let again = run(vec![
        "backup".into(),
        "--config".into(),
        app.config_path.display().to_string(),
        "--to".into(),
        backup.display().to_string(),
    ])
    .await;
    assert_eq!(again.status.code(), Some(1), "{}", text(&again.stderr));

    // Restoring over the running server's store is refused, whatever the flags.
    let busy = run(vec![
        "restore".into(),
        "--config".into(),
        app.config_path.display().to_string(),
        "--from".into(),
        backup.display().to_string(),
        "--force".into(),
    ])
    .await;
    assert_eq!(busy.status.code(), Some(1));
    assert!(
        text(&busy.stderr).contains("already serving"),
        "{}",
        text(&busy.stderr)
    );

    // Restore into a new data dir and serve it: every lead acknowledged before the backup is there.
    let restored_dir = root.path().join("restored");
    let config = root.path().join("restored.toml");
    let restored_config = app.config_text.replace(
        &data_dir(&app).display().to_string(),
        &restored_dir.display().to_string(),
    );
    std::fs::write(&config, restored_config).unwrap();
    let out = run(vec![
        "restore".into(),
        "--config".into(),
        config.display().to_string(),
        "--from".into(),
        backup.display().to_string(),
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A second restore would replace a store: refused without --force.
    let twice = run(vec![
        "restore".into(),
        "--config".into(),
        config.display().to_string(),
        "--from".into(),
        backup.display().to_string(),
    ])
    .await;
    assert_eq!(twice.status.code(), Some(1));
    assert!(
        text(&twice.stderr).contains("--force"),
        "{}",
        text(&twice.stderr)
    );

    let store = SqliteStore::open(&restored_dir).unwrap();
    use signalpost_gateway::Store;
    for id in &before {
        let lead = store.find_lead(id).await.unwrap();
        assert!(
            lead.is_some(),
            "{id} was acknowledged before the backup and is missing"
        );
    }
    store.close().await;
    app.stop().await;
}

#[tokio::test]
async fn backup_of_a_postgres_store_says_to_use_pg_dump() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pg.toml");
    std::fs::write(
        &config,
        "[server]\ndatabase_url = \"postgres://postgres@127.0.0.1:5432/test\"\n",
    )
    .unwrap();
    let out = run(vec![
        "backup".into(),
        "--config".into(),
        config.display().to_string(),
        "--to".into(),
        dir.path().join("x").display().to_string(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("pg_dump"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.path().join("x").exists());
}

#[tokio::test]
async fn healthcheck_exits_0_when_ready_1_when_not_and_2_on_a_bad_url() {
    let app = spawn_app().await;
    let ok = run(vec![
        "healthcheck".into(),
        "--url".into(),
        app.url("/readyz"),
    ])
    .await;
    assert!(ok.status.success(), "{}", text(&ok.stderr));

    shift_sqlite_version(&data_dir(&app), 1);
    let not_ready = run(vec![
        "healthcheck".into(),
        "--url".into(),
        app.url("/readyz"),
    ])
    .await;
    assert_eq!(not_ready.status.code(), Some(1));
    assert!(
        text(&not_ready.stderr).contains("newer than this build"),
        "{}",
        text(&not_ready.stderr)
    );
    shift_sqlite_version(&data_dir(&app), -1);

    // Nobody listens on a port just freed.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let down = run(vec![
        "healthcheck".into(),
        "--url".into(),
        format!("http://127.0.0.1:{port}/readyz"),
    ])
    .await;
    assert_eq!(down.status.code(), Some(1));

    let bad = run(vec![
        "healthcheck".into(),
        "--url".into(),
        "https://127.0.0.1/readyz".into(),
    ])
    .await;
    assert_eq!(bad.status.code(), Some(2));
    app.stop().await;
}

#[test]
fn the_environment_overrides_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signalpost.toml");
    std::fs::write(
        &path,
        r#"
[server]
listen = "127.0.0.1:8080"
data_dir = "/file/data"
api_keys = ["key-from-file-0123456789abcdefghijk"]
log_format = "human"
"#,
    )
    .unwrap();
    let env = |name: &str| match name {
        "SIGNALPOST_LISTEN" => Some("0.0.0.0:9090".to_owned()),
        "SIGNALPOST_DATA_DIR" => Some("/data".to_owned()),
        "SIGNALPOST_DATABASE_URL" => Some("postgres://db/signalpost".to_owned()),
        "SIGNALPOST_API_KEYS" => {
            Some("key-from-env-0123456789abcdefghijkl,key-two-from-env-0123456789abcdef".to_owned())
        }
        "SIGNALPOST_LOG_FORMAT" => Some("json".to_owned()),
        _ => None,
    };
    let config = Config::load_with_env(Some(&path), &env).unwrap();
    assert_eq!(config.server.listen.to_string(), "0.0.0.0:9090");
    assert_eq!(config.server.data_dir, std::path::PathBuf::from("/data"));
    assert_eq!(
        config.server.database_url.as_deref(),
        Some("postgres://db/signalpost")
    );
    assert_eq!(
        config.server.api_keys.len(),
        3,
        "env keys are added to the file's"
    );
    assert_eq!(config.server.log_format, LogFormat::Json);

    let from_file = Config::load_with_env(Some(&path), &|_| None).unwrap();
    assert_eq!(from_file.server.log_format, LogFormat::Human);
    assert_eq!(from_file.server.listen.to_string(), "127.0.0.1:8080");

    let bad = |name: &str| (name == "SIGNALPOST_LOG_FORMAT").then(|| "xml".to_owned());
    let err = Config::load_with_env(Some(&path), &bad)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("SIGNALPOST_LOG_FORMAT"), "{err}");
}
