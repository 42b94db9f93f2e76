//! The first "Must show" of issue 3 end to end: a lead whose landing URL carries ttclid, then a
//! lead_sold with revenue, arrive at the sandbox as two events with the right fields; and the lead
//! record shows every attempt with TikTok's code, message and request_id.

use serde_json::{Value, json};

use crate::common::{spawn_app, spawn_app_with_latency};

#[tokio::test]
async fn lead_and_sale_arrive_at_the_sandbox_with_every_field() {
    let app = spawn_app().await;
    let submitted = chrono::Utc::now().timestamp() - 120;
    let sold = submitted + 60;
    app.lead(json!({
        "transaction_id": "e2e-1",
        "email": " Jane.Doe@Example.com ",
        "phone": "+1 (213) 373-4253",
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (e2e)",
        "landing_url": "https://lp.example.com/offer?utm_source=tiktok&ttclid=E.C.P.e2e-click",
        "occurred_at": submitted,
    }))
    .await;
    let sale = app
        .post(
            "/v1/leads/e2e-1/events",
            &json!({"type": "lead_sold", "revenue": "49.90", "currency": "USD", "occurred_at": sold}),
        )
        .await;
    assert_eq!(sale.status, 202, "{:#}", sale.body);

    let events = app.wait_for_events(|e| e.len() >= 2).await;
    assert_eq!(events.len(), 2, "{events:#?}");
    let find = |name: &str| -> Value {
        let e = events
            .iter()
            .find(|e| e.event == name)
            .unwrap_or_else(|| panic!("no {name}"));
        assert_eq!(e.event_id.as_deref(), Some("e2e-1"));
        serde_json::from_str(e.payload.get()).unwrap()
    };
    let email = signalpost_tiktok::identity::hash_email("jane.doe@example.com").unwrap();
    let phone = signalpost_tiktok::identity::hash_phone(
        "+12133734253",
        signalpost_tiktok::identity::Region::parse("US").unwrap(),
    )
    .unwrap();
    for (name, time) in [("CompleteRegistration", submitted), ("Purchase", sold)] {
        let payload = find(name);
        let user = &payload["user"];
        assert_eq!(payload["event_id"], "e2e-1", "{payload:#}");
        assert_eq!(payload["event_time"], time, "{payload:#}");
        assert_eq!(user["email"], email.as_str(), "{payload:#}");
        assert_eq!(user["phone"], phone.as_str(), "{payload:#}");
        assert_eq!(user["ip"], "203.0.113.7");
        assert_eq!(user["user_agent"], "Mozilla/5.0 (e2e)");
        assert_eq!(user["ttclid"], "E.C.P.e2e-click");
    }
    let purchase = find("Purchase");
    assert_eq!(purchase["properties"]["value"], 49.9, "{purchase:#}");
    assert_eq!(purchase["properties"]["currency"], "USD", "{purchase:#}");
    assert!(find("CompleteRegistration")["properties"]["value"].is_null());
}

#[tokio::test]
async fn the_lead_record_shows_every_attempt_with_tiktoks_answer() {
    let app = spawn_app().await;
    app.lead(json!({
        "transaction_id": "e2e-log",
        "email": "log@example.com",
        "landing_url": "https://lp.example.com/?ttclid=E.C.P.log",
    }))
    .await;
    app.wait_for_events(|e| !e.is_empty()).await;
    // The sandbox has the event; poll the record until the attempt is recorded.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let record = loop {
        let record = app.get("/v1/leads/e2e-log").await;
        assert_eq!(record.status, 200, "{:#}", record.body);
        if record.body["conversions"][0]["state"] == "delivered" {
            break record.body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never delivered: {:#}",
            record.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let conversion = &record["conversions"][0];
    assert_eq!(conversion["rule"], "registration");
    assert_eq!(conversion["event"], "CompleteRegistration");
    assert_eq!(conversion["event_id"], "e2e-log");
    assert_eq!(conversion["payload"]["user"]["ttclid"], "E.C.P.log");
    let attempt = &conversion["attempts"][0];
    assert_eq!(attempt["http_status"], 200, "{attempt:#}");
    assert_eq!(attempt["code"], 0, "{attempt:#}");
    assert_eq!(attempt["outcome"], "delivered");
    assert!(
        !attempt["message"].as_str().unwrap().is_empty(),
        "{attempt:#}"
    );
    assert!(
        !attempt["request_id"].as_str().unwrap_or("").is_empty(),
        "{attempt:#}"
    );
    assert_eq!(record["lead"]["ttclid"], "E.C.P.log");
    assert_eq!(
        record["lead"]["landing_url"],
        "https://lp.example.com/?ttclid=E.C.P.log"
    );
    app.stop().await;
}

/// The attempt log's latency is the destination's: with the sandbox holding every answer 200 ms,
/// the recorded latency is at least that (a lower bound on the delay the test injected).
#[tokio::test]
async fn an_attempt_records_the_latency_of_a_slow_destination() {
    let app = spawn_app_with_latency("200").await;
    app.lead(json!({
        "transaction_id": "e2e-slow",
        "email": "slow@example.com",
        "landing_url": "https://lp.example.com/?ttclid=E.C.P.slow",
    }))
    .await;
    let record = app
        .wait_for_lead("e2e-slow", |r| r["conversions"][0]["state"] == "delivered")
        .await;
    let attempt = &record["conversions"][0]["attempts"][0];
    assert_eq!(attempt["outcome"], "delivered", "{attempt:#}");
    let latency = attempt["latency_ms"].as_u64().unwrap();
    assert!(latency >= 195, "recorded {latency} ms: {attempt:#}");
    app.stop().await;
}
