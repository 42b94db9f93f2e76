//! The delivery engine end to end, once per store (a real SQLite file; a real PostgreSQL schema when
//! `SIGNALPOST_TEST_DATABASE_URL` is set), with the real TikTok client and the strict sandbox over
//! HTTP on 127.0.0.1. No timing assertions: every test polls until the expected state, with a
//! generous overall deadline.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::backend::TestDb;
use common::harness::{Harness, PIXEL, fast_policy, wait_until};
use common::refusals::refusable_units;
use common::{demo_rules, hex64, lead, now_secs, slow_sandbox, sold};
use signalpost_gateway::delivery::{AccessToken, DeliveryPolicy, PixelState, RetryPolicy};
use signalpost_gateway::{AttemptOutcome, ConversionState, Gateway, NewLead};
use signalpost_sandbox::{Fault, FaultKind, SandboxConfig};

async fn a_lead_and_its_sale_arrive_as_two_events_with_the_right_fields(db: TestDb) {
    let mut h = Harness::new(db, SandboxConfig::default(), fast_policy()).await;
    h.start_engine();
    let submitted = lead("tx-fields");
    let lead_time = submitted.occurred_at.unwrap();
    h.gateway.submit_lead(submitted).await.unwrap();
    let sale = sold(42.5);
    let sale_time = sale.occurred_at.unwrap();
    h.gateway.submit_event("tx-fields", sale).await.unwrap();

    let view = h
        .wait_for_states("tx-fields", 2, ConversionState::Delivered)
        .await;
    let mut events = h.sandbox_events();
    events.sort_by_key(|e| e["event_time"].as_i64());
    assert_eq!(events.len(), 2, "{events:?}");
    let (reg, purchase) = (&events[0], &events[1]);
    assert_eq!(reg["event"], "CompleteRegistration");
    assert_eq!(purchase["event"], "Purchase");
    for (e, time) in [(reg, lead_time), (purchase, sale_time)] {
        assert_eq!(e["event_id"], "tx-fields");
        assert_eq!(e["event_time"], time);
        assert_eq!(e["user"]["email"], hex64('a'));
        assert_eq!(e["user"]["phone"], hex64('b'));
        assert_eq!(e["user"]["ip"], "203.0.113.7");
        assert_eq!(e["user"]["user_agent"], "Mozilla/5.0 (test)");
        assert_eq!(e["user"]["ttclid"], "clk-tx-fields");
        assert_eq!(
            e["page"]["url"],
            "https://lp.example.com/form?ttclid=clk-tx-fields"
        );
    }
    assert_eq!(purchase["properties"]["value"], 42.5);
    assert_eq!(purchase["properties"]["currency"], "USD");
    assert!(reg.get("properties").is_none());

    for c in &view.conversions {
        let a = c.attempt_log.last().unwrap();
        assert_eq!(
            (a.outcome, a.http_status, a.code),
            (AttemptOutcome::Delivered, Some(200), Some(0))
        );
        assert!(a.request_id.as_deref().is_some_and(|r| !r.is_empty()));
    }
    h.stop_engine().await;
}

async fn server_errors_hangs_and_rate_limits_end_delivered_after_retries(db: TestDb) {
    let sandbox = SandboxConfig {
        hang: Duration::from_secs(3),
        ..SandboxConfig::default()
    };
    let policy = DeliveryPolicy {
        request_timeout: Duration::from_millis(500),
        ..fast_policy()
    };
    let mut h = Harness::new(db, sandbox, policy).await;
    h.sandbox.inject(Fault::requests(FaultKind::Http500, 2));
    h.sandbox.inject(Fault::requests(FaultKind::Hang, 1));
    h.sandbox.inject(Fault::requests(FaultKind::RateLimit, 1));
    h.sandbox.inject(Fault::requests(FaultKind::ServerError, 1));
    h.start_engine();
    h.gateway.submit_lead(lead("tx-faults")).await.unwrap();

    let view = h
        .wait_for_states("tx-faults", 1, ConversionState::Delivered)
        .await;
    let log = &view.conversions[0].attempt_log;
    let retryable = log
        .iter()
        .filter(|a| a.outcome == AttemptOutcome::Retryable)
        .count();
    assert!(retryable >= 4, "{log:#?}");
    assert!(log.iter().any(|a| a.http_status == Some(500)), "{log:#?}");
    assert!(log.iter().any(|a| a.code == Some(40100)), "{log:#?}");
    assert!(
        log.iter().any(|a| a.http_status.is_none()),
        "a timeout: {log:#?}"
    );
    assert_eq!(log.last().unwrap().outcome, AttemptOutcome::Delivered);
    assert_eq!(view.conversions[0].conversion.attempts as usize, log.len());
    h.stop_engine().await;
}

