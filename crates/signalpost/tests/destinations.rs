//! Issue 15 item 1: no access token can be led away. Each test starts from the attack — an admin
//! key pointing a pixel somewhere else — and checks the refusal, its problem+json, and that
//! nothing else changed: the pixel keeps its destination and token, and leads still go to the
//! sandbox the config file names.
//!
//! Every connection here stays on this machine (127.0.0.0/8): the "internal services" an attacker
//! would reach are listeners on 127.0.0.1 and 127.0.0.2 that count the connections they accept.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "api/common/mod.rs"]
#[allow(dead_code)]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Answer, KEY, PIXEL, TestApp, spawn_app_with};
use serde_json::{Value, json};
use signalpost::admin::destinations::Destinations;
use signalpost::config::Config;
use signalpost::ops::test_postback::{HIDDEN_ANSWER, TestPostbackRequest, fire};
use signalpost::wire::IdentifierPolicy;
use signalpost_gateway::delivery::{AccessToken, AddressPolicy, PixelConfig, PixelRegistry};
use signalpost_gateway::time::now_secs;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The hosts the API may name in these tests: TikTok's, and two that resolve to this machine, so
/// the connect-time check (not the allow-list) is what stands in the way.
const ALLOWED: &str =
    r#"allowed_destination_hosts = ["business-api.tiktok.com", "localhost", "127.0.0.2"]"#;
/// A pixel the attacker adds through the API, and its token.
const API_PIXEL: &str = "CSSRFPIXEL0001";
const API_TOKEN: &str = "api-pixel-token-0123456789";

/// A listener standing in for an internal service: counts accepted connections and answers each
/// with an HTML page whose text must never reach an API answer.
struct Internal {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

const INTERNAL_TEXT: &str = "internal-admin-panel-banner";

async fn internal_service(ip: &str) -> Internal {
    let listener = TcpListener::bind((ip, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let _ = stream.read(&mut buf).await;
                let body = format!("<html><h1>{INTERNAL_TEXT}</h1></html>");
                let reply = format!(
                    "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
            });
        }
    });
    Internal { port, accepted }
}

async fn patch(app: &TestApp, code: &str, body: &Value) -> Answer {
    app.send(
        app.client
            .patch(app.url(&format!("/v1/pixels/{code}")))
            .bearer_auth(KEY)
            .json(body),
    )
    .await
}

/// Asserts a 422 problem+json naming `field` whose detail says `says`.
fn assert_refused(answer: &Answer, field: &str, says: &str) {
    let problem = answer.problem(422);
    assert_eq!(problem["field"], field, "{problem:#}");
    assert!(
        problem["detail"].as_str().unwrap().contains(says),
        "{problem:#}"
    );
}

/// The pixel as the API lists it (destination and redacted token).
async fn pixel_view(app: &TestApp, code: &str) -> (String, String) {
    let view = app.get(&format!("/v1/pixels/{code}")).await;
    assert_eq!(view.status, 200, "{:#}", view.body);
    (
        view.body["base_url"].as_str().unwrap().to_owned(),
        view.body["token"].as_str().unwrap().to_owned(),
    )
}

