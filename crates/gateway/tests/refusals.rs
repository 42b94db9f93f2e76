//! Batches the destination refuses, resolved against the strict sandbox with latency switched on
//! (a refusal's resolution is a chain of requests, so its behaviour depends on time), once per store
//! and for TikTok and Meta alike.
//! What is asserted is counted, never timed: how many requests reached the sandbox, and where every
//! conversion ended.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::backend::TestDb;
use common::harness::{Harness, META_PIXEL, PIXEL, fast_policy, wait_until};
use common::refusals::{refusable_meta_units, refusable_units};
use common::slow_sandbox;
use signalpost_gateway::IngestUnit;
use signalpost_gateway::delivery::DeliveryPolicy;
use signalpost_gateway::{AttemptOutcome, ConversionState};

/// Seeds `n` conversions (those at `bad` refused by the destination), runs the engine until every
/// one is settled, and returns the final states by transaction id.
async fn settle(h: &mut Harness, n: usize, bad: &BTreeSet<usize>) -> Vec<ConversionState> {
    settle_units(h, n, refusable_units(PIXEL, n, bad)).await
}

/// [`settle`] for units already made.
async fn settle_units(h: &mut Harness, n: usize, units: Vec<IngestUnit>) -> Vec<ConversionState> {
    for answer in h.store.ingest_many(units).await.unwrap() {
        answer.unwrap();
    }
    h.start_engine();
    let states = wait_until(|| async {
        let mut states = Vec::with_capacity(n);
        for i in 0..n {
            let view = h.view(&format!("rf-{i:05}")).await;
            let state = view.conversions[0].conversion.state;
            if !state.is_final() {
                return None;
            }
            states.push(state);
        }
        Some(states)
    })
    .await;
    h.stop_engine().await;
    states
}

/// Every conversion at `bad` ended dead, every other one delivered.
fn assert_only_the_bad_are_dead(states: &[ConversionState], bad: &BTreeSet<usize>) {
    for (i, state) in states.iter().enumerate() {
        let expected = if bad.contains(&i) {
            ConversionState::Dead
        } else {
            ConversionState::Delivered
        };
        assert_eq!(*state, expected, "rf-{i:05}");
    }
}

async fn events_tiktok_names_are_set_aside_and_the_rest_delivered_in_one_request_each(db: TestDb) {
    let mut h = Harness::new(db, slow_sandbox("50"), fast_policy()).await;
    let bad = BTreeSet::from([17, 50, 99, 150, 180]);
    let states = settle(&mut h, 200, &bad).await;
    assert_only_the_bad_are_dead(&states, &bad);
    // One refused request per bad event, then one that delivers the 195 others.
    assert_eq!(h.sandbox.stats().requests, 6);
    assert_eq!(h.sandbox.stats().accepted_events, 195);
    let dead = h.view("rf-00099").await;
    let c = &dead.conversions[0];
    assert_eq!(c.attempt_log.len(), 3, "{:#?}", c.attempt_log);
    assert!(c.attempt_log.iter().all(|a| a.code == Some(40002)));
    let why = c.conversion.last_error.as_deref().unwrap();
    assert!(why.contains("event_id: not a valid string"), "{why}");
    let good = h.view("rf-00199").await;
    let log = &good.conversions[0].attempt_log;
    assert_eq!(log.len(), 6, "{log:#?}");
    assert_eq!(
        (log[5].outcome, log[5].batch_size),
        (AttemptOutcome::Delivered, 195)
    );
}

