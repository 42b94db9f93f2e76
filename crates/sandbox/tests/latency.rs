//! Latency over real HTTP: the configured latency (`--latency-ms`) and the `slow` fault hold track
//! answers, never the `/sandbox/` endpoints, and never block other requests.
//!
//! Timing is only ever asserted as a lower bound on a delay the test itself injected (the sandbox
//! sleeps at least that long before answering). Where a test needs "not delayed", it asserts an
//! order of events against a delay of 30 s or more, never a duration.
#![allow(clippy::unwrap_used)]

mod common;

use std::future::Future;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use signalpost_sandbox::{Fault, FaultKind, Latency, RunningSandbox};

/// An injected delay of `ms`, as the client can see it: the sandbox sleeps at least that long after
/// the request arrived, so the client waits at least that long. A few ms of slack cover the rounding
/// of timers to whole milliseconds.
fn at_least(ms: u64) -> Duration {
    Duration::from_millis(ms - 5)
}

async fn timed<T>(work: impl Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let out = work.await;
    (out, started.elapsed())
}

async fn inject(sandbox: &RunningSandbox, fault: serde_json::Value) -> serde_json::Value {
    let answer = post_json(sandbox, "/sandbox/faults", &fault).await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    answer.json()["fault"].clone()
}

async fn send_event(sandbox: &RunningSandbox, id: &str) -> Answer {
    track(sandbox, &body(vec![web_event(id)])).await
}

#[tokio::test]
async fn slow_fault_holds_a_request_at_least_its_latency() {
    let sandbox = start().await;
    let fault = inject(
        &sandbox,
        json!({"kind": "slow", "latency_ms": "200:200", "count": 1}),
    )
    .await;
    assert_eq!(fault["kind"], "slow");
    assert_eq!(fault["latency_ms"], "200");

    let (answer, took) = timed(send_event(&sandbox, "slow-1")).await;
    assert_eq!(answer.code(), 0);
    assert!(took >= at_least(200), "answered after {took:?}");
    assert_eq!(sandbox.events(None).len(), 1);
}

#[tokio::test]
async fn slow_fault_expires_after_its_count() {
    let sandbox = start().await;
    inject(
        &sandbox,
        json!({"kind": "slow", "p50_ms": 200, "p99_ms": 200, "count": 2}),
    )
    .await;
    let listed = get_json(&sandbox, "/sandbox/faults").await;
    assert_eq!(listed["faults"][0]["remaining"], 2);

    let (first, took) = timed(send_event(&sandbox, "c1")).await;
    assert_eq!(first.code(), 0);
    assert!(took >= at_least(200), "answered after {took:?}");
    let listed = get_json(&sandbox, "/sandbox/faults").await;
    assert_eq!(listed["faults"][0]["remaining"], 1);

    let (second, took) = timed(send_event(&sandbox, "c2")).await;
    assert_eq!(second.code(), 0);
    assert!(took >= at_least(200), "answered after {took:?}");

    // Used up: nothing left to delay the next request.
    assert_eq!(
        get_json(&sandbox, "/sandbox/faults").await["faults"],
        json!([])
    );
    assert!(sandbox.faults().is_empty());
    assert_eq!(send_event(&sandbox, "c3").await.code(), 0);
}

#[tokio::test]
async fn configured_latency_delays_every_track_answer_including_rejections() {
    let sandbox = start_with_latency("200").await;
    assert_eq!(sandbox.latency(), Latency::constant(200).unwrap());

    let (accepted, took) = timed(send_event(&sandbox, "v2")).await;
    assert_eq!(accepted.code(), 0);
    assert!(took >= at_least(200), "2.0 track answered after {took:?}");

    let legacy = json!({"pixel_code": PIXEL, "event": "ViewContent"});
    let (answer, took) = timed(post_as(&sandbox, PIXEL_TRACK, TOKEN, &legacy)).await;
    assert_eq!(answer.code(), 0);
    assert!(took >= at_least(200), "1.0 track answered after {took:?}");

    let (refused, took) = timed(post_as(
        &sandbox,
        TRACK,
        "not-a-token",
        &body(vec![web_event("x")]),
    ))
    .await;
    refused.error(40105);
    assert!(took >= at_least(200), "a rejection answered after {took:?}");
}

#[tokio::test]
async fn slow_fault_delays_an_answer_fault_too() {
    let sandbox = start().await;
    inject(
        &sandbox,
        json!({"kind": "slow", "latency_ms": 200, "count": 1}),
    )
    .await;
    inject(&sandbox, json!({"kind": "http_502", "count": 1})).await;
    let (answer, took) = timed(send_event(&sandbox, "both")).await;
    assert_eq!(answer.status, 502);
    assert!(took >= at_least(200), "answered after {took:?}");
    assert!(sandbox.faults().is_empty());
}

