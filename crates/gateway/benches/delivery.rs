//! Delivery rate to the in-process sandbox over HTTP on 127.0.0.1: conversions are queued first (not
//! timed), then the engine is started and timed until TikTok's stand-in has accepted every event.
//! Batches of 1,000, four requests in flight, no rate limit.
//!
//! Run: `cargo bench -p signalpost-gateway --bench delivery`
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use signalpost_gateway::delivery::{
    AccessToken, DeliveryEngine, DeliveryPolicy, DeliveryStats, PixelConfig, PixelRegistry,
};
use signalpost_gateway::rules::{RuleConfig, RuleSet};
use signalpost_gateway::{BatchItem, Gateway, NewLead, SqliteStore};
use signalpost_sandbox::SandboxConfig;
use tokio_util::sync::CancellationToken;

const PIXEL: &str = "PIXBENCH";
const TOKEN: &str = "bench-token-0001";
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

fn rules() -> RuleSet {
    RuleSet::from_configs(vec![RuleConfig::new(
        "registration",
        "form_submit",
        PIXEL,
        "CompleteRegistration",
    )])
    .unwrap()
}

fn lead() -> NewLead {
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    NewLead {
        transaction_id: Some(format!("dbench-{n}")),
        email: Some(format!("{n:064x}")),
        ip: Some("203.0.113.7".into()),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Chrome/120".into()),
        landing_url: Some(format!("https://lp.example.com/form?ttclid=E.C.P.{n}")),
        ..Default::default()
    }
}

fn delivery(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("delivery");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("events_to_sandbox", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let dir = tempfile::tempdir().unwrap();
            let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
            let sandbox = signalpost_sandbox::spawn(
                SandboxConfig {
                    pixels: vec![(PIXEL.into(), TOKEN.into())],
                    ..SandboxConfig::default()
                },
                "127.0.0.1:0".parse().unwrap(),
            )
            .await
            .unwrap();
            let gateway = Gateway::new(store.clone(), rules());
            let mut left = iters;
            while left > 0 {
                let n = left.min(1000);
                let items = (0..n).map(|_| BatchItem::Lead(lead())).collect();
                gateway.submit_batch(items).await.unwrap();
                left -= n;
            }
            let pixels = PixelRegistry::new([PixelConfig {
                code: PIXEL.into(),
                access_token: AccessToken::new(TOKEN),
                base_url: sandbox.base_url(),
                // The sandbox on loopback: a destination the operator named.
                addresses: signalpost_gateway::delivery::AddressPolicy::Any,
                test_event_code: None,
                destination: Default::default(),
            }]);
            let policy = DeliveryPolicy {
                requests_per_second: 0.0,
                ..DeliveryPolicy::default()
            };
            let shutdown = CancellationToken::new();
            let start = Instant::now();
            let engine = DeliveryEngine::start(store.clone(), pixels, policy, shutdown.clone());
            let stats = engine.stats();
            while DeliveryStats::get(&stats.delivered) < iters {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let elapsed = start.elapsed();
            shutdown.cancel();
            engine.join().await;
            assert_eq!(sandbox.stats().accepted_events, iters);
            store.close().await;
            elapsed
        });
    });
    group.finish();
}

criterion_group!(benches, delivery);
criterion_main!(benches);