async fn a_refused_batch_that_outlasts_its_lease_is_never_reclaimed_nor_resent(db: TestDb) {
    // Resolving 24 refused events takes 24 requests of 100 ms, two at a time: far longer than the
    // 300 ms lease. The lease is renewed while the work goes on, so the worker (free to claim again,
    // with a second request slot) never finds the batch expired and never sends any event twice.
    let policy = DeliveryPolicy {
        lease: Duration::from_millis(300),
        max_in_flight: 2,
        ..fast_policy()
    };
    let mut h = Harness::new(db, slow_sandbox("100"), policy).await;
    let bad: BTreeSet<usize> = (0..24).collect();
    let states = settle(&mut h, 24, &bad).await;
    assert!(states.iter().all(|s| *s == ConversionState::Dead));
    let stats = h.sandbox.stats();
    assert_eq!(stats.requests, 24, "{stats:#?}");
    assert_eq!(stats.by_code.get("40002"), Some(&24));
    // Every answer was recorded for every event its request carried, each exactly once.
    let mut carried = 0;
    for i in 0..24 {
        let view = h.view(&format!("rf-{i:05}")).await;
        let c = &view.conversions[0];
        assert_eq!(c.conversion.attempts as usize, c.attempt_log.len());
        carried += c.attempt_log.len();
    }
    assert!(carried >= 24, "{carried}");
}

async fn a_token_refused_while_a_batch_is_resolved_holds_the_parts_not_yet_sent(db: TestDb) {
    // One request at a time: the whole batch (refused at data.0), then the first half of the rest,
    // while the second half waits. The token is revoked while the first half is held by the
    // sandbox's latency, so that half is refused with 40105 and the waiting half is held, not sent.
    let policy = DeliveryPolicy {
        max_in_flight: 1,
        ..fast_policy()
    };
    let mut h = Harness::new(db, slow_sandbox("200"), policy).await;
    let bad: BTreeSet<usize> = (0..20).collect();
    for answer in h
        .store
        .ingest_many(refusable_units(PIXEL, 20, &bad))
        .await
        .unwrap()
    {
        answer.unwrap();
    }
    h.start_engine();
    wait_until(|| async { (h.sandbox.stats().by_code.get("40002") == Some(&1)).then_some(()) })
        .await;
    h.sandbox.set_token(PIXEL, "revoked-meanwhile-01").unwrap();
    let paused = wait_until(|| async {
        let mut paused = 0;
        for i in 0..20 {
            let state = h.view(&format!("rf-{i:05}")).await.conversions[0]
                .conversion
                .state;
            match state {
                ConversionState::Paused => paused += 1,
                ConversionState::Dead => {}
                _ => return None,
            }
        }
        Some(paused)
    })
    .await;
    h.stop_engine().await;
    assert_eq!(paused, 19, "the first event is dead, every other one held");
    let stats = h.sandbox.stats();
    assert_eq!(stats.requests, 2, "{stats:#?}");
    assert_eq!(stats.by_code.get("40105"), Some(&1));
}

async fn events_meta_names_are_set_aside_and_the_rest_delivered_in_one_request_each(db: TestDb) {
    let mut h = Harness::new_meta(db, slow_sandbox("50"), fast_policy()).await;
    let bad = BTreeSet::from([3, 60, 120]);
    let units = refusable_meta_units(META_PIXEL, 150, &bad);
    let states = settle_units(&mut h, 150, units).await;
    assert_only_the_bad_are_dead(&states, &bad);
    // One refused request per bad event, then one that delivers the 147 others.
    let stats = h.sandbox.stats();
    assert_eq!(stats.requests, 4, "{stats:#?}");
    assert_eq!(stats.accepted_events, 147);
    let dead = h.view("rf-00060").await;
    let c = &dead.conversions[0];
    assert_eq!(c.attempt_log.len(), 2, "{:#?}", c.attempt_log);
    assert!(c.attempt_log.iter().all(|a| a.code == Some(100)));
    let why = c.conversion.last_error.as_deref().unwrap();
    assert!(
        why.starts_with("rejected by Meta: 100") && why.contains("event_id"),
        "{why}"
    );
    let good = h.view("rf-00149").await;
    let log = &good.conversions[0].attempt_log;
    assert_eq!(
        (log.last().unwrap().outcome, log.last().unwrap().batch_size),
        (AttemptOutcome::Delivered, 147)
    );
}

both_stores!(
    events_tiktok_names_are_set_aside_and_the_rest_delivered_in_one_request_each,
    events_meta_names_are_set_aside_and_the_rest_delivered_in_one_request_each,
    a_refused_batch_that_outlasts_its_lease_is_never_reclaimed_nor_resent,
    a_token_refused_while_a_batch_is_resolved_holds_the_parts_not_yet_sent,
);
