//! Shared helpers: start a real sandbox on 127.0.0.1:0 and talk to it over HTTP.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use signalpost_sandbox::{Latency, RunningSandbox, SandboxConfig};

pub mod google_ads;
pub mod meta;

pub const PIXEL: &str = "C4PIXEL0001";
pub const TOKEN: &str = "tok-0001-abcdef";
pub const OTHER_PIXEL: &str = "C4PIXEL0002";
pub const OTHER_TOKEN: &str = "tok-0002-abcdef";

/// SHA-256 of "alice_abc@gmail.com" (TikTok's reference example).
pub const EMAIL_HASH: &str = "848a771458438fc2ec420560d769fb9b9b86851ee338ec56517baabd79d3bb4f";
/// SHA-256 of "+12133734253" (TikTok's reference example).
pub const PHONE_HASH: &str = "9f7ec22d72092cd3c0b58726ed9c2d91b92e51a3f29837508fb2948bb22dd2fd";

pub const TRACK: &str = "/open_api/v1.3/event/track/";
pub const PIXEL_TRACK: &str = "/open_api/v1.3/pixel/track/";
pub const PIXEL_BATCH: &str = "/open_api/v1.3/pixel/batch/";

pub fn config() -> SandboxConfig {
    SandboxConfig {
        pixels: vec![
            (PIXEL.to_owned(), TOKEN.to_owned()),
            (OTHER_PIXEL.to_owned(), OTHER_TOKEN.to_owned()),
        ],
        ..SandboxConfig::default()
    }
}

pub async fn start() -> RunningSandbox {
    start_with(config()).await
}

/// [`start`] with every track answer held for `latency` (`"P50[:P99]"` in milliseconds): for tests of
/// behaviour that depends on time. The other helpers leave latency off, so they stay fast.
pub async fn start_with_latency(latency: &str) -> RunningSandbox {
    start_with(SandboxConfig {
        latency: latency.parse::<Latency>().unwrap(),
        ..config()
    })
    .await
}

pub async fn start_with(config: SandboxConfig) -> RunningSandbox {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    signalpost_sandbox::spawn(config, addr).await.unwrap()
}

/// Whether `id` has TikTok's log-id shape: `YYYYMMDDhhmmss` then 20 upper-case hex digits.
pub fn is_log_id(id: &str) -> bool {
    id.len() == 34
        && id[..14].bytes().all(|b| b.is_ascii_digit())
        && id[14..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// TikTok's minimal valid web event (reference §1.6), with a current event time.
pub fn web_event(event_id: &str) -> Value {
    json!({
        "event": "Purchase",
        "event_time": now() - 30,
        "event_id": event_id,
        "user": {"email": EMAIL_HASH, "phone": PHONE_HASH, "ip": "203.0.113.1",
                 "user_agent": "Mozilla/5.0 (X11; Linux x86_64)"},
        "page": {"url": "https://shop.example/checkout"},
        "properties": {"currency": "USD", "value": 200.0, "content_type": "product",
                       "contents": [{"price": 100.0, "quantity": 2, "content_id": "12345"}]}
    })
}

/// A 2.0 body for `PIXEL` holding `events`.
pub fn body(events: Vec<Value>) -> Value {
    json!({"event_source": "web", "event_source_id": PIXEL, "data": events})
}

/// What came back.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn code(&self) -> i64 {
        assert_eq!(self.status, 200, "{}", self.text);
        self.json()["code"].as_i64().unwrap()
    }

    pub fn message(&self) -> String {
        self.json()["message"].as_str().unwrap().to_owned()
    }

    /// Asserts a TikTok business error and returns its message.
    pub fn error(&self, code: i64) -> String {
        assert_eq!(self.code(), code, "{}", self.text);
        self.message()
    }
}

pub async fn send(
    sandbox: &RunningSandbox,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Answer {
    let client = reqwest::Client::new();
    let mut request = client.request(method, format!("{}{path}", sandbox.base_url()));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.unwrap();
    Answer {
        status,
        content_type,
        text,
    }
}

/// POSTs JSON to a track path with `token`.
pub async fn post_as(sandbox: &RunningSandbox, path: &str, token: &str, body: &Value) -> Answer {
    send(
        sandbox,
        reqwest::Method::POST,
        path,
        &[
            ("Access-Token", token),
            ("Content-Type", "application/json"),
        ],
        Some(serde_json::to_vec(body).unwrap()),
    )
    .await
}

/// POSTs a 2.0 body with `PIXEL`'s token.
pub async fn track(sandbox: &RunningSandbox, body: &Value) -> Answer {
    post_as(sandbox, TRACK, TOKEN, body).await
}

/// Sends one event (after `valid_before` valid ones) and returns TikTok's 40002 message.
pub async fn rejection_for(sandbox: &RunningSandbox, valid_before: usize, event: Value) -> String {
    let mut events: Vec<Value> = (0..valid_before)
        .map(|i| web_event(&format!("ok{i}")))
        .collect();
    events.push(event);
    track(sandbox, &body(events)).await.error(40002)
}

/// `web_event` with `pointer` (JSON pointer) set to `value`.
pub fn event_with(pointer: &str, value: Value) -> Value {
    let mut event = web_event("e1");
    *event.pointer_mut(pointer).unwrap() = value;
    event
}

pub async fn get_json(sandbox: &RunningSandbox, path: &str) -> Value {
    let answer = send(sandbox, reqwest::Method::GET, path, &[], None).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()
}

pub async fn post_json(sandbox: &RunningSandbox, path: &str, body: &Value) -> Answer {
    send(
        sandbox,
        reqwest::Method::POST,
        path,
        &[("Content-Type", "application/json")],
        Some(serde_json::to_vec(body).unwrap()),
    )
    .await
}

/// Polls `check` until it holds (a wait for background work, not a timing assertion).
pub async fn eventually(mut check: impl FnMut() -> bool) -> bool {
    for _ in 0..200 {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
