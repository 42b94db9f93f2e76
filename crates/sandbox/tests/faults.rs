//! Injected faults and the automatic rate limit over real HTTP.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use signalpost_sandbox::{Fault, FaultKind, SandboxConfig};

async fn inject(sandbox: &signalpost_sandbox::RunningSandbox, fault: serde_json::Value) {
    let answer = post_json(sandbox, "/sandbox/faults", &fault).await;
    assert_eq!(answer.status, 201, "{}", answer.text);
}

async fn send_event(sandbox: &signalpost_sandbox::RunningSandbox) -> Answer {
    track(sandbox, &body(vec![web_event("a")])).await
}

#[tokio::test]
async fn http_500_fault_fails_the_next_n_requests_with_html() {
    let sandbox = start().await;
    inject(&sandbox, json!({"kind": "http_500", "count": 2})).await;
    for _ in 0..2 {
        let answer = send_event(&sandbox).await;
        assert_eq!(answer.status, 500);
        assert!(answer.content_type.starts_with("text/html"));
        assert!(answer.text.contains("<html>"), "{}", answer.text);
        assert!(serde_json::from_str::<serde_json::Value>(&answer.text).is_err());
    }
    assert_eq!(send_event(&sandbox).await.code(), 0);
    assert_eq!(sandbox.events(None).len(), 1);
}

#[tokio::test]
async fn http_502_fault_returns_an_nginx_bad_gateway_page() {
    let sandbox = start().await;
    inject(&sandbox, json!({"kind": "http_502", "count": 1})).await;
    let answer = send_event(&sandbox).await;
    assert_eq!(answer.status, 502);
    assert!(answer.text.contains("502 Bad Gateway"), "{}", answer.text);
    assert!(answer.text.contains("nginx"));
    assert_eq!(sandbox.stats().by_code["http_502"], 1);
}

#[tokio::test]
async fn rate_limit_fault_answers_40100() {
    let sandbox = start().await;
    inject(&sandbox, json!({"kind": "rate_limit", "count": 1})).await;
    assert_eq!(
        send_event(&sandbox).await.error(40100),
        "Too many requests. Please retry in some time."
    );
    assert_eq!(send_event(&sandbox).await.code(), 0);
}

#[tokio::test]
async fn token_revoked_fault_answers_40105_even_for_a_good_token() {
    let sandbox = start().await;
    inject(&sandbox, json!({"kind": "token_revoked", "count": 1})).await;
    send_event(&sandbox).await.error(40105);
    assert_eq!(send_event(&sandbox).await.code(), 0);
}

#[tokio::test]
async fn no_permission_fault_answers_40001_naming_the_pixel() {
    let sandbox = start().await;
    inject(&sandbox, json!({"kind": "no_permission", "count": 1})).await;
    let message = send_event(&sandbox).await.error(40001);
    assert!(message.contains(PIXEL), "{message}");
}

#[tokio::test]
async fn timed_server_error_fault_lasts_until_cleared() {
    let sandbox = start().await;
    inject(&sandbox, json!({"kind": "server_error", "seconds": 600})).await;
    for _ in 0..3 {
        send_event(&sandbox).await.error(50002);
    }
    let listed = get_json(&sandbox, "/sandbox/faults").await;
    let faults = listed["faults"].as_array().unwrap();
    assert_eq!(faults.len(), 1);
    assert_eq!(faults[0]["kind"], "server_error");
    assert!(faults[0]["until"].as_str().is_some());

    let cleared = send(
        &sandbox,
        reqwest::Method::DELETE,
        "/sandbox/faults",
        &[],
        None,
    )
    .await;
    assert_eq!(cleared.status, 200);
    assert_eq!(
        get_json(&sandbox, "/sandbox/faults").await["faults"],
        json!([])
    );
    assert_eq!(send_event(&sandbox).await.code(), 0);
}

#[tokio::test]
async fn faults_never_touch_the_inspection_endpoints() {
    let sandbox = start().await;
    inject(&sandbox, json!({"kind": "http_502", "seconds": 600})).await;
    let stats = get_json(&sandbox, "/sandbox/stats").await;
    assert_eq!(stats["requests"], 0);
    get_json(&sandbox, "/sandbox/events").await;
    get_json(&sandbox, "/sandbox/pixels").await;
    assert_eq!(send_event(&sandbox).await.status, 502);
}

#[tokio::test]
async fn faults_apply_to_the_legacy_endpoints_too() {
    let sandbox = start().await;
    sandbox.inject(Fault::requests(FaultKind::ServerError, 1));
    let body = json!({"pixel_code": PIXEL, "event": "ViewContent"});
    post_as(&sandbox, PIXEL_TRACK, TOKEN, &body)
        .await
        .error(50002);
    assert_eq!(post_as(&sandbox, PIXEL_TRACK, TOKEN, &body).await.code(), 0);
}

#[tokio::test]
async fn hang_fault_outlasts_a_client_timeout_then_processes_the_request() {
    let sandbox = start_with(SandboxConfig {
        hang: Duration::from_secs(1),
        ..config()
    })
    .await;
    inject(&sandbox, json!({"kind": "hang", "count": 1})).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let result = client
        .post(format!("{}{TRACK}", sandbox.base_url()))
        .header("Access-Token", TOKEN)
        .json(&body(vec![web_event("slow-1")]))
        .send()
        .await;
    let err = result.unwrap_err();
    assert!(err.is_timeout(), "{err}");

    // Like a slow TikTok, the sandbox still records the event after the client gave up.
    let handle = sandbox.sandbox().clone();
    assert!(eventually(|| handle.stats().accepted_events == 1).await);
    assert_eq!(handle.events(None)[0].event_id.as_deref(), Some("slow-1"));
}

#[tokio::test]
async fn answers_40100_above_max_rps() {
    let sandbox = start_with(SandboxConfig {
        max_rps: Some(3),
        ..config()
    })
    .await;
    let mut codes = Vec::new();
    for _ in 0..12 {
        codes.push(send_event(&sandbox).await.code());
    }
    assert_eq!(codes[0], 0);
    assert!(codes.contains(&40100), "{codes:?}");
    assert!(codes.iter().all(|c| *c == 0 || *c == 40100), "{codes:?}");
    assert!(sandbox.stats().by_code["40100"] >= 1);
}

#[tokio::test]
async fn faults_can_be_injected_in_process() {
    let sandbox = start().await;
    let status = sandbox.inject(Fault::lasting(FaultKind::Http500, Duration::from_secs(600)));
    assert_eq!(sandbox.faults(), vec![status]);
    assert_eq!(send_event(&sandbox).await.status, 500);
    sandbox.clear_faults();
    assert_eq!(send_event(&sandbox).await.code(), 0);
}
