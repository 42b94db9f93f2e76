//! Store-level rates on PostgreSQL with 1 and 3 nodes, beside SQLite (1 node) as the baseline:
//!
//! - `ingest`: durable single-lead ingest (each lead fires one conversion) from 256 concurrent tasks,
//!   spread round-robin over the nodes, as HTTP handlers would submit them. Units/s.
//! - `claim_record`: what a delivery worker asks of the store per batch — claim up to 1,000 due
//!   conversions, then record them delivered with one attempt each — one worker per node, all on the
//!   same pixel until the queue is empty. The queue is filled first (not timed). Events/s.
//!
//! A "node" is a store instance with its own writer, pool and LISTEN connection, as each
//! `signalpost serve` process has; here they share one process (the machine has 2 cores either way).
//! PostgreSQL runs only when `SIGNALPOST_TEST_DATABASE_URL` is set (a fresh schema, dropped after).
//!
//! Run: `SIGNALPOST_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!       cargo bench -p signalpost-gateway --bench scaleout`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use signalpost_gateway::domain::{AttemptOutcome, ConversionState, NewAttempt};
use signalpost_gateway::rules::{RuleConfig, RuleSet};
use signalpost_gateway::store::DeliveryResult;
use signalpost_gateway::time::now_ms;
use signalpost_gateway::{Gateway, NewLead, PostgresStore, SqliteStore, Store};

const PIXEL: &str = "PIXBENCH";
const BATCH: usize = 1_000;
const INGEST_TASKS: usize = 256;
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

fn rules() -> RuleSet {
    RuleSet::from_configs(vec![RuleConfig {
        name: "registration".into(),
        trigger: "form_submit".into(),
        pixel: PIXEL.into(),
        event: "CompleteRegistration".into(),
        value: None,
        currency: None,
        content_type: None,
        event_id: None,
        test_event_code: None,
        ..Default::default()
    }])
    .unwrap()
}

