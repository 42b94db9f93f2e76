//! How a batch the destination refuses settles, against the strict sandbox at TikTok-like latency:
//! 1,000 events of which 10 are refused, then 1,000 events that are all refused. For each store
//! (SQLite; PostgreSQL too when `SIGNALPOST_TEST_DATABASE_URL` is set) it prints the requests the
//! sandbox received beside the fewest possible (each refused request reveals one refused event, so
//! k refused events of n take at least k requests, plus one that delivers the rest when k < n: a
//! repeated request or a lease lost and reclaimed would show as more), and the seconds until every
//! conversion was settled.
//!
//! Run: `cargo bench -p signalpost-gateway --bench refused_batch`
//! (`SANDBOX_LATENCY_MS=P50[:P99]`, default 150; `REFUSED_BATCH_LEASE_MS`, default 120000.)
#![allow(clippy::unwrap_used)]

#[path = "../tests/common/refusals.rs"]
mod refusals;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use signalpost_gateway::delivery::{
    AccessToken, DeliveryEngine, DeliveryPolicy, PixelConfig, PixelRegistry,
};
use signalpost_gateway::store::postgres::PostgresOptions;
use signalpost_gateway::{ConversionState, PostgresStore, SqliteStore, Store};
use signalpost_sandbox::{Latency, SandboxConfig};
use tokio_util::sync::CancellationToken;

const PIXEL: &str = "PIXREFUSE";
const TOKEN: &str = "bench-token-0001";
const EVENTS: usize = 1000;

struct Outcome {
    requests: u64,
    seconds: f64,
    delivered: usize,
    dead: usize,
    attempts_logged: usize,
}

fn main() {
    let latency: Latency = std::env::var("SANDBOX_LATENCY_MS")
        .unwrap_or_else(|_| "150".into())
        .parse()
        .unwrap();
    let lease_ms: u64 = std::env::var("REFUSED_BATCH_LEASE_MS")
        .ok()
        .map(|v| v.parse().unwrap())
        .unwrap_or(120_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let some_bad: BTreeSet<usize> = (0..10).map(|i| 45 + i * 97).collect();
    let all_bad: BTreeSet<usize> = (0..EVENTS).collect();
    println!("sandbox latency {latency} ms, lease {lease_ms} ms, {EVENTS} events per batch");
    println!(
        "| store | refused events | requests | fewest possible | seconds | delivered | dead |"
    );
    println!("|---|---|---|---|---|---|---|");
    let pg_url = std::env::var("SIGNALPOST_TEST_DATABASE_URL").ok();
    for (label, bad) in [("10 of 1,000", &some_bad), ("1,000 of 1,000", &all_bad)] {
        for backend in ["SQLite", "PostgreSQL"] {
            if backend == "PostgreSQL" && pg_url.is_none() {
                continue;
            }
            let outcome = rt.block_on(async {
                let dir = tempfile::tempdir().unwrap();
                let store: Arc<dyn Store> = match backend {
                    "SQLite" => Arc::new(SqliteStore::open(dir.path()).unwrap()),
                    _ => Arc::new(fresh_postgres(pg_url.as_deref().unwrap()).await),
                };
                run(store, latency, Duration::from_millis(lease_ms), bad).await
            });
            let fewest = bad.len() + usize::from(bad.len() < EVENTS);
            println!(
                "| {backend} | {label} | {} | {fewest} | {:.1} | {} | {} |",
                outcome.requests, outcome.seconds, outcome.delivered, outcome.dead,
            );
            assert!(
                outcome.attempts_logged >= EVENTS,
                "every event's answers are logged"
            );
            assert_eq!(outcome.dead, bad.len());
            assert_eq!(outcome.delivered, EVENTS - bad.len());
        }
    }
}

async fn run(
    store: Arc<dyn Store>,
    latency: Latency,
    lease: Duration,
    bad: &BTreeSet<usize>,
) -> Outcome {
    let sandbox = signalpost_sandbox::spawn(
        SandboxConfig {
            pixels: vec![(PIXEL.into(), TOKEN.into())],
            latency,
            ..SandboxConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    for answer in store
        .ingest_many(refusals::refusable_units(PIXEL, EVENTS, bad))
        .await
        .unwrap()
    {
        answer.unwrap();
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
        lease,
        ..DeliveryPolicy::default()
    };
    let shutdown = CancellationToken::new();
    let start = Instant::now();
    let engine = DeliveryEngine::start(store.clone(), pixels, policy, shutdown.clone());
    let (delivered, dead) = loop {
        let depth = store.queue_depth().await.unwrap();
        let count = |state| {
            depth
                .iter()
                .filter(|d| d.state == state)
                .map(|d| d.count as usize)
                .sum::<usize>()
        };
        let (delivered, dead) = (
            count(ConversionState::Delivered),
            count(ConversionState::Dead),
        );
        if delivered + dead == EVENTS {
            break (delivered, dead);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let seconds = start.elapsed().as_secs_f64();
    shutdown.cancel();
    engine.join().await;
    let mut attempts_logged = 0;
    for i in 0..EVENTS {
        let view = store
            .get_lead(&format!("rf-{i:05}"))
            .await
            .unwrap()
            .unwrap();
        attempts_logged += view.conversions[0].attempt_log.len();
    }
    Outcome {
        requests: sandbox.stats().requests,
        seconds,
        delivered,
        dead,
        attempts_logged,
    }
}

/// A PostgreSQL store in a schema of its own (dropped when the process ends is not needed: the
/// name is random and the schema small).
async fn fresh_postgres(url: &str) -> PostgresStore {
    let schema = format!("bench_refused_{:x}", rand::random::<u32>());
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{sep}options=-csearch_path%3D{schema}");
    PostgresStore::connect_with(&scoped, PostgresOptions::default())
        .await
        .unwrap()
}
