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
    let err = app.reload(&broken).unwrap_err().to_string();
    assert!(err.contains("rules[1] \"sale\": event: "), "{err}");
}
