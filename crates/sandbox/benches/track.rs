//! Throughput of the track endpoint through the real router (no socket): parse, validate, store.
//! `cargo bench -p signalpost-sandbox --bench track`
#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use axum::body::{Body, Bytes};
use axum::http::Request;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use signalpost_sandbox::{Sandbox, SandboxConfig};
use tower::ServiceExt;

/// Distinct request bodies per size.
const BODIES: usize = 64;

const HASH: &str = "848a771458438fc2ec420560d769fb9b9b86851ee338ec56517baabd79d3bb4f";

/// A body of `n` reference-style web events with ids unique to `batch`, so nothing is a duplicate.
fn body(batch: usize, n: usize) -> Vec<u8> {
    let now = chrono::Utc::now().timestamp();
    let events: Vec<_> = (0..n)
        .map(|i| {
            json!({
                "event": "Purchase", "event_time": now - 60, "event_id": format!("{batch}-{i}"),
                "user": {"email": HASH, "phone": HASH, "external_id": HASH, "ip": "203.0.113.1",
                         "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36",
                         "ttclid": "E.C.P.CqgBcXZzR2xV", "ttp": "2Lk3Jd9s8f7g6h5"},
                "page": {"url": "https://shop.example/checkout?utm_source=tiktok"},
                "properties": {"currency": "USD", "value": 200.0, "content_type": "product",
                               "contents": [{"price": 100.0, "quantity": 2, "content_id": "12345"}]}
            })
        })
        .collect();
    serde_json::to_vec(&json!({"event_source": "web", "event_source_id": "PIX", "data": events}))
        .unwrap()
}

fn request(bytes: Bytes) -> Request<Body> {
    Request::post("/open_api/v1.3/event/track/")
        .header("Access-Token", "tok")
        .header("Content-Type", "application/json")
        .body(Body::from(bytes))
        .unwrap()
}

fn track(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sandbox = Sandbox::new(SandboxConfig {
        pixels: vec![("PIX".into(), "tok".into())],
        max_stored_events: 200_000,
        ..SandboxConfig::default()
    });
    let router = sandbox.router();
    let mut group = c.benchmark_group("event_track");
    for n in [1_usize, 1_000] {
        // Bodies are built up front so only the sandbox is measured; after a full cycle the ids
        // repeat and the events count as duplicates, which costs the same dedup lookup.
        let bodies: Vec<Bytes> = (0..BODIES).map(|i| Bytes::from(body(i, n))).collect();
        group.throughput(Throughput::Elements(n as u64));
        let mut next = 0_usize;
        group.bench_function(format!("{n}_events_per_request"), |b| {
            b.iter(|| {
                next = (next + 1) % bodies.len();
                let response = runtime
                    .block_on(router.clone().oneshot(request(bodies[next].clone())))
                    .unwrap();
                black_box(response)
            });
        });
    }
    group.finish();
    assert_eq!(
        sandbox.stats().rejected_requests,
        0,
        "every benchmark request must be accepted"
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = track
}
criterion_main!(benches);
