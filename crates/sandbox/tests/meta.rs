//! Meta's `POST /{version}/{pixel_id}/events` over real HTTP on loopback: each encoding Meta's SDKs
//! and docs use, the token in the query or the body, each strict refusal in Meta's error shape,
//! faults, latency and inspection with `destination`.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::meta::{
    EM, META_PIXEL, META_TOKEN, OTHER_META_PIXEL, OTHER_META_TOKEN, events_path, form, meta_event,
    multipart, post_meta, post_meta_to, post_raw, start_meta,
};
use common::{PIXEL, TOKEN, get_json, now, post_json, start_with, track, web_event};
use serde_json::{Value, json};
use signalpost_sandbox::{Destination, Latency, SandboxConfig};

#[tokio::test]
async fn accepts_json_and_shows_the_event_with_its_destination() {
    let sandbox = start_meta().await;
    let event = meta_event("order-1");
    let answer = post_meta(
        &sandbox,
        &json!({"data": [event], "test_event_code": "TEST4242"}),
    )
    .await;
    assert_eq!(answer.events_received(), 1);
    assert!(
        answer.content_type.starts_with("application/json"),
        "{}",
        answer.content_type
    );

    let listed = get_json(&sandbox, "/sandbox/events?destination=meta").await;
    let events = listed["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{listed}");
    let entry = &events[0];
    assert_eq!(entry["destination"], "meta");
    assert_eq!(entry["pixel"], META_PIXEL);
    assert_eq!(entry["event"], "Purchase");
    assert_eq!(entry["event_id"], "order-1");
    assert_eq!(entry["test_event_code"], "TEST4242");
    assert_eq!(entry["action_source"], "website");
    assert_eq!(entry["api"], "v25.0");
    assert!(entry["received_at"].is_string());
    assert_eq!(entry["payload"], event);
    let stored = sandbox.events_of(Some(Destination::Meta), None);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].destination(), Destination::Meta);
}