async fn a_revoked_token_pauses_the_pixel_and_a_new_token_resumes_with_nothing_lost(db: TestDb) {
    let mut h = Harness::new(db, SandboxConfig::default(), fast_policy()).await;
    h.sandbox.set_token(PIXEL, "rotated-token-0002").unwrap();
    h.start_engine();
    h.gateway.submit_lead(lead("tx-auth-1")).await.unwrap();

    let view = h
        .wait_for_states("tx-auth-1", 1, ConversionState::Paused)
        .await;
    let c = &view.conversions[0];
    assert_eq!(c.attempt_log.last().unwrap().code, Some(40105));
    assert!(
        c.conversion
            .last_error
            .as_deref()
            .unwrap()
            .contains("replace the token")
    );
    h.wait_for_pixel_paused(PIXEL).await;

    // Work queued while paused waits too.
    h.gateway.submit_lead(lead("tx-auth-2")).await.unwrap();

    assert!(
        h.pixels
            .set_token(PIXEL, AccessToken::new("rotated-token-0002"))
            .unwrap()
    );
    h.wait_for_states("tx-auth-1", 1, ConversionState::Delivered)
        .await;
    h.wait_for_states("tx-auth-2", 1, ConversionState::Delivered)
        .await;
    let ids: Vec<String> = h
        .sandbox_events()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        ids.contains(&"tx-auth-1".to_owned()) && ids.contains(&"tx-auth-2".to_owned()),
        "{ids:?}"
    );
    h.stop_engine().await;
}

/// Probes every 100 ms instead of every 5 minutes.
fn probing_policy() -> DeliveryPolicy {
    DeliveryPolicy {
        pause_probe: Duration::from_millis(100),
        ..fast_policy()
    }
}

async fn a_pause_from_a_passing_refusal_heals_by_probe_without_a_new_token(db: TestDb) {
    let mut h = Harness::new(db, SandboxConfig::default(), probing_policy()).await;
    // TikTok refuses the token once (a permission granted late, say), then accepts it again.
    // Both leads are queued before the engine starts, so the refused request carries both.
    h.sandbox
        .inject(Fault::requests(FaultKind::NoPermission, 1));
    h.gateway.submit_lead(lead("tx-heal-1")).await.unwrap();
    h.gateway.submit_lead(lead("tx-heal-2")).await.unwrap();
    h.start_engine();

    for tx in ["tx-heal-1", "tx-heal-2"] {
        let view = h.wait_for_states(tx, 1, ConversionState::Delivered).await;
        let log = &view.conversions[0].attempt_log;
        assert_eq!(
            (log[0].code, log[0].batch_size),
            (Some(40001), 2),
            "{log:#?}"
        );
        assert_eq!(log.last().unwrap().outcome, AttemptOutcome::Delivered);
    }
    assert_eq!(h.pixels.get(PIXEL).unwrap().state, PixelState::Active);
    assert_eq!(h.sandbox.stats().accepted_events, 2);
    h.stop_engine().await;
}

async fn a_refused_probe_keeps_the_pixel_paused_until_the_token_changes(db: TestDb) {
    let mut h = Harness::new(db, SandboxConfig::default(), probing_policy()).await;
    h.sandbox.set_token(PIXEL, "rotated-token-0003").unwrap();
    h.start_engine();
    h.gateway.submit_lead(lead("tx-probe-1")).await.unwrap();
    // The first refusal pauses the pixel; each probe sends the held event alone and is refused.
    let view = wait_until(|| async {
        let v = h.view("tx-probe-1").await;
        let c = &v.conversions[0];
        (c.attempt_log.len() >= 3 && c.conversion.state == ConversionState::Paused).then_some(v)
    })
    .await;
    let log = &view.conversions[0].attempt_log;
    assert!(log.iter().all(|a| a.code == Some(40105)), "{log:#?}");
    assert!(log.iter().skip(1).all(|a| a.batch_size == 1), "{log:#?}");
    h.wait_for_pixel_paused(PIXEL).await;
    assert_eq!(h.sandbox.stats().accepted_events, 0);

    h.pixels
        .set_token(PIXEL, AccessToken::new("rotated-token-0003"))
        .unwrap();
    h.wait_for_states("tx-probe-1", 1, ConversionState::Delivered)
        .await;
    h.stop_engine().await;
}

