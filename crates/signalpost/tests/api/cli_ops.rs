//! The operator commands as a user runs them: the real binary, pointed with `--config` at the config
//! of a running app (same data_dir, same pixels and rules), and that app's sandbox.

use std::io::Write;
use std::process::{Command, Output};

use serde_json::{Value, json};
use signalpost_sandbox::{Fault, FaultKind};

use crate::common::{PIXEL, TestApp, spawn_app, spawn_app_with_options};
use crate::replay::give_up_at_once;

fn signalpost(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_signalpost"))
        .args(args)
        .env_remove("SIGNALPOST_CONFIG")
        .env("RUST_LOG", "warn")
        .output()
        .expect("the signalpost binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn config(app: &TestApp) -> &str {
    app.config_path.to_str().unwrap()
}

/// Runs the binary off the async runtime (it shares the app's database and sandbox).
async fn run(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        signalpost(&args)
    })
    .await
    .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn test_postback_command_prints_code_0_then_40105_for_a_revoked_token() {
    let app = spawn_app().await;
    let ok = run(args(&[
        "test-postback",
        "--config",
        config(&app),
        "--pixel",
        PIXEL,
        "--test-event-code",
        "TEST42",
    ]))
    .await;
    assert!(ok.status.success(), "{}{}", stdout(&ok), stderr(&ok));
    let answer: Value = serde_json::from_str(&stdout(&ok)).unwrap();
    assert_eq!(answer["code"], 0);
    assert_eq!(answer["request_id"].as_str().unwrap().len(), 34);
    assert_eq!(answer["request_body"]["test_event_code"], "TEST42");
    assert_eq!(app.sandbox.events(Some(PIXEL)).len(), 1);

    app.sandbox
        .sandbox()
        .inject(Fault::requests(FaultKind::TokenRevoked, 1));
    let revoked = run(args(&[
        "test-postback",
        "--config",
        config(&app),
        "--pixel",
        PIXEL,
    ]))
    .await;
    assert_eq!(revoked.status.code(), Some(1), "{}", stderr(&revoked));
    let answer: Value = serde_json::from_str(&stdout(&revoked)).unwrap();
    assert_eq!(answer["code"], 40105);
    assert_eq!(answer["outcome"], "auth");

    // A token TikTok no longer accepts (rotated on its side) gives the same answer, without a fault.
    app.sandbox
        .sandbox()
        .set_token(PIXEL, "rotated-token-0123456789")
        .unwrap();
    let stale = run(args(&[
        "test-postback",
        "--config",
        config(&app),
        "--pixel",
        PIXEL,
    ]))
    .await;
    assert_eq!(stale.status.code(), Some(1), "{}", stderr(&stale));
    let answer: Value = serde_json::from_str(&stdout(&stale)).unwrap();
    assert_eq!(answer["code"], 40105, "{answer:#}");
    assert!(
        !stdout(&stale).contains("test-access-token"),
        "the token is never printed"
    );

    let unknown = run(args(&[
        "test-postback",
        "--config",
        config(&app),
        "--pixel",
        "NOPE",
    ]))
    .await;
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("--pixel"), "{}", stderr(&unknown));
}

#[tokio::test]
async fn preview_command_prints_the_rules_verdicts() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let lead = dir.path().join("lead.json");
    let event = dir.path().join("event.json");
    std::fs::write(
        &lead,
        r#"{"transaction_id": "cli-pv", "email": "p@example.com"}"#,
    )
    .unwrap();
    std::fs::write(&event, r#"{"type": "lead_sold", "revenue": 9}"#).unwrap();
    let out = run(args(&[
        "preview",
        "--config",
        config(&app),
        "--lead",
        lead.to_str().unwrap(),
        "--event",
        event.to_str().unwrap(),
    ]))
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let answer: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(answer["rules"][0]["matched"], false);
    assert_eq!(answer["rules"][0]["reasons"][0]["reason"], "trigger");
    assert_eq!(
        answer["rules"][1]["conversion"]["tiktok_event"]["properties"]["value"],
        9.0
    );
    assert_eq!(
        app.get("/v1/leads/cli-pv").await.status,
        404,
        "nothing stored"
    );

    std::fs::write(&event, r#"{"type": "lead_sold", "revenu": 9}"#).unwrap();
    let bad = run(args(&[
        "preview",
        "--config",
        config(&app),
        "--lead",
        lead.to_str().unwrap(),
        "--event",
        event.to_str().unwrap(),
    ]))
    .await;
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("revenu"), "{}", stderr(&bad));
}

