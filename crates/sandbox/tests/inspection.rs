//! The `/sandbox/` endpoints over real HTTP: events, stats (duplicates, test bucket), clearing, pixel
//! token rotation, and 400s for bad input.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn lists_received_events_with_their_payload_and_filters_by_pixel() {
    let sandbox = start().await;
    let event = web_event("a1");
    let mut with_test = body(vec![event.clone()]);
    with_test["test_event_code"] = json!("TEST11178");
    assert_eq!(track(&sandbox, &with_test).await.code(), 0);
    let other =
        json!({"event_source":"web","event_source_id":OTHER_PIXEL,"data":[web_event("b1")]});
    assert_eq!(
        post_as(&sandbox, TRACK, OTHER_TOKEN, &other).await.code(),
        0
    );

    let all = get_json(&sandbox, "/sandbox/events").await;
    assert_eq!(all["events"].as_array().unwrap().len(), 2);

    let mine = get_json(&sandbox, &format!("/sandbox/events?pixel={PIXEL}")).await;
    let events = mine["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e["pixel"], PIXEL);
    assert_eq!(e["event"], "Purchase");
    assert_eq!(e["event_id"], "a1");
    assert_eq!(e["test_event_code"], "TEST11178");
    assert_eq!(e["payload"], event);
    let received = e["received_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(received).is_ok(),
        "{received}"
    );
}

#[tokio::test]
async fn payload_is_kept_byte_for_byte() {
    let sandbox = start().await;
    let t = now();
    let raw = format!(
        r#"{{"event_source":"web","event_source_id":"{PIXEL}","data":[ {{"page":{{"url":"https://a.example"}}, "event_time":{t},"event":"Lead","properties":{{"value":10.50}}}} ]}}"#
    );
    let answer = send(
        &sandbox,
        reqwest::Method::POST,
        TRACK,
        &[
            ("Access-Token", TOKEN),
            ("Content-Type", "application/json"),
        ],
        Some(raw.into_bytes()),
    )
    .await;
    assert_eq!(answer.code(), 0);
    let listing = send(&sandbox, reqwest::Method::GET, "/sandbox/events", &[], None).await;
    let expected = format!(
        r#""payload":{{"page":{{"url":"https://a.example"}}, "event_time":{t},"event":"Lead","properties":{{"value":10.50}}}}"#
    );
    assert!(listing.text.contains(&expected), "{}", listing.text);
}

