//! The delivery engine end to end against the Google Ads sandbox, once per store: conversions go
//! as click conversions in partial-failure mode with an OAuth access token, a batch's refused rows
//! are settled row by row with Google's codes while the rest is delivered, an expired access token
//! is refreshed once, a refused refresh token or developer token pauses the pixel, a "too recent"
//! click waits 6 hours, faults are retried, a backlog goes in requests of at most 2,000, and a slow
//! Google gets every conversion exactly once.
#![allow(clippy::unwrap_used)]

mod common;

use common::backend::TestDb;
use common::harness::{GOOGLE_ACTION, GOOGLE_CUSTOMER, GOOGLE_PIXEL, Harness, fast_policy};
use common::{lead, slow_sandbox, sold};
use signalpost_gateway::time::now_ms;
use signalpost_gateway::{AttemptOutcome, ConversionState, NewLead};
use signalpost_sandbox::{Destination, Fault, FaultKind, GoogleAdsClickState, SandboxConfig};

fn google_lead(tx: &str, gclid: Option<&str>) -> NewLead {
    NewLead {
        gclid: gclid.map(str::to_owned),
        ..lead(tx)
    }
}

fn google_events(h: &Harness) -> Vec<serde_json::Value> {
    h.sandbox
        .sandbox()
        .events_of(Some(Destination::GoogleAds), None)
        .iter()
        .map(|e| e.payload_json())
        .collect()
}

async fn a_sold_lead_arrives_as_click_conversions_with_its_gclid_hashes_and_offset(db: TestDb) {
    let mut h = Harness::new_google_ads(db, SandboxConfig::default(), fast_policy()).await;
    h.start_engine();
    h.gateway
        .submit_lead(google_lead("g-1", Some("Cj0KCQ-test-gclid")))
        .await
        .unwrap();
    h.gateway.submit_event("g-1", sold(42.5)).await.unwrap();
    h.wait_for_states("g-1", 2, ConversionState::Delivered)
        .await;
    let events = google_events(&h);
    assert_eq!(events.len(), 2, "{events:#?}");
    let sale = events
        .iter()
        .find(|e| e.get("conversionValue").is_some())
        .unwrap();
    assert_eq!(sale["gclid"], "Cj0KCQ-test-gclid");
    assert_eq!(
        sale["conversionAction"],
        format!("customers/{GOOGLE_CUSTOMER}/conversionActions/{GOOGLE_ACTION}")
    );
    assert_eq!(sale["conversionValue"], 42.5);
    assert_eq!(sale["currencyCode"], "USD");
    let time = sale["conversionDateTime"].as_str().unwrap();
    assert!(time.ends_with("+00:00"), "UTC rules write +00:00: {time}");
    let ids = sale["userIdentifiers"].as_array().unwrap();
    assert!(
        ids.iter().any(|i| i.get("hashedEmail").is_some()),
        "{ids:?}"
    );
    let order_ids: Vec<&str> = events
        .iter()
        .map(|e| e["orderId"].as_str().unwrap())
        .collect();
    assert_ne!(
        order_ids[0], order_ids[1],
        "each conversion its own order id"
    );
    h.stop_engine().await;
}

async fn a_lead_without_a_click_id_is_sent_on_its_identifiers_alone(db: TestDb) {
    let mut h = Harness::new_google_ads(db, SandboxConfig::default(), fast_policy()).await;
    h.start_engine();
    h.gateway
        .submit_lead(google_lead("g-2", None))
        .await
        .unwrap();
    h.wait_for_states("g-2", 1, ConversionState::Delivered)
        .await;
    let events = google_events(&h);
    assert!(events[0].get("gclid").is_none());
    assert!(!events[0]["userIdentifiers"].as_array().unwrap().is_empty());
    h.stop_engine().await;
}

