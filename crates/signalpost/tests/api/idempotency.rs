//! Re-posting a lead or repeating an event with the same idempotency key queues nothing.

use serde_json::{Value, json};

use crate::common::spawn_app;

/// The conversions of an answer without their state (which moves on as delivery proceeds).
fn keys(answer: &Value) -> Vec<(String, String, String, String)> {
    answer["conversions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap().to_owned();
            (s("rule"), s("pixel"), s("event"), s("event_id"))
        })
        .collect()
}

#[tokio::test]
async fn reposting_a_lead_replays_the_first_answer_and_queues_nothing() {
    let app = spawn_app().await;
    let body = json!({"transaction_id": "t-idem", "email": "a@example.com"});
    let first = app.lead(body.clone()).await;
    assert_eq!(first["replayed"], false);
    assert_eq!(first["conversions"][0]["event"], "CompleteRegistration");
    let second = app.lead(body).await;
    assert_eq!(second["replayed"], true);
    assert_eq!(keys(&second), keys(&first));
    assert_eq!(second["lead"], first["lead"]);
    let record = app.get("/v1/leads/t-idem").await;
    assert_eq!(record.body["conversions"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_repeated_event_with_the_same_idempotency_key_queues_nothing() {
    let app = spawn_app().await;
    app.lead(json!({"transaction_id": "t-rep"})).await;
    let event = json!({"type": "lead_sold", "revenue": 30, "currency": "USD"});
    let send = || {
        app.send(
            app.client
                .post(app.url("/v1/leads/t-rep/events"))
                .bearer_auth(crate::common::KEY)
                .header("Idempotency-Key", "sale-1")
                .json(&event),
        )
    };
    let first = send().await;
    assert_eq!(first.status, 202, "{:#}", first.body);
    assert_eq!(first.body["replayed"], false);
    assert_eq!(first.body["conversions"][0]["event"], "Purchase");
    let second = send().await;
    assert_eq!(second.status, 202);
    assert_eq!(second.body["replayed"], true);
    assert_eq!(keys(&second.body), keys(&first.body));
    let record = app.get("/v1/leads/t-rep").await;
    let events = record.body["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "form_submit + one lead_sold: {events:#?}");
    let purchases = record.body["conversions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["event"] == "Purchase")
        .count();
    assert_eq!(purchases, 1);
}