#[tokio::test]
async fn replay_command_requeues_a_dead_letter_while_serve_runs() {
    let app = spawn_app_with_options("", "", give_up_at_once()).await;
    app.sandbox
        .sandbox()
        .inject(Fault::requests(FaultKind::ServerError, 1));
    app.lead(json!({"transaction_id": "cli-rp", "landing_url": "https://lp.example/"}))
        .await;
    app.wait_for_lead("cli-rp", |r| r["conversions"][0]["state"] == "dead")
        .await;

    let dry = run(args(&[
        "replay",
        "--config",
        config(&app),
        "--state",
        "dead",
        "--since",
        "2d",
        "--dry-run",
    ]))
    .await;
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(
        stdout(&dry).contains("1 dead conversions matched; 1 would be re-queued"),
        "{}",
        stdout(&dry)
    );
    assert_eq!(
        app.get("/v1/leads/cli-rp").await.body["conversions"][0]["state"],
        "dead"
    );

    let real = run(args(&[
        "replay",
        "--config",
        config(&app),
        "--state",
        "dead",
        "--pixel",
        PIXEL,
    ]))
    .await;
    assert!(real.status.success(), "{}", stderr(&real));
    assert!(stdout(&real).contains("1 re-queued"), "{}", stdout(&real));
    // The running serve picks it up at its next poll and sends it with the original event_id.
    let events = app.wait_for_events(|e| !e.is_empty()).await;
    assert_eq!(events[0].event_id.as_deref(), Some("cli-rp"));

    let bad = run(args(&[
        "replay",
        "--config",
        config(&app),
        "--state",
        "retrying",
    ]))
    .await;
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("--state"), "{}", stderr(&bad));
}

/// Writes a CSV of `n` sales with bad rows mixed in; returns (path, how many are good).
fn sales_csv(dir: &std::path::Path, n: usize) -> (std::path::PathBuf, usize) {
    let path = dir.join("sales.csv");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(
        f,
        "transaction_id,email,phone,ip,user_agent,landing_url,occurred_at,buyer,revenue,currency,fields.campaign"
    )
    .unwrap();
    let now = chrono::Utc::now().timestamp();
    let mut good = 0;
    for i in 0..n {
        let (revenue, time) = match i % 100 {
            7 => ("$12".to_owned(), now - 600),        // invalid revenue
            13 => ("5".to_owned(), now - 10 * 86_400), // too old
            _ => (format!("{}.25", i % 40), now - 600 - i as i64 % 500),
        };
        if i % 100 != 7 && i % 100 != 13 {
            good += 1;
        }
        writeln!(
            f,
            "csv-{i},buyer{i}@example.com,+1213373{:04},203.0.113.{},Mozilla/5.0,https://lp.example/?ttclid=E.C.P.{i},{time},acme,{revenue},USD,spring",
            i % 10_000,
            i % 250
        )
        .unwrap();
    }
    writeln!(f, ",nobody@example.com,,,,,,acme,1,USD,x").unwrap(); // no transaction_id
    writeln!(f, "csv-short,a@example.com").unwrap(); // wrong cell count
    (path, good)
}

