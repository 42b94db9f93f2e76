//! Scale-out on one PostgreSQL database: three real `signalpost serve` processes share a schema and
//! one sandbox; leads (and sales, posted to a different node than their lead) are spread over all
//! three; the middle node is SIGKILLed while a delivery request of its own is in flight — the sandbox
//! has accepted the batch but the node never hears back, so it records nothing. Its claimed batch must
//! be taken over by the surviving nodes once the lease expires: every acknowledged conversion reaches
//! the sandbox, and an event that arrives twice carries the same event_id (and the same bytes), so
//! TikTok's dedup counts it once.
//!
//! Needs `SIGNALPOST_TEST_DATABASE_URL` (CI sets it); without it the test prints a notice and passes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use serde_json::{Value, json};
use signalpost_sandbox::{Sandbox, SandboxConfig};
use tokio::sync::Mutex;

#[path = "support/pg_schema.rs"]
mod pg_schema;
use pg_schema::{PgSchema, connect};

const KEY: &str = "multinode-key-0123456789abcdefghij";
const PIXEL: &str = "CMULTINODEPIX1";
const TOKEN: &str = "multinode-access-token-0123";
const NODES: usize = 3;
/// The node that dies.
const VICTIM: usize = 1;

/// (event name, event_id) of a conversion.
type Key = (String, String);

/// One `signalpost serve` process; SIGKILLed when dropped.
struct Node {
    child: Child,
    base: String,
}

impl Node {
    fn start(config: &Path, log: &Path, proxy: &str) -> Node {
        let mut child = Command::new(env!("CARGO_BIN_EXE_signalpost"))
            .args(["serve", "--config"])
            .arg(config)
            .env("RUST_LOG", "info")
            // Pixels live in the shared database, so every node has the same destination; each node
            // reaches it through its own "proxy" (a listener serving the sandbox), so the test knows
            // which node sent what.
            .env("HTTP_PROXY", proxy)
            .env("http_proxy", proxy)
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            // Nodes sharing a database share the master key that seals the pixels' tokens.
            .env("SIGNALPOST_MASTER_KEY", "ab".repeat(32))
            .env_remove("SIGNALPOST_DATABASE_URL")
            .env_remove("SIGNALPOST_API_KEYS")
            .env_remove("SIGNALPOST_LISTEN")
            .env_remove("SIGNALPOST_DATA_DIR")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("the signalpost binary starts");
        let stdout = child.stdout.take().unwrap();
        let (found, announced) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Keep reading to the end so the node never blocks on a full pipe.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("signalpost: listening on ") {
                    let _ = found.send(rest.trim().to_owned());
                }
            }
        });
        let base = announced
            .recv_timeout(Duration::from_secs(90))
            .unwrap_or_else(|_| {
                panic!(
                    "a node never announced its address; its log:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                )
            });
        Node { child, base }
    }

    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Counts each node's delivery requests; once `holding` is set, lets the victim's requests reach the
/// sandbox (which accepts and records their events) but never returns the answer: the victim is then
/// mid-delivery for as long as the test likes.
#[derive(Clone, Default)]
struct Gate {
    holding: Arc<AtomicBool>,
    held: Arc<AtomicUsize>,
    requests: Arc<[AtomicUsize; NODES]>,
}

async fn watch_requests(
    State((gate, node)): State<(Gate, usize)>,
    request: Request,
    next: Next,
) -> Response {
    gate.requests[node].fetch_add(1, Ordering::SeqCst);
    let answer = next.run(request).await;
    if node == VICTIM && gate.holding.load(Ordering::SeqCst) {
        gate.held.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(300)).await;
    }
    answer
}

/// One sandbox behind one listener per node; node `n` is told to use listener `n` as its HTTP
/// proxy, so the test knows which node sent what. Returns the listeners' URLs.
async fn serve_sandbox(sandbox: &Sandbox, gate: &Gate) -> Vec<String> {
    let mut urls = Vec::new();
    for n in 0..NODES {
        let routes = sandbox.router().layer(middleware::from_fn_with_state(
            (gate.clone(), n),
            watch_requests,
        ));
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, routes).await });
        urls.push(format!("http://{addr}"));
    }
    urls
}

