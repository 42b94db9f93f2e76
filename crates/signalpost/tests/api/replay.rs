//! `POST /v1/replay` end to end: a conversion goes dead (the sandbox fails the only attempt the
//! policy allows), is replayed, and then arrives at the sandbox with its original event_id.

use std::time::Duration;

use serde_json::json;
use signalpost::app::AppOptions;
use signalpost_gateway::delivery::{DeliveryPolicy, RetryPolicy};
use signalpost_sandbox::{Fault, FaultKind};

use crate::common::{PIXEL, spawn_app_with_options};

/// Delivery that gives up after the first transient failure, so a dead letter is one fault away.
pub fn give_up_at_once() -> AppOptions {
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

#[tokio::test]
async fn replay_requeues_a_dead_letter_which_is_then_delivered_with_the_same_event_id() {
    let app = spawn_app_with_options("", "", give_up_at_once()).await;
    app.sandbox
        .sandbox()
        .inject(Fault::requests(FaultKind::Http500, 1));
    app.lead(json!({"transaction_id": "rp-1", "email": "r@example.com",
                    "landing_url": "https://lp.example/?ttclid=E.C.P.rp"}))
        .await;
    let dead = app
        .wait_for_lead("rp-1", |r| r["conversions"][0]["state"] == "dead")
        .await;
    let payload = dead["conversions"][0]["payload"].clone();
    assert!(app.sandbox.events(Some(PIXEL)).is_empty());

    let dry = app
        .post(
            "/v1/replay",
            &json!({"state": "dead", "since": "1h", "dry_run": true}),
        )
        .await;
    assert_eq!(dry.status, 200, "{:#}", dry.body);
    assert_eq!(dry.body["matched"], 1);
    assert_eq!(dry.body["requeued"], 0);
    let unchanged = app.get("/v1/leads/rp-1").await;
    assert_eq!(unchanged.body["conversions"][0]["state"], "dead");

    let replay = app
        .post("/v1/replay", &json!({"state": "dead", "pixel": PIXEL}))
        .await;
    assert_eq!(replay.status, 200, "{:#}", replay.body);
    assert_eq!(replay.body["matched"], 1);
    assert_eq!(replay.body["requeued"], 1);

    let events = app.wait_for_events(|e| !e.is_empty()).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_id.as_deref(), Some("rp-1"));
    let delivered = app
        .wait_for_lead("rp-1", |r| r["conversions"][0]["state"] == "delivered")
        .await;
    let c = &delivered["conversions"][0];
    assert_eq!(c["event_id"], "rp-1");
    assert_eq!(c["payload"], payload, "the original payload was sent");
    let outcomes: Vec<_> = c["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["retryable", "replayed", "delivered"], "{c:#}");
    assert!(
        c["attempts"][1]["message"]
            .as_str()
            .unwrap()
            .contains("was dead: retries exhausted"),
        "{c:#}"
    );
}

#[tokio::test]
async fn replay_refuses_bad_filters_naming_each_field() {
    let app = spawn_app_with_options("", "", AppOptions::default()).await;
    let answer = app
        .post(
            "/v1/replay",
            &json!({"state": "delivered", "pixel": "NOPE", "since": "soon"}),
        )
        .await;
    let problem = answer.problem(422);
    let fields: Vec<_> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["state", "pixel", "since"]);
    let nothing = app.post("/v1/replay", &json!({"state": "paused"})).await;
    assert_eq!(nothing.body["matched"], 0, "{:#}", nothing.body);
}

#[tokio::test]
async fn replaying_paused_conversions_resumes_their_pixel_and_delivers_them() {
    let app = spawn_app_with_options("", "", AppOptions::default()).await;
    app.sandbox
        .sandbox()
        .inject(Fault::requests(FaultKind::TokenRevoked, 1));
    app.lead(json!({"transaction_id": "rp-paused", "landing_url": "https://lp.example/"}))
        .await;
    app.wait_for_lead("rp-paused", |r| r["conversions"][0]["state"] == "paused")
        .await;
    // The pixel stays paused: nothing is sent on its own.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(app.sandbox.events(Some(PIXEL)).is_empty());

    let replay = app
        .post(
            "/v1/replay",
            &json!({"state": "paused", "transaction_id": "rp-paused"}),
        )
        .await;
    assert_eq!(replay.status, 200, "{:#}", replay.body);
    assert_eq!(replay.body["requeued"], 1);
    assert_eq!(replay.body["resumed_pixels"], json!([PIXEL]));
    let events = app.wait_for_events(|e| !e.is_empty()).await;
    assert_eq!(events[0].event_id.as_deref(), Some("rp-paused"));
    app.wait_for_lead("rp-paused", |r| r["conversions"][0]["state"] == "delivered")
        .await;
}
