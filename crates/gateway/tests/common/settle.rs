//! Settling conversions by hand, as the delivery engine records TikTok's answers: claim every due
//! conversion of a pixel and record one attempt for each.

use std::time::Duration;

use signalpost_gateway::ConversionState;
use signalpost_gateway::domain::{AttemptOutcome, NewAttempt};
use signalpost_gateway::store::DeliveryResult;
use signalpost_gateway::time::now_ms;

use super::backend::TestStore;

/// Records every due conversion of `pixel` dead after TikTok refused it (code 40002), with
/// `reason(event_id)` as its last error; returns their ids.
pub async fn kill_all(store: &TestStore, pixel: &str, reason: impl Fn(&str) -> String) -> Vec<i64> {
    settle_all(store, pixel, |event_id| Settled {
        state: ConversionState::Dead,
        last_error: Some(reason(event_id)),
        code: 40002,
        message: "bad",
        request_id: "req-dead",
        outcome: AttemptOutcome::Invalid,
        counts_as_retry: true,
    })
    .await
}

/// Records every due conversion of `pixel` delivered (code 0); returns their ids.
pub async fn deliver_all(store: &TestStore, pixel: &str) -> Vec<i64> {
    settle_all(store, pixel, |_| Settled {
        state: ConversionState::Delivered,
        last_error: None,
        code: 0,
        message: "OK",
        request_id: "req-ok",
        outcome: AttemptOutcome::Delivered,
        counts_as_retry: false,
    })
    .await
}

/// How one conversion ends.
struct Settled {
    state: ConversionState,
    last_error: Option<String>,
    code: i64,
    message: &'static str,
    request_id: &'static str,
    outcome: AttemptOutcome,
    counts_as_retry: bool,
}

async fn settle_all(store: &TestStore, pixel: &str, settle: impl Fn(&str) -> Settled) -> Vec<i64> {
    let now = now_ms() + 1;
    let claimed = store
        .claim_due(pixel, now, 1000, Duration::from_secs(60))
        .await
        .unwrap();
    let results: Vec<DeliveryResult> = claimed
        .iter()
        .map(|c| {
            let end = settle(&c.event_id);
            DeliveryResult {
                conversion_id: c.id,
                claim: c.claim,
                state: end.state,
                next_attempt_at_ms: None,
                last_error: end.last_error,
                attempts: vec![NewAttempt {
                    at_ms: now,
                    http_status: Some(200),
                    code: Some(end.code),
                    message: end.message.into(),
                    request_id: Some(end.request_id.into()),
                    latency_ms: 3,
                    outcome: end.outcome,
                    batch_size: 1,
                }],
                counts_as_retry: end.counts_as_retry,
            }
        })
        .collect();
    let ids = results.iter().map(|r| r.conversion_id).collect();
    store.record_results(results).await.unwrap();
    ids
}
