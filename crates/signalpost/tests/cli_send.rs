//! `signalpost send` as a user runs it: the real binary, a real sandbox on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

use serde_json::Value;
use signalpost_sandbox::{SandboxConfig, spawn};

fn sha256_hex(text: &str) -> String {
    signalpost_tiktok::identity::Sha256Hex::digest(text.as_bytes()).into_string()
}

fn signalpost(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_signalpost"))
        .args(args)
        .env_remove("SIGNALPOST_ACCESS_TOKEN")
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

#[test]
fn dry_run_prints_tiktoks_documented_hashes() {
    let out = signalpost(&[
        "send",
        "--pixel",
        "PIXEL1",
        "--event",
        "Purchase",
        "--event-id",
        "order-1",
        "--event-time",
        "1764000000",
        "--email",
        " ALICE_abc@gmail.com ",
        "--phone",
        "(+1)2133734253",
        "--external-id",
        "user_123",
        "--page-url",
        "https://shop.example/thanks",
        "--dry-run",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let body: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let user = &body["data"][0]["user"];
    assert_eq!(
        user["email"],
        "848a771458438fc2ec420560d769fb9b9b86851ee338ec56517baabd79d3bb4f"
    );
    assert_eq!(
        user["phone"],
        "9f7ec22d72092cd3c0b58726ed9c2d91b92e51a3f29837508fb2948bb22dd2fd"
    );
    assert_eq!(
        user["external_id"],
        "80fba0ae1c48e3978e43e4efc365e14e12ea0c830ba8ba5b9a2dafc7e3f2ab8b"
    );
    assert_eq!(body["event_source"], "web");
    assert_eq!(body["event_source_id"], "PIXEL1");
    assert_eq!(body["data"][0]["event_id"], "order-1");
    assert_eq!(body["data"][0]["event_time"], 1_764_000_000);
}

#[test]
fn dry_run_keeps_a_zero_value_and_puts_the_test_code_top_level() {
    let out = signalpost(&[
        "send",
        "--pixel",
        "P",
        "--event",
        "Lead",
        "--value",
        "0",
        "--currency",
        "eur",
        "--test-event-code",
        "TEST123",
        "--dry-run",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let body: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(body["test_event_code"], "TEST123");
    assert_eq!(body["data"][0]["properties"]["value"], 0.0);
    assert_eq!(body["data"][0]["properties"]["currency"], "EUR");
    assert!(body["data"][0]["properties"].get("content_type").is_none());
    assert!(body["data"][0]["event_id"].is_string());
}

#[test]
fn bad_input_names_the_flag_and_exits_2_before_sending() {
    for (args, flag) in [
        (vec!["--event", "1bad"], "--event"),
        (vec!["--event", "Registration"], "--event"),
        (vec!["--event", "Lead", "--currency", "BTC"], "--currency"),
        (vec!["--event", "Lead", "--phone", "call me"], "--phone"),
        (vec!["--event", "Lead", "--email", "no-at-sign"], "--email"),
        (vec!["--event", "Lead", "--region", "ZZ"], "--region"),
        (vec!["--event", "Lead", "--ip", "999.1.1.1"], "--ip"),
        (
            vec!["--event", "Lead", "--event-time", "1764000000000"],
            "--event-time",
        ),
        (
            vec!["--event", "Lead", "--content-type", "sku"],
            "--content-type",
        ),
    ] {
        let mut all = vec!["send", "--pixel", "P", "--base-url", "http://127.0.0.1:9"];
        all.extend(args);
        all.extend(["--token", "t0ken-that-is-never-used"]);
        let out = signalpost(&all);
        assert_eq!(out.status.code(), Some(2), "{all:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(&format!("error: {flag}:")), "{all:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }
}

#[test]
fn sending_without_a_token_is_a_usage_error() {
    let out = signalpost(&["send", "--pixel", "P", "--event", "Lead"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--token"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_to_the_sandbox_and_reports_tiktoks_answer() {
    let sandbox = spawn(
        SandboxConfig {
            pixels: vec![("PIX9".into(), "tok_live_0123456789".into())],
            ..SandboxConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let base = sandbox.base_url();
    let run = |token: &'static str, base: String| {
        tokio::task::spawn_blocking(move || {
            signalpost(&[
                "send",
                "--pixel",
                "PIX9",
                "--token",
                token,
                "--base-url",
                &base,
                "--event",
                "Purchase",
                "--event-id",
                "sale-42",
                "--email",
                "buyer@example.com",
                "--ip",
                "203.0.113.9",
                "--user-agent",
                "Mozilla/5.0",
                "--ttclid",
                "E.C.P.abc",
                "--page-url",
                "https://shop.example/",
                "--value",
                "19.5",
                "--currency",
                "USD",
            ])
        })
    };
    let ok = run("tok_live_0123456789", base.clone()).await.unwrap();
    assert!(ok.status.success(), "{}{}", stdout(&ok), stderr(&ok));
    assert!(stdout(&ok).contains("code=0"), "{}", stdout(&ok));
    let events = sandbox.events(Some("PIX9"));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_id.as_deref(), Some("sale-42"));

    let refused = run("tok_wrong_0123456789", base).await.unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stdout(&refused).contains("code=40105"),
        "{}",
        stdout(&refused)
    );
    assert!(
        !stdout(&refused).contains("tok_wrong") && !stderr(&refused).contains("tok_wrong"),
        "the token must never be printed"
    );
}

#[test]
fn dry_run_takes_page_url_from_the_referrer_then_the_site_url() {
    let base = ["send", "--pixel", "P", "--event", "Lead", "--dry-run"];
    let body = |extra: &[&str]| -> serde_json::Value {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let out = signalpost(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_str(&stdout(&out)).unwrap()
    };
    let site = body(&["--site-url", "https://shop.example/"]);
    assert_eq!(
        site["data"][0]["page"],
        serde_json::json!({"url": "https://shop.example/"})
    );
    let referred = body(&[
        "--site-url",
        "https://shop.example/",
        "--referrer",
        "https://www.tiktok.com/",
    ]);
    assert_eq!(
        referred["data"][0]["page"],
        serde_json::json!({"url": "https://www.tiktok.com/", "referrer": "https://www.tiktok.com/"})
    );
    let landing = body(&[
        "--page-url",
        "https://lp.example/",
        "--site-url",
        "https://shop.example/",
    ]);
    assert_eq!(landing["data"][0]["page"]["url"], "https://lp.example/");
    let bad = signalpost(&[
        "send",
        "--pixel",
        "P",
        "--event",
        "Lead",
        "--dry-run",
        "--site-url",
        "shop.example",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("--site-url"), "{}", stderr(&bad));
}

#[test]
fn country_is_the_region_a_national_phone_is_read_with() {
    let send = |flag: &str| {
        let out = signalpost(&[
            "send",
            "--pixel",
            "PIXEL1",
            "--event",
            "Lead",
            "--event-id",
            "c-1",
            "--phone",
            "06 12 34 56 78",
            flag,
            "fr",
            "--page-url",
            "https://shop.example/",
            "--dry-run",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let body: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
        body["data"][0]["user"]["phone"].clone()
    };
    let by_country = send("--country");
    assert_eq!(by_country, send("--region"));
    let dry = signalpost(&[
        "send",
        "--pixel",
        "P",
        "--event",
        "Lead",
        "--phone",
        "+33612345678",
        "--dry-run",
    ]);
    let body: serde_json::Value = serde_json::from_str(stdout(&dry).trim()).unwrap();
    assert_eq!(by_country, body["data"][0]["user"]["phone"]);
}

#[test]
fn dry_run_for_meta_hashes_the_phone_as_digits_builds_fbc_and_never_prints_the_token() {
    let out = signalpost(&[
        "send",
        "--destination",
        "meta",
        "--pixel",
        "123456789012345",
        "--token",
        "meta_secret_0123456789",
        "--event",
        "Lead",
        "--event-id",
        "lead-7",
        "--event-time",
        "1700000000",
        "--email",
        " Alice@Example.com ",
        "--phone",
        "(213) 373-4253",
        "--user-agent",
        "Mozilla/5.0",
        "--page-url",
        "https://lp.example/form?fbclid=IwAR1xYz",
        "--dry-run",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        !text.contains("meta_secret"),
        "the token is never printed: {text}"
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    let event = &body["data"][0];
    assert_eq!(event["event_name"], "Lead");
    assert_eq!(event["action_source"], "website");
    assert_eq!(event["event_id"], "lead-7");
    // sha256("12133734253"): digits, no '+'.
    assert_eq!(event["user_data"]["ph"][0], sha256_hex("12133734253"));
    assert_eq!(event["user_data"]["em"][0], sha256_hex("alice@example.com"));
    assert_eq!(event["user_data"]["fbc"], "fb.1.1700000000000.IwAR1xYz");
}

#[test]
fn meta_flags_are_checked_by_name() {
    for (args, flag) in [
        (vec!["--destination", "snap"], "--destination"),
        (
            vec!["--destination", "meta", "--action-source", "web"],
            "--action-source",
        ),
        (
            vec!["--destination", "meta", "--api-version", "25"],
            "--api-version",
        ),
        (
            vec!["--destination", "meta", "--meta-lead-id", "12"],
            "--meta-lead-id",
        ),
    ] {
        let mut all = vec![
            "send",
            "--pixel",
            "123456789012345",
            "--event",
            "Lead",
            "--dry-run",
        ];
        all.extend(args);
        let out = signalpost(&all);
        assert_eq!(out.status.code(), Some(2), "{all:?}");
        assert!(stderr(&out).contains(flag), "{all:?}: {}", stderr(&out));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_to_metas_sandbox_and_reports_its_answer() {
    let sandbox = spawn(
        SandboxConfig {
            meta_pixels: vec![("123456789012345".into(), "meta_live_0123456789".into())],
            ..SandboxConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let base = sandbox.base_url();
    let run = |token: &'static str, base: String| {
        tokio::task::spawn_blocking(move || {
            signalpost(&[
                "send",
                "--destination",
                "meta",
                "--pixel",
                "123456789012345",
                "--token",
                token,
                "--base-url",
                &base,
                "--event",
                "Purchase",
                "--event-id",
                "sale-9",
                "--email",
                "buyer@example.com",
                "--user-agent",
                "Mozilla/5.0",
                "--page-url",
                "https://shop.example/",
                "--value",
                "19.5",
            ])
        })
    };
    let ok = run("meta_live_0123456789", base.clone()).await.unwrap();
    assert!(ok.status.success(), "{}{}", stdout(&ok), stderr(&ok));
    assert!(stdout(&ok).contains("outcome=Delivered"), "{}", stdout(&ok));
    let events = sandbox.events(Some("123456789012345"));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_id.as_deref(), Some("sale-9"));

    let refused = run("meta_wrong_0123456789", base).await.unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stdout(&refused).contains("code=190"),
        "{}",
        stdout(&refused)
    );
    assert!(
        !stdout(&refused).contains("meta_wrong") && !stderr(&refused).contains("meta_wrong"),
        "the token must never be printed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_to_google_ads_sandbox_with_oauth_and_never_prints_a_credential() {
    let sandbox = spawn(
        SandboxConfig {
            google_ads: vec![("1234567890".into(), "dev-token-send-01".into())],
            ..SandboxConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let base = sandbox.base_url();
    let run = |developer_token: &'static str, base: String| {
        tokio::task::spawn_blocking(move || {
            let token_url = format!("{base}/token");
            signalpost(&[
                "send",
                "--destination",
                "google_ads",
                "--pixel",
                "google-sold",
                "--customer-id",
                "123-456-7890",
                "--conversion-action",
                "42",
                "--developer-token",
                developer_token,
                "--client-id",
                "cid",
                "--client-secret",
                "client-secret-send",
                "--refresh-token",
                "1//refresh-send",
                "--base-url",
                &base,
                "--token-url",
                &token_url,
                "--event",
                "Purchase",
                "--event-id",
                "sale-g1",
                "--gclid",
                "Cj0-send-gclid",
                "--email",
                "buyer@example.com",
                "--value",
                "19.5",
            ])
        })
    };
    let ok = run("dev-token-send-01", base.clone()).await.unwrap();
    assert!(ok.status.success(), "{}{}", stdout(&ok), stderr(&ok));
    assert!(stdout(&ok).contains("outcome=Delivered"), "{}", stdout(&ok));
    let events = sandbox.events(Some("1234567890"));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_id.as_deref(), Some("sale-g1"));

    let refused = run("dev-token-wrong-99", base).await.unwrap();
    assert_eq!(refused.status.code(), Some(1), "{}", stdout(&refused));
    let printed = format!("{}{}", stdout(&refused), stderr(&refused));
    for secret in [
        "dev-token-wrong-99",
        "client-secret-send",
        "1//refresh-send",
    ] {
        assert!(!printed.contains(secret), "{secret} printed: {printed}");
    }
    let missing = signalpost(&[
        "send",
        "--destination",
        "google_ads",
        "--pixel",
        "g",
        "--customer-id",
        "1234567890",
        "--conversion-action",
        "42",
        "--event",
        "Purchase",
        "--gclid",
        "x",
    ]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("--developer-token"),
        "{}",
        stderr(&missing)
    );
}