#[tokio::test]
async fn tiktok_entries_say_tiktok_and_the_filters_keep_them_apart() {
    let sandbox = start_meta().await;
    assert_eq!(
        track(&sandbox, &common::body(vec![web_event("t-1")]))
            .await
            .code(),
        0
    );
    assert_eq!(
        post_meta(&sandbox, &json!({"data": [meta_event("m-1")]}))
            .await
            .events_received(),
        1
    );
    let all = get_json(&sandbox, "/sandbox/events").await;
    let destinations: Vec<&str> = all["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["destination"].as_str().unwrap())
        .collect();
    assert_eq!(destinations, ["tiktok", "meta"]);
    let tiktok = get_json(&sandbox, "/sandbox/events?destination=tiktok").await;
    assert_eq!(tiktok["events"][0]["pixel"], PIXEL);
    assert_eq!(tiktok["events"].as_array().unwrap().len(), 1);
    let by_pixel = get_json(&sandbox, &format!("/sandbox/events?pixel={META_PIXEL}")).await;
    assert_eq!(by_pixel["events"][0]["event_id"], "m-1");
    let bad = common::send(
        &sandbox,
        reqwest::Method::GET,
        "/sandbox/events?destination=x",
        &[],
        None,
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.text);

    let stats = get_json(&sandbox, "/sandbox/stats").await;
    assert_eq!(stats["by_destination"]["meta"]["requests"], 1, "{stats}");
    assert_eq!(
        stats["by_destination"]["meta"]["accepted_events"], 1,
        "{stats}"
    );
    assert_eq!(stats["by_destination"]["tiktok"]["requests"], 1, "{stats}");
    assert_eq!(stats["by_code"]["meta_ok"], 1, "{stats}");
    assert_eq!(
        stats["by_pixel"][META_PIXEL]["accepted_events"], 1,
        "{stats}"
    );
}

/// The Python SDK's encoding: form fields, `data` a JSON array of JSON strings.
#[tokio::test]
async fn accepts_form_encoding_with_the_token_in_the_body() {
    let sandbox = start_meta().await;
    let (first, second) = (meta_event("f-1").to_string(), meta_event("f-2").to_string());
    let events = json!([first, second]).to_string();
    let body = form(&[
        ("data", &events),
        ("access_token", META_TOKEN),
        ("test_event_code", "TEST1"),
    ]);
    let answer = post_raw(
        &sandbox,
        &events_path(META_PIXEL),
        "application/x-www-form-urlencoded",
        body,
    )
    .await;
    assert_eq!(answer.events_received(), 2);
    let stored = sandbox.events_of(Some(Destination::Meta), None);
    assert_eq!(stored[1].event_id.as_deref(), Some("f-2"));
    assert_eq!(stored[1].test_event_code.as_deref(), Some("TEST1"));
    assert_eq!(stored[1].payload_json()["user_data"]["em"], json!([EM]));
    assert_eq!(stored[0].payload.get(), first);
}

/// Inspection shows each event byte for byte as sent (key order, spacing, number spelling).
#[tokio::test]
async fn payloads_are_kept_exactly_as_sent() {
    let sandbox = start_meta().await;
    let event = format!(
        r#"{{"user_data": {{"em": "{EM}", "client_user_agent": "ua"}},  "event_name": "Lead", "event_time": {}, "action_source": "website", "event_source_url": "https://a.example/", "custom_data": {{"value": 2.50}}}}"#,
        common::now()
    );
    let body = format!(r#"{{"data": [{event}]}}"#);
    let answer = post_raw(
        &sandbox,
        &format!("{}?access_token={META_TOKEN}", events_path(META_PIXEL)),
        "application/json",
        body.into_bytes(),
    )
    .await;
    assert_eq!(answer.events_received(), 1);
    assert_eq!(sandbox.events(None)[0].payload.get(), event);
}

/// Meta's documentation sends `curl -F 'data=[…]' -F 'access_token=…'`: multipart text fields.
#[tokio::test]
async fn accepts_multipart_like_metas_curl_examples() {
    let sandbox = start_meta().await;
    let data = json!([meta_event("mp-1")]).to_string();
    let (content_type, body) = multipart(&[("data", &data), ("access_token", META_TOKEN)]);
    let answer = post_raw(&sandbox, &events_path(META_PIXEL), &content_type, body).await;
    assert_eq!(answer.events_received(), 1);
    let (content_type, body) = multipart(&[("data", &data)]);
    let answer = post_raw(&sandbox, &events_path(META_PIXEL), &content_type, body).await;
    answer.meta_error(400, 190, None);
}

#[tokio::test]
async fn tokens_and_pixels_are_checked_like_meta() {
    let sandbox = start_meta().await;
    let body = json!({"data": [meta_event("a")]});
    // Missing, unknown, or a TikTok pixel's token: 190.
    for token in [None, Some("nope"), Some(TOKEN)] {
        let err = post_meta_to(&sandbox, META_PIXEL, token, &body)
            .await
            .meta_error(400, 190, None);
        assert_eq!(err["type"], "OAuthException");
    }
    // The token in the JSON body works too.
    let with_token = json!({"data": [meta_event("b")], "access_token": META_TOKEN});
    assert_eq!(
        post_meta_to(&sandbox, META_PIXEL, None, &with_token)
            .await
            .events_received(),
        1
    );
    // Another pixel's token, or a pixel nobody registered: 100/33.
    for (pixel, token) in [(META_PIXEL, OTHER_META_TOKEN), ("999", META_TOKEN)] {
        let err = post_meta_to(&sandbox, pixel, Some(token), &body)
            .await
            .meta_error(400, 100, Some(33));
        assert!(err["message"].as_str().unwrap().contains(pixel), "{err}");
    }
    assert_eq!(
        post_meta_to(&sandbox, OTHER_META_PIXEL, Some(OTHER_META_TOKEN), &body)
            .await
            .events_received(),
        1
    );
    // A bad version in the path.
    let answer = post_raw(
        &sandbox,
        &format!("/25.0/{META_PIXEL}/events?access_token={META_TOKEN}"),
        "application/json",
        body.to_string().into_bytes(),
    )
    .await;
    answer.meta_error(400, 2500, None);
}

/// Tokens of one destination open nothing at the other.
#[tokio::test]
async fn a_meta_token_is_no_tiktok_token() {
    let sandbox = start_meta().await;
    let body = common::body(vec![web_event("t")]);
    let answer = common::post_as(&sandbox, common::TRACK, META_TOKEN, &body).await;
    assert_eq!(answer.code(), 40105, "{}", answer.text);
}

#[tokio::test]
async fn a_rotated_meta_token_gets_190() {
    let sandbox = start_meta().await;
    let rotated = post_json(
        &sandbox,
        "/sandbox/pixels",
        &json!({"code": META_PIXEL, "token": "EAAB-new", "destination": "meta"}),
    )
    .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let body = json!({"data": [meta_event("a")]});
    post_meta(&sandbox, &body).await.meta_error(400, 190, None);
    assert_eq!(
        post_meta_to(&sandbox, META_PIXEL, Some("EAAB-new"), &body)
            .await
            .events_received(),
        1
    );
    let listing = get_json(&sandbox, "/sandbox/pixels").await;
    assert_eq!(
        listing["meta_pixels"],
        json!([META_PIXEL, OTHER_META_PIXEL])
    );
    assert!(!listing.to_string().contains("EAAB"), "{listing}");
}

/// Each strict rule, answered with HTTP 400 and Meta's error; nothing is stored.
#[tokio::test]
async fn refuses_what_meta_refuses_in_its_error_shape() {
    let sandbox = start_meta().await;
    let set = |pointer: &str, value: Value| {
        let mut event = meta_event("x");
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let obj = event.pointer_mut(parent).unwrap().as_object_mut().unwrap();
        if value.is_null() {
            obj.remove(key);
        } else {
            obj.insert(key.to_owned(), value);
        }
        json!({"data": [event]})
    };
    let cases: Vec<(Value, Option<i64>, &str)> = vec![
        (
            set("/event_time", json!(now() - 8 * 86_400)),
            Some(2804003),
            "Event Timestamp Too Old",
        ),
        (
            set("/user_data/fbc", json!("AbC123")),
            Some(2804001),
            "[user_data][fbc]",
        ),
        (
            set("/action_source", Value::Null),
            None,
            "data[0][action_source]",
        ),
        (
            set("/action_source", json!("web")),
            None,
            "data[0][action_source]",
        ),
        (
            set("/user_data/client_user_agent", Value::Null),
            None,
            "client_user_agent",
        ),
        (
            set("/event_source_url", Value::Null),
            None,
            "event_source_url",
        ),
        (
            set("/user_data/em", json!("alice@example.com")),
            None,
            "[user_data][em]",
        ),
        (set("/event_name", Value::Null), None, "data[0][event_name]"),
        (json!({"data": []}), None, "between 1 and 1000"),
        (
            json!({"data": vec![meta_event("x"); 1001]}),
            None,
            "between 1 and 1000",
        ),
        (json!({"nodata": 1}), None, "The parameter data is required"),
        (
            json!({"data": [meta_event("x")], "test_event_code": "bad code"}),
            None,
            "test_event_code",
        ),
    ];
    for (body, subcode, needle) in cases {
        let answer = post_meta(&sandbox, &body).await;
        let err = answer.meta_error(400, 100, subcode);
        assert_eq!(err["type"], "OAuthException");
        assert_eq!(err["is_transient"], false);
        let said = format!(
            "{} {} {}",
            err["message"], err["error_user_title"], err["error_user_msg"]
        );
        assert!(said.contains(needle), "{needle:?} not in {said}");
    }
    let broken = post_raw(
        &sandbox,
        &format!("{}?access_token={META_TOKEN}", events_path(META_PIXEL)),
        "application/json",
        b"{\"data\":".to_vec(),
    )
    .await;
    broken.meta_error(400, 100, None);
    assert!(sandbox.events(None).is_empty());
    let stats = get_json(&sandbox, "/sandbox/stats").await;
    assert_eq!(
        stats["by_destination"]["meta"]["rejected_requests"], 13,
        "{stats}"
    );
    assert_eq!(stats["by_code"]["meta_100/2804003"], 1, "{stats}");
}

#[tokio::test]
async fn one_old_event_fails_the_whole_request() {
    let sandbox = start_meta().await;
    let mut old = meta_event("old");
    old["event_time"] = json!(now() - 8 * 86_400);
    let answer = post_meta(&sandbox, &json!({"data": [meta_event("a"), old]})).await;
    let err = answer.meta_error(400, 100, Some(2804003));
    assert!(
        err["error_user_msg"].as_str().unwrap().contains("data[1]"),
        "{err}"
    );
    assert!(sandbox.events(None).is_empty());
}

#[tokio::test]
async fn repeats_are_marked_duplicates_by_event_name_and_event_id() {
    let sandbox = start_meta().await;
    for _ in 0..2 {
        assert_eq!(
            post_meta(&sandbox, &json!({"data": [meta_event("same")]}))
                .await
                .events_received(),
            1
        );
    }
    let listed = get_json(&sandbox, "/sandbox/events").await;
    assert_eq!(listed["events"][0]["duplicate"], false);
    assert_eq!(listed["events"][1]["duplicate"], true);
}

/// Every answering fault, in Meta's words, in injection order.
#[tokio::test]
async fn faults_answer_in_metas_shape() {
    let sandbox = start_meta().await;
    for kind in [
        "rate_limit",
        "token_revoked",
        "no_permission",
        "server_error",
        "http_502",
        "http_500",
    ] {
        let injected = post_json(
            &sandbox,
            "/sandbox/faults",
            &json!({"kind": kind, "count": 1}),
        )
        .await;
        assert_eq!(injected.status, 201, "{}", injected.text);
    }
    let body = json!({"data": [meta_event("f")]});
    let err = post_meta(&sandbox, &body).await.meta_error(400, 17, None);
    assert_eq!(err["is_transient"], true);
    post_meta(&sandbox, &body)
        .await
        .meta_error(400, 190, Some(460));
    post_meta(&sandbox, &body)
        .await
        .meta_error(400, 100, Some(33));
    let err = post_meta(&sandbox, &body).await.meta_error(500, 2, None);
    assert_eq!(err["is_transient"], true);
    for status in [502, 500] {
        let answer = post_meta(&sandbox, &body).await;
        assert_eq!(answer.status, status);
        assert!(
            answer.content_type.starts_with("text/html"),
            "{}",
            answer.content_type
        );
    }
    assert_eq!(post_meta(&sandbox, &body).await.events_received(), 1);
    let stats = get_json(&sandbox, "/sandbox/stats").await;
    assert_eq!(stats["by_code"]["meta_17"], 1, "{stats}");
    assert_eq!(stats["by_code"]["http_502"], 1, "{stats}");
}

#[tokio::test]
async fn the_rate_limit_answers_code_17() {
    let sandbox = start_with(SandboxConfig {
        max_rps: Some(1),
        ..common::meta::meta_config()
    })
    .await;
    let body = json!({"data": [meta_event("r")]});
    let mut codes = Vec::new();
    for _ in 0..3 {
        let answer = post_meta(&sandbox, &body).await;
        codes.push(if answer.status == 200 {
            0
        } else {
            answer.meta_error(400, 17, None)["code"].as_i64().unwrap()
        });
    }
    assert!(codes.contains(&17), "{codes:?}");
}

#[tokio::test]
async fn latency_holds_meta_answers_too() {
    let sandbox = start_with(SandboxConfig {
        latency: Latency::new(300, 300).unwrap(),
        ..common::meta::meta_config()
    })
    .await;
    let started = Instant::now();
    let answer = post_meta(&sandbox, &json!({"data": [meta_event("slow")]})).await;
    assert_eq!(answer.events_received(), 1);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
}
