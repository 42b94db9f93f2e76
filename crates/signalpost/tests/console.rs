//! The web console in a real headless Chromium (Debian's `chromium` + `chromium-driver`), driven over
//! WebDriver with fantoccini, against the real application on port 0 with its real sandbox: sign in,
//! add a pixel, fire a Test Postback (code 0), create a rule, find a lead sent through the API with
//! its delivered attempt, force a dead letter with a sandbox fault and replay it from the page; a
//! page without a session goes to sign-in and a POST without its CSRF token is refused.
//!
//! Screenshots of every page at 1280 px and at 390 px (a phone) go to `target/console-screenshots/`.
//! Without /usr/bin/chromedriver the test says so and passes, except under `CI=true`, where it fails.
//! Waits poll the DOM; there is no fixed sleep standing in for an assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/browser.rs"]
mod browser;
#[path = "api/common/mod.rs"]
#[allow(dead_code)]
mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::{Client, Locator};
use serde_json::{Value, json};
use signalpost::app::AppOptions;
use signalpost_gateway::delivery::{DeliveryPolicy, RetryPolicy};

use browser::{WAIT, browser, chromedriver_available, start_driver};
use common::{KEY, PIXEL, TestApp, spawn_app_with_options};

const NEW_PIXEL: &str = "CBROWSERPIXEL01";
const NEW_TOKEN: &str = "browser-access-token-0123456789";

fn screenshots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    std::fs::write(screenshots_dir().join(format!("{name}.png")), png).unwrap();
}