fn summary_count(out: &str, label: &str) -> u64 {
    out.lines()
        .find(|l| l.trim_start().starts_with(label))
        .and_then(|l| l.trim_start()[label.len()..].split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {label:?} in {out}"))
}

#[tokio::test]
async fn import_backfills_through_the_rules_reports_bad_rows_and_reruns_import_nothing() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let (csv, good) = sales_csv(dir.path(), 2_000);
    let errors = dir.path().join("errors.csv");
    let import = || {
        run(args(&[
            "import",
            csv.to_str().unwrap(),
            "--trigger",
            "lead_sold",
            "--config",
            config(&app),
            "--errors",
            errors.to_str().unwrap(),
        ]))
    };
    let first = import().await;
    let out = stdout(&first);
    assert_eq!(
        first.status.code(),
        Some(1),
        "some rows were refused: {out}{}",
        stderr(&first)
    );
    assert_eq!(summary_count(&out, "imported"), good as u64, "{out}");
    assert_eq!(summary_count(&out, "duplicates"), 0, "{out}");
    assert_eq!(summary_count(&out, "invalid"), 20 + 2, "{out}");
    assert_eq!(summary_count(&out, "too old"), 20, "{out}");

    // The error file names the row (spreadsheet numbering: header = 1), the id, the field, why.
    let report = std::fs::read_to_string(&errors).unwrap();
    let mut lines = report.lines();
    assert_eq!(lines.next(), Some("row,transaction_id,field,problem"));
    assert!(report.contains("\n9,csv-7,revenue,"), "{report}");
    assert!(
        report.contains("\n15,csv-13,occurred_at,\"too old"),
        "{report}"
    );
    assert!(
        report.contains(",,transaction_id,transaction_id is required"),
        "{report}"
    );
    assert!(
        report.contains(",csv-short,,\"the row has 2 cells, the header 11\""),
        "{report}"
    );

    // Each imported row created its lead (registration) and its sale (purchase); serve delivers both.
    let events = app.wait_for_events(|e| e.len() >= 2 * good).await;
    assert_eq!(events.len(), 2 * good);
    let sale = app.get("/v1/leads/csv-42").await;
    assert_eq!(sale.status, 200);
    assert_eq!(sale.body["lead"]["fields"]["campaign"], "spring");
    assert_eq!(
        sale.body["events"][1]["idempotency_key"],
        "import:lead_sold:csv-42"
    );
    assert_eq!(
        app.get("/v1/leads/csv-7").await.status,
        404,
        "refused rows store nothing"
    );

    // A second run imports nothing twice.
    let again = import().await;
    let out = stdout(&again);
    assert_eq!(summary_count(&out, "imported"), 0, "{out}");
    assert_eq!(summary_count(&out, "duplicates"), good as u64, "{out}");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(app.sandbox.events(Some(PIXEL)).len(), 2 * good);
}

#[tokio::test]
async fn import_refuses_unknown_columns_before_reading_rows() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("leads.csv");
    std::fs::write(
        &csv,
        "Lead ID,emial,landing_url\nx-1,a@example.com,https://lp.example/\n",
    )
    .unwrap();
    let out = run(args(&[
        "import",
        csv.to_str().unwrap(),
        "--trigger",
        "form_submit",
        "--config",
        config(&app),
        "--map",
        "Lead ID=transaction_id",
    ]))
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown column emial"),
        "{}",
        stderr(&out)
    );

    let mapped = run(args(&[
        "import",
        csv.to_str().unwrap(),
        "--trigger",
        "form_submit",
        "--config",
        config(&app),
        "--map",
        "Lead ID=transaction_id",
        "--map",
        "emial=email",
    ]))
    .await;
    assert!(
        mapped.status.success(),
        "{}{}",
        stdout(&mapped),
        stderr(&mapped)
    );
    assert_eq!(summary_count(&stdout(&mapped), "imported"), 1);
    let events = app.wait_for_events(|e| !e.is_empty()).await;
    assert_eq!(events[0].event, "CompleteRegistration");
    assert_eq!(events[0].event_id.as_deref(), Some("x-1"));
}

/// The issue's volume check: 100,000 generated rows with a progress bar (visible on a terminal) and
/// the summary's rows/s, while the app delivers what was queued. Not run by default (minutes in a
/// debug build): `cargo test --release -p signalpost --test api -- --ignored import_of_100k_rows --nocapture`.
#[tokio::test]
#[ignore = "volume check of minutes in a debug build; .ci/run runs it in release with --ignored"]
async fn import_of_100k_rows() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let (csv, good) = sales_csv(dir.path(), 100_000);
    let out = run(args(&[
        "import",
        csv.to_str().unwrap(),
        "--trigger",
        "lead_sold",
        "--config",
        config(&app),
    ]))
    .await;
    println!("{}", stdout(&out));
    assert_eq!(summary_count(&stdout(&out), "imported"), good as u64);
}

