//! Secrets stay secret, checked end to end on the real binary: a full operator scenario (leads with
//! email and phone, a sale, pixels listed, a test postback, a token TikTok revokes, a rotation
//! through the API, a pixel added, bad requests that carry tokens) runs against `signalpost serve`
//! at debug log level; then every byte it logged and every API response (bodies and headers) is
//! searched for each plain token and the API key, and the SQLite files for the tokens and the plain
//! email and phone. None may be found.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use signalpost_sandbox::SandboxConfig;

const KEY: &str = "secret-admin-key-0123456789abcdefghij";
const PIXEL: &str = "CSECRETPIXEL01";
const TOKEN: &str = "tok1-plain-secret-a1b2c3d4e5";
const ROTATED: &str = "tok2-rotated-secret-f6g7h8i9";
const ADDED: &str = "tok3-added-secret-j0k1l2m3";
const INVALID_PIXEL_TOKEN: &str = "tok4-in-a-refused-request-n4o5";
const SPACED_TOKEN: &str = "tok5-with space-p6q7";
const TRUNCATED_TOKEN: &str = "tok6-truncated-json-r8s9";
const EMAIL: &str = "Alice.Secret@Example.com";
const PHONE: &str = "+1 213 373 4253";

struct Server {
    child: Child,
    base: String,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    fn start(config: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_signalpost"))
            .args(["serve", "--config"])
            .arg(config)
            .env("RUST_LOG", "debug")
            .env_remove("SIGNALPOST_API_KEYS")
            .env_remove("SIGNALPOST_MASTER_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the signalpost binary starts");
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let out_log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("signalpost: listening on ") {
                    let _ = tx.send(addr.trim().to_owned());
                }
                out_log.lock().unwrap().push_str(&line);
                out_log.lock().unwrap().push('\n');
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        let err_log = log.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                err_log
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server announces its address");
        Server { child, base, log }
    }

    /// SIGTERM and wait, so everything it would log is logged.
    fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(200));
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every response of the scenario, as text (status, headers, body).
#[derive(Default)]
struct Transcript(String);