async fn google_refusing_3_of_500_rows_delivers_497_in_one_request_and_records_the_3(db: TestDb) {
    let mut h = Harness::new_google_ads(db, SandboxConfig::default(), fast_policy()).await;
    let refused = [7, 250, 499];
    for i in refused {
        h.sandbox
            .sandbox()
            .set_google_ads_click(&format!("gclid-{i}"), GoogleAdsClickState::NotFound);
    }
    // Queued before the engine starts, so one claim takes them all.
    for i in 0..500 {
        let tx = format!("b-{i}");
        h.gateway
            .submit_lead(google_lead(&tx, Some(&format!("gclid-{i}"))))
            .await
            .unwrap();
    }
    h.start_engine();
    h.wait_for_delivered(497).await;
    for i in refused {
        let view = h
            .wait_for_states(&format!("b-{i}"), 1, ConversionState::Dead)
            .await;
        let conversion = &view.conversions[0];
        let error = conversion.conversion.last_error.as_deref().unwrap();
        assert!(error.contains("CLICK_NOT_FOUND"), "{error}");
        assert!(error.contains("Google Ads"), "{error}");
        let log = &conversion.attempt_log;
        assert_eq!(log.len(), 1, "{log:#?}");
        assert_eq!(log[0].outcome, AttemptOutcome::Invalid);
        assert_eq!(log[0].batch_size, 500);
        assert!(log[0].message.starts_with("CLICK_NOT_FOUND"), "{log:#?}");
    }
    let stats = h.sandbox.stats();
    assert_eq!(stats.requests, 1, "one request for the 500: {stats:?}");
    assert_eq!(google_events(&h).len(), 497);
    let delivered = h.view("b-8").await;
    assert_eq!(
        delivered.conversions[0].attempt_log[0].outcome,
        AttemptOutcome::Delivered
    );
    h.stop_engine().await;
}

async fn an_expired_access_token_is_refreshed_once_and_delivery_goes_on(db: TestDb) {
    let mut h = Harness::new_google_ads(db, SandboxConfig::default(), fast_policy()).await;
    h.start_engine();
    h.gateway
        .submit_lead(google_lead("t-1", Some("gclid-t1")))
        .await
        .unwrap();
    h.wait_for_states("t-1", 1, ConversionState::Delivered)
        .await;
    let issued = h.sandbox.sandbox().google_ads_tokens_issued();
    assert!(issued >= 1);
    h.sandbox.sandbox().expire_google_ads_access_tokens();
    h.gateway
        .submit_lead(google_lead("t-2", Some("gclid-t2")))
        .await
        .unwrap();
    let view = h
        .wait_for_states("t-2", 1, ConversionState::Delivered)
        .await;
    assert_eq!(
        h.sandbox.sandbox().google_ads_tokens_issued(),
        issued + 1,
        "one refresh"
    );
    assert_eq!(
        view.conversions[0].attempt_log.len(),
        1,
        "the 401 and its retry are one attempt"
    );
    h.stop_engine().await;
}

async fn a_revoked_refresh_token_pauses_the_pixel_with_googles_reason(db: TestDb) {
    let mut h = Harness::new_google_ads(db, SandboxConfig::default(), fast_policy()).await;
    h.sandbox
        .sandbox()
        .set_google_ads_refresh_token_revoked("1//refresh-token-1", true);
    h.start_engine();
    h.gateway
        .submit_lead(google_lead("r-1", Some("gclid-r1")))
        .await
        .unwrap();
    let view = h.wait_for_states("r-1", 1, ConversionState::Paused).await;
    let error = view.conversions[0]
        .conversion
        .last_error
        .as_deref()
        .unwrap();
    assert!(error.contains("invalid_grant"), "{error}");
    h.wait_for_pixel_paused(GOOGLE_PIXEL).await;
    assert!(google_events(&h).is_empty());
    h.stop_engine().await;
}

async fn a_click_google_calls_too_recent_is_sent_again_in_six_hours_not_by_backoff(db: TestDb) {
    let mut h = Harness::new_google_ads(db, SandboxConfig::default(), fast_policy()).await;
    h.sandbox
        .sandbox()
        .set_google_ads_click("fresh-gclid", GoogleAdsClickState::TooRecent);
    h.start_engine();
    let before = now_ms();
    h.gateway
        .submit_lead(google_lead("recent-1", Some("fresh-gclid")))
        .await
        .unwrap();
    let view = h
        .wait_for_states("recent-1", 1, ConversionState::Retrying)
        .await;
    let conversion = &view.conversions[0].conversion;
    let next = conversion.next_attempt_at_ms.unwrap();
    assert!(
        next >= before + 6 * 3_600_000 - 1_000,
        "retried in 6 h, not by backoff: {next} vs {before}"
    );
    assert!(
        conversion
            .last_error
            .as_deref()
            .unwrap()
            .contains("TOO_RECENT_EVENT"),
        "{conversion:?}"
    );
    h.stop_engine().await;
}

