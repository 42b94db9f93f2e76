//! The delivery engine end to end against Meta's sandbox, once per store: the same engine as for
//! TikTok (batching up to 1,000 events, retry with backoff, pause on a refused token, setting an
//! invalid event aside, exactly-once through a slow destination), with Meta's request, answers and
//! codes. Refused batches resolved event by event for Meta are in `refusals.rs`.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::backend::TestDb;
use common::harness::{Harness, META_PIXEL, fast_policy};
use common::refusals::refusable_meta_units;
use common::{lead, now_secs, slow_sandbox, sold};
use signalpost_gateway::delivery::{AccessToken, DeliveryPolicy};
use signalpost_gateway::{AttemptOutcome, ConversionState};
use signalpost_sandbox::{Fault, FaultKind, SandboxConfig};

async fn a_lead_and_its_sale_arrive_as_two_meta_events(db: TestDb) {
    let mut h = Harness::new_meta(db, SandboxConfig::default(), fast_policy()).await;
    h.start_engine();
    h.gateway.submit_lead(lead("m-1")).await.unwrap();
    h.gateway.submit_event("m-1", sold(42.5)).await.unwrap();
    let view = h
        .wait_for_states("m-1", 2, ConversionState::Delivered)
        .await;
    let events = h.meta_events();
    assert_eq!(events.len(), 2, "{events:#?}");
    let sale = events
        .iter()
        .find(|e| e["event_name"] == "Purchase")
        .unwrap();
    assert_eq!(sale["action_source"], "website");
    assert_eq!(sale["event_id"], "m-1");
    assert_eq!(sale["custom_data"]["value"], 42.5);
    assert_eq!(sale["user_data"]["em"][0], "a".repeat(64));
    assert_eq!(sale["user_data"]["client_user_agent"], "Mozilla/5.0 (test)");
    assert!(
        sale["event_source_url"]
            .as_str()
            .unwrap()
            .starts_with("https://lp.example.com/")
    );
    for c in &view.conversions {
        let a = c.attempt_log.last().unwrap();
        assert_eq!(a.http_status, Some(200));
        assert!(
            a.request_id.as_deref().is_some_and(|r| !r.is_empty()),
            "Meta's fbtrace_id is kept: {a:?}"
        );
    }
    h.stop_engine().await;
}

async fn meta_server_errors_and_throttling_end_delivered_after_retries(db: TestDb) {
    let mut h = Harness::new_meta(db, SandboxConfig::default(), fast_policy()).await;
    h.sandbox.inject(Fault::requests(FaultKind::Http500, 1));
    h.sandbox.inject(Fault::requests(FaultKind::RateLimit, 1));
    h.sandbox.inject(Fault::requests(FaultKind::ServerError, 1));
    h.start_engine();
    h.gateway.submit_lead(lead("m-faults")).await.unwrap();
    let view = h
        .wait_for_states("m-faults", 1, ConversionState::Delivered)
        .await;
    let log = &view.conversions[0].attempt_log;
    let retried = log
        .iter()
        .filter(|a| a.outcome == AttemptOutcome::Retryable)
        .count();
    assert!(retried >= 3, "{log:#?}");
    assert!(
        log.iter().any(|a| a.code == Some(17)),
        "throttled: {log:#?}"
    );
    assert_eq!(log.last().unwrap().outcome, AttemptOutcome::Delivered);
    assert_eq!(h.meta_events().len(), 1);
    h.stop_engine().await;
}

async fn a_token_meta_refuses_pauses_the_pixel_until_it_is_replaced(db: TestDb) {
    let mut h = Harness::new_meta(db, SandboxConfig::default(), fast_policy()).await;
    h.sandbox
        .sandbox()
        .set_meta_token(META_PIXEL, "rotated-meta-token-2")
        .unwrap();
    h.start_engine();
    h.gateway.submit_lead(lead("m-auth-1")).await.unwrap();
    let view = h
        .wait_for_states("m-auth-1", 1, ConversionState::Paused)
        .await;
    let c = &view.conversions[0];
    assert_eq!(c.attempt_log.last().unwrap().code, Some(190), "{c:#?}");
    let why = c.conversion.last_error.as_deref().unwrap();
    assert!(why.starts_with("paused: Meta rejected"), "{why}");
    h.wait_for_pixel_paused(META_PIXEL).await;
    h.gateway.submit_lead(lead("m-auth-2")).await.unwrap();
    assert!(
        h.pixels
            .set_token(META_PIXEL, AccessToken::new("rotated-meta-token-2"))
            .unwrap()
    );
    h.wait_for_states("m-auth-1", 1, ConversionState::Delivered)
        .await;
    h.wait_for_states("m-auth-2", 1, ConversionState::Delivered)
        .await;
    assert_eq!(h.meta_events().len(), 2);
    h.stop_engine().await;
}

