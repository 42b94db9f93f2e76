//! `signalpost_meta::classify` reading the sandbox's real answers on loopback: every answer Meta's
//! route can give (acceptance, each refusal class, each fault, a rotated token) must be read into
//! the outcome the delivery engine needs, with Meta's code, message and `fbtrace_id`.
#![allow(clippy::unwrap_used)]

mod common;

use common::meta::{META_PIXEL, META_TOKEN, events_path, meta_event, start_meta};
use common::{now, post_json};
use serde_json::{Value, json};
use signalpost_meta::{Outcome, classify, rejected_event_index};
use signalpost_sandbox::RunningSandbox;

/// POSTs `body` as JSON with `token` and returns (HTTP status, body bytes).
async fn raw_answer(
    sandbox: &RunningSandbox,
    pixel: &str,
    token: &str,
    body: &Value,
) -> (u16, Vec<u8>) {
    let url = format!(
        "{}{}?access_token={token}",
        sandbox.base_url(),
        events_path(pixel)
    );
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

async fn classified(sandbox: &RunningSandbox, body: &Value) -> signalpost_meta::Classified {
    let (status, bytes) = raw_answer(sandbox, META_PIXEL, META_TOKEN, body).await;
    let c = classify(status, &bytes);
    let trace = serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| {
        v["fbtrace_id"]
            .as_str()
            .or(v["error"]["fbtrace_id"].as_str())
            .map(str::to_owned)
    });
    assert_eq!(c.request_id, trace, "the fbtrace_id is the request id");
    c
}

#[tokio::test]
async fn an_accepted_request_is_delivered_with_its_trace_id() {
    let sandbox = start_meta().await;
    let c = classified(
        &sandbox,
        &json!({"data": [meta_event("a"), meta_event("b")]}),
    )
    .await;
    assert_eq!(c.outcome, Outcome::Delivered);
    assert_eq!(c.message, "events_received 2");
    assert!(c.request_id.is_some());
}

#[tokio::test]
async fn refused_content_is_invalid_and_names_the_event() {
    let sandbox = start_meta().await;
    let mut bad = meta_event("bad");
    bad["user_data"]["fbc"] = json!("not-an-fbc");
    let c = classified(
        &sandbox,
        &json!({"data": [meta_event("a"), meta_event("b"), bad]}),
    )
    .await;
    assert_eq!((c.outcome, c.code), (Outcome::Invalid, Some(100)));
    assert!(c.message.contains("subcode 2804001"), "{}", c.message);
    assert_eq!(rejected_event_index(&c.message), Some(2), "{}", c.message);

    let mut old = meta_event("old");
    old["event_time"] = json!(now() - 8 * 86_400);
    let c = classified(&sandbox, &json!({"data": [old]})).await;
    assert_eq!(c.outcome, Outcome::Invalid);
    assert!(c.message.contains("subcode 2804003"), "{}", c.message);
    assert!(
        c.message.contains("Event Timestamp Too Old"),
        "{}",
        c.message
    );
}

#[tokio::test]
async fn token_and_pixel_refusals_pause_the_pixel() {
    let sandbox = start_meta().await;
    let body = json!({"data": [meta_event("a")]});
    for (pixel, token, code) in [(META_PIXEL, "wrong", 190), ("42", META_TOKEN, 100)] {
        let (status, bytes) = raw_answer(&sandbox, pixel, token, &body).await;
        let c = classify(status, &bytes);
        assert_eq!(
            (c.outcome, c.code),
            (Outcome::Auth, Some(code)),
            "{}",
            c.message
        );
    }
}

#[tokio::test]
async fn every_fault_is_read_as_the_engine_needs() {
    let sandbox = start_meta().await;
    let expected = [
        ("rate_limit", Outcome::Retryable, Some(17)),
        ("server_error", Outcome::Retryable, Some(2)),
        ("http_502", Outcome::Retryable, None),
        ("http_500", Outcome::Retryable, None),
        ("token_revoked", Outcome::Auth, Some(190)),
        ("no_permission", Outcome::Auth, Some(100)),
    ];
    for (kind, _, _) in expected {
        let answer = post_json(
            &sandbox,
            "/sandbox/faults",
            &json!({"kind": kind, "count": 1}),
        )
        .await;
        assert_eq!(answer.status, 201, "{}", answer.text);
    }
    let body = json!({"data": [meta_event("f")]});
    for (kind, outcome, code) in expected {
        let (status, bytes) = raw_answer(&sandbox, META_PIXEL, META_TOKEN, &body).await;
        let c = classify(status, &bytes);
        assert_eq!(
            (c.outcome, c.code),
            (outcome, code),
            "{kind}: {}",
            c.message
        );
    }
    let c = classified(&sandbox, &body).await;
    assert_eq!(c.outcome, Outcome::Delivered);
}
