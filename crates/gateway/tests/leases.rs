//! Leases and late answers at the store, once per store (a real SQLite file; a real PostgreSQL schema
//! when `SIGNALPOST_TEST_DATABASE_URL` is set): a renewed lease keeps a batch from being claimed
//! again, a stale claim's final answer is recorded while its retry is left to the live claim, and a
//! paused pixel's probe claims one held conversion at a time. Times are passed in, never waited for.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::backend::{TestDb, TestStore};
use common::{demo_rules, lead};
use signalpost_gateway::domain::{AttemptOutcome, NewAttempt};
use signalpost_gateway::store::{ClaimedConversion, DeliveryResult};
use signalpost_gateway::time::now_ms;
use signalpost_gateway::{ConversionState, Gateway};

const LEASE: Duration = Duration::from_secs(60);

async fn with_leads(db: &TestDb, n: usize) -> TestStore {
    let store = db.open().await;
    let gw = Gateway::new(store.shared(), demo_rules("PIX1"));
    for i in 0..n {
        gw.submit_lead(lead(&format!("l-{i}"))).await.unwrap();
    }
    store
}

fn result(c: &ClaimedConversion, state: ConversionState, code: i64) -> DeliveryResult {
    let outcome = match state {
        ConversionState::Delivered => AttemptOutcome::Delivered,
        ConversionState::Dead => AttemptOutcome::Invalid,
        _ => AttemptOutcome::Retryable,
    };
    DeliveryResult {
        conversion_id: c.id,
        claim: c.claim,
        state,
        next_attempt_at_ms: (state == ConversionState::Retrying).then(|| now_ms() + 1_000),
        last_error: (state != ConversionState::Delivered).then(|| format!("{code}: no")),
        attempts: vec![NewAttempt {
            at_ms: now_ms(),
            http_status: Some(200),
            code: Some(code),
            message: "answer".into(),
            request_id: Some(format!("req-{}-{code}", c.claim)),
            latency_ms: 150,
            outcome,
            batch_size: 3,
        }],
        counts_as_retry: state == ConversionState::Retrying,
    }
}

async fn state_of(store: &TestStore, tx: &str) -> (ConversionState, u32, usize) {
    let view = store.get_lead(tx).await.unwrap().unwrap();
    let c = &view.conversions[0];
    (
        c.conversion.state,
        c.conversion.attempts,
        c.attempt_log.len(),
    )
}

async fn a_renewed_lease_keeps_the_batch_from_being_claimed_again(db: TestDb) {
    let store = with_leads(&db, 3).await;
    let t0 = now_ms() + 1;
    let claimed = store.claim_due("PIX1", t0, 10, LEASE).await.unwrap();
    assert_eq!(claimed.len(), 3);
    let claim = claimed[0].claim;
    let ids: Vec<i64> = claimed.iter().map(|c| c.id).collect();

    // Renewed to t0 + 10 min: at t0 + 2 min (past the first lease) nobody can take the batch.
    let renewed = store
        .renew_lease(claim, ids.clone(), t0 + 600_000)
        .await
        .unwrap();
    assert_eq!(renewed, 3);
    let at = t0 + 120_000;
    assert!(
        store
            .claim_due("PIX1", at, 10, LEASE)
            .await
            .unwrap()
            .is_empty()
    );

    // Settled rows are not renewed, and a claim that is not the row's renews nothing.
    store
        .record_results(vec![result(&claimed[0], ConversionState::Delivered, 0)])
        .await
        .unwrap();
    assert_eq!(
        store
            .renew_lease(claim, ids.clone(), t0 + 700_000)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .renew_lease(claim ^ 1, ids.clone(), t0 + 800_000)
            .await
            .unwrap(),
        0
    );
    // Once the renewed lease is over, the unsettled two come back.
    let later = t0 + 700_001;
    assert_eq!(
        store
            .claim_due("PIX1", later, 10, LEASE)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(store.renew_lease(claim, ids, later + 1).await.unwrap(), 0);
}

async fn a_stale_claims_final_answer_is_recorded_and_its_retry_left_to_the_live_claim(db: TestDb) {
    let store = with_leads(&db, 3).await;
    let t0 = now_ms() + 1;
    let stale = store.claim_due("PIX1", t0, 10, LEASE).await.unwrap();
    // The lease ran out (a stalled worker) and another worker claimed the batch.
    let live = store
        .claim_due("PIX1", t0 + 61_000, 10, LEASE)
        .await
        .unwrap();
    assert_eq!(live.len(), 3);
    let tx = |c: &ClaimedConversion| c.event_id.clone();

    // The stalled worker's answers arrive: delivered, refused, and a retry.
    store
        .record_results(vec![
            result(&stale[0], ConversionState::Delivered, 0),
            result(&stale[1], ConversionState::Dead, 40002),
            result(&stale[2], ConversionState::Retrying, 50002),
        ])
        .await
        .unwrap();
    assert_eq!(
        state_of(&store, &tx(&stale[0])).await,
        (ConversionState::Delivered, 1, 1)
    );
    assert_eq!(
        state_of(&store, &tx(&stale[1])).await,
        (ConversionState::Dead, 1, 1)
    );
    assert_eq!(
        state_of(&store, &tx(&stale[2])).await,
        (ConversionState::InFlight, 0, 1),
        "a retry from a stale claim leaves the row to the live claim, but its request is logged"
    );

    // The live claim's answers: delivered for all three. Delivered wins over the stale dead; the
    // already-delivered row is left as it is.
    let live_results = live
        .iter()
        .map(|c| result(c, ConversionState::Delivered, 0))
        .collect();
    store.record_results(live_results).await.unwrap();
    for (c, attempts) in stale.iter().zip([1, 2, 1]) {
        let (state, counted, logged) = state_of(&store, &tx(c)).await;
        assert_eq!(state, ConversionState::Delivered, "{}", tx(c));
        assert_eq!(counted, attempts, "{}", tx(c));
        assert_eq!(logged, 2, "both requests are in the log of {}", tx(c));
    }
}

async fn a_probe_claims_one_held_conversion_at_a_time(db: TestDb) {
    let store = with_leads(&db, 2).await;
    assert_eq!(store.pause_pixel("PIX1", "paused: 40105").await.unwrap(), 2);
    let now = now_ms() + 1;
    assert!(
        store
            .claim_due("PIX1", now, 10, LEASE)
            .await
            .unwrap()
            .is_empty()
    );

    let first = store
        .claim_probe("PIX1", now, LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.event_id, "l-0", "the oldest held conversion first");
    let second = store
        .claim_probe("PIX1", now, LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.event_id, "l-1");
    assert!(
        store
            .claim_probe("PIX1", now, LEASE)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .claim_probe("OTHER", now, LEASE)
            .await
            .unwrap()
            .is_none()
    );

    // A probe refused again goes back to paused; the payload travelled with the claim.
    assert!(first.payload.contains("\"event_id\":\"l-0\""));
    let mut back = result(&first, ConversionState::Paused, 40105);
    back.attempts[0].outcome = AttemptOutcome::Auth;
    store.record_results(vec![back]).await.unwrap();
    assert_eq!(
        state_of(&store, "l-0").await,
        (ConversionState::Paused, 1, 1)
    );
}

both_stores!(
    a_renewed_lease_keeps_the_batch_from_being_claimed_again,
    a_stale_claims_final_answer_is_recorded_and_its_retry_left_to_the_live_claim,
    a_probe_claims_one_held_conversion_at_a_time,
);
