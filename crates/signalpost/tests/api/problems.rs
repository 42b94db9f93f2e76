//! Every way a request can be wrong answers problem+json naming the field, never a 500.

use serde_json::json;

use crate::common::{KEY, spawn_app};

#[tokio::test]
async fn malformed_json_is_400_problem() {
    let app = spawn_app().await;
    let answer = app
        .send(
            app.client
                .post(app.url("/v1/leads"))
                .bearer_auth(KEY)
                .header("content-type", "application/json")
                .body(r#"{"email": "a@b.co","#),
        )
        .await;
    let problem = answer.problem(400);
    assert_eq!(problem["type"], "urn:signalpost:problem:malformed-json");
}

#[tokio::test]
async fn wrong_json_type_is_422_naming_the_field() {
    let app = spawn_app().await;
    let answer = app.post("/v1/leads", &json!({"email": 42})).await;
    let problem = answer.problem(422);
    assert_eq!(problem["field"], "email");
    assert!(
        problem["detail"].as_str().unwrap().contains("invalid type"),
        "{problem:#}"
    );
}

#[tokio::test]
async fn unknown_field_is_422_naming_it() {
    let app = spawn_app().await;
    let problem = app.post("/v1/leads", &json!({"emial": "a@b.co"})).await;
    assert_eq!(problem.problem(422)["field"], "emial");
}

#[tokio::test]
async fn unknown_event_type_is_422_naming_type() {
    let app = spawn_app().await;
    app.lead(json!({"transaction_id": "t-type"})).await;
    let answer = app
        .post("/v1/leads/t-type/events", &json!({"type": "sale"}))
        .await;
    let problem = answer.problem(422);
    assert_eq!(problem["field"], "type");
    assert!(
        problem["detail"].as_str().unwrap().contains("lead_sold"),
        "{problem:#}"
    );
}

#[tokio::test]
async fn unknown_currency_is_422_naming_currency() {
    let app = spawn_app().await;
    app.lead(json!({"transaction_id": "t-cur"})).await;
    let answer = app
        .post(
            "/v1/leads/t-cur/events",
            &json!({"type": "lead_sold", "revenue": 10, "currency": "BTC"}),
        )
        .await;
    assert_eq!(answer.problem(422)["field"], "currency");
}

#[tokio::test]
async fn rejects_event_time_in_milliseconds() {
    let app = spawn_app().await;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let answer = app.post("/v1/leads", &json!({"occurred_at": now_ms})).await;
    let problem = answer.problem(422);
    assert_eq!(problem["field"], "occurred_at");
    assert!(
        problem["detail"].as_str().unwrap().contains("milliseconds"),
        "{problem:#}"
    );
}

#[tokio::test]
async fn rejects_unparseable_and_future_timestamps() {
    let app = spawn_app().await;
    let future = chrono::Utc::now().timestamp() + 3600;
    for bad in [json!("last tuesday"), json!(future), json!(1.5)] {
        let answer = app.post("/v1/leads", &json!({"occurred_at": bad})).await;
        assert_eq!(answer.problem(422)["field"], "occurred_at", "{bad}");
    }
}

#[tokio::test]
async fn body_over_one_mebibyte_is_413() {
    let app = spawn_app().await;
    let big = "x".repeat(1_100_000);
    let answer = app
        .post("/v1/leads", &json!({"fields": {"blob": big}}))
        .await;
    answer.problem(413);
}

#[tokio::test]
async fn batch_accepts_bodies_over_the_single_item_limit() {
    let app = spawn_app().await;
    // 150 leads with about 10 KB of fields each (a lead's fields stop at 16 KiB): 1.5 MB.
    let fields: serde_json::Map<String, serde_json::Value> = (0..8)
        .map(|i| (format!("f{i}"), json!("x".repeat(1200))))
        .collect();
    let items: Vec<_> = (0..150)
        .map(|i| json!({"lead": {"transaction_id": format!("t-bigbatch-{i}"), "fields": fields}}))
        .collect();
    let body = json!({ "items": items });
    assert!(serde_json::to_vec(&body).unwrap().len() > 1_400_000);
    let answer = app.post("/v1/batch", &body).await;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    assert_eq!(answer.body["accepted"], 150, "{:#}", answer.body);
}

#[tokio::test]
async fn missing_content_type_is_415() {
    let app = spawn_app().await;
    let answer = app
        .send(
            app.client
                .post(app.url("/v1/leads"))
                .bearer_auth(KEY)
                .body("{}"),
        )
        .await;
    answer.problem(415);
}

#[tokio::test]
async fn missing_key_is_401_with_bearer_challenge() {
    let app = spawn_app().await;
    let answer = app
        .send(app.client.post(app.url("/v1/leads")).json(&json!({})))
        .await;
    answer.problem(401);
    let challenge = answer.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
}

#[tokio::test]
async fn wrong_key_is_401_and_the_key_is_not_echoed() {
    let app = spawn_app().await;
    let answer = app
        .send(
            app.client
                .get(app.url("/v1/leads/anything"))
                .bearer_auth("not-the-key-at-all-xyz"),
        )
        .await;
    let problem = answer.problem(401);
    assert!(!problem.to_string().contains("not-the-key"), "{problem:#}");
    assert!(
        answer.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
}

#[tokio::test]
async fn unknown_lead_is_404_for_reads_and_events() {
    let app = spawn_app().await;
    app.get("/v1/leads/nobody").await.problem(404);
    app.post("/v1/leads/nobody/events", &json!({"type": "lead_sold"}))
        .await
        .problem(404);
}

#[tokio::test]
async fn unknown_route_and_wrong_method_are_problems() {
    let app = spawn_app().await;
    app.get("/v1/nothing-here").await.problem(404);
    let answer = app
        .send(app.client.delete(app.url("/v1/leads")).bearer_auth(KEY))
        .await;
    answer.problem(405);
    assert!(answer.headers.contains_key("allow"), "{:?}", answer.headers);
}

#[tokio::test]
async fn health_and_metrics_need_no_key() {
    let app = spawn_app().await;
    let health = app.send(app.client.get(app.url("/healthz"))).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body["status"], "ok");
    app.lead(json!({"transaction_id": "t-metrics"})).await;
    let metrics = app.send(app.client.get(app.url("/metrics"))).await;
    assert_eq!(metrics.status, 200);
    let text = metrics.body.as_str().unwrap();
    assert!(text.contains("signalpost_leads_ingested_total"), "{text}");
    assert!(
        text.contains(
            r#"signalpost_http_request_duration_seconds_count{route="/v1/leads",status="202"}"#
        ),
        "{text}"
    );
    assert!(
        text.contains("signalpost_queue_depth{pixel=\"CTESTPIXEL0001\"}"),
        "{text}"
    );
    // The delivery engine's own counters and latency are published too.
    assert!(
        text.contains("signalpost_conversions_delivered_total"),
        "{text}"
    );
    assert!(text.contains("signalpost_conversions_dead_total"), "{text}");
    // Each pixel's delivery window (its value is shared with the other apps of this process).
    assert!(
        text.contains("signalpost_delivery_window{pixel=\"CTESTPIXEL0001\"}"),
        "{text}"
    );
    assert!(
        text.contains("signalpost_tiktok_request_duration_seconds_count"),
        "{text}"
    );
    assert!(
        !text.contains("t-metrics"),
        "transaction ids never become labels"
    );
}