/// A lead still goes to the sandbox the config file names, with the config's token.
async fn config_pixel_still_delivers(app: &TestApp, transaction_id: &str) {
    app.lead(json!({
        "transaction_id": transaction_id,
        "email": format!("{transaction_id}@example.com"),
        "landing_url": "https://lp.example.com/?ttclid=E.C.P.ssrf",
    }))
    .await;
    app.wait_for_events(|events| {
        events
            .iter()
            .any(|e| e.event_id.as_deref() == Some(transaction_id))
    })
    .await;
    app.wait_for_lead(transaction_id, |r| {
        r["conversions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["rule"] == "registration" && c["state"] == "delivered")
    })
    .await;
}

#[tokio::test]
async fn pointing_a_pixel_at_a_host_not_allowed_is_refused_and_changes_nothing() {
    let app = spawn_app_with(ALLOWED, "").await;
    let before = pixel_view(&app, PIXEL).await;
    assert!(before.0.starts_with("http://127.0.0.1:"), "{before:?}");

    // With the token and without: the host decides first.
    for body in [
        json!({"base_url": "https://evil.example"}),
        json!({"base_url": "https://evil.example", "access_token": "attacker-token-000000"}),
        json!({"base_url": "https://127.0.0.9/latest", "access_token": "attacker-token-000000"}),
    ] {
        let answer = patch(&app, PIXEL, &body).await;
        assert_refused(&answer, "base_url", "not an allowed destination");
        assert!(
            answer.body["detail"]
                .as_str()
                .unwrap()
                .contains("allowed_destination_hosts"),
            "{:#}",
            answer.body
        );
    }
    // An allowed host over plain http.
    let answer = patch(
        &app,
        PIXEL,
        &json!({"base_url": "http://business-api.tiktok.com", "access_token": "attacker-token-000000"}),
    )
    .await;
    assert_refused(&answer, "base_url", "must use https://");
    // Adding a pixel is held to the same rule.
    let answer = app
        .post(
            "/v1/pixels",
            &json!({"code": API_PIXEL, "access_token": API_TOKEN, "base_url": "https://evil.example"}),
        )
        .await;
    assert_refused(&answer, "base_url", "not an allowed destination");
    assert_eq!(
        app.get(&format!("/v1/pixels/{API_PIXEL}")).await.status,
        404
    );

    assert_eq!(pixel_view(&app, PIXEL).await, before);
    config_pixel_still_delivers(&app, "ssrf-host").await;
    let answer = app
        .send(app.client.get(app.url("/v1/pixels")).bearer_auth(KEY))
        .await;
    assert!(!answer.body.to_string().contains("attacker-token"));
    app.stop().await;
}

#[tokio::test]
async fn a_new_base_url_without_the_access_token_is_refused_at_access_token() {
    let app = spawn_app_with(ALLOWED, "").await;
    let before = pixel_view(&app, PIXEL).await;
    let answer = patch(
        &app,
        PIXEL,
        &json!({"base_url": "https://business-api.tiktok.com"}),
    )
    .await;
    assert_refused(
        &answer,
        "access_token",
        "changing base_url requires the pixel's access token",
    );
    assert_eq!(pixel_view(&app, PIXEL).await, before);
    // The same destination again is no change, and needs no token.
    let same = patch(&app, PIXEL, &json!({"base_url": before.0})).await;
    assert_eq!(same.status, 200, "{:#}", same.body);
    assert_eq!(pixel_view(&app, PIXEL).await, before);
    config_pixel_still_delivers(&app, "ssrf-token").await;
    app.stop().await;
}

/// The pixel's delivery attempts for the rule `ssrf`, once there is one.
async fn refused_attempt(app: &TestApp, transaction_id: &str) -> Value {
    let record = app
        .wait_for_lead(transaction_id, |r| {
            r["conversions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["rule"] == "ssrf" && !c["attempts"].as_array().unwrap().is_empty())
        })
        .await;
    let conversion = record["conversions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["rule"] == "ssrf")
        .unwrap()
        .clone();
    assert_ne!(conversion["state"], "delivered", "{conversion:#}");
    conversion["attempts"][0].clone()
}

#[tokio::test]
async fn an_api_pixel_on_an_address_the_config_does_not_name_is_refused_at_connect_time() {
    let app = spawn_app_with(ALLOWED, "").await;
    // 127.0.0.2 is allowed by name, but it is loopback and the config file does not name it.
    let literal = internal_service("127.0.0.2").await;
    let created = app
        .post(
            "/v1/pixels",
            &json!({"code": API_PIXEL, "access_token": API_TOKEN,
                    "base_url": format!("https://127.0.0.2:{}", literal.port),
                    "site_url": "https://shop.example/"}),
        )
        .await;
    assert_eq!(created.status, 201, "{:#}", created.body);
    let rule = app
        .post(
            "/v1/rules",
            &json!({"name": "ssrf", "trigger": "form_submit", "pixel": API_PIXEL,
                    "event": "CompleteRegistration"}),
        )
        .await;
    assert_eq!(rule.status, 201, "{:#}", rule.body);

    // Test Postback: a problem naming the pixel, nothing sent.
    let answer = app
        .post("/v1/test-postback", &json!({"pixel": API_PIXEL}))
        .await;
    assert_refused(
        &answer,
        "pixel",
        "the destination address is not allowed: 127.0.0.2 is not a public address",
    );
    assert!(!answer.body.to_string().contains(API_TOKEN));

    // Delivery: the attempt is recorded as a transport error saying why, and retried later.
    app.lead(json!({
        "transaction_id": "ssrf-literal",
        "email": "literal@example.com",
        "landing_url": "https://lp.example.com/?ttclid=E.C.P.lit",
    }))
    .await;
    let attempt = refused_attempt(&app, "ssrf-literal").await;
    assert_eq!(attempt["outcome"], "retryable", "{attempt:#}");
    assert_eq!(attempt["http_status"], Value::Null, "{attempt:#}");
    assert!(
        attempt["message"]
            .as_str()
            .unwrap()
            .starts_with("the destination address is not allowed: 127.0.0.2"),
        "{attempt:#}"
    );

    // A name that resolves to loopback is refused on the resolved address. Moving the pixel there
    // takes its token again.
    let named = internal_service("127.0.0.1").await;
    let moved = patch(
        &app,
        API_PIXEL,
        &json!({"base_url": format!("https://localhost:{}", named.port), "access_token": API_TOKEN}),
    )
    .await;
    assert_eq!(moved.status, 200, "{:#}", moved.body);
    let answer = app
        .post("/v1/test-postback", &json!({"pixel": API_PIXEL}))
        .await;
    assert_refused(
        &answer,
        "pixel",
        "the destination address is not allowed: localhost resolves to ",
    );
    app.lead(json!({
        "transaction_id": "ssrf-named",
        "email": "named@example.com",
        "landing_url": "https://lp.example.com/?ttclid=E.C.P.named",
    }))
    .await;
    let attempt = refused_attempt(&app, "ssrf-named").await;
    assert!(
        attempt["message"]
            .as_str()
            .unwrap()
            .starts_with("the destination address is not allowed: localhost resolves to "),
        "{attempt:#}"
    );

    // Not one connection reached either "internal service"; the config pixel kept delivering.
    assert_eq!(literal.accepted.load(Ordering::SeqCst), 0);
    assert_eq!(named.accepted.load(Ordering::SeqCst), 0);
    config_pixel_still_delivers(&app, "ssrf-connect").await;
    let (base_url, _) = pixel_view(&app, PIXEL).await;
    assert!(base_url.starts_with("http://127.0.0.1:"), "{base_url}");
    app.stop().await;
}

#[tokio::test]
async fn a_config_file_pixel_on_the_loopback_sandbox_still_works_and_shows_its_answer() {
    let app = spawn_app_with("", "").await;
    config_pixel_still_delivers(&app, "ssrf-config").await;
    let answer = app
        .post("/v1/test-postback", &json!({"pixel": PIXEL}))
        .await;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    assert_eq!(answer.body["code"], 0);
    assert_ne!(answer.body["message"], HIDDEN_ANSWER);
    assert!(answer.body["request_id"].is_string(), "{:#}", answer.body);
    // An API pixel may use the config's sandbox host as the config file does (plain http).
    let created = app
        .post(
            "/v1/pixels",
            &json!({"code": API_PIXEL, "access_token": API_TOKEN,
                    "base_url": app.sandbox.base_url()}),
        )
        .await;
    assert_eq!(created.status, 201, "{:#}", created.body);
    app.stop().await;
}

/// The answer of a destination neither TikTok's nor named by the config file is reduced to its
/// status and code. Such a destination that answers at all is a public host, and no test may leave
/// this machine, so this drives Test Postback itself with a registry whose pixel may reach a
/// listener on loopback (as a public host would be reached) under the policy of a config file that
/// does not name that host; then under one that does, to show the text is there to withhold.
#[tokio::test]
async fn test_postback_shows_no_answer_text_from_a_host_the_config_does_not_name() {
    let internal = internal_service("127.0.0.1").await;
    let base_url = format!("http://localhost:{}", internal.port);
    let pixels = PixelRegistry::new([PixelConfig {
        code: API_PIXEL.into(),
        access_token: AccessToken::new(API_TOKEN),
        base_url: base_url.clone(),
        addresses: AddressPolicy::Any,
        test_event_code: None,
        destination: Default::default(),
    }]);
    let policy = IdentifierPolicy {
        default_region: signalpost_tiktok::identity::Region::parse("US").unwrap(),
        pixel_regions: Vec::new(),
        strict: false,
    };
    let no_rules = signalpost_gateway::RuleSet::new(Vec::new()).unwrap();
    let request = || TestPostbackRequest {
        pixel: API_PIXEL.into(),
        ..TestPostbackRequest::default()
    };
    let not_named = Destinations::from_config(&Config::default());
    let answer = fire(
        &pixels,
        &no_rules,
        &not_named,
        &policy,
        request(),
        now_secs(),
    )
    .await
    .unwrap();
    assert_eq!(answer.http_status, Some(502));
    assert_eq!(answer.message, HIDDEN_ANSWER);
    assert_eq!(answer.request_id, None);
    let shown = serde_json::to_string(&answer).unwrap();
    assert!(!shown.contains(INTERNAL_TEXT), "{shown}");
    assert!(!shown.contains(API_TOKEN), "{shown}");

    let named = Config::parse(
        &format!(
            "[[pixels]]\ncode = \"{API_PIXEL}\"\naccess_token = \"{API_TOKEN}\"\nbase_url = \"{base_url}\"\n"
        ),
        &|_| None,
    )
    .unwrap();
    let answer = fire(
        &pixels,
        &no_rules,
        &Destinations::from_config(&named),
        &policy,
        request(),
        now_secs(),
    )
    .await
    .unwrap();
    assert_eq!(answer.http_status, Some(502));
    assert!(answer.message.contains(INTERNAL_TEXT), "{}", answer.message);
    assert_eq!(internal.accepted.load(Ordering::SeqCst), 2);
}
