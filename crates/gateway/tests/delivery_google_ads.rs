//! The delivery engine end to end against the Google Ads sandbox, once per store: conversions go
//! as click conversions in partial-failure mode with an OAuth access token, a batch's refused rows
//! are settled row by row with Google's codes while the rest is delivered, an expired access token
//! is refreshed once, and a refused refresh token pauses the pixel.
#![allow(clippy::unwrap_used)]

mod common;

use common::backend::TestDb;
use common::harness::{GOOGLE_ACTION, GOOGLE_CUSTOMER, GOOGLE_PIXEL, Harness, fast_policy};
use common::{lead, sold};
use signalpost_gateway::delivery::PixelState;
use signalpost_gateway::{AttemptOutcome, ConversionState, NewLead};
use signalpost_sandbox::{Destination, GoogleAdsClickState, SandboxConfig};

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
    assert!(
        matches!(
            h.pixels.get(GOOGLE_PIXEL).unwrap().state,
            PixelState::Paused { .. }
        ),
        "the pixel is paused"
    );
    assert!(google_events(&h).is_empty());
    h.stop_engine().await;
}

both_stores!(
    a_sold_lead_arrives_as_click_conversions_with_its_gclid_hashes_and_offset,
    a_lead_without_a_click_id_is_sent_on_its_identifiers_alone,
    google_refusing_3_of_500_rows_delivers_497_in_one_request_and_records_the_3,
    an_expired_access_token_is_refreshed_once_and_delivery_goes_on,
    a_revoked_refresh_token_pauses_the_pixel_with_googles_reason,
);
