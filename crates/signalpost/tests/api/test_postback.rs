//! `POST /v1/test-postback` against the real sandbox: one event, sent now with the pixel's token,
//! TikTok's answer and the exact body in the reply.

use serde_json::json;
use signalpost_sandbox::{Fault, FaultKind};

use crate::common::{PIXEL, spawn_app};

#[tokio::test]
async fn test_postback_returns_code_0_and_the_exact_body_sent() {
    let app = spawn_app().await;
    let answer = app
        .post(
            "/v1/test-postback",
            &json!({"pixel": PIXEL, "test_event_code": "TEST123"}),
        )
        .await;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    let body = &answer.body;
    assert_eq!(body["code"], 0, "{body:#}");
    assert_eq!(body["http_status"], 200);
    assert_eq!(body["outcome"], "delivered");
    assert_eq!(body["event"], "CompleteRegistration");
    assert_eq!(body["request_id"].as_str().unwrap().len(), 34, "{body:#}");
    let sent = &body["request_body"];
    assert_eq!(sent["event_source"], "web");
    assert_eq!(sent["event_source_id"], PIXEL);
    assert_eq!(sent["test_event_code"], "TEST123");
    assert_eq!(sent["data"][0]["event_id"], body["event_id"]);

    // The sandbox got exactly that event, once, in the test bucket.
    let events = app.sandbox.events(Some(PIXEL));
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0].test_event_code.as_deref(), Some("TEST123"));
    let received: serde_json::Value = serde_json::from_str(events[0].payload.get()).unwrap();
    assert_eq!(received, sent["data"][0]);
    // Nothing was stored: the sample lead is not a lead.
    let tx = body["event_id"].as_str().unwrap();
    assert_eq!(app.get(&format!("/v1/leads/{tx}")).await.status, 404);
}

#[tokio::test]
async fn a_revoked_token_shows_tiktoks_40105_in_the_answer() {
    let app = spawn_app().await;
    app.sandbox
        .sandbox()
        .inject(Fault::requests(FaultKind::TokenRevoked, 1));
    let answer = app
        .post(
            "/v1/test-postback",
            &json!({"pixel": PIXEL, "event": "Purchase", "value": 5}),
        )
        .await;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    assert_eq!(answer.body["code"], 40105, "{:#}", answer.body);
    assert_eq!(answer.body["outcome"], "auth");
    assert!(!answer.body["message"].as_str().unwrap().is_empty());
    assert_eq!(
        answer.body["request_body"]["data"][0]["properties"]["value"],
        5.0
    );
    assert!(app.sandbox.events(Some(PIXEL)).is_empty());
}

#[tokio::test]
async fn a_given_lead_is_validated_and_hashed_like_post_leads() {
    let app = spawn_app().await;
    let answer = app
        .post(
            "/v1/test-postback",
            &json!({
                "pixel": PIXEL,
                "event": "Purchase",
                "value": 12.5,
                "currency": "eur",
                "lead": {
                    "transaction_id": "tp-1",
                    "email": " Alice@Example.com ",
                    "landing_url": "https://lp.example/x?ttclid=E.C.P.tp",
                    "ip": "not-an-ip"
                }
            }),
        )
        .await;
    assert_eq!(answer.body["code"], 0, "{:#}", answer.body);
    let event = &answer.body["request_body"]["data"][0];
    assert_eq!(event["event_id"], "tp-1");
    assert_eq!(
        event["user"]["email"],
        signalpost_tiktok::identity::hash_email("alice@example.com")
            .unwrap()
            .as_str()
    );
    assert_eq!(event["user"]["ttclid"], "E.C.P.tp");
    assert_eq!(event["properties"]["currency"], "EUR");
    assert_eq!(answer.body["warnings"][0]["field"], "ip");
}

#[tokio::test]
async fn unknown_pixel_is_404_and_bad_event_or_currency_is_422_naming_the_field() {
    let app = spawn_app().await;
    app.post("/v1/test-postback", &json!({"pixel": "NOPE"}))
        .await
        .problem(404);
    let bad_event = app
        .post(
            "/v1/test-postback",
            &json!({"pixel": PIXEL, "event": "2 bad"}),
        )
        .await;
    assert_eq!(bad_event.problem(422)["field"], "event");
    let bad_currency = app
        .post(
            "/v1/test-postback",
            &json!({"pixel": PIXEL, "currency": "XXX", "value": 1}),
        )
        .await;
    assert_eq!(bad_currency.problem(422)["field"], "currency");
    let bad_lead = app
        .post(
            "/v1/test-postback",
            &json!({"pixel": PIXEL, "lead": {"occurred_at": 1_750_000_000_000i64}}),
        )
        .await;
    assert_eq!(bad_lead.problem(422)["field"], "lead.occurred_at");
    let no_key = app
        .send(
            app.client
                .post(app.url("/v1/test-postback"))
                .json(&json!({"pixel": PIXEL})),
        )
        .await;
    no_key.problem(401);
    assert!(app.sandbox.events(Some(PIXEL)).is_empty());
}