#[tokio::test]
async fn import_without_landing_urls_reports_undeliverable_conversions_which_replay_delivers() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("no-landing.csv");
    let now = chrono::Utc::now().timestamp() - 60;
    let mut text = String::from("transaction_id,email,ip,user_agent,occurred_at,revenue\n");
    for i in 0..3 {
        text.push_str(&format!(
            "nolp-{i},b{i}@example.com,203.0.113.{i},Mozilla/5.0,{now},10\n"
        ));
    }
    std::fs::write(&csv, text).unwrap();
    let errors = dir.path().join("errors.csv");
    let out = run(args(&[
        "import",
        csv.to_str().unwrap(),
        "--trigger",
        "lead_sold",
        "--config",
        config(&app),
        "--errors",
        errors.to_str().unwrap(),
    ]))
    .await;
    let summary = stdout(&out);
    assert_eq!(summary_count(&summary, "imported"), 3, "{summary}");
    assert_eq!(summary_count(&summary, "undeliverable"), 6, "{summary}");
    let report = std::fs::read_to_string(&errors).unwrap();
    assert!(
        report.contains(",nolp-0,page.url,\"rule \"\"registration\"\""),
        "{report}"
    );
    let record = app.get("/v1/leads/nolp-1").await;
    assert!(
        record.body["conversions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["state"] == "undeliverable"),
        "{:#}",
        record.body
    );

    // The pixel gets its site through the API; `signalpost replay` (reading the pixels from the
    // database) fills page.url with it, and the running app delivers all six.
    let site = "https://shop.example/from-import";
    let patched = app
        .send(
            app.client
                .patch(app.url(&format!("/v1/pixels/{PIXEL}")))
                .bearer_auth(crate::common::KEY)
                .json(&json!({"site_url": site})),
        )
        .await;
    assert_eq!(patched.status, 200, "{:#}", patched.body);
    let replay = run(args(&[
        "replay",
        "--state",
        "undeliverable",
        "--config",
        config(&app),
    ]))
    .await;
    assert!(
        replay.status.success(),
        "{}{}",
        stdout(&replay),
        stderr(&replay)
    );
    let events = app.wait_for_events(|e| e.len() >= 6).await;
    assert_eq!(events.len(), 6);
    assert!(
        events
            .iter()
            .all(|e| e.payload_json()["page"]["url"] == site),
        "{events:#?}"
    );
}

#[tokio::test]
async fn erase_command_finds_a_person_by_email_or_phone_while_serve_runs() {
    let app = spawn_app().await;
    app.lead(
        serde_json::json!({"transaction_id": "er-1", "email": " Person@Example.com",
                                "landing_url": "https://lp.example/form"}),
    )
    .await;
    app.lead(
        serde_json::json!({"transaction_id": "er-2", "phone": "(213) 373-4253",
                                "landing_url": "https://lp.example/form"}),
    )
    .await;
    app.lead(
        serde_json::json!({"transaction_id": "er-3", "landing_url": "https://lp.example/form"}),
    )
    .await;

    let nobody = run(args(&["erase", "--config", config(&app)])).await;
    assert_eq!(nobody.status.code(), Some(2), "{}", stderr(&nobody));
    assert!(
        stderr(&nobody).contains("--transaction-id"),
        "{}",
        stderr(&nobody)
    );
    let bad = run(args(&["erase", "--config", config(&app), "--phone", "12"])).await;
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("--phone"), "{}", stderr(&bad));

    // The address typed differently from the lead still finds it: it is normalized and hashed.
    let by_email = run(args(&[
        "erase",
        "--config",
        config(&app),
        "--email",
        "person@example.com",
    ]))
    .await;
    assert_eq!(by_email.status.code(), Some(0), "{}", stderr(&by_email));
    assert!(
        stdout(&by_email).contains("\"leads\": 1"),
        "{}",
        stdout(&by_email)
    );
    let by_phone = run(args(&[
        "erase",
        "--config",
        config(&app),
        "--phone",
        "+1 213-373-4253",
    ]))
    .await;
    assert_eq!(by_phone.status.code(), Some(0), "{}", stderr(&by_phone));
    assert!(
        stdout(&by_phone).contains("\"leads\": 1"),
        "{}",
        stdout(&by_phone)
    );

    app.get("/v1/leads/er-1").await.problem(404);
    app.get("/v1/leads/er-2").await.problem(404);
    assert_eq!(app.get("/v1/leads/er-3").await.status, 200);
}