/// The text of the first element matching `css`, polled until it contains `needle`.
async fn wait_text(client: &Client, css: &str, needle: &str) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let text = match client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text.contains(needle) {
            return text;
        }
        if tokio::time::Instant::now() > deadline {
            let url = client.current_url().await.map(|u| u.to_string());
            panic!("{css} never contained {needle:?} (last text {text:?}, at {url:?})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn fill(client: &Client, css: &str, text: &str) {
    let input = client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap();
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
}

async fn click(client: &Client, css: &str) {
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Delivery that gives up after the first transient failure, so a dead letter is one fault away.
fn give_up_at_once() -> AppOptions {
    AppOptions {
        delivery: Some(DeliveryPolicy {
            retry: RetryPolicy {
                max_age: Duration::ZERO,
                ..RetryPolicy::default()
            },
            ..DeliveryPolicy::default()
        }),
        ..AppOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_runs_the_console_in_a_real_browser() {
    if !chromedriver_available("console browser test") {
        return;
    }
    let app = spawn_app_with_options("", "", give_up_at_once()).await;
    let driver = start_driver().await;
    let client = browser(&driver).await;
    journey(&app, &client).await;
    client.close().await.unwrap();
}

async fn journey(app: &TestApp, b: &Client) {
    // Signed out, a console page leads to the sign-in form, which brings the operator back.
    b.goto(&app.url("/console/pixels")).await.unwrap();
    wait_text(b, "h1", "signalpost console").await;
    assert!(
        b.current_url()
            .await
            .unwrap()
            .as_str()
            .contains("/console?next=")
    );
    shot(b, "sign-in-1280").await;
    fill(b, "#f-key", KEY).await;
    click(b, "form[action='/console/sign-in'] button[type=submit]").await;
    wait_text(b, "main h1", "Pixels").await;

    // Add a pixel (the sandbox learns its token first), then prove it with a Test Postback.
    let registered = reqwest::Client::new()
        .post(format!("{}/sandbox/pixels", app.sandbox.base_url()))
        .json(&json!({"code": NEW_PIXEL, "token": NEW_TOKEN}))
        .send()
        .await
        .unwrap();
    assert!(registered.status().is_success());
    fill(b, "form[action='/console/pixels'] #f-code", NEW_PIXEL).await;
    fill(b, "form[action='/console/pixels'] #f-token", NEW_TOKEN).await;
    fill(
        b,
        "form[action='/console/pixels'] #f-base_url",
        &app.sandbox.base_url(),
    )
    .await;
    click(b, "form[action='/console/pixels'] button[type=submit]").await;
    wait_text(b, ".notice.ok", &format!("Pixel {NEW_PIXEL} added")).await;
    assert!(app.pixels_have(NEW_PIXEL));
    let source = b.source().await.unwrap();
    assert!(!source.contains(NEW_TOKEN), "the token is never shown");
    click(
        b,
        &format!("form[action='/console/pixels/{NEW_PIXEL}/test'] button[type=submit]"),
    )
    .await;
    let code = wait_text(b, ".test-result dd[data-field=code]", "0").await;
    assert_eq!(code.trim(), "0");
    wait_text(
        b,
        ".test-result pre.json",
        &format!("\"event_source_id\": \"{NEW_PIXEL}\""),
    )
    .await;
    shot(b, "pixels-test-postback-1280").await;

    // A POST without its CSRF token is refused.
    b.execute(
        "const f = document.querySelector(\"form[action='/console/pixels']\");
         f.querySelector(\"input[name=csrf]\").remove();
         f.querySelector('#f-code').value = 'CFORGED0001';
         f.querySelector('#f-token').value = 'forged-token-0123456789';
         f.submit();",
        vec![],
    )
    .await
    .unwrap();
    wait_text(b, "h1", "Form refused").await;
    assert!(!app.pixels_have("CFORGED0001"));

    // Create a rule; the live preview shows what it would send.
    b.goto(&app.url("/console/rules/new")).await.unwrap();
    fill(b, "#f-name", "browser-sold").await;
    b.find(Locator::Css("#f-pixel"))
        .await
        .unwrap()
        .select_by_value(NEW_PIXEL)
        .await
        .unwrap();
    fill(b, "#f-currency", "EUR").await;
    wait_text(b, "#preview", "\"currency\": \"EUR\"").await;
    wait_text(b, "#preview", NEW_PIXEL).await;
    shot(b, "rule-form-preview-1280").await;
    click(b, "#rule-form button[type=submit]").await;
    wait_text(b, ".notice.ok", "Rule browser-sold saved").await;
    wait_text(b, "table", "browser-sold").await;

    // A lead through the API: its form_submit is delivered, its sale fires the new rule.
    app.lead(json!({
        "transaction_id": "browser-lead-1",
        "email": "Browser.Person@Example.com",
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (browser test)",
        "landing_url": "https://lp.example/form?ttclid=E.C.P.browser1",
    }))
    .await;
    let sold = app
        .post(
            "/v1/leads/browser-lead-1/events",
            &json!({"type": "lead_sold", "buyer": "acme", "revenue": 30}),
        )
        .await;
    assert_eq!(sold.status, 202, "{:#}", sold.body);
    app.wait_for_lead("browser-lead-1", |l| {
        l["conversions"]
            .as_array()
            .is_some_and(|c| c.len() == 3 && c.iter().all(|c| c["state"] == "delivered"))
    })
    .await;
    b.goto(&app.url("/console/leads")).await.unwrap();
    fill(b, "#q", "browser.person@example.com").await;
    click(b, "form[role=search] button[type=submit]").await;
    click(b, "a[href='/console/leads/browser-lead-1']").await;
    wait_text(b, "main h1", "Lead browser-lead-1").await;
    let timeline = wait_text(b, "main", "browser-sold").await;
    assert!(timeline.contains("Purchase → pixel"), "{timeline}");
    let attempts = wait_text(b, "main", "delivered").await;
    assert!(attempts.contains("request_id"), "{attempts}");
    let row = b
        .find(Locator::Css("article table tbody tr"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(row.contains("delivered") && row.contains("200"), "{row}");
    shot(b, "lead-1280").await;

    // A sandbox fault kills the next lead's only attempt; the dead-letters page replays it.
    let fault = reqwest::Client::new()
        .post(format!("{}/sandbox/faults", app.sandbox.base_url()))
        .json(&json!({"kind": "http_500", "count": 1}))
        .send()
        .await
        .unwrap();
    assert!(fault.status().is_success());
    app.lead(
        json!({"transaction_id": "browser-dead-1", "email": "dead@example.com",
                    "ip": "203.0.113.8", "user_agent": "Mozilla/5.0",
                    "landing_url": "https://lp.example/?ttclid=E.C.P.dead1"}),
    )
    .await;
    let dead = app
        .wait_for_lead("browser-dead-1", |l| l["conversions"][0]["state"] == "dead")
        .await;
    let dead_id = dead["conversions"][0]["id"].as_i64().unwrap();
    b.goto(&app.url("/console/dead")).await.unwrap();
    wait_text(b, "main", "browser-dead-1").await;
    shot(b, "dead-letter-listed-1280").await;
    click(b, &format!("#dead-{dead_id}")).await;
    click(b, "button[name=action][value=selected]").await;
    wait_text(b, ".notice.ok", "1 conversion(s) re-queued").await;
    let delivered = app
        .wait_for_lead("browser-dead-1", |l| {
            l["conversions"][0]["state"] == "delivered"
        })
        .await;
    assert_eq!(delivered["conversions"][0]["event_id"], "browser-dead-1");
    let outcomes: Vec<&str> = delivered["conversions"][0]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a: &Value| a["outcome"].as_str())
        .collect();
    assert_eq!(outcomes, ["retryable", "replayed", "delivered"]);

    // Every page, desktop and phone.
    let pages = [
        ("dashboard", "/console"),
        ("pixels", "/console/pixels"),
        ("rules", "/console/rules"),
        ("rule-form", "/console/rules/new"),
        ("leads", "/console/leads?q=browser.person%40example.com"),
        ("lead", "/console/leads/browser-lead-1"),
        ("dead", "/console/dead"),
        ("quality", "/console/quality"),
    ];
    for (width, height) in [(1280, 900), (390, 844)] {
        b.set_window_size(width, height).await.unwrap();
        for (name, path) in pages {
            b.goto(&app.url(path)).await.unwrap();
            wait_text(b, "main h1", "").await;
            b.wait()
                .at_most(WAIT)
                .for_element(Locator::Css("main"))
                .await
                .unwrap();
            shot(b, &format!("{name}-{width}")).await;
        }
    }
    b.goto(&app.url("/console")).await.unwrap();
    let chart = wait_text(b, "figure.chart", "Delivered").await;
    assert!(chart.contains("Dead"), "{chart}");
    wait_text(b, "#live", PIXEL).await;
    // Signing out ends the session: the console is closed again.
    click(b, "form.signout button").await;
    wait_text(b, "h1", "signalpost console").await;
    b.goto(&app.url("/console/dead")).await.unwrap();
    wait_text(b, "h1", "signalpost console").await;
}
