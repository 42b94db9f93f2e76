//! Google Ads' `POST /v{N}/customers/{id}:uploadClickConversions` over real HTTP on loopback: the
//! request-wide refusals, row failures in partial-failure mode, duplicates, told clicks, routing
//! and inspection with `destination` (credentials: `google_ads_auth.rs`; faults and latency:
//! `google_ads_faults.rs`).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::google_ads::{
    ACTION, CUSTOMER, DEV_TOKEN, OTHER_CUSTOMER, REFRESH, access_token, conversion, conversions,
    google_config, send_google, start_google, upload, upload_body, upload_path,
};
use common::{get_json, post_json, send, start_with};
use serde_json::{Value, json};
use signalpost_google_ads::{Outcome, RowAction, classify, row_failures};
use signalpost_sandbox::{Destination, GoogleAdsClickState, SandboxConfig};

#[tokio::test]
async fn partial_failure_false_fails_the_whole_request() {
    let sandbox = start_google().await;
    let token = access_token(&sandbox, REFRESH).await;
    for body in [
        json!({"conversions": conversions(2), "partialFailure": false}),
        json!({"conversions": conversions(2)}),
    ] {
        let answer = upload(&sandbox, &token, &body).await;
        answer.ads_error(
            400,
            "INVALID_ARGUMENT",
            "partialFailureError",
            "PARTIAL_FAILURE_MODE_REQUIRED",
        );
        assert_eq!(
            classify(400, answer.text.as_bytes()).outcome,
            Outcome::Invalid
        );
    }
    assert!(
        sandbox
            .events_of(Some(Destination::GoogleAds), None)
            .is_empty()
    );
}

#[tokio::test]
async fn more_than_2000_conversions_fail_the_whole_request() {
    let sandbox = start_google().await;
    let token = access_token(&sandbox, REFRESH).await;
    let answer = upload(&sandbox, &token, &upload_body(conversions(2001))).await;
    let error = answer.ads_error(
        400,
        "INVALID_ARGUMENT",
        "conversionUploadError",
        "TOO_MANY_CONVERSIONS_IN_REQUEST",
    );
    assert!(
        error["message"].as_str().unwrap().contains("2001"),
        "{error}"
    );
    let classified = classify(400, answer.text.as_bytes());
    assert!(
        signalpost_google_ads::needs_split(&classified),
        "{}",
        classified.message
    );
    assert!(sandbox.events(None).is_empty());
    let answer = upload(&sandbox, &token, &upload_body(conversions(2000))).await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        &answer.text[..200.min(answer.text.len())]
    );
    assert_eq!(
        sandbox
            .events_of(Some(Destination::GoogleAds), Some(CUSTOMER))
            .len(),
        2000
    );
}

