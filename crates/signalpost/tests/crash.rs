//! Crash safety at process level: the real `signalpost serve` binary is SIGKILLed while deliveries hang
//! at the destination, retries are scheduled and clients are still posting, then restarted on the same
//! data directory. Every conversion whose request was acknowledged (202) must then reach the sandbox,
//! and an event delivered more than once (a hung request TikTok processed after all) must carry the
//! same payload each time, so TikTok's dedup by event_id makes it count once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use signalpost_sandbox::{Fault, FaultKind, RunningSandbox, SandboxConfig};
use tokio::sync::Mutex;

const KEY: &str = "crash-test-key-0123456789abcdefghij";
const PIXEL: &str = "CCRASHPIXEL001";
const TOKEN: &str = "crash-test-access-token-0123";

/// (TikTok event name, event_id): what an acknowledged conversion must arrive as.
type Expected = BTreeSet<(String, String)>;

/// The server process; killed (SIGKILL) when dropped so a failing test leaves nothing behind.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// Starts `signalpost serve --config path` and waits for the address it announces.
    fn start(config: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_signalpost"))
            .args(["serve", "--config"])
            .arg(config)
            .env("RUST_LOG", "warn")
            .env_remove("SIGNALPOST_API_KEYS")
            .env_remove("SIGNALPOST_LISTEN")
            .env_remove("SIGNALPOST_DATA_DIR")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the signalpost binary starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("signalpost: listening on ") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server announces its address");
        Server { child, base }
    }

    /// SIGKILL: no graceful shutdown, no flush, nothing in flight recorded.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_config(dir: &Path, sandbox: &RunningSandbox) -> std::path::PathBuf {
    // Short schedule so the test converges quickly: retries within half a second, a hung request
    // given up after 400 ms, and a killed process's claims free again 1.5 s after they were taken.
    write_config_with(
        dir,
        sandbox,
        "retry_base_ms = 50\nretry_cap_ms = 500\nrequest_timeout_ms = 400\nlease_ms = 1500\nlinger_ms = 5",
    )
}