async fn a_developer_token_google_refuses_pauses_the_pixel(db: TestDb) {
    let mut h = Harness::new_google_ads(db, SandboxConfig::default(), fast_policy()).await;
    h.sandbox
        .sandbox()
        .set_google_ads_customer(GOOGLE_CUSTOMER, "another-dev-token")
        .unwrap();
    h.start_engine();
    h.gateway
        .submit_lead(google_lead("p-403", Some("gclid-403")))
        .await
        .unwrap();
    let view = h.wait_for_states("p-403", 1, ConversionState::Paused).await;
    let c = &view.conversions[0];
    assert_eq!(
        c.attempt_log.last().unwrap().http_status,
        Some(403),
        "{c:#?}"
    );
    let why = c.conversion.last_error.as_deref().unwrap();
    assert!(why.starts_with("paused: Google Ads rejected"), "{why}");
    h.stop_engine().await;
}

async fn google_server_errors_and_throttling_end_delivered_after_retries(db: TestDb) {
    let mut h = Harness::new_google_ads(db, SandboxConfig::default(), fast_policy()).await;
    h.sandbox.inject(Fault::requests(FaultKind::Http500, 1));
    h.sandbox.inject(Fault::requests(FaultKind::RateLimit, 1));
    h.sandbox.inject(Fault::requests(FaultKind::ServerError, 1));
    h.start_engine();
    h.gateway
        .submit_lead(google_lead("g-faults", Some("gclid-faults")))
        .await
        .unwrap();
    let view = h
        .wait_for_states("g-faults", 1, ConversionState::Delivered)
        .await;
    let log = &view.conversions[0].attempt_log;
    let retried = log
        .iter()
        .filter(|a| a.outcome == AttemptOutcome::Retryable)
        .count();
    assert!(retried >= 3, "{log:#?}");
    assert!(
        log.iter().any(|a| a.http_status == Some(429)),
        "throttled: {log:#?}"
    );
    assert_eq!(google_events(&h).len(), 1);
    h.stop_engine().await;
}

async fn a_backlog_goes_to_google_in_requests_of_at_most_2000(db: TestDb) {
    let mut h = Harness::new_google_ads(db, slow_sandbox("20"), fast_policy()).await;
    for i in 0..4_500 {
        h.gateway
            .submit_lead(google_lead(
                &format!("bl-{i}"),
                Some(&format!("gclid-bl-{i}")),
            ))
            .await
            .unwrap();
    }
    h.start_engine();
    h.wait_for_delivered(4_500).await;
    let stats = h.sandbox.stats();
    assert_eq!(google_events(&h).len(), 4_500);
    assert_eq!(stats.rejected_requests, 0, "{stats:#?}");
    assert_eq!(stats.requests, 3, "2,000 + 2,000 + 500: {stats:#?}");
    h.stop_engine().await;
}

async fn through_a_slow_google_every_lead_arrives_exactly_once(db: TestDb) {
    let mut h = Harness::new_google_ads(db, slow_sandbox("100:300"), fast_policy()).await;
    h.start_engine();
    for i in 0..300 {
        h.gateway
            .submit_lead(google_lead(
                &format!("s-{i}"),
                Some(&format!("gclid-s-{i}")),
            ))
            .await
            .unwrap();
    }
    h.wait_for_delivered(300).await;
    let events = google_events(&h);
    let ids: std::collections::BTreeSet<String> = events
        .iter()
        .map(|e| e["orderId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!((events.len(), ids.len()), (300, 300));
    h.stop_engine().await;
}

both_stores!(
    a_sold_lead_arrives_as_click_conversions_with_its_gclid_hashes_and_offset,
    a_lead_without_a_click_id_is_sent_on_its_identifiers_alone,
    google_refusing_3_of_500_rows_delivers_497_in_one_request_and_records_the_3,
    an_expired_access_token_is_refreshed_once_and_delivery_goes_on,
    a_revoked_refresh_token_pauses_the_pixel_with_googles_reason,
    a_click_google_calls_too_recent_is_sent_again_in_six_hours_not_by_backoff,
    a_developer_token_google_refuses_pauses_the_pixel,
    google_server_errors_and_throttling_end_delivered_after_retries,
    a_backlog_goes_to_google_in_requests_of_at_most_2000,
    through_a_slow_google_every_lead_arrives_exactly_once,
);