fn write_config(dir: &Path, n: usize, database_url: &str, sandbox: &str) -> PathBuf {
    // The victim wakes first on its own ingests (shorter linger), so it claims work of its own.
    let linger = if n == VICTIM { 1 } else { 40 };
    let text = format!(
        r#"
[server]
listen = "127.0.0.1:0"
data_dir = "{data}"
database_url = "{database_url}"
api_keys = ["{KEY}"]

[[pixels]]
code = "{PIXEL}"
access_token = "{TOKEN}"
base_url = "{sandbox}"

[[rules]]
name = "registration"
trigger = "form_submit"
pixel = "{PIXEL}"
event = "CompleteRegistration"

[[rules]]
name = "sale"
trigger = "lead_sold"
pixel = "{PIXEL}"
event = "Purchase"
value = "revenue"

# A dead node's claims are free again 3 s after they were taken.
[delivery]
lease_ms = 3000
request_timeout_ms = 2500
retry_base_ms = 50
retry_cap_ms = 500
linger_ms = {linger}
"#,
        data = dir.join(format!("data{n}")).display(),
    );
    let path = dir.join(format!("node{n}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Posts `body` and returns the conversions a 202 promised, as (event, event_id).
async fn post(client: &reqwest::Client, url: &str, body: &Value) -> Option<Vec<Key>> {
    let response = client
        .post(url)
        .bearer_auth(KEY)
        .json(body)
        .send()
        .await
        .ok()?;
    if response.status() != reqwest::StatusCode::ACCEPTED {
        return None;
    }
    let answer: Value = response.json().await.ok()?;
    Some(
        answer["conversions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["event"].as_str().unwrap().to_owned(),
                    c["event_id"].as_str().unwrap().to_owned(),
                )
            })
            .collect(),
    )
}

/// What the posters learned: promised conversions, and every key that was ever asked for.
#[derive(Default)]
struct Ledger {
    acknowledged: BTreeSet<Key>,
    asked: BTreeSet<Key>,
    leads_per_node: [usize; NODES],
}

/// Lead `n` goes to node `n % 3`; every third lead is also sold, through the next node.
async fn post_lead(client: &reqwest::Client, bases: &[String], n: usize, ledger: &Mutex<Ledger>) {
    let tx = format!("mn-{n}");
    let node = n % NODES;
    let lead = json!({
        "transaction_id": tx,
        "email": format!("person{n}@example.com"),
        "ip": "203.0.113.9",
        "user_agent": "Mozilla/5.0 (multinode test)",
        "landing_url": format!("https://lp.example/form?ttclid=E.C.P.mn{n}"),
    });
    ledger
        .lock()
        .await
        .asked
        .insert(("CompleteRegistration".into(), tx.clone()));
    let Some(promised) = post(client, &format!("{}/v1/leads", bases[node]), &lead).await else {
        return;
    };
    {
        let mut l = ledger.lock().await;
        l.acknowledged.extend(promised);
        l.leads_per_node[node] += 1;
    }
    if n.is_multiple_of(3) {
        let seller = (node + 1) % NODES;
        let sale = json!({"type": "lead_sold", "buyer": "acme", "revenue": 20.0});
        ledger
            .lock()
            .await
            .asked
            .insert(("Purchase".into(), tx.clone()));
        let url = format!("{}/v1/leads/{tx}/events", bases[seller]);
        if let Some(promised) = post(client, &url, &sale).await {
            ledger.lock().await.acknowledged.extend(promised);
        }
    }
}

/// Accepted events by (event, event_id), raw payloads in arrival order.
fn arrived(sandbox: &Sandbox) -> BTreeMap<Key, Vec<String>> {
    let mut out: BTreeMap<Key, Vec<String>> = BTreeMap::new();
    for e in sandbox.events(Some(PIXEL)) {
        out.entry((e.event.clone(), e.event_id.clone().unwrap_or_default()))
            .or_default()
            .push(e.payload.get().to_owned());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_the_work_and_survive_one_being_killed_mid_delivery() {
    let Some(admin_url) = std::env::var("SIGNALPOST_TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty())
    else {
        eprintln!("notice: SIGNALPOST_TEST_DATABASE_URL is not set; skipping the multi-node test");
        return;
    };
    let schema = PgSchema::create(&admin_url, "sp_multinode").await;
    let sandbox = Sandbox::new(SandboxConfig {
        pixels: vec![(PIXEL.to_owned(), TOKEN.to_owned())],
        ..SandboxConfig::default()
    });
    let gate = Gate::default();
    let proxies = serve_sandbox(&sandbox, &gate).await;

    // Three nodes start at once on an empty schema (the migration runs once, under a lock).
    let dir = tempfile::tempdir().unwrap();
    let configs: Vec<PathBuf> = (0..NODES)
        .map(|n| write_config(dir.path(), n, &schema.url(), &proxies[0]))
        .collect();
    let starting: Vec<_> = (0..NODES)
        .map(|n| {
            let (config, log) = (configs[n].clone(), dir.path().join(format!("node{n}.log")));
            let proxy = proxies[n].clone();
            std::thread::spawn(move || Node::start(&config, &log, &proxy))
        })
        .collect();
    let mut nodes: Vec<Node> = starting.into_iter().map(|s| s.join().unwrap()).collect();
    let bases: Arc<Vec<String>> = Arc::new(nodes.iter().map(|n| n.base.clone()).collect());
    let client = reqwest::Client::new();
    let ledger = Arc::new(Mutex::new(Ledger::default()));

    // Clients post to all three nodes until the victim is mid-delivery, and on through its death.
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicUsize::new(0));
    let posters: Vec<_> = (0..6)
        .map(|_| {
            let (client, bases, ledger, stop, next) = (
                client.clone(),
                bases.clone(),
                ledger.clone(),
                stop.clone(),
                next.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    post_lead(&client, &bases, n, &ledger).await;
                    if n >= 3_000 {
                        break;
                    }
                }
            })
        })
        .collect();
    // A first wave is delivered normally; then the victim's answers are withheld.
    while next.load(Ordering::Relaxed) < 150 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gate.holding.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(60);
    while gate.held.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "the victim never sent a delivery request"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    nodes[VICTIM].kill();
    let held_at_kill = gate.held.load(Ordering::SeqCst);
    // Keep posting to the survivors for a while after the kill.
    let posted_at_kill = next.load(Ordering::Relaxed);
    while next.load(Ordering::Relaxed) < posted_at_kill + 150 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for poster in posters {
        poster.await.unwrap();
    }
    gate.holding.store(false, Ordering::SeqCst);

    let ledger = ledger.lock().await;
    assert!(
        ledger.leads_per_node.iter().all(|&n| n > 0),
        "leads spread over all nodes: {:?}",
        ledger.leads_per_node
    );
    let expected = &ledger.acknowledged;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(120);
    loop {
        let received = arrived(&sandbox);
        let missing: Vec<&Key> = expected
            .iter()
            .filter(|k| !received.contains_key(*k))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} acknowledged conversions never arrived, e.g. {:?}",
            missing.len(),
            expected.len(),
            &missing[..missing.len().min(5)]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The database agrees once the survivors have recorded their last answers: nothing is left
    // claimed or queued.
    let db = connect(&schema.url()).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let open: i64 = db
            .query_one(
                "SELECT count(*) FROM conversions WHERE state <> 'delivered'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if open == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{open} conversions left undelivered in the database"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Everything is settled now, including the re-sends of the victim's batch.
    let received = arrived(&sandbox);
    let repeated: Vec<&Key> = received
        .iter()
        .filter(|(_, payloads)| payloads.len() > 1)
        .map(|(k, _)| k)
        .collect();
    eprintln!(
        "{} acknowledged conversions (leads per node {:?}, delivery requests per node {:?}); the victim held {held_at_kill} request(s) at the kill; all arrived and were recorded {:?} after the posting stopped; {} arrived more than once",
        expected.len(),
        ledger.leads_per_node,
        gate.requests
            .iter()
            .map(|r| r.load(Ordering::SeqCst))
            .collect::<Vec<_>>(),
        started.elapsed(),
        repeated.len()
    );

    for (key, payloads) in &received {
        assert!(
            ledger.asked.contains(key),
            "{key:?} arrived but was never posted"
        );
        for other in &payloads[1..] {
            assert_eq!(
                other, &payloads[0],
                "{key:?} arrived twice with different bytes"
            );
        }
        assert!(
            payloads[0].contains(&format!("\"event_id\":\"{}\"", key.1)),
            "{}",
            payloads[0]
        );
    }
    assert!(
        !repeated.is_empty(),
        "the victim's accepted-but-unanswered batch must have been sent again by a survivor"
    );

    drop(nodes);
}