#[tokio::test]
async fn slow_fault_wins_over_the_configured_latency() {
    let sandbox = start_with_latency("50").await;
    sandbox.inject(Fault::requests(
        FaultKind::Slow(Latency::constant(300).unwrap()),
        1,
    ));
    let (answer, took) = timed(send_event(&sandbox, "override")).await;
    assert_eq!(answer.code(), 0);
    assert!(took >= at_least(300), "answered after {took:?}");
}

#[tokio::test]
async fn a_held_request_is_still_recorded_after_the_client_gives_up() {
    let sandbox = start().await;
    inject(
        &sandbox,
        json!({"kind": "slow", "latency_ms": "1000", "count": 1}),
    )
    .await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let err = client
        .post(format!("{}{TRACK}", sandbox.base_url()))
        .header("Access-Token", TOKEN)
        .json(&body(vec![web_event("gave-up")]))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");

    // As with a slow TikTok, the request completes on the sandbox's side anyway.
    let handle = sandbox.sandbox().clone();
    assert!(eventually(|| handle.stats().accepted_events == 1).await);
    assert_eq!(handle.events(None)[0].event_id.as_deref(), Some("gave-up"));
}

/// A held request does not hold the others: a request sent while another is held for 60 s is
/// answered first (an order, not a duration).
#[tokio::test]
async fn a_held_request_does_not_block_the_next_one() {
    let sandbox = start().await;
    sandbox.inject(Fault::requests(
        FaultKind::Slow(Latency::constant(60_000).unwrap()),
        1,
    ));
    let base = sandbox.base_url();
    let held = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("{base}{TRACK}"))
            .header("Access-Token", TOKEN)
            .json(&body(vec![web_event("held")]))
            .send()
            .await
    });
    // The held request has drawn the one-shot fault once the list is empty.
    let handle = sandbox.sandbox().clone();
    assert!(eventually(|| handle.faults().is_empty()).await);

    assert_eq!(send_event(&sandbox, "free").await.code(), 0);
    assert!(!held.is_finished(), "the held request was answered first");
    held.abort();
}

/// The `/sandbox/` endpoints answer while a track request is held by a 60 s latency.
#[tokio::test]
async fn inspection_endpoints_are_never_delayed() {
    let sandbox = start_with_latency("60000").await;
    let base = sandbox.base_url();
    let held = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("{base}{TRACK}"))
            .header("Access-Token", TOKEN)
            .json(&body(vec![web_event("held")]))
            .send()
            .await
    });
    for path in [
        "/sandbox/stats",
        "/sandbox/events",
        "/sandbox/faults",
        "/sandbox/pixels",
    ] {
        get_json(&sandbox, path).await;
    }
    inject(
        &sandbox,
        json!({"kind": "slow", "latency_ms": "10", "seconds": 60}),
    )
    .await;
    assert!(!held.is_finished(), "the track request was answered first");
    held.abort();
}

#[tokio::test]
async fn timed_slow_fault_is_listed_with_its_latency_and_cleared_by_delete() {
    let sandbox = start().await;
    inject(
        &sandbox,
        json!({"kind": "slow", "latency_ms": "100:300", "seconds": 600}),
    )
    .await;
    let listed = get_json(&sandbox, "/sandbox/faults").await;
    let fault = &listed["faults"][0];
    assert_eq!(fault["kind"], "slow");
    assert_eq!(fault["latency_ms"], "100:300");
    assert!(fault["until"].as_str().is_some(), "{fault}");

    let cleared = send(
        &sandbox,
        reqwest::Method::DELETE,
        "/sandbox/faults",
        &[],
        None,
    )
    .await;
    assert_eq!(cleared.status, 200);
    assert_eq!(
        get_json(&sandbox, "/sandbox/faults").await["faults"],
        json!([])
    );
}

#[tokio::test]
async fn bad_slow_faults_are_a_400_naming_the_field() {
    let sandbox = start().await;
    for (fault, field) in [
        (json!({"kind": "slow", "count": 1}), "latency_ms"),
        (
            json!({"kind": "slow", "latency_ms": "300:100", "count": 1}),
            "latency_ms",
        ),
        (
            json!({"kind": "slow", "latency_ms": "soon", "count": 1}),
            "latency_ms",
        ),
        (json!({"kind": "slow", "p50_ms": -1, "count": 1}), "p50_ms"),
        (
            json!({"kind": "slow", "latency_ms": "100", "count": -1}),
            "count",
        ),
        (
            json!({"kind": "hang", "latency_ms": "100", "count": 1}),
            "latency_ms",
        ),
    ] {
        let answer = post_json(&sandbox, "/sandbox/faults", &fault).await;
        assert_eq!(answer.status, 400, "{fault}: {}", answer.text);
        let message = answer.json()["error"].as_str().unwrap().to_owned();
        assert!(message.contains(field), "{fault}: {message}");
    }
    assert!(sandbox.faults().is_empty());
}