async fn an_invalid_batch_sets_the_named_event_aside_and_delivers_the_rest(db: TestDb) {
    // The engine keeps events for 30 days; the sandbox (like TikTok) refuses those older than 7.
    let policy = DeliveryPolicy {
        max_event_age: Duration::from_secs(30 * 86_400),
        ..fast_policy()
    };
    let mut h = Harness::new(db, SandboxConfig::default(), policy).await;
    for i in 0..7 {
        let mut l = lead(&format!("tx-b{i}"));
        if i == 4 {
            l.occurred_at = Some(now_secs() - 10 * 86_400);
        }
        h.gateway.submit_lead(l).await.unwrap();
    }
    // Everything is queued before the engine starts, so the first request carries all seven.
    h.start_engine();
    let bad = h.wait_for_states("tx-b4", 1, ConversionState::Dead).await;
    for i in [0, 1, 2, 3, 5, 6] {
        h.wait_for_states(&format!("tx-b{i}"), 1, ConversionState::Delivered)
            .await;
    }
    // TikTok named data.4, so the bad event was set aside after the first request and the other
    // six were sent again at once: two requests in all, no bisection.
    let bad = &bad.conversions[0];
    let log = &bad.attempt_log;
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!((log[0].batch_size, log[0].code), (7, Some(40002)));
    let why = bad.conversion.last_error.as_deref().unwrap();
    assert!(
        why.contains("40002") && why.contains("data.4.event_time"),
        "{why}"
    );
    let good = h.view("tx-b0").await;
    let good_log = &good.conversions[0].attempt_log;
    assert_eq!(good_log.len(), 2, "{good_log:#?}");
    assert_eq!(good_log[0].outcome, AttemptOutcome::Invalid);
    assert_eq!(
        (good_log[1].outcome, good_log[1].batch_size),
        (AttemptOutcome::Delivered, 6)
    );
    assert_eq!(h.sandbox_events().len(), 6);
    assert_eq!(h.sandbox.stats().requests, 2);
    h.stop_engine().await;
}

async fn events_older_than_the_maximum_age_go_dead_unsent(db: TestDb) {
    let mut h = Harness::new(db, SandboxConfig::default(), fast_policy()).await;
    h.start_engine();
    let mut old = lead("tx-old");
    old.occurred_at = Some(now_secs() - 8 * 86_400);
    h.gateway.submit_lead(old).await.unwrap();
    let view = h.wait_for_states("tx-old", 1, ConversionState::Dead).await;
    let c = &view.conversions[0];
    assert!(
        c.conversion
            .last_error
            .as_deref()
            .unwrap()
            .starts_with("too old")
    );
    assert!(c.attempt_log.is_empty());
    assert_eq!(h.sandbox.stats().requests, 0);
    h.stop_engine().await;
}

async fn a_crashed_engines_claimed_batch_is_delivered_after_the_lease_expires(db: TestDb) {
    let sandbox = SandboxConfig {
        hang: Duration::from_secs(30),
        ..SandboxConfig::default()
    };
    let policy = DeliveryPolicy {
        lease: Duration::from_millis(500),
        request_timeout: Duration::from_secs(60),
        ..fast_policy()
    };
    let mut h = Harness::new(db, sandbox, policy).await;
    h.sandbox.inject(Fault::requests(FaultKind::Hang, 1));
    h.start_engine();
    h.gateway.submit_lead(lead("tx-crash")).await.unwrap();
    h.wait_for_states("tx-crash", 1, ConversionState::InFlight)
        .await;

    // Kill the engine mid-request: nothing records a result.
    let (engine, _shutdown) = h.engine.take().unwrap();
    engine.abort();
    h.sandbox.clear_faults();

    h.start_engine();
    let view = h
        .wait_for_states("tx-crash", 1, ConversionState::Delivered)
        .await;
    assert_eq!(
        view.conversions[0].attempt_log.len(),
        1,
        "only the second engine recorded"
    );
    assert!(
        h.sandbox_events()
            .iter()
            .any(|e| e["event_id"] == "tx-crash")
    );
    h.stop_engine().await;
}

