//! The legacy Events API 1.0 endpoints (`pixel/track`, `pixel/batch`) over real HTTP.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{Value, json};
use signalpost_sandbox::{ApiVersion, Origin};

fn iso(seconds_ago: i64) -> String {
    let at = chrono::Utc::now() - chrono::Duration::seconds(seconds_ago);
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn legacy_event(event_id: &str) -> Value {
    json!({
        "event": "CompletePayment",
        "event_id": event_id,
        "timestamp": iso(60),
        "context": {
            "ad": {"callback": "E.C.P.v3Y2x1YmVyLmNvbQ"},
            "page": {"url": "https://shop.example/thanks", "referrer": "https://www.tiktok.com/"},
            "user": {"external_id": EMAIL_HASH, "phone_number": PHONE_HASH, "email": EMAIL_HASH, "ttp": "2Lk3"},
            "ip": "198.51.100.4",
            "user_agent": "Mozilla/5.0"
        },
        "properties": {
            "contents": [{"content_id": "sku-1", "content_type": "product", "price": 9.5, "quantity": 2}],
            "currency": "EUR", "value": 19.0
        }
    })
}

fn track_body(event_id: &str) -> Value {
    let mut body = legacy_event(event_id);
    body["pixel_code"] = json!(PIXEL);
    body
}

#[tokio::test]
async fn accepts_a_legacy_track_event_and_stores_the_whole_body() {
    let sandbox = start().await;
    let body = track_body("order-1");
    let answer = post_as(&sandbox, PIXEL_TRACK, TOKEN, &body).await;
    assert_eq!(answer.code(), 0, "{}", answer.text);
    let stored = sandbox.events(Some(PIXEL));
    assert_eq!(stored.len(), 1);
    assert!(
        matches!(
            stored[0].origin,
            Origin::Tiktok {
                api: ApiVersion::V1,
                ..
            }
        ),
        "{:?}",
        stored[0].origin
    );
    assert_eq!(stored[0].event, "CompletePayment");
    assert_eq!(stored[0].event_id.as_deref(), Some("order-1"));
    assert_eq!(stored[0].payload_json(), body);
}

#[tokio::test]
async fn accepts_a_legacy_batch_and_stores_each_item() {
    let sandbox = start().await;
    let mut first = legacy_event("a");
    first["type"] = json!("track");
    let second = json!({"type": "track", "event": "ViewContent", "event_id": "b"});
    let body =
        json!({"pixel_code": PIXEL, "partner_name": "x", "batch": [first.clone(), second.clone()]});
    assert_eq!(post_as(&sandbox, PIXEL_BATCH, TOKEN, &body).await.code(), 0);
    let stored = sandbox.events(Some(PIXEL));
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].payload_json(), first);
    assert_eq!(stored[1].payload_json(), second);
    assert_eq!(stored[1].event, "ViewContent");
}

#[tokio::test]
async fn rejects_a_numeric_content_id_in_a_batch_like_tiktok() {
    let sandbox = start().await;
    let mut bad = legacy_event("b");
    bad["properties"]["contents"][0]["content_id"] = json!(1077218);
    let body = json!({"pixel_code": PIXEL, "batch": [legacy_event("a"), bad]});
    let answer = post_as(&sandbox, PIXEL_BATCH, TOKEN, &body).await;
    assert_eq!(
        answer.error(40002),
        "Batch.1.properties.contents.0.content_id: Not a valid string"
    );
    assert!(sandbox.events(None).is_empty());
}

#[tokio::test]
async fn rejects_an_unhashed_legacy_email() {
    let sandbox = start().await;
    let mut body = track_body("a");
    body["context"]["user"]["email"] = json!("Alice@Example.com");
    let message = post_as(&sandbox, PIXEL_TRACK, TOKEN, &body)
        .await
        .error(40002);
    assert!(message.starts_with("Context.user.email: "), "{message}");
}

#[tokio::test]
async fn rejects_a_millisecond_string_timestamp() {
    let sandbox = start().await;
    let mut body = track_body("a");
    body["timestamp"] = json!((now() * 1000).to_string());
    let message = post_as(&sandbox, PIXEL_TRACK, TOKEN, &body)
        .await
        .error(40002);
    assert!(message.starts_with("Timestamp: "), "{message}");
    assert!(message.contains("ISO 8601"), "{message}");
}

#[tokio::test]
async fn rejects_a_legacy_timestamp_outside_the_window() {
    let sandbox = start().await;
    let mut body = track_body("a");
    body["timestamp"] = json!(iso(10 * 86_400));
    let message = post_as(&sandbox, PIXEL_TRACK, TOKEN, &body)
        .await
        .error(40002);
    assert!(message.contains("in the past"), "{message}");
}

#[tokio::test]
async fn legacy_requests_need_a_token_for_their_pixel_code() {
    let sandbox = start().await;
    post_as(&sandbox, PIXEL_TRACK, "wrong", &track_body("a"))
        .await
        .error(40105);
    let message = post_as(&sandbox, PIXEL_TRACK, OTHER_TOKEN, &track_body("a"))
        .await
        .error(40001);
    assert!(message.contains(PIXEL), "{message}");
    let mut body = track_body("a");
    body["pixel_code"] = json!(123);
    assert_eq!(
        post_as(&sandbox, PIXEL_TRACK, TOKEN, &body)
            .await
            .error(40002),
        "Pixel_code: Not a valid string"
    );
}

#[tokio::test]
async fn legacy_and_v2_events_share_tiktoks_dedup_key() {
    let sandbox = start().await;
    let mut v2 = web_event("order-9");
    v2["event"] = json!("CompletePayment");
    assert_eq!(track(&sandbox, &body(vec![v2])).await.code(), 0);
    assert_eq!(
        post_as(&sandbox, PIXEL_TRACK, TOKEN, &track_body("order-9"))
            .await
            .code(),
        0
    );
    let stats = sandbox.stats();
    assert_eq!(stats.duplicates, 1);
    assert!(sandbox.events(None)[1].duplicate);
}

#[tokio::test]
async fn rejects_an_empty_legacy_batch() {
    let sandbox = start().await;
    let answer = post_as(
        &sandbox,
        PIXEL_BATCH,
        TOKEN,
        &json!({"pixel_code": PIXEL, "batch": []}),
    )
    .await;
    assert_eq!(
        answer.error(40002),
        "Batch: Length must be between 1 and 1000"
    );
}