/// The scenario: 500 rows, three of them with clicks Google cannot find.
#[tokio::test]
async fn a_500_row_upload_with_three_unknown_clicks_records_497_and_names_the_3() {
    let sandbox = start_google().await;
    let token = access_token(&sandbox, REFRESH).await;
    let unknown = [7usize, 250, 499];
    for i in unknown {
        let told = post_json(
            &sandbox,
            "/sandbox/google-ads/clicks",
            &json!({"gclid": format!("g{i}"), "state": "not_found"}),
        )
        .await;
        assert_eq!(told.status, 200, "{}", told.text);
    }
    let answer = upload(&sandbox, &token, &upload_body(conversions(500))).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(answer.request_id.is_some());
    let body = answer.json();
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 500);
    for (i, result) in results.iter().enumerate() {
        if unknown.contains(&i) {
            assert_eq!(result, &json!({}), "row {i}");
        } else {
            assert_eq!(result["gclid"], format!("g{i}"), "row {i}");
            assert_eq!(
                result["conversionAction"],
                format!("customers/{CUSTOMER}/conversionActions/{ACTION}")
            );
            assert_eq!(result["conversionDateTime"], "2026-03-01 12:32:45-08:00");
            assert!(result["userIdentifiers"].is_array(), "{result}");
        }
    }
    let partial = &body["partialFailureError"];
    assert_eq!(partial["code"], 3);
    let details = partial["details"].as_array().unwrap();
    assert_eq!(details.len(), 1, "one GoogleAdsFailure holds every row");
    let errors = details[0]["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 3);
    let indexes: Vec<u64> = errors
        .iter()
        .map(|e| {
            assert_eq!(e["errorCode"]["conversionUploadError"], "CLICK_NOT_FOUND");
            let path = &e["location"]["fieldPathElements"];
            assert_eq!(path[0]["fieldName"], "conversions");
            assert_eq!(path[1]["fieldName"], "gclid");
            path[0]["index"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(indexes, [7, 250, 499]);
    assert_eq!(
        details[0]["requestId"].as_str(),
        answer.request_id.as_deref()
    );

    // What the gateway reads of it.
    let classified = classify(200, answer.text.as_bytes());
    assert_eq!(classified.outcome, Outcome::Delivered);
    let failures = row_failures(answer.text.as_bytes(), 500);
    assert_eq!(
        failures.rows.iter().map(|f| f.index).collect::<Vec<_>>(),
        [7, 250, 499]
    );
    assert!(
        failures
            .rows
            .iter()
            .all(|f| f.not_attributable && f.action == RowAction::Dead)
    );

    let recorded = sandbox.events_of(Some(Destination::GoogleAds), None);
    assert_eq!(recorded.len(), 497);
    let stats = get_json(&sandbox, "/sandbox/stats").await;
    assert_eq!(
        stats["by_destination"]["google_ads"]["accepted_events"], 497,
        "{stats}"
    );
    assert_eq!(
        stats["by_destination"]["google_ads"]["requests"], 1,
        "{stats}"
    );
    assert_eq!(stats["by_code"]["google_partial_failure"], 1, "{stats}");
}

#[tokio::test]
async fn accepted_rows_show_in_inspection_as_google_ads_events() {
    let sandbox = start_google().await;
    let token = access_token(&sandbox, REFRESH).await;
    let sent = conversion("Cj0KCQ-abc", "order-77");
    assert_eq!(
        upload(&sandbox, &token, &upload_body(vec![sent.clone()]))
            .await
            .status,
        200
    );
    assert_eq!(
        common::track(&sandbox, &common::body(vec![common::web_event("t")]))
            .await
            .code(),
        0
    );

    let listed = get_json(&sandbox, &format!("/sandbox/events?pixel={CUSTOMER}")).await;
    let events = listed["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{listed}");
    let entry = &events[0];
    assert_eq!(entry["destination"], "google_ads");
    assert_eq!(entry["pixel"], CUSTOMER);
    assert_eq!(entry["event"], ACTION);
    assert_eq!(entry["event_id"], "order-77");
    assert_eq!(entry["api"], "v26");
    assert_eq!(
        entry["conversion_action"],
        format!("customers/{CUSTOMER}/conversionActions/{ACTION}")
    );
    assert_eq!(entry["event_time"], 1_772_397_165);
    assert_eq!(entry["payload"], sent);
    let by_destination = get_json(&sandbox, "/sandbox/events?destination=google_ads").await;
    assert_eq!(by_destination["events"].as_array().unwrap().len(), 1);
    let all = get_json(&sandbox, "/sandbox/events").await;
    assert_eq!(all["events"].as_array().unwrap().len(), 2);
    let pixels = get_json(&sandbox, "/sandbox/pixels").await;
    assert_eq!(
        pixels["google_ads_customers"],
        json!([CUSTOMER, OTHER_CUSTOMER])
    );
    assert!(!pixels.to_string().contains("dev-token"), "{pixels}");
}

/// An order id Google already has, twice in one request, and the same click and time again.
#[tokio::test]
async fn refuses_duplicates_with_googles_documented_codes() {
    let sandbox = start_google().await;
    let token = access_token(&sandbox, REFRESH).await;
    assert_eq!(
        upload(&sandbox, &token, &upload_body(vec![conversion("g1", "o1")]))
            .await
            .status,
        200
    );

    let mut same_click = conversion("g1", "o-other");
    same_click["orderId"] = json!("o-new");
    let answer = upload(
        &sandbox,
        &token,
        &upload_body(vec![
            conversion("g2", "o1"),
            conversion("g3", "twice"),
            conversion("g4", "twice"),
            same_click,
            conversion("g5", "o5"),
        ]),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let failures = row_failures(answer.text.as_bytes(), 5);
    let seen: Vec<(usize, &str, RowAction)> = failures
        .rows
        .iter()
        .map(|f| (f.index, f.error_code.as_str(), f.action))
        .collect();
    assert_eq!(
        seen,
        [
            (0, "ORDER_ID_ALREADY_IN_USE", RowAction::Delivered),
            (1, "DUPLICATE_ORDER_ID", RowAction::Dead),
            (2, "DUPLICATE_ORDER_ID", RowAction::Dead),
            (3, "CLICK_CONVERSION_ALREADY_EXISTS", RowAction::Delivered),
        ]
    );
    let ids: Vec<Option<String>> = sandbox
        .events_of(Some(Destination::GoogleAds), None)
        .into_iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(ids, [Some("o1".to_owned()), Some("o5".to_owned())]);
    // Forgetting the events forgets Google's dedup too.
    sandbox.clear();
    assert_eq!(
        upload(&sandbox, &token, &upload_body(vec![conversion("g1", "o1")]))
            .await
            .json()
            .get("partialFailureError"),
        None
    );
}

#[tokio::test]
async fn too_recent_clicks_fail_until_told_normal() {
    let sandbox = start_google().await;
    let token = access_token(&sandbox, REFRESH).await;
    sandbox.set_google_ads_click("fresh", GoogleAdsClickState::TooRecent);
    let answer = upload(
        &sandbox,
        &token,
        &upload_body(vec![conversion("fresh", "o1")]),
    )
    .await;
    let failure = &row_failures(answer.text.as_bytes(), 1).rows[0];
    assert_eq!(failure.error_code, "TOO_RECENT_EVENT");
    assert_eq!(
        failure.action,
        RowAction::RetryAfter(Duration::from_secs(6 * 3600))
    );
    let summary = get_json(&sandbox, "/sandbox/google-ads").await;
    assert_eq!(summary["clicks"], json!({"fresh": "too_recent"}));
    let normal = post_json(
        &sandbox,
        "/sandbox/google-ads/clicks",
        &json!({"gclid": "fresh", "state": "normal"}),
    )
    .await;
    assert_eq!(normal.status, 200);
    let answer = upload(
        &sandbox,
        &token,
        &upload_body(vec![conversion("fresh", "o1")]),
    )
    .await;
    assert!(
        answer.json().get("partialFailureError").is_none(),
        "{}",
        answer.text
    );
    for bad in [
        json!({"gclid": "x", "state": "lost"}),
        json!({"gclid": "", "state": "normal"}),
        json!({"gclid": "x"}),
    ] {
        let refused = post_json(&sandbox, "/sandbox/google-ads/clicks", &bad).await;
        assert_eq!(refused.status, 400, "{bad}: {}", refused.text);
        assert!(refused.json()["error"].is_string());
    }
    let cleared = send(
        &sandbox,
        reqwest::Method::DELETE,
        "/sandbox/google-ads/clicks",
        &[],
        None,
    )
    .await;
    assert_eq!(cleared.status, 200, "{}", cleared.text);
}

/// A malformed row fails alone, naming its field; what Google's parser refuses fails the request.
#[tokio::test]
async fn a_bad_date_fails_its_row_and_names_the_field() {
    let sandbox = start_google().await;
    let token = access_token(&sandbox, REFRESH).await;
    let mut bad = conversion("g1", "o1");
    bad["conversionDateTime"] = json!("2026-03-01T12:32:45Z");
    let answer = upload(
        &sandbox,
        &token,
        &upload_body(vec![conversion("g0", "o0"), bad]),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    let error = &body["partialFailureError"]["details"][0]["errors"][0];
    assert_eq!(
        error["errorCode"]["dateError"],
        "INVALID_STRING_DATE_TIME_SECONDS_WITH_OFFSET"
    );
    assert_eq!(
        error["location"]["fieldPathElements"],
        json!([{"fieldName": "conversions", "index": 1}, {"fieldName": "conversion_date_time"}])
    );
    let message = body["partialFailureError"]["message"].as_str().unwrap();
    assert!(
        message.contains("at conversions[1].conversion_date_time"),
        "{message}"
    );
    assert_eq!(body["results"][1], json!({}));
    assert_eq!(sandbox.events(Some(CUSTOMER)).len(), 1);

    let mut unknown = conversion("g2", "o2");
    unknown["conversionTime"] = json!("2026-03-01 12:32:45-08:00");
    let answer = upload(&sandbox, &token, &upload_body(vec![unknown])).await;
    let error = answer.google_error(400, "INVALID_ARGUMENT");
    let detail: &Value = &error["details"][0];
    assert_eq!(detail["@type"], "type.googleapis.com/google.rpc.BadRequest");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("Unknown name \"conversionTime\" at 'conversions[0]'"),
        "{error}"
    );
    let not_json = send_google(
        &sandbox,
        &upload_path(CUSTOMER),
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &format!("Bearer {token}")),
            ("developer-token", DEV_TOKEN),
        ],
        b"{not json".to_vec(),
        None,
    )
    .await
    .unwrap();
    not_json.google_error(400, "INVALID_ARGUMENT");
}

#[tokio::test]
async fn other_paths_under_customers_are_not_found_and_meta_still_routes() {
    let sandbox = start_with(SandboxConfig {
        meta_pixels: vec![("1234567890123456".into(), "EAAB-t".into())],
        ..google_config()
    })
    .await;
    let token = access_token(&sandbox, REFRESH).await;
    let bearer = format!("Bearer {token}");
    let headers = [
        ("Content-Type", "application/json"),
        ("Authorization", bearer.as_str()),
        ("developer-token", DEV_TOKEN),
    ];
    for path in [
        format!("/v26/customers/{CUSTOMER}:uploadCallConversions"),
        format!("/v26/customers/{CUSTOMER}"),
        format!("/v26.0/customers/{CUSTOMER}:uploadClickConversions"),
    ] {
        let answer = send_google(&sandbox, &path, &headers, b"{}".to_vec(), None)
            .await
            .unwrap();
        answer.google_error(404, "NOT_FOUND");
    }
    let meta = common::meta::post_meta_to(
        &sandbox,
        "1234567890123456",
        Some("EAAB-t"),
        &json!({"data": [common::meta::meta_event("m")]}),
    )
    .await;
    assert_eq!(meta.events_received(), 1);
}
