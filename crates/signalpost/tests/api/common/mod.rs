//! `spawn_app()`: starts signalpost exactly as `serve` does (from a config file), on port 0, with a
//! fresh data dir and its own sandbox, and returns handles to both. The sandbox answers at once
//! unless a test asks for TikTok-like latency ([`spawn_app_with_latency`]).

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use signalpost::app::{AppOptions, Application};
use signalpost::config::Config;
use signalpost_sandbox::{ReceivedEvent, RunningSandbox, SandboxConfig};
use tokio::sync::oneshot;

/// The API key every test app accepts.
pub const KEY: &str = "test-key-0123456789abcdef0123456789";
/// The pixel the test rules deliver to.
pub const PIXEL: &str = "CTESTPIXEL0001";
/// The test pixel's access token (in the sandbox and the config file).
pub const TOKEN: &str = "test-access-token-0123456789";

/// A running app and its sandbox; dropping it stops the server.
pub struct TestApp {
    pub base: String,
    /// `http://addr` of `[server] metrics_listen`'s listener, when the config set one.
    pub metrics_base: Option<String>,
    pub client: reqwest::Client,
    pub sandbox: RunningSandbox,
    /// Applies a reloaded config to the running app.
    pub reloader: signalpost::app::Reloader,
    /// The config file the app was started from.
    pub config_text: String,
    /// Where that file is (CLI tests point `--config` at it: same data_dir, same pixels and rules).
    pub config_path: std::path::PathBuf,
    /// The running app's pixels.
    pub pixels: signalpost_gateway::delivery::PixelRegistry,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

/// An HTTP answer, body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts a problem+json answer with `status` and returns its body.
    pub fn problem(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{:#}", self.body);
        assert_eq!(
            self.content_type(),
            "application/problem+json",
            "{:#}",
            self.body
        );
        assert_eq!(self.body["status"], status);
        assert!(
            self.body["type"]
                .as_str()
                .unwrap()
                .starts_with("urn:signalpost:problem:")
        );
        assert!(!self.body["detail"].as_str().unwrap().is_empty());
        &self.body
    }
}

/// The rules every test app runs with.
const RULES: &str = r#"
[[rules]]
name = "registration"
trigger = "form_submit"
pixel = "CTESTPIXEL0001"
event = "CompleteRegistration"

[[rules]]
name = "sale"
trigger = "lead_sold"
pixel = "CTESTPIXEL0001"
event = "Purchase"
value = "revenue"
"#;

/// Starts an app with the default test config.
pub async fn spawn_app() -> TestApp {
    spawn_app_with("", "").await
}

/// Starts an app; `server_extra` is added to the `[server]` table (e.g. `strict_identifiers = true`)
/// and `extra` (more `[[rules]]`) to the end of the file.
pub async fn spawn_app_with(server_extra: &str, extra: &str) -> TestApp {
    spawn_app_with_options(server_extra, extra, AppOptions::default()).await
}

/// [`spawn_app_with`] with explicit application options (e.g. a delivery policy that gives up fast).
pub async fn spawn_app_with_options(
    server_extra: &str,
    extra: &str,
    options: AppOptions,
) -> TestApp {
    spawn_app_with_sandbox(SandboxConfig::default(), server_extra, "", extra, options).await
}

/// Starts an app whose sandbox holds every answer like a remote TikTok would (`latency` is
/// `"P50[:P99]"` in milliseconds), for tests whose behaviour depends on time.
pub async fn spawn_app_with_latency(latency: &str) -> TestApp {
    let sandbox = SandboxConfig {
        latency: latency.parse().unwrap(),
        ..SandboxConfig::default()
    };
    spawn_app_with_sandbox(sandbox, "", "", "", AppOptions::default()).await
}

/// [`spawn_app_with_options`] with `pixel_extra` added to the test pixel's `[[pixels]]` table (e.g.
/// `site_url = "https://shop.example/"`).
pub async fn spawn_app_configured(
    server_extra: &str,
    pixel_extra: &str,
    extra: &str,
    options: AppOptions,
) -> TestApp {
    spawn_app_with_sandbox(
        SandboxConfig::default(),
        server_extra,
        pixel_extra,
        extra,
        options,
    )
    .await
}

/// The most general start: the sandbox configured as given (e.g. its latency, or how long a `hang`
/// fault holds a request; the test pixel is added to its pixels), `server_extra` in `[server]`,
/// `pixel_extra` in the test pixel's `[[pixels]]` table and `extra` after them.
pub async fn spawn_app_with_sandbox(
    sandbox: SandboxConfig,
    server_extra: &str,
    pixel_extra: &str,
    extra: &str,
    options: AppOptions,
) -> TestApp {
    let mut sandbox = sandbox;
    sandbox.pixels.push((PIXEL.to_owned(), TOKEN.to_owned()));
    let sandbox = signalpost_sandbox::spawn(sandbox, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Extra pixels name the sandbox as `SANDBOX_URL` (its address is only known now).
    let extra = extra.replace("SANDBOX_URL", &sandbox.base_url());
    let text = format!(
        r#"
[server]
listen = "127.0.0.1:0"
data_dir = "{data}"
api_keys = ["{KEY}"]
{server_extra}

[[pixels]]
code = "{PIXEL}"
access_token = "{TOKEN}"
base_url = "{sandbox}"
{pixel_extra}
{RULES}
{extra}
"#,
        data = dir.path().join("data").display(),
        sandbox = sandbox.base_url(),
    );
    let path = dir.path().join("signalpost.toml");
    std::fs::write(&path, &text).unwrap();
    let config = Config::load_with_env(Some(&path), &|_| None).unwrap();
    let app = Application::build(config, options).await.unwrap();
    let addr = app.local_addr();
    let metrics_base = app.metrics_addr().map(|a| format!("http://{a}"));
    let reloader = app.reloader();
    let pixels = app.pixels().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    TestApp {
        base: format!("http://{addr}"),
        metrics_base,
        client: reqwest::Client::new(),
        sandbox,
        reloader,
        config_text: text,
        config_path: path,
        pixels,
        stop: Some(stop),
        task: Some(task),
        _dir: dir,
    }
}

impl TestApp {
    /// Sends a request with the test key and returns the answer.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Answer {
            status,
            headers,
            body,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POST `body` as JSON with the test key.
    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.send(self.client.post(self.url(path)).bearer_auth(KEY).json(body))
            .await
    }

    /// GET with the test key.
    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.client.get(self.url(path)).bearer_auth(KEY))
            .await
    }

    /// Creates a key with this scope through the admin API and returns it.
    pub async fn create_key(&self, scope: &str) -> String {
        let answer = self
            .post(
                "/v1/keys",
                &serde_json::json!({"scope": scope, "label": "test"}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:#}", answer.body);
        answer.body["key"].as_str().unwrap().to_owned()
    }

    /// POST a lead; asserts 202.
    pub async fn lead(&self, body: Value) -> Value {
        let answer = self.post("/v1/leads", &body).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{:#}", answer.body);
        answer.body
    }

    /// The events the sandbox received, waiting (generously) until `pred` holds for them.
    pub async fn wait_for_events(
        &self,
        pred: impl Fn(&[ReceivedEvent]) -> bool,
    ) -> Vec<ReceivedEvent> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let events = self.sandbox.events(Some(PIXEL));
            if pred(&events) {
                return events;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("the sandbox never received the expected events; it has {events:#?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The lead record, polled (generously) until `pred` holds for it.
    pub async fn wait_for_lead(
        &self,
        transaction_id: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let record = self.get(&format!("/v1/leads/{transaction_id}")).await;
            if record.status == StatusCode::OK && pred(&record.body) {
                return record.body;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "lead {transaction_id} never reached the expected state: {:#}",
                    record.body
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether the running app has a pixel with this code.
    pub fn pixels_have(&self, code: &str) -> bool {
        self.pixels.contains(code)
    }

    /// Reloads the app from `text` (a whole config file).
    pub async fn reload(&self, text: &str) -> anyhow::Result<()> {
        let path = self._dir.path().join("reloaded.toml");
        std::fs::write(&path, text).unwrap();
        let config = Config::load_with_env(Some(&path), &|_| None)?;
        self.reloader.reload(&config).await.map(|_| ())
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Waits until the sandbox holds `n` events of `destination` and `pixel` (at most 30 s).
pub async fn sandbox_events(
    app: &TestApp,
    destination: signalpost_sandbox::Destination,
    pixel: &str,
    n: usize,
) -> Vec<signalpost_sandbox::ReceivedEvent> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let got = app
            .sandbox
            .sandbox()
            .events_of(Some(destination), Some(pixel));
        if got.len() >= n {
            return got;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{pixel}: {} of {n} events arrived: {got:#?}",
            got.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A received event's payload as JSON.
pub fn payload_of(e: &signalpost_sandbox::ReceivedEvent) -> serde_json::Value {
    serde_json::from_str(e.payload.get()).unwrap()
}

/// SHA-256 hex of `text`, as the destinations get identifiers.
pub fn sha(text: &str) -> String {
    signalpost_tiktok::identity::Sha256Hex::digest(text.as_bytes()).into_string()
}