async fn an_event_meta_refuses_is_set_aside_and_the_rest_are_delivered(db: TestDb) {
    // The engine keeps events for 30 days; Meta refuses a whole request with one older than 7.
    let policy = DeliveryPolicy {
        max_event_age: Duration::from_secs(30 * 86_400),
        ..fast_policy()
    };
    let mut h = Harness::new_meta(db, SandboxConfig::default(), policy).await;
    for i in 0..7 {
        let mut l = lead(&format!("m-b{i}"));
        if i == 4 {
            l.occurred_at = Some(now_secs() - 10 * 86_400);
        }
        h.gateway.submit_lead(l).await.unwrap();
    }
    h.start_engine();
    let bad = h.wait_for_states("m-b4", 1, ConversionState::Dead).await;
    for i in [0, 1, 2, 3, 5, 6] {
        h.wait_for_states(&format!("m-b{i}"), 1, ConversionState::Delivered)
            .await;
    }
    let bad = &bad.conversions[0];
    let last = bad.attempt_log.last().unwrap();
    assert_eq!(
        (last.outcome, last.code),
        (AttemptOutcome::Invalid, Some(100))
    );
    let why = bad.conversion.last_error.as_deref().unwrap();
    assert!(why.starts_with("rejected by Meta: 100"), "{why}");
    let events = h.meta_events();
    assert_eq!(events.len(), 6, "{events:#?}");
    assert!(events.iter().all(|e| e["event_id"] != "m-b4"));
    h.stop_engine().await;
}

/// With Meta-like latency (100 ms median, 300 ms p99) no event is sent twice or lost.
async fn through_a_slow_meta_every_lead_arrives_exactly_once(db: TestDb) {
    let mut h = Harness::new_meta(db, slow_sandbox("100:300"), fast_policy()).await;
    h.start_engine();
    for i in 0..100 {
        h.gateway
            .submit_lead(lead(&format!("m-slow-{i}")))
            .await
            .unwrap();
    }
    h.wait_for_delivered(100).await;
    let stats = h.sandbox.stats();
    assert_eq!(stats.accepted_events, 100);
    assert_eq!(stats.duplicates, 0, "an event was sent twice");
    assert_eq!(stats.rejected_requests, 0);
    assert!(
        stats.requests < 100,
        "events were batched: {}",
        stats.requests
    );
    h.stop_engine().await;
}

/// 2,500 queued conversions go out in requests of at most 1,000 events (Meta's limit, which the
/// sandbox enforces by refusing larger requests), every one delivered once.
async fn a_backlog_goes_to_meta_in_requests_of_at_most_1000(db: TestDb) {
    let mut h = Harness::new_meta(db, slow_sandbox("20"), fast_policy()).await;
    let units = refusable_meta_units(META_PIXEL, 2_500, &BTreeSet::new());
    for answer in h.store.ingest_many(units).await.unwrap() {
        answer.unwrap();
    }
    h.start_engine();
    h.wait_for_delivered(2_500).await;
    let stats = h.sandbox.stats();
    assert_eq!(stats.accepted_events, 2_500);
    assert_eq!(stats.rejected_requests, 0, "{stats:#?}");
    assert_eq!(stats.duplicates, 0);
    assert!(stats.requests >= 3, "{stats:#?}");
    h.stop_engine().await;
}

both_stores!(
    a_backlog_goes_to_meta_in_requests_of_at_most_1000,
    a_lead_and_its_sale_arrive_as_two_meta_events,
    meta_server_errors_and_throttling_end_delivered_after_retries,
    a_token_meta_refuses_pauses_the_pixel_until_it_is_replaced,
    an_event_meta_refuses_is_set_aside_and_the_rest_are_delivered,
    through_a_slow_meta_every_lead_arrives_exactly_once,
);
