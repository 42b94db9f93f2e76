//! Durable ingest rate through the group-commit writer (SQLite WAL, synchronous=FULL): many concurrent
//! tasks each submitting single leads (each fires one form_submit conversion), as HTTP handlers would.
//!
//! Run: `cargo bench -p signalpost-gateway --bench store_ingest`
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use signalpost_gateway::rules::{RuleConfig, RuleSet};
use signalpost_gateway::{Gateway, NewLead, SqliteStore};

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

fn rules() -> RuleSet {
    RuleSet::from_configs(vec![RuleConfig::new(
        "registration",
        "form_submit",
        "PIXBENCH",
        "CompleteRegistration",
    )])
    .unwrap()
}

fn lead() -> NewLead {
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    NewLead {
        transaction_id: Some(format!("bench-{n}")),
        email: Some(format!("{n:064x}")),
        phone: Some(format!("{:064x}", n + 1)),
        ip: Some("203.0.113.7".into()),
        user_agent: Some(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36".into(),
        ),
        landing_url: Some(format!(
            "https://lp.example.com/form?utm_source=tiktok&ttclid=E.C.P.{n}"
        )),
        referrer: Some("https://www.tiktok.com/".into()),
        ..Default::default()
    }
}

fn ingest(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let gateway = Arc::new(Gateway::new(store, rules()));

    let mut group = c.benchmark_group("durable_ingest");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(10));
    for tasks in [1usize, 64, 256] {
        group.bench_with_input(
            BenchmarkId::new("submit_lead", format!("{tasks}_tasks")),
            &tasks,
            |b, &tasks| {
                b.to_async(&rt).iter_custom(|iters| {
                    let gateway = gateway.clone();
                    async move {
                        let per_task = iters.div_ceil(tasks as u64);
                        let start = Instant::now();
                        let mut handles = Vec::with_capacity(tasks);
                        for _ in 0..tasks {
                            let gateway = gateway.clone();
                            handles.push(tokio::spawn(async move {
                                for _ in 0..per_task {
                                    gateway.submit_lead(lead()).await.unwrap();
                                }
                            }));
                        }
                        for h in handles {
                            h.await.unwrap();
                        }
                        start
                            .elapsed()
                            .mul_f64(iters as f64 / (per_task * tasks as u64) as f64)
                    }
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