/// The test config with `delivery` as its `[delivery]` section.
fn write_config_with(dir: &Path, sandbox: &RunningSandbox, delivery: &str) -> std::path::PathBuf {
    let text = format!(
        r#"
[server]
listen = "127.0.0.1:0"
data_dir = "{data}"
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

[delivery]
{delivery}
"#,
        data = dir.join("data").display(),
        sandbox = sandbox.base_url(),
    );
    let path = dir.join("signalpost.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Posts one lead (and, for every third, a sale); adds every acknowledged conversion to `expected`.
/// A request the dying server does not acknowledge adds nothing: it was never promised.
async fn post_lead(client: &reqwest::Client, base: &str, n: usize, expected: &Mutex<Expected>) {
    let tx = format!("crash-lead-{n}");
    let lead = json!({
        "transaction_id": tx,
        "email": format!("person{n}@example.com"),
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (crash test)",
        "landing_url": format!("https://lp.example/form?ttclid=E.C.P.crash{n}"),
    });
    if !acknowledged(
        client,
        &format!("{base}/v1/leads"),
        &lead,
        "CompleteRegistration",
        &tx,
    )
    .await
    {
        return;
    }
    expected
        .lock()
        .await
        .insert(("CompleteRegistration".into(), tx.clone()));
    if n.is_multiple_of(3) {
        let sale = json!({"type": "lead_sold", "buyer": "acme", "revenue": 12.5});
        let url = format!("{base}/v1/leads/{tx}/events");
        if acknowledged(client, &url, &sale, "Purchase", &tx).await {
            expected.lock().await.insert(("Purchase".into(), tx));
        }
    }
}

/// Whether the server acknowledged the POST (202). The rules queue `event` with event_id
/// `transaction_id`; when the answer's body arrived whole it must say exactly that. (The status line
/// alone is the acknowledgement: a body cut off by the kill does not un-promise the conversion.)
async fn acknowledged(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
    event: &str,
    transaction_id: &str,
) -> bool {
    let Ok(response) = client.post(url).bearer_auth(KEY).json(body).send().await else {
        return false;
    };
    if response.status() != reqwest::StatusCode::ACCEPTED {
        return false;
    }
    if let Ok(answer) = response.json::<Value>().await {
        let conversions = answer["conversions"].as_array().unwrap();
        assert_eq!(conversions.len(), 1, "{answer}");
        assert_eq!(conversions[0]["event"], event, "{answer}");
        assert_eq!(conversions[0]["event_id"], transaction_id, "{answer}");
    }
    true
}

/// Whether the lead's first conversion has a recorded, failed attempt.
async fn has_failed_attempt(client: &reqwest::Client, base: &str, transaction_id: &str) -> bool {
    let record: Value = client
        .get(format!("{base}/v1/leads/{transaction_id}"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    record["conversions"][0]["attempts"]
        .as_array()
        .is_some_and(|a| a.iter().any(|a| a["outcome"] != "delivered"))
}

/// Events the sandbox accepted, grouped by (event, event_id), payloads as received.
fn arrived(sandbox: &RunningSandbox) -> BTreeMap<(String, String), Vec<String>> {
    let mut out: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for e in sandbox.sandbox().events(Some(PIXEL)) {
        let key = (e.event.clone(), e.event_id.clone().unwrap_or_default());
        out.entry(key).or_default().push(e.payload.get().to_owned());
    }
    out
}

/// The strict sandbox with the test pixel, whose `hang` fault holds a request for `hang`.
async fn hanging_sandbox(hang: Duration) -> RunningSandbox {
    signalpost_sandbox::spawn(
        SandboxConfig {
            pixels: vec![(PIXEL.to_owned(), TOKEN.to_owned())],
            hang,
            ..SandboxConfig::default()
        },
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_server_mid_delivery_and_restarting_delivers_everything_acknowledged() {
    // Longer than the whole test: a hung request never completes before the kill.
    let sandbox = hanging_sandbox(Duration::from_secs(60)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sandbox);
    let client = reqwest::Client::new();
    let expected = Arc::new(Mutex::new(Expected::new()));

    // 1. Healthy: a first wave is acknowledged and delivered.
    let server = Server::start(&config);
    for n in 0..60 {
        post_lead(&client, &server.base, n, &expected).await;
    }

    // 2. The destination hangs: requests time out, conversions go in flight, then retrying.
    sandbox
        .sandbox()
        .inject(Fault::lasting(FaultKind::Hang, Duration::from_secs(600)));
    for n in 60..240 {
        post_lead(&client, &server.base, n, &expected).await;
    }
    // Wait until a hung request has timed out and its conversions were rescheduled (retrying), so
    // the kill finds both retrying and in-flight conversions.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !has_failed_attempt(&client, &server.base, "crash-lead-60").await {
        assert!(
            Instant::now() < deadline,
            "no delivery attempt failed against the hanging sandbox"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // 3. Clients keep posting while the process is SIGKILLed.
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicUsize::new(240));
    let mut posters = Vec::new();
    for _ in 0..4 {
        let (client, base, expected, stop, next) = (
            client.clone(),
            server.base.clone(),
            expected.clone(),
            stop.clone(),
            next.clone(),
        );
        posters.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let n = next.fetch_add(1, Ordering::Relaxed);
                post_lead(&client, &base, n, &expected).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill();
    stop.store(true, Ordering::Relaxed);
    for poster in posters {
        poster.await.unwrap();
    }

    let expected = expected.lock().await.clone();
    let missing_at_kill = expected
        .iter()
        .filter(|k| !arrived(&sandbox).contains_key(*k))
        .count();
    assert!(
        missing_at_kill > 0,
        "the kill must leave acknowledged conversions undelivered, or the test proves nothing"
    );

    // 4. Restart on the same data directory; the destination recovers.
    let server = Server::start(&config);
    sandbox.sandbox().clear_faults();
    let restarted = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(180);
    let received = loop {
        let received = arrived(&sandbox);
        let missing: Vec<_> = expected
            .iter()
            .filter(|k| !received.contains_key(*k))
            .collect();
        if missing.is_empty() {
            break received;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} acknowledged conversions never arrived after the restart, e.g. {:?}",
            missing.len(),
            expected.len(),
            &missing[..missing.len().min(5)]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!(
        "{} acknowledged conversions ({} not yet delivered at the kill) all arrived {:?} after the restart",
        expected.len(),
        missing_at_kill,
        restarted.elapsed()
    );
    drop(server);

    // Every acknowledged conversion arrived; repeats are the same event, byte for byte.
    for key in &expected {
        assert!(received.contains_key(key), "{key:?} missing");
    }
    for ((event, event_id), payloads) in &received {
        let first = &payloads[0];
        for other in &payloads[1..] {
            assert_eq!(
                other, first,
                "{event} {event_id} was delivered twice with different payloads"
            );
        }
        assert!(
            first.contains(&format!("\"event_id\":\"{event_id}\"")),
            "{first}"
        );
    }
    let sales = expected.iter().filter(|(e, _)| e == "Purchase").count();
    assert!(
        expected.len() >= 240 + 80 && sales >= 80,
        "{} acknowledged, {sales} sales",
        expected.len()
    );
}

/// Crash recovery happens when `serve` starts: a batch the killed server left in flight is sent by
/// the next server at once, although its lease (ten minutes here) has far to run. Only a server that
/// takes the data directory's serve lock may do this (see `SqliteStore`'s `OpenMode`): holding it
/// proves that no live server still owns the lease. An operator command run in between, with no
/// server, releases nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_started_after_a_kill_sends_the_batch_left_in_flight_without_waiting_for_its_lease()
 {
    // Longer than the whole test: the held request never completes.
    let sandbox = hanging_sandbox(Duration::from_secs(3_600)).await;
    let dir = tempfile::tempdir().unwrap();
    // Neither the lease nor the request timeout runs out during the test: only the restart's
    // recovery can send the held batch again.
    let config = write_config_with(
        dir.path(),
        &sandbox,
        "lease_ms = 600000\nrequest_timeout_ms = 590000\nlinger_ms = 5",
    );
    let client = reqwest::Client::new();

    let server = Server::start(&config);
    sandbox
        .sandbox()
        .inject(Fault::requests(FaultKind::Hang, 1));
    let posted = client
        .post(format!("{}/v1/leads", server.base))
        .bearer_auth(KEY)
        .json(&json!({"transaction_id": "left-in-flight", "landing_url": "https://lp.example/"}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), reqwest::StatusCode::ACCEPTED);
    // The request carrying it has used up the hang fault: the sandbox holds it, the lease is stored.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let record: Value = client
            .get(format!("{}/v1/leads/left-in-flight", server.base))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if record["conversions"][0]["state"] == "in_flight" && sandbox.sandbox().faults().is_empty()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the lead never went in flight: {record:#}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill();
    let config_arg = config.to_str().unwrap().to_owned();
    let tool = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_signalpost"))
            .args(["keys", "list", "--config", &config_arg])
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        tool.status.success(),
        "{}",
        String::from_utf8_lossy(&tool.stderr)
    );
    assert!(
        arrived(&sandbox).is_empty(),
        "nothing can have been delivered yet"
    );

    let server = Server::start(&config);
    let deadline = Instant::now() + Duration::from_secs(120);
    while arrived(&sandbox).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the restarted server did not send the batch left in flight (its lease has ten minutes to run)"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let record: Value = client
        .get(format!("{}/v1/leads/left-in-flight", server.base))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    drop(server);
    let received = arrived(&sandbox);
    assert_eq!(
        received.keys().collect::<Vec<_>>(),
        [&(
            "CompleteRegistration".to_owned(),
            "left-in-flight".to_owned()
        )]
    );
    assert_eq!(received.values().map(Vec::len).sum::<usize>(), 1);
    // The killed server never recorded its attempt; the restarted one recorded the delivery.
    let attempts = record["conversions"][0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{record:#}");
    assert_eq!(attempts[0]["outcome"], "delivered", "{record:#}");
}
