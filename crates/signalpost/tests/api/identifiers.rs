//! Malformed identifiers cost nothing but themselves (warnings), unless strict mode is on.

use serde_json::json;

use crate::common::{spawn_app, spawn_app_with};

#[tokio::test]
async fn malformed_identifiers_are_dropped_with_warnings_and_the_lead_converts() {
    let app = spawn_app().await;
    let answer = app
        .lead(json!({
            "transaction_id": "t-warn",
            "email": "no-at-sign.example.com",
            "phone": "12",
            "ip": "203.0.113.9",
            "landing_url": "https://lp.example.com/?ttclid=E.C.P.w"
        }))
        .await;
    let fields: Vec<&str> = answer["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "phone"]);
    assert!(answer["warnings"][0]["problem"].as_str().unwrap().len() > 3);
    assert!(answer["lead"]["email"].is_null());
    assert_eq!(answer["conversions"].as_array().unwrap().len(), 1);
    let record = app.get("/v1/leads/t-warn").await;
    assert_eq!(record.body["lead"]["warnings"][0]["field"], "email");
    assert!(
        !record.body.to_string().contains("no-at-sign"),
        "raw value never stored"
    );
}

#[tokio::test]
async fn strict_identifiers_refuse_the_lead_naming_the_field() {
    let app = spawn_app_with("strict_identifiers = true", "").await;
    let answer = app
        .post(
            "/v1/leads",
            &json!({"transaction_id": "t-strict", "phone": "12"}),
        )
        .await;
    assert_eq!(answer.problem(422)["field"], "phone");
    app.get("/v1/leads/t-strict").await.problem(404);
}

#[tokio::test]
async fn identifiers_are_stored_only_as_sha256() {
    let app = spawn_app().await;
    let answer = app
        .lead(json!({"transaction_id": "t-hash", "email": " Alice@Example.COM ", "phone": "(213) 373-4253"}))
        .await;
    let email = answer["lead"]["email"].as_str().unwrap();
    assert_eq!(email.len(), 64);
    assert_eq!(
        email,
        signalpost_tiktok::identity::hash_email("alice@example.com")
            .unwrap()
            .as_str()
    );
    assert_eq!(answer["lead"]["phone"].as_str().unwrap().len(), 64);
    assert!(!answer.to_string().to_lowercase().contains("alice"));
}