async fn graceful_shutdown_finishes_and_records_in_flight_requests(db: TestDb) {
    let sandbox = SandboxConfig {
        hang: Duration::from_millis(800),
        ..SandboxConfig::default()
    };
    let mut h = Harness::new(db, sandbox, fast_policy()).await;
    h.sandbox.inject(Fault::requests(FaultKind::Hang, 1));
    h.start_engine();
    h.gateway.submit_lead(lead("tx-drain")).await.unwrap();
    h.wait_for_states("tx-drain", 1, ConversionState::InFlight)
        .await;
    h.stop_engine().await;
    let view = h.view("tx-drain").await;
    assert_eq!(
        view.conversions[0].conversion.state,
        ConversionState::Delivered
    );
}

async fn a_pixels_test_event_code_is_sent_top_level(db: TestDb) {
    let mut h = Harness::new(db, SandboxConfig::default(), fast_policy()).await;
    let mut cfg = h.pixels.get(PIXEL).unwrap().config;
    cfg.test_event_code = Some("TEST12345".into());
    h.pixels.upsert(cfg);
    h.start_engine();
    h.gateway.submit_lead(lead("tx-test")).await.unwrap();
    h.wait_for_states("tx-test", 1, ConversionState::Delivered)
        .await;
    let received = h.sandbox.events(Some(PIXEL));
    assert_eq!(received[0].test_event_code.as_deref(), Some("TEST12345"));
    h.stop_engine().await;
}