fn lead() -> NewLead {
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    NewLead {
        transaction_id: Some(format!("sbench-{n}")),
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

/// The stores under test: one per node, all on one database.
struct Nodes {
    gateways: Vec<Arc<Gateway>>,
    stores: Vec<Arc<dyn Store>>,
    /// The PostgreSQL schema to drop afterwards.
    schema: Option<String>,
    _dir: tempfile::TempDir,
}

#[derive(Clone)]
enum Kind {
    Sqlite,
    Postgres { admin_url: String, nodes: usize },
}

impl Kind {
    fn label(&self) -> String {
        match self {
            Kind::Sqlite => "sqlite/1_node".into(),
            Kind::Postgres { nodes, .. } => format!("postgres/{nodes}_node"),
        }
    }

    /// A fresh database (a new SQLite directory or PostgreSQL schema) and its nodes.
    async fn open(&self) -> Nodes {
        let dir = tempfile::tempdir().unwrap();
        let (stores, schema): (Vec<Arc<dyn Store>>, _) = match self {
            Kind::Sqlite => (vec![Arc::new(SqliteStore::open(dir.path()).unwrap())], None),
            Kind::Postgres { admin_url, nodes } => {
                let (name, url) = create_schema(admin_url).await;
                let mut stores: Vec<Arc<dyn Store>> = Vec::new();
                for _ in 0..*nodes {
                    stores.push(Arc::new(PostgresStore::connect(&url).await.unwrap()));
                }
                (stores, Some(name))
            }
        };
        let gateways = stores
            .iter()
            .map(|s| Arc::new(Gateway::new(s.clone(), rules())))
            .collect();
        Nodes {
            gateways,
            stores,
            schema,
            _dir: dir,
        }
    }

    /// Drops the nodes' database (a PostgreSQL schema; the SQLite directory goes with `nodes`).
    async fn close(&self, nodes: Nodes) {
        let schema = nodes.schema.clone();
        drop(nodes);
        if let (Kind::Postgres { admin_url, .. }, Some(name)) = (self, schema) {
            drop_schema(admin_url, &name).await;
        }
    }
}

/// A fresh schema on the benchmark server; `drop_schema` removes it.
async fn create_schema(admin_url: &str) -> (String, String) {
    let (client, connection) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls)
        .await
        .expect("SIGNALPOST_TEST_DATABASE_URL accepts connections");
    tokio::spawn(connection);
    let name = format!("sp_bench_{:012x}", rand::random::<u64>() >> 16);
    client
        .batch_execute(&format!("CREATE SCHEMA {name}"))
        .await
        .unwrap();
    let sep = if admin_url.contains('?') { '&' } else { '?' };
    (
        name.clone(),
        format!("{admin_url}{sep}options=-csearch_path%3D{name}"),
    )
}

async fn drop_schema(admin_url: &str, name: &str) {
    let (client, connection) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
        .await
        .unwrap();
}

fn delivered(claimed: &signalpost_gateway::store::ClaimedConversion, at: i64) -> DeliveryResult {
    DeliveryResult {
        conversion_id: claimed.id,
        claim: claimed.claim,
        state: ConversionState::Delivered,
        next_attempt_at_ms: None,
        last_error: None,
        attempts: vec![NewAttempt {
            at_ms: at,
            http_status: Some(200),
            code: Some(0),
            message: "OK".into(),
            request_id: Some("202401010000000000000000".into()),
            latency_ms: 40,
            outcome: AttemptOutcome::Delivered,
            batch_size: BATCH as u32,
        }],
        counts_as_retry: false,
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let admin_url = std::env::var("SIGNALPOST_TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty());
    let mut kinds = vec![Kind::Sqlite];
    match &admin_url {
        Some(admin) => {
            for nodes in [1, 3] {
                kinds.push(Kind::Postgres {
                    admin_url: admin.clone(),
                    nodes,
                });
            }
        }
        None => eprintln!("notice: SIGNALPOST_TEST_DATABASE_URL is not set; measuring SQLite only"),
    }

    let mut ingest = c.benchmark_group("ingest");
    ingest.throughput(Throughput::Elements(1));
    ingest.sample_size(10);
    ingest.warm_up_time(Duration::from_secs(1));
    ingest.measurement_time(Duration::from_secs(8));
    for kind in &kinds {
        let nodes = rt.block_on(kind.open());
        let gateways = Arc::new(nodes.gateways.clone());
        ingest.bench_function(
            BenchmarkId::new("submit_lead_256_tasks", kind.label()),
            |b| {
                b.to_async(&rt).iter_custom(|iters| {
                    let gateways = gateways.clone();
                    async move {
                        let per_task = iters.div_ceil(INGEST_TASKS as u64);
                        let start = Instant::now();
                        let tasks: Vec<_> = (0..INGEST_TASKS)
                            .map(|t| {
                                let gw = gateways[t % gateways.len()].clone();
                                tokio::spawn(async move {
                                    for _ in 0..per_task {
                                        gw.submit_lead(lead()).await.unwrap();
                                    }
                                })
                            })
                            .collect();
                        for t in tasks {
                            t.await.unwrap();
                        }
                        start
                            .elapsed()
                            .mul_f64(iters as f64 / (per_task * INGEST_TASKS as u64) as f64)
                    }
                });
            },
        );
        drop(gateways);
        rt.block_on(kind.close(nodes));
    }
    ingest.finish();

    let mut deliver = c.benchmark_group("claim_record");
    deliver.throughput(Throughput::Elements(BATCH as u64));
    deliver.sample_size(10);
    deliver.warm_up_time(Duration::from_secs(1));
    deliver.measurement_time(Duration::from_secs(8));
    for kind in &kinds {
        let nodes = Arc::new(rt.block_on(kind.open()));
        deliver.bench_function(BenchmarkId::new("batches_of_1000", kind.label()), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let nodes = nodes.clone();
                async move {
                    // Fill the queue (not timed): iters batches' worth, 1,000 units a commit.
                    let wanted = iters as usize * BATCH;
                    let mut queued = 0;
                    while queued < wanted {
                        let units = (0..BATCH.min(wanted - queued))
                            .map(|_| nodes.gateways[0].lead_unit(lead()).unwrap())
                            .collect::<Vec<_>>();
                        queued += units.len();
                        for answer in nodes.stores[0].ingest_many(units).await.unwrap() {
                            answer.unwrap();
                        }
                    }
                    let start = Instant::now();
                    let workers: Vec<_> = nodes
                        .stores
                        .iter()
                        .map(|store| {
                            let store = store.clone();
                            tokio::spawn(async move {
                                let mut done = 0;
                                loop {
                                    let now = now_ms();
                                    let claimed = store
                                        .claim_due(PIXEL, now, BATCH, Duration::from_secs(60))
                                        .await
                                        .unwrap();
                                    if claimed.is_empty() {
                                        return done;
                                    }
                                    done += claimed.len();
                                    let results =
                                        claimed.iter().map(|c| delivered(c, now)).collect();
                                    store.record_results(results).await.unwrap();
                                }
                            })
                        })
                        .collect();
                    let mut done = 0;
                    for w in workers {
                        done += w.await.unwrap();
                    }
                    let elapsed = start.elapsed();
                    assert_eq!(done, wanted, "every queued conversion is claimed once");
                    elapsed
                }
            });
        });
        if let Ok(nodes) = Arc::try_unwrap(nodes) {
            rt.block_on(kind.close(nodes));
        }
    }
    deliver.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
