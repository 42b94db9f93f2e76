//! `POST /open_api/v1.3/event/track/` over real HTTP: TikTok's example is accepted, and every class of
//! mistake is refused with TikTok's code and a message naming the field.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{Value, json};
use signalpost_sandbox::SandboxConfig;

#[tokio::test]
async fn accepts_tiktoks_minimal_web_example() {
    let sandbox = start().await;
    let event = web_event("12345");
    let answer = track(&sandbox, &body(vec![event.clone()])).await;
    assert_eq!(answer.status, 200);
    assert!(answer.content_type.starts_with("application/json"));
    let json = answer.json();
    assert_eq!(json["code"], 0);
    assert_eq!(json["message"], "OK");
    assert_eq!(json["data"], json!({}));
    let id = json["request_id"].as_str().unwrap();
    assert_eq!(id.len(), 34, "{id}");
    assert!(id[..14].bytes().all(|b| b.is_ascii_digit()));
    assert!(
        id[14..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
    );

    let stored = sandbox.events(Some(PIXEL));
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].event, "Purchase");
    assert_eq!(stored[0].event_id.as_deref(), Some("12345"));
    assert_eq!(stored[0].payload_json(), event);
}

#[tokio::test]
async fn every_answer_carries_a_fresh_request_id() {
    let sandbox = start().await;
    let ok = track(&sandbox, &body(vec![web_event("a")])).await.json();
    let err = post_as(&sandbox, TRACK, "nope", &body(vec![web_event("a")]))
        .await
        .json();
    let ok2 = track(&sandbox, &body(vec![web_event("b")])).await.json();
    let ids = [&ok["request_id"], &err["request_id"], &ok2["request_id"]];
    assert!(
        ids.iter()
            .all(|id| id.as_str().is_some_and(|s| s.len() == 34))
    );
    assert_ne!(ids[0], ids[1]);
    assert_ne!(ids[0], ids[2]);
}

#[tokio::test]
async fn rejects_a_missing_access_token_with_40105() {
    let sandbox = start().await;
    let answer = send(
        &sandbox,
        reqwest::Method::POST,
        TRACK,
        &[("Content-Type", "application/json")],
        Some(serde_json::to_vec(&body(vec![web_event("a")])).unwrap()),
    )
    .await;
    assert_eq!(answer.status, 200, "business errors are HTTP 200");
    assert_eq!(
        answer.error(40105),
        "Access token is incorrect or has been revoked."
    );
    assert_eq!(answer.json()["data"], json!({}));
}

#[tokio::test]
async fn rejects_a_bearer_prefixed_token_with_40105() {
    let sandbox = start().await;
    let bearer = format!("Bearer {TOKEN}");
    let answer = post_as(&sandbox, TRACK, &bearer, &body(vec![web_event("a")])).await;
    answer.error(40105);
}

#[tokio::test]
async fn rejects_an_unknown_token_with_40105() {
    let sandbox = start().await;
    let answer = post_as(&sandbox, TRACK, "tok-unknown", &body(vec![web_event("a")])).await;
    answer.error(40105);
    assert!(sandbox.events(None).is_empty());
}

#[tokio::test]
async fn rejects_a_token_of_another_pixel_with_40001() {
    let sandbox = start().await;
    let answer = post_as(&sandbox, TRACK, OTHER_TOKEN, &body(vec![web_event("a")])).await;
    assert_eq!(
        answer.error(40001),
        format!(
            "No permission to operate pixel code: {PIXEL}. You must be an admin or operator of this advertiser account."
        )
    );
    let unknown_pixel =
        json!({"event_source":"web","event_source_id":"NOPE","data":[web_event("a")]});
    let message = track(&sandbox, &unknown_pixel).await.error(40001);
    assert!(message.contains("NOPE"), "{message}");
}

#[tokio::test]
async fn rejects_a_non_json_content_type_and_accepts_a_charset() {
    let sandbox = start().await;
    let bytes = serde_json::to_vec(&body(vec![web_event("a")])).unwrap();
    let answer = send(
        &sandbox,
        reqwest::Method::POST,
        TRACK,
        &[("Access-Token", TOKEN), ("Content-Type", "text/plain")],
        Some(bytes.clone()),
    )
    .await;
    let message = answer.error(40002);
    assert!(message.contains("application/json"), "{message}");
    let answer = send(
        &sandbox,
        reqwest::Method::POST,
        TRACK,
        &[
            ("Access-Token", TOKEN),
            ("Content-Type", "application/json; charset=utf-8"),
        ],
        Some(bytes),
    )
    .await;
    assert_eq!(answer.code(), 0);
}

