//! `POST /v1/preview`: every rule's verdict with the reason a rule does not fire, the exact TikTok
//! JSON of each conversion; nothing stored, nothing sent.

use serde_json::json;

use crate::common::{PIXEL, spawn_app_with};

const ACME_ONLY: &str = r#"
[[rules]]
name = "acme_sale"
trigger = "lead_sold"
pixel = "CTESTPIXEL0001"
event = "PlaceAnOrder"
event_id = "{transaction_id}:acme"
[rules.when]
buyer = "acme"
"#;

#[tokio::test]
async fn preview_explains_a_non_matching_rule_and_shows_the_tiktok_json() {
    let app = spawn_app_with("", ACME_ONLY).await;
    let answer = app
        .post(
            "/v1/preview",
            &json!({
                "lead": {"transaction_id": "pv-1", "email": "a@example.com",
                         "landing_url": "https://lp.example/?ttclid=E.C.P.pv"},
                "event": {"type": "lead_sold", "buyer": "globex", "revenue": "30"}
            }),
        )
        .await;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    let rules = answer.body["rules"].as_array().unwrap();
    let names: Vec<_> = rules.iter().map(|r| r["rule"].as_str().unwrap()).collect();
    assert_eq!(names, ["registration", "sale", "acme_sale"]);
    assert_eq!(answer.body["conversions"], 1);

    let registration = &rules[0];
    assert_eq!(registration["matched"], false);
    assert_eq!(registration["outcome"], "skipped");
    assert_eq!(registration["trigger"], "form_submit");
    assert_eq!(registration["reasons"][0]["reason"], "trigger");

    let sale = &rules[1];
    assert_eq!(sale["matched"], true, "{sale:#}");
    assert_eq!(sale["outcome"], "fires");
    let conversion = &sale["conversion"];
    assert_eq!(conversion["event_id"], "pv-1");
    assert_eq!(conversion["tiktok_event"]["event"], "Purchase");
    assert_eq!(conversion["tiktok_event"]["properties"]["value"], 30.0);
    assert_eq!(conversion["tiktok_event"]["user"]["ttclid"], "E.C.P.pv");
    let body = &conversion["request_body"];
    assert_eq!(body["event_source_id"], PIXEL);
    assert_eq!(body["data"][0], conversion["tiktok_event"]);
    assert_eq!(conversion["event"], conversion["tiktok_event"]);
    assert_eq!(conversion["destination"], "tiktok");

    let acme = &rules[2];
    assert_eq!(acme["matched"], false);
    let reason = &acme["reasons"][0];
    assert_eq!(reason["reason"], "condition", "{acme:#}");
    assert_eq!(reason["field"], "buyer");
    assert_eq!(reason["expected"], "acme");
    assert_eq!(reason["actual"], "globex");
    let why = reason["explanation"].as_str().unwrap();
    assert!(why.contains("globex") && why.contains("acme"), "{why}");

    // Nothing stored, nothing sent.
    assert_eq!(app.get("/v1/leads/pv-1").await.status, 404);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(app.sandbox.events(Some(PIXEL)).is_empty());
}

#[tokio::test]
async fn preview_defaults_to_form_submit_and_can_use_a_stored_lead() {
    let app = spawn_app_with("", ACME_ONLY).await;
    let form = app
        .post("/v1/preview", &json!({"lead": {"transaction_id": "pv-2"}}))
        .await;
    assert_eq!(form.status, 200, "{:#}", form.body);
    assert_eq!(form.body["event"]["trigger"], "form_submit");
    assert_eq!(form.body["rules"][0]["matched"], true);

    app.lead(json!({"transaction_id": "pv-3", "source": "tiktok"}))
        .await;
    let stored = app
        .post(
            "/v1/preview",
            &json!({"transaction_id": "pv-3", "event": {"type": "lead_sold", "buyer": "acme"}}),
        )
        .await;
    assert_eq!(stored.status, 200, "{:#}", stored.body);
    assert_eq!(stored.body["lead"]["source"], "tiktok");
    assert_eq!(stored.body["rules"][2]["matched"], true);
    assert_eq!(
        stored.body["rules"][2]["conversion"]["event_id"],
        "pv-3:acme"
    );

    app.post("/v1/preview", &json!({"transaction_id": "missing"}))
        .await
        .problem(404);
    assert_eq!(
        app.post("/v1/preview", &json!({})).await.problem(422)["field"],
        "lead"
    );
    let bad_event = app
        .post(
            "/v1/preview",
            &json!({"lead": {}, "event": {"type": "lead_sold", "currency": "XXX"}}),
        )
        .await;
    assert_eq!(bad_event.problem(422)["field"], "event.currency");
}
