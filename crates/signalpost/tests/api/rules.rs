//! Rules as configured: conditions select, and a reload swaps them in a running app.

use serde_json::json;

use crate::common::spawn_app_with;

const ACME_RULE: &str = r#"
[[rules]]
name = "acme_sale"
trigger = "lead_sold"
pixel = "CTESTPIXEL0001"
event = "SubmitApplication"
event_id = "{transaction_id}:acme"

[rules.when]
buyer = "acme"
"#;

fn events_of(answer: &serde_json::Value) -> Vec<String> {
    answer["conversions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["event"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_rule_with_a_buyer_condition_fires_only_for_that_buyer() {
    let app = spawn_app_with("", ACME_RULE).await;
    for (tx, buyer, want) in [
        ("r-acme", "acme", vec!["Purchase", "SubmitApplication"]),
        ("r-other", "globex", vec!["Purchase"]),
    ] {
        app.lead(json!({"transaction_id": tx})).await;
        let answer = app
            .post(
                &format!("/v1/leads/{tx}/events"),
                &json!({"type": "lead_sold", "buyer": buyer, "revenue": 10}),
            )
            .await;
        assert_eq!(answer.status, 202, "{:#}", answer.body);
        assert_eq!(events_of(&answer.body), want, "{buyer}");
    }
}

#[tokio::test]
async fn a_reloaded_config_adds_rules_to_the_running_app() {
    let app = spawn_app_with("", "").await;
    app.lead(json!({"transaction_id": "r-reload"})).await;
    let before = app
        .post(
            "/v1/leads/r-reload/events",
            &json!({"type": "lead_sold", "buyer": "acme", "idempotency_key": "1"}),
        )
        .await;
    assert_eq!(events_of(&before.body), ["Purchase"]);
    app.reload(&format!("{}{ACME_RULE}", app.config_text))
        .await
        .unwrap();
    let after = app
        .post(
            "/v1/leads/r-reload/events",
            &json!({"type": "lead_sold", "buyer": "acme", "idempotency_key": "2"}),
        )
        .await;
    assert_eq!(
        events_of(&after.body),
        ["SubmitApplication"],
        "{:#}",
        after.body
    );
    assert_eq!(after.body["already_queued"][0]["event"], "Purchase");

    let broken = app
        .config_text
        .replace("event = \"Purchase\"", "event = \"Registration\"");
    let err = app.reload(&broken).await.unwrap_err().to_string();
    assert!(err.contains("rules[1] \"sale\": event: "), "{err}");
}

const OFFICE_HOURS_RULE: &str = r#"
[[rules]]
name = "office_hours"
trigger = "offer_conversion"
pixel = "CTESTPIXEL0001"
event = "Purchase"
value = "payout"
event_id = "{transaction_id}:{idempotency_key}"
[rules.schedule]
days = ["mon-fri"]
hours = "09:00-17:00"
"#;

#[tokio::test]
async fn schedules_run_in_the_servers_time_zone_and_a_zero_payout_is_sent_as_the_value() {
    let app = spawn_app_with("timezone = \"America/New_York\"", OFFICE_HOURS_RULE).await;
    app.lead(json!({"transaction_id": "tz-1", "landing_url": "https://lp.example.com/"}))
        .await;
    // Mon 2024-06-03 12:00 UTC is 08:00 in New York: outside (it would be inside in UTC).
    // 14:00 UTC is 10:00 in New York: inside.
    for (key, at, want) in [
        ("early", "2024-06-03T12:00:00Z", "suppressed"),
        ("open", "2024-06-03T14:00:00Z", "pending"),
    ] {
        let answer = app
            .post(
                "/v1/leads/tz-1/events",
                &json!({"type": "offer_conversion", "occurred_at": at, "payout": "0",
                        "idempotency_key": key}),
            )
            .await;
        assert_eq!(answer.status, 202, "{:#}", answer.body);
        assert_eq!(answer.body["conversions"][0]["state"], want, "{key}");
    }
    let record = app.get("/v1/leads/tz-1").await;
    let conversions = record.body["conversions"].as_array().unwrap();
    let early = conversions
        .iter()
        .find(|c| c["event_id"] == "tz-1:early")
        .unwrap();
    assert_eq!(
        early["last_error"],
        "schedule: event at Mon 2024-06-03 08:00 America/New_York is outside mon,tue,wed,thu,fri 09:00-17:00"
    );
    let open = conversions
        .iter()
        .find(|c| c["event_id"] == "tz-1:open")
        .unwrap();
    assert_eq!(open["payload"]["properties"]["value"], json!(0.0));
    assert_eq!(record.body["events"][1]["payout"], json!(0.0));
}

#[tokio::test]
async fn a_config_with_an_unknown_time_zone_is_refused_at_load() {
    let app = spawn_app_with("", "").await;
    let broken = app
        .config_text
        .replace("[server]", "[server]\ntimezone = \"Europe/Atlantis\"");
    let err = app.reload(&broken).await.unwrap_err().to_string();
    assert!(err.starts_with("server.timezone: "), "{err}");
}