#[tokio::test]
async fn counts_duplicates_and_still_answers_success() {
    let sandbox = start().await;
    for _ in 0..3 {
        assert_eq!(
            track(&sandbox, &body(vec![web_event("order-1")]))
                .await
                .code(),
            0
        );
    }
    let mut other_name = web_event("order-1");
    other_name["event"] = json!("Lead");
    assert_eq!(track(&sandbox, &body(vec![other_name])).await.code(), 0);

    let stats = get_json(&sandbox, "/sandbox/stats").await;
    assert_eq!(stats["requests"], 4);
    assert_eq!(stats["accepted_events"], 4);
    assert_eq!(stats["duplicates"], 2);
    assert_eq!(stats["rejected_requests"], 0);
    assert_eq!(stats["by_pixel"][PIXEL]["duplicates"], 2);
    let listing = get_json(&sandbox, "/sandbox/events").await;
    let flags: Vec<bool> = listing["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["duplicate"].as_bool().unwrap())
        .collect();
    assert_eq!(flags, [false, true, true, false]);
}

#[tokio::test]
async fn test_events_are_deduplicated_in_their_own_bucket() {
    let sandbox = start().await;
    let mut test = body(vec![web_event("order-1")]);
    test["test_event_code"] = json!("TEST99645");
    assert_eq!(track(&sandbox, &test).await.code(), 0);
    assert_eq!(
        track(&sandbox, &body(vec![web_event("order-1")]))
            .await
            .code(),
        0
    );
    assert_eq!(track(&sandbox, &test).await.code(), 0);

    let stats = get_json(&sandbox, "/sandbox/stats").await;
    assert_eq!(stats["duplicates"], 1);
    assert_eq!(
        stats["live"],
        json!({"accepted_events": 1, "duplicates": 0})
    );
    assert_eq!(
        stats["test"],
        json!({"accepted_events": 2, "duplicates": 1})
    );
    assert_eq!(stats["by_pixel"][PIXEL]["test"]["duplicates"], 1);
}

#[tokio::test]
async fn stats_count_rejections_by_code_and_pixel() {
    let sandbox = start().await;
    assert_eq!(track(&sandbox, &body(vec![web_event("a")])).await.code(), 0);
    post_as(&sandbox, TRACK, "bad", &body(vec![web_event("a")]))
        .await
        .error(40105);
    rejection_for(&sandbox, 0, event_with("/event_id", json!(1))).await;
    let stats = get_json(&sandbox, "/sandbox/stats").await;
    assert_eq!(stats["requests"], 3);
    assert_eq!(stats["rejected_requests"], 2);
    assert_eq!(stats["by_code"], json!({"0": 1, "40002": 1, "40105": 1}));
    assert_eq!(stats["by_pixel"][PIXEL]["requests"], 2);
    assert_eq!(stats["by_pixel"][PIXEL]["rejected_requests"], 1);
    assert_eq!(stats["stored_events"], 1);
}

#[tokio::test]
async fn delete_clears_events_and_stats() {
    let sandbox = start().await;
    assert_eq!(track(&sandbox, &body(vec![web_event("a")])).await.code(), 0);
    let answer = send(
        &sandbox,
        reqwest::Method::DELETE,
        "/sandbox/events",
        &[],
        None,
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["cleared_events"], 1);
    assert_eq!(
        get_json(&sandbox, "/sandbox/events").await["events"],
        json!([])
    );
    let stats = get_json(&sandbox, "/sandbox/stats").await;
    assert_eq!(
        (
            stats["requests"].as_u64(),
            stats["accepted_events"].as_u64()
        ),
        (Some(0), Some(0))
    );
    assert_eq!(track(&sandbox, &body(vec![web_event("a")])).await.code(), 0);
    assert_eq!(
        sandbox.stats().duplicates,
        0,
        "the dedup index was cleared too"
    );
}

#[tokio::test]
async fn rotating_a_token_makes_the_old_one_40105() {
    let sandbox = start().await;
    let answer = post_json(
        &sandbox,
        "/sandbox/pixels",
        &json!({"code": PIXEL, "token": "tok-rotated"}),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    post_as(&sandbox, TRACK, TOKEN, &body(vec![web_event("a")]))
        .await
        .error(40105);
    assert_eq!(
        post_as(&sandbox, TRACK, "tok-rotated", &body(vec![web_event("a")]))
            .await
            .code(),
        0
    );
}

#[tokio::test]
async fn registers_new_pixels_and_lists_codes_without_tokens() {
    let sandbox = start().await;
    let answer = post_json(
        &sandbox,
        "/sandbox/pixels",
        &json!({"code": "NEWPIXEL", "token": "tok-new"}),
    )
    .await;
    assert_eq!(answer.status, 200);
    let listing = send(&sandbox, reqwest::Method::GET, "/sandbox/pixels", &[], None).await;
    let mut expected = vec![PIXEL, OTHER_PIXEL, "NEWPIXEL"];
    expected.sort_unstable();
    assert_eq!(
        listing.json(),
        json!({ "pixels": expected, "meta_pixels": [], "google_ads_customers": [] })
    );
    assert!(!listing.text.contains("tok-"), "{}", listing.text);
    let b = json!({"event_source":"web","event_source_id":"NEWPIXEL","data":[web_event("a")]});
    assert_eq!(post_as(&sandbox, TRACK, "tok-new", &b).await.code(), 0);
}

#[tokio::test]
async fn bad_inspection_input_gets_a_400_with_a_json_error() {
    let sandbox = start().await;
    let cases = [
        (reqwest::Method::GET, "/sandbox/events?pixl=x", None),
        (
            reqwest::Method::POST,
            "/sandbox/pixels",
            Some(json!({"code": "P"})),
        ),
        (
            reqwest::Method::POST,
            "/sandbox/pixels",
            Some(json!({"code": "P", "token": "has space"})),
        ),
        (
            reqwest::Method::POST,
            "/sandbox/faults",
            Some(json!({"kind": "meteor", "count": 1})),
        ),
        (
            reqwest::Method::POST,
            "/sandbox/faults",
            Some(json!({"kind": "hang"})),
        ),
    ];
    for (method, path, payload) in cases {
        let answer = send(
            &sandbox,
            method.clone(),
            path,
            &[("Content-Type", "application/json")],
            payload.as_ref().map(|p| serde_json::to_vec(p).unwrap()),
        )
        .await;
        assert_eq!(answer.status, 400, "{method} {path}: {}", answer.text);
        assert!(
            answer.json()["error"]
                .as_str()
                .is_some_and(|e| !e.is_empty()),
            "{}",
            answer.text
        );
    }
}

#[tokio::test]
async fn unknown_routes_answer_404_json() {
    let sandbox = start().await;
    let answer = send(
        &sandbox,
        reqwest::Method::GET,
        "/sandbox/nothing",
        &[],
        None,
    )
    .await;
    assert_eq!(answer.status, 404);
    assert!(
        answer.json()["error"]
            .as_str()
            .unwrap()
            .contains("/sandbox/nothing")
    );
}