#[tokio::test]
async fn rejects_malformed_json_with_40002() {
    let sandbox = start().await;
    let answer = send(
        &sandbox,
        reqwest::Method::POST,
        TRACK,
        &[
            ("Access-Token", TOKEN),
            ("Content-Type", "application/json"),
        ],
        Some(br#"{"event_source":"web","data":[}"#.to_vec()),
    )
    .await;
    assert!(
        answer
            .error(40002)
            .starts_with("Invalid JSON in request body")
    );
}

#[tokio::test]
async fn rejects_an_unknown_event_source() {
    let sandbox = start().await;
    let mut b = body(vec![web_event("a")]);
    b["event_source"] = json!("email");
    assert_eq!(
        track(&sandbox, &b).await.error(40002),
        "Invalid value for event_source: must be one of: web, app, offline, crm."
    );
}

#[tokio::test]
async fn rejects_a_numeric_event_source_id() {
    let sandbox = start().await;
    let mut b = body(vec![web_event("a")]);
    b["event_source_id"] = json!(7_234_567_890_u64);
    assert_eq!(
        track(&sandbox, &b).await.error(40002),
        "Invalid value for event_source_id: not a valid string."
    );
}

#[tokio::test]
async fn rejects_empty_data() {
    let sandbox = start().await;
    assert_eq!(
        track(&sandbox, &body(vec![])).await.error(40002),
        "Invalid value for data: length must be between 1 and 1000."
    );
}

#[tokio::test]
async fn rejects_the_whole_request_above_1000_events() {
    let sandbox = start().await;
    let events: Vec<Value> = (0..1001).map(|i| web_event(&format!("e{i}"))).collect();
    let message = track(&sandbox, &body(events)).await.error(40002);
    assert!(message.contains("between 1 and 1000"), "{message}");
    assert!(
        sandbox.events(None).is_empty(),
        "nothing of a rejected request is kept"
    );

    let events: Vec<Value> = (0..1000).map(|i| web_event(&format!("e{i}"))).collect();
    assert_eq!(track(&sandbox, &body(events)).await.code(), 0);
    assert_eq!(sandbox.events(None).len(), 1000);
}

#[tokio::test]
async fn reports_the_first_bad_event_with_its_index_and_keeps_none() {
    let sandbox = start().await;
    let events = vec![
        web_event("a"),
        web_event("b"),
        web_event("c"),
        event_with("/properties/value", json!("200.0")),
        event_with("/event_id", json!(1)),
    ];
    assert_eq!(
        track(&sandbox, &body(events)).await.error(40002),
        "Invalid value for data.3.properties.value: not a valid number."
    );
    assert!(sandbox.events(None).is_empty());
}

#[tokio::test]
async fn rejects_an_invalid_custom_event_name() {
    let sandbox = start().await;
    let message = rejection_for(&sandbox, 0, event_with("/event", json!("lead sold"))).await;
    assert!(
        message.starts_with("Invalid value for data.0.event: "),
        "{message}"
    );
    let long = "a".repeat(51);
    let message = rejection_for(&sandbox, 0, event_with("/event", json!(long))).await;
    assert!(message.contains("50"), "{message}");
    let message = rejection_for(&sandbox, 0, event_with("/event", json!(42))).await;
    assert_eq!(
        message,
        "Invalid value for data.0.event: not a valid string."
    );
}

#[tokio::test]
async fn rejects_a_reserved_event_name() {
    let sandbox = start().await;
    let message = rejection_for(&sandbox, 1, event_with("/event", json!("Registration"))).await;
    assert!(
        message.starts_with("Invalid value for data.1.event: "),
        "{message}"
    );
    assert!(message.contains("reserved"), "{message}");
    assert!(message.contains("CompleteRegistration"), "{message}");
}

#[tokio::test]
async fn accepts_standard_legacy_and_custom_names_on_web() {
    let sandbox = start().await;
    for name in ["ViewContent", "SubmitForm", "CompletePayment", "lead_sold"] {
        let answer = track(&sandbox, &body(vec![event_with("/event", json!(name))])).await;
        assert_eq!(answer.code(), 0, "{name}: {}", answer.text);
    }
}

#[tokio::test]
async fn rejects_custom_events_for_offline() {
    let sandbox = start().await;
    let offline = |name: &str| {
        let mut event = web_event("a");
        event["event"] = json!(name);
        json!({"event_source":"offline","event_source_id":PIXEL,"data":[event]})
    };
    let message = track(&sandbox, &offline("store_visit")).await.error(40002);
    assert!(
        message.starts_with("Invalid value for data.0.event: "),
        "{message}"
    );
    assert!(message.contains("offline"), "{message}");
    assert_eq!(track(&sandbox, &offline("Purchase")).await.code(), 0);
}

#[tokio::test]
async fn crm_takes_custom_events_and_standard_ones_only_when_lenient() {
    let crm = |name: &str| {
        json!({"event_source":"crm","event_source_id":PIXEL,"data":[
            {"event": name, "event_time": now(), "lead": {"lead_id": "7612345678"}}]})
    };
    let strict = start().await;
    assert_eq!(track(&strict, &crm("qualified_lead")).await.code(), 0);
    let message = track(&strict, &crm("AddToCart")).await.error(40002);
    assert!(message.contains("custom"), "{message}");

    let lenient = start_with(SandboxConfig {
        strict: false,
        ..config()
    })
    .await;
    assert_eq!(track(&lenient, &crm("AddToCart")).await.code(), 0);
    let no_lead = json!({"event_source":"crm","event_source_id":PIXEL,"data":[{"event":"x","event_time":now()}]});
    assert_eq!(
        track(&lenient, &no_lead).await.error(40002),
        "Invalid value for data.0.lead: missing data for required field."
    );
}

#[tokio::test]
async fn rejects_event_time_as_a_string() {
    let sandbox = start().await;
    let time = now().to_string();
    assert_eq!(
        rejection_for(&sandbox, 0, event_with("/event_time", json!(time))).await,
        "Invalid value for data.0.event_time: not a valid integer."
    );
}

#[tokio::test]
async fn rejects_event_time_as_a_float() {
    let sandbox = start().await;
    let time = now() as f64 + 0.5;
    assert_eq!(
        rejection_for(&sandbox, 0, event_with("/event_time", json!(time))).await,
        "Invalid value for data.0.event_time: not a valid integer."
    );
}

#[tokio::test]
async fn rejects_event_time_in_milliseconds() {
    let sandbox = start().await;
    let message = rejection_for(&sandbox, 0, event_with("/event_time", json!(now() * 1000))).await;
    assert!(message.contains("looks like milliseconds"), "{message}");
}

#[tokio::test]
async fn rejects_event_time_older_than_the_window() {
    let sandbox = start().await;
    let message = rejection_for(
        &sandbox,
        0,
        event_with("/event_time", json!(now() - 8 * 86_400)),
    )
    .await;
    assert!(
        message.contains("more than 7 days in the past"),
        "{message}"
    );
}

#[tokio::test]
async fn rejects_event_time_in_the_future() {
    let sandbox = start().await;
    let message = rejection_for(&sandbox, 0, event_with("/event_time", json!(now() + 3_600))).await;
    assert!(message.contains("in the future"), "{message}");
}

#[tokio::test]
async fn rejects_a_numeric_event_id() {
    let sandbox = start().await;
    assert_eq!(
        rejection_for(&sandbox, 0, event_with("/event_id", json!(12345))).await,
        "Invalid value for data.0.event_id: not a valid string."
    );
}

#[tokio::test]
async fn rejects_an_unhashed_email() {
    let sandbox = start().await;
    let message = rejection_for(
        &sandbox,
        0,
        event_with("/user/email", json!("alice@example.com")),
    )
    .await;
    assert!(
        message.starts_with("Invalid value for data.0.user.email: "),
        "{message}"
    );
    assert!(message.contains("SHA-256"), "{message}");
}

#[tokio::test]
async fn rejects_uppercase_hex_only_in_strict_mode() {
    let upper = json!([EMAIL_HASH.to_ascii_uppercase()]);
    let strict = start().await;
    let message = rejection_for(&strict, 0, event_with("/user/phone", upper.clone())).await;
    assert!(
        message.starts_with("Invalid value for data.0.user.phone.0: "),
        "{message}"
    );
    assert!(message.contains("lowercase"), "{message}");
    let lenient = start_with(SandboxConfig {
        strict: false,
        ..config()
    })
    .await;
    let answer = track(&lenient, &body(vec![event_with("/user/phone", upper)])).await;
    assert_eq!(answer.code(), 0, "{}", answer.text);
}

#[tokio::test]
async fn rejects_a_hashed_ip() {
    let sandbox = start().await;
    let message = rejection_for(&sandbox, 0, event_with("/user/ip", json!(EMAIL_HASH))).await;
    assert!(
        message.starts_with("Invalid value for data.0.user.ip: "),
        "{message}"
    );
    assert!(message.contains("raw"), "{message}");
    let message = rejection_for(&sandbox, 0, event_with("/user/ip", json!("localhost"))).await;
    assert!(message.contains("IPv4 or IPv6"), "{message}");
    let v6 = track(
        &sandbox,
        &body(vec![event_with("/user/ip", json!("2001:db8::7"))]),
    )
    .await;
    assert_eq!(v6.code(), 0);
}

#[tokio::test]
async fn rejects_an_unsupported_currency() {
    let sandbox = start().await;
    let message = rejection_for(
        &sandbox,
        0,
        event_with("/properties/currency", json!("XYZ")),
    )
    .await;
    assert!(
        message.starts_with("Invalid value for data.0.properties.currency: "),
        "{message}"
    );
}

#[tokio::test]
async fn rejects_value_sent_as_a_string() {
    let sandbox = start().await;
    assert_eq!(
        rejection_for(
            &sandbox,
            0,
            event_with("/properties/value", json!("200.00"))
        )
        .await,
        "Invalid value for data.0.properties.value: not a valid number."
    );
}

#[tokio::test]
async fn accepts_value_without_currency_and_zero_value() {
    let sandbox = start().await;
    let mut event = event_with("/properties/value", json!(0));
    event["properties"]
        .as_object_mut()
        .unwrap()
        .remove("currency");
    assert_eq!(track(&sandbox, &body(vec![event])).await.code(), 0);
}

#[tokio::test]
async fn rejects_a_fractional_quantity() {
    let sandbox = start().await;
    assert_eq!(
        rejection_for(
            &sandbox,
            0,
            event_with("/properties/contents/0/quantity", json!(1.5))
        )
        .await,
        "Invalid value for data.0.properties.contents.0.quantity: not a valid integer."
    );
}

#[tokio::test]
async fn rejects_a_numeric_content_id() {
    let sandbox = start().await;
    assert_eq!(
        rejection_for(
            &sandbox,
            2,
            event_with("/properties/contents/0/content_id", json!(12345))
        )
        .await,
        "Invalid value for data.2.properties.contents.0.content_id: not a valid string."
    );
}

#[tokio::test]
async fn rejects_a_content_type_outside_the_enum() {
    let sandbox = start().await;
    assert_eq!(
        rejection_for(
            &sandbox,
            0,
            event_with("/properties/content_type", json!("sku"))
        )
        .await,
        "Invalid value for data.0.properties.content_type: must be one of: product, product_group."
    );
}

#[tokio::test]
async fn requires_page_url_for_web_only_in_strict_mode() {
    let mut event = web_event("a");
    event.as_object_mut().unwrap().remove("page");
    let strict = start().await;
    assert_eq!(
        rejection_for(&strict, 0, event.clone()).await,
        "Invalid value for data.0.page: missing data for required field."
    );
    assert_eq!(
        rejection_for(
            &strict,
            0,
            event_with("/page", json!({"referrer": "https://a.example"}))
        )
        .await,
        "Invalid value for data.0.page.url: missing data for required field."
    );
    let lenient = start_with(SandboxConfig {
        strict: false,
        ..config()
    })
    .await;
    assert_eq!(track(&lenient, &body(vec![event])).await.code(), 0);
    let message = rejection_for(&lenient, 0, event_with("/page/url", json!(5))).await;
    assert_eq!(
        message,
        "Invalid value for data.0.page.url: not a valid string."
    );
}

#[tokio::test]
async fn rejects_null_for_a_typed_field() {
    let sandbox = start().await;
    assert_eq!(
        rejection_for(&sandbox, 0, event_with("/event_id", Value::Null)).await,
        "Invalid value for data.0.event_id: field may not be null."
    );
}

#[tokio::test]
async fn rejects_non_boolean_limited_data_use_and_non_string_test_event_code() {
    let sandbox = start().await;
    let mut event = web_event("a");
    event["limited_data_use"] = json!("false");
    assert_eq!(
        rejection_for(&sandbox, 0, event).await,
        "Invalid value for data.0.limited_data_use: not a valid boolean."
    );
    let mut b = body(vec![web_event("a")]);
    b["test_event_code"] = json!(12345);
    assert_eq!(
        track(&sandbox, &b).await.error(40002),
        "Invalid value for test_event_code: not a valid string."
    );
}

#[tokio::test]
async fn ignores_unknown_top_level_and_property_keys() {
    let sandbox = start().await;
    let mut event = web_event("a");
    event["properties"]["gtm_version"] = json!("1.2");
    let mut b = body(vec![event]);
    b["partner_name"] = json!("signalpost");
    b["something_new"] = json!({"x": 1});
    assert_eq!(track(&sandbox, &b).await.code(), 0);
}

#[tokio::test]
async fn refuses_the_path_without_its_trailing_slash() {
    let sandbox = start().await;
    let answer = post_as(
        &sandbox,
        "/open_api/v1.3/event/track",
        TOKEN,
        &body(vec![web_event("a")]),
    )
    .await;
    assert_eq!(answer.status, 404);
    let error = answer.json()["error"].as_str().unwrap().to_owned();
    assert!(error.contains("/open_api/v1.3/event/track/"), "{error}");
    assert!(sandbox.events(None).is_empty());
}

#[tokio::test]
async fn rejects_a_body_that_is_not_an_object() {
    let sandbox = start().await;
    let answer = post_as(&sandbox, TRACK, TOKEN, &json!([web_event("a")])).await;
    assert_eq!(
        answer.error(40002),
        "Invalid request body: expected a JSON object."
    );
}