async fn many_leads_are_all_delivered_in_batches(db: TestDb) {
    let mut h = Harness::new(db, SandboxConfig::default(), fast_policy()).await;
    h.start_engine();
    let gateway = Arc::new(std::mem::replace(
        &mut h.gateway,
        Gateway::new(h.store.shared(), demo_rules(PIXEL)),
    ));
    let mut tasks = Vec::new();
    for t in 0..20 {
        let gw = gateway.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                let l = NewLead {
                    email: Some(hex64('c')),
                    ..lead(&format!("m-{t}-{i}"))
                };
                gw.submit_lead(l).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let total = wait_until(|| async {
        let depth = h.store.queue_depth().await.unwrap();
        let delivered: u64 = depth
            .iter()
            .filter(|d| d.state == ConversionState::Delivered)
            .map(|d| d.count)
            .sum();
        (delivered == 1000).then_some(delivered)
    })
    .await;
    assert_eq!(total, 1000);
    assert_eq!(h.sandbox.stats().accepted_events, 1000);
    let requests = h.sandbox.stats().requests;
    assert!(requests < 1000, "events were batched");
    h.stop_engine().await;
    // One request log row per request sent, however many conversions it carried; each conversion
    // still shows the request that delivered it.
    assert_eq!(
        h.db.scalar("SELECT count(*) FROM requests").await,
        i64::try_from(requests).unwrap()
    );
    let log = &h
        .store
        .get_lead("m-7-7")
        .await
        .unwrap()
        .unwrap()
        .conversions[0]
        .attempt_log;
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(log[0].outcome, AttemptOutcome::Delivered);
    assert!(log[0].batch_size >= 1);
}

/// With a 50 ms destination and a backlog, the pixel's window grows past its initial 2 requests in
/// flight (what the sandbox saw at once) and never past the ceiling of 6; every event arrives once.
async fn under_latency_the_window_grows_past_its_start_and_stays_under_its_ceiling(db: TestDb) {
    let policy = DeliveryPolicy {
        max_batch_events: 50,
        initial_in_flight: 2,
        max_in_flight: 6,
        ..fast_policy()
    };
    let mut h = Harness::new(db, slow_sandbox("50"), policy).await;
    let units = refusable_units(PIXEL, 3_000, &BTreeSet::new());
    for answer in h.store.ingest_many(units).await.unwrap() {
        answer.unwrap();
    }
    h.start_engine();
    h.wait_for_delivered(3_000).await;
    h.stop_engine().await;
    let stats = h.sandbox.stats();
    assert_eq!(stats.accepted_events, 3_000);
    assert_eq!(stats.duplicates, 0);
    assert!(
        (3..=6).contains(&stats.peak_concurrent_requests),
        "requests at once: {}",
        stats.peak_concurrent_requests
    );
}

both_stores!(
    under_latency_the_window_grows_past_its_start_and_stays_under_its_ceiling,
    a_lead_and_its_sale_arrive_as_two_events_with_the_right_fields,
    server_errors_hangs_and_rate_limits_end_delivered_after_retries,
    a_revoked_token_pauses_the_pixel_and_a_new_token_resumes_with_nothing_lost,
    a_pause_from_a_passing_refusal_heals_by_probe_without_a_new_token,
    a_refused_probe_keeps_the_pixel_paused_until_the_token_changes,
    an_invalid_batch_sets_the_named_event_aside_and_delivers_the_rest,
    events_older_than_the_maximum_age_go_dead_unsent,
    a_crashed_engines_claimed_batch_is_delivered_after_the_lease_expires,
    graceful_shutdown_finishes_and_records_in_flight_requests,
    a_pixels_test_event_code_is_sent_top_level,
    many_leads_are_all_delivered_in_batches,
    through_a_slow_destination_every_lead_arrives_exactly_once,
    when_a_failing_destination_recovers_waiting_retries_are_sent_at_once,
);

async fn when_a_failing_destination_recovers_waiting_retries_are_sent_at_once(db: TestDb) {
    // Backoff of up to 10 hours: without being brought forward, the failed event would not be
    // retried during this test (the chance of a full-jitter delay under a minute is 1 in 600).
    let policy = DeliveryPolicy {
        retry: RetryPolicy {
            base: Duration::from_secs(10 * 3600),
            cap: Duration::from_secs(10 * 3600),
            max_age: Duration::from_secs(24 * 3600),
        },
        ..fast_policy()
    };
    let mut h = Harness::new(db, SandboxConfig::default(), policy).await;
    h.sandbox.inject(Fault::requests(FaultKind::Http500, 1));
    h.start_engine();
    h.gateway.submit_lead(lead("tx-outage")).await.unwrap();
    let waiting = h
        .wait_for_states("tx-outage", 1, ConversionState::Retrying)
        .await;
    let scheduled = waiting.conversions[0]
        .conversion
        .next_attempt_at_ms
        .unwrap();

    // The destination is back: the next event is accepted, and the waiting one follows at once.
    h.gateway.submit_lead(lead("tx-after")).await.unwrap();
    h.wait_for_states("tx-after", 1, ConversionState::Delivered)
        .await;
    let view = h
        .wait_for_states("tx-outage", 1, ConversionState::Delivered)
        .await;
    let log = &view.conversions[0].attempt_log;
    assert_eq!(log.len(), 2, "{log:#?}");
    assert_eq!(log[0].http_status, Some(500));
    assert_eq!(log[1].outcome, AttemptOutcome::Delivered);
    assert!(
        log[1].at_ms < scheduled,
        "sent at {} although its backoff ran to {scheduled}",
        log[1].at_ms
    );
    h.stop_engine().await;
}

/// With TikTok-like latency (100 ms median, 300 ms p99) requests overlap with claiming and
/// batching: no event may be sent twice or lost because an answer took its time.
async fn through_a_slow_destination_every_lead_arrives_exactly_once(db: TestDb) {
    let mut h = Harness::new(db, slow_sandbox("100:300"), fast_policy()).await;
    h.start_engine();
    for i in 0..100 {
        h.gateway
            .submit_lead(lead(&format!("slow-{i}")))
            .await
            .unwrap();
    }
    h.wait_for_delivered(100).await;
    let stats = h.sandbox.stats();
    assert_eq!(stats.accepted_events, 100);
    assert_eq!(stats.duplicates, 0, "an event was sent twice");
    assert_eq!(stats.rejected_requests, 0);
    h.stop_engine().await;
}