impl Transcript {
    async fn send(&mut self, request: reqwest::RequestBuilder) -> Value {
        let response = request.send().await.unwrap();
        self.0.push_str(&format!("{}\n", response.status()));
        for (name, value) in response.headers() {
            self.0
                .push_str(&format!("{name}: {}\n", value.to_str().unwrap_or("")));
        }
        let text = response.text().await.unwrap();
        self.0.push_str(&text);
        self.0.push('\n');
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_key_email_or_phone_leaks_into_logs_answers_or_the_database() {
    let sandbox = signalpost_sandbox::spawn(
        SandboxConfig {
            pixels: vec![
                (PIXEL.to_owned(), TOKEN.to_owned()),
                ("CADDEDPIXEL02".to_owned(), ADDED.to_owned()),
            ],
            ..SandboxConfig::default()
        },
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("signalpost.toml");
    std::fs::write(
        &config,
        format!(
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
currency = "USD"
"#,
            data = data.display(),
            sandbox = sandbox.base_url(),
        ),
    )
    .unwrap();
    let server = Server::start(&config);
    let base = server.base.clone();
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{base}{path}");
    let mut t = Transcript::default();
    let lead = |id: &str| {
        json!({"transaction_id": id, "email": EMAIL, "phone": PHONE,
               "ip": "203.0.113.9", "user_agent": "Mozilla/5.0",
               "landing_url": "https://lp.example.com/?ttclid=E.C.P.secret"})
    };

    // Leads, a sale, the record.
    t.send(
        client
            .post(url("/v1/leads"))
            .bearer_auth(KEY)
            .json(&lead("s-1")),
    )
    .await;
    t.send(
        client
            .post(url("/v1/leads/s-1/events"))
            .bearer_auth(KEY)
            .json(&json!({"type": "lead_sold", "revenue": 12.5, "buyer": "acme"})),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while sandbox.events(Some(PIXEL)).len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "never delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    t.send(client.get(url("/v1/leads/s-1")).bearer_auth(KEY))
        .await;
    t.send(client.get(url("/v1/pixels")).bearer_auth(KEY)).await;
    t.send(
        client
            .get(url(&format!("/v1/pixels/{PIXEL}")))
            .bearer_auth(KEY),
    )
    .await;
    t.send(
        client
            .post(url("/v1/test-postback"))
            .bearer_auth(KEY)
            .json(&json!({"pixel": PIXEL, "test_event_code": "TEST1"})),
    )
    .await;
    t.send(
        client
            .post(url("/v1/preview"))
            .bearer_auth(KEY)
            .json(&json!({"lead": lead("s-prev"), "event": {"type": "lead_sold", "revenue": 3}})),
    )
    .await;

    // TikTok revokes the token: the pixel pauses (logged with the remedy), then is rotated.
    sandbox.sandbox().set_token(PIXEL, ROTATED).unwrap();
    t.send(
        client
            .post(url("/v1/leads"))
            .bearer_auth(KEY)
            .json(&lead("s-2")),
    )
    .await;
    loop {
        let view = t
            .send(
                client
                    .get(url(&format!("/v1/pixels/{PIXEL}")))
                    .bearer_auth(KEY),
            )
            .await;
        if view["health"] == "paused" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never paused");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    t.send(
        client
            .post(url("/v1/test-postback"))
            .bearer_auth(KEY)
            .json(&json!({"pixel": PIXEL})),
    )
    .await;
    let rotated = t
        .send(
            client
                .put(url(&format!("/v1/pixels/{PIXEL}/token")))
                .bearer_auth(KEY)
                .json(&json!({"access_token": ROTATED})),
        )
        .await;
    assert_eq!(rotated["resumed"], true, "{rotated:#}");
    while !sandbox
        .events(Some(PIXEL))
        .iter()
        .any(|e| e.event_id.as_deref() == Some("s-2"))
    {
        assert!(tokio::time::Instant::now() < deadline, "never resumed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A pixel added; requests with tokens that are refused.
    let added = t
        .send(
            client
                .post(url("/v1/pixels"))
                .bearer_auth(KEY)
                .json(&json!({"code": "CADDEDPIXEL02", "access_token": ADDED,
                              "base_url": sandbox.base_url()})),
        )
        .await;
    assert_eq!(added["health"], "ok", "{added:#}");
    let refused = t
        .send(client.post(url("/v1/pixels")).bearer_auth(KEY).json(
            &json!({"code": "CREFUSED", "access_token": INVALID_PIXEL_TOKEN,
                              "base_url": "not a url"}),
        ))
        .await;
    assert_eq!(refused["status"], 422, "{refused:#}");
    let spaced = t
        .send(
            client
                .put(url(&format!("/v1/pixels/{PIXEL}/token")))
                .bearer_auth(KEY)
                .json(&json!({"access_token": SPACED_TOKEN})),
        )
        .await;
    assert_eq!(spaced["status"], 422, "{spaced:#}");
    let truncated = t
        .send(
            client
                .put(url(&format!("/v1/pixels/{PIXEL}/token")))
                .bearer_auth(KEY)
                .header("content-type", "application/json")
                .body(format!("{{\"access_token\": \"{TRUNCATED_TOKEN}")),
        )
        .await;
    assert_eq!(truncated["status"], 400, "{truncated:#}");
    let typo = t
        .send(
            client
                .put(url(&format!("/v1/pixels/{PIXEL}/token")))
                .bearer_auth(KEY)
                .json(&json!({"acess_token": TRUNCATED_TOKEN})),
        )
        .await;
    assert_eq!(typo["status"], 422, "{typo:#}");
    t.send(client.get(url("/v1/pixels")).bearer_auth(KEY)).await;
    t.send(client.get(url("/v1/rules")).bearer_auth(KEY)).await;
    t.send(client.get(url("/metrics")).bearer_auth(KEY)).await;
    t.send(
        client
            .post(url("/v1/replay"))
            .bearer_auth(KEY)
            .json(&json!({"state": "dead"})),
    )
    .await;
    t.send(
        client
            .get(url("/v1/pixels"))
            .bearer_auth("wrong-key-0123456789"),
    )
    .await;

    let log = server.stop();
    assert!(
        log.contains("TikTok rejected the access token"),
        "the pause is logged"
    );
    let secrets = [
        TOKEN,
        ROTATED,
        ADDED,
        INVALID_PIXEL_TOKEN,
        SPACED_TOKEN,
        TRUNCATED_TOKEN,
    ];
    for secret in secrets.iter().chain([&KEY]) {
        assert!(!log.contains(secret), "the log contains {secret}");
        assert!(!t.0.contains(secret), "an API answer contains {secret}");
    }
    for plain in [EMAIL, &EMAIL.to_lowercase(), "2133734253", "alice.secret"] {
        assert!(!t.0.contains(plain), "an API answer contains {plain}");
    }

    // The database files hold no plain token, email or phone.
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("signalpost.db") {
            bytes.extend(std::fs::read(&path).unwrap());
        }
    }
    assert!(bytes.len() > 10_000, "the database was found");
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    for secret in [TOKEN, ROTATED, ADDED] {
        assert!(!contains(secret), "the database contains a plain token");
    }
    for plain in [EMAIL, &EMAIL.to_lowercase(), "2133734253", "213 373 4253"] {
        assert!(!contains(plain), "the database contains {plain}");
    }
    // What is stored instead: the SHA-256 of the normalized email.
    let hashed = signalpost_tiktok::identity::hash_email(EMAIL)
        .unwrap()
        .to_string();
    assert!(contains(&hashed));
}
