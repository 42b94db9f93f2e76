//! Replay on both stores (a real SQLite file; a real PostgreSQL schema when
//! `SIGNALPOST_TEST_DATABASE_URL` is set): dead conversions go back to pending with their original
//! event_id and attempt log, in chunks, filtered; a dry run changes nothing.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::backend::{TestDb, TestStore};
use common::settle::kill_all;
use common::{demo_rules, lead};
use signalpost_gateway::domain::AttemptOutcome;
use signalpost_gateway::replay::ReplayTotals;
use signalpost_gateway::store::{ReplayFilter, ReplayFrom};
use signalpost_gateway::{ConversionState, Gateway};

async fn gateway(db: &TestDb) -> (TestStore, Gateway) {
    let store = db.open().await;
    let gw = Gateway::new(store.shared(), demo_rules("PIX1"));
    (store, gw)
}

both_stores!(
    replay_requeues_dead_conversions_with_their_event_id_and_log,
    replay_filters_by_pixel_rule_lead_and_time,
);

async fn replay_requeues_dead_conversions_with_their_event_id_and_log(db: TestDb) {
    let (store, gw) = gateway(&db).await;
    for i in 0..25 {
        gw.submit_lead(lead(&format!("r-{i}"))).await.unwrap();
    }
    assert_eq!(
        kill_all(&store, "PIX1", |_| "rejected by TikTok: 40002 bad".into())
            .await
            .len(),
        25
    );

    let filter = ReplayFilter::all(ReplayFrom::Dead);
    let mut seen = Vec::new();
    let dry = gw
        .replay(&filter, true, 10, |t| seen.push(t))
        .await
        .unwrap();
    assert_eq!(
        dry,
        ReplayTotals {
            matched: 25,
            requeued: 0
        }
    );
    assert_eq!(seen.len(), 3, "chunks of 10: 10, 20, 25 → {seen:?}");
    let before = store.get_lead("r-3").await.unwrap().unwrap();
    assert_eq!(
        before.conversions[0].conversion.state,
        ConversionState::Dead
    );

    let done = gw.replay(&filter, false, 10, |_| {}).await.unwrap();
    assert_eq!(
        done,
        ReplayTotals {
            matched: 25,
            requeued: 25
        }
    );
    let after = store.get_lead("r-3").await.unwrap().unwrap();
    let c = &after.conversions[0];
    assert_eq!(c.conversion.state, ConversionState::Pending);
    assert_eq!(c.conversion.event_id, "r-3");
    assert_eq!(
        c.conversion.payload,
        before.conversions[0].conversion.payload
    );
    assert_eq!(c.conversion.attempts, 1, "a replay is not a request");
    assert_eq!(c.conversion.last_error, None);
    let log: Vec<_> = c.attempt_log.iter().map(|a| a.outcome).collect();
    assert_eq!(log, [AttemptOutcome::Invalid, AttemptOutcome::Replayed]);
    assert!(
        c.attempt_log[1]
            .message
            .contains("was dead: rejected by TikTok"),
        "{}",
        c.attempt_log[1].message
    );

    // Nothing is dead any more; claimed again, they carry the same event_id.
    assert_eq!(
        gw.replay(&filter, false, 10, |_| {}).await.unwrap().matched,
        0
    );
    let now = signalpost_gateway::time::now_ms() + 1;
    let claimed = store
        .claim_due("PIX1", now, 1000, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 25);
    assert!(
        claimed
            .iter()
            .all(|c| c.retries == 0 && c.first_attempt_at_ms.is_none())
    );
    assert!(claimed.iter().any(|c| c.event_id == "r-3"));
}

async fn replay_filters_by_pixel_rule_lead_and_time(db: TestDb) {
    let (store, gw) = gateway(&db).await;
    for i in 0..4 {
        gw.submit_lead(lead(&format!("f-{i}"))).await.unwrap();
    }
    kill_all(&store, "PIX1", |_| "rejected by TikTok: 40002 bad".into()).await;
    let count = |filter: ReplayFilter| {
        let gw = &gw;
        async move { gw.replay(&filter, true, 100, |_| {}).await.unwrap().matched }
    };
    let all = ReplayFilter::all(ReplayFrom::Dead);
    assert_eq!(count(all.clone()).await, 4);
    assert_eq!(count(ReplayFilter::all(ReplayFrom::Paused)).await, 0);
    let by_lead = ReplayFilter {
        transaction_id: Some("f-2".into()),
        ..all.clone()
    };
    assert_eq!(count(by_lead.clone()).await, 1);
    let other_pixel = ReplayFilter {
        pixel: Some("PIX2".into()),
        ..all.clone()
    };
    assert_eq!(count(other_pixel).await, 0);
    let other_rule = ReplayFilter {
        rule: Some("sale".into()),
        ..all.clone()
    };
    assert_eq!(count(other_rule).await, 0);
    let future = ReplayFilter {
        queued_since_ms: Some(signalpost_gateway::time::now_ms() + 60_000),
        ..all.clone()
    };
    assert_eq!(count(future).await, 0);
    let done = gw.replay(&by_lead, false, 100, |_| {}).await.unwrap();
    assert_eq!(done.requeued, 1);
    assert_eq!(count(all).await, 3, "only the filtered lead was replayed");
}
