//! What Meta's official business SDKs really send, replayed to the sandbox: each fixture under
//! `tests/data/meta/` is a request captured from an SDK by the script beside it.
//! - Python (`facebook_business`, `capture_python_sdk.py`): form-encoded, `access_token` in the
//!   query string, `data` a JSON array of JSON-encoded event strings, `lead_id` a JSON number,
//!   currency lower-cased.
//! - Node.js (`facebook-nodejs-business-sdk`, `capture_node_sdk.js`): JSON, `access_token` in the
//!   query string and the body, every unset top-level member as `null` (`test_event_code` too).
//!
//! The sandbox must accept every one of them exactly as sent, with only the event time brought up
//! to date.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;

use common::{now, send, start_with};
use serde_json::Value;
use signalpost_sandbox::{Destination, SandboxConfig};

/// The pixel and token the capture script gives the SDK.
const SDK_PIXEL: &str = "1234567890123456";
const SDK_TOKEN: &str = "EAAB-sdk-capture-token";

fn fixtures() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/meta");
    let mut found: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            (name, serde_json::from_str(&text).unwrap())
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

#[tokio::test]
async fn the_sandbox_accepts_every_request_the_official_sdks_send() {
    let fixtures = fixtures();
    let sdks = |prefix: &str| {
        fixtures
            .iter()
            .filter(|(n, _)| n.starts_with(prefix))
            .count()
    };
    assert!(
        sdks("python_sdk_") >= 3 && sdks("node_sdk_") >= 2,
        "fixtures missing: {fixtures:?}"
    );
    let sandbox = start_with(SandboxConfig {
        meta_pixels: vec![(SDK_PIXEL.to_owned(), SDK_TOKEN.to_owned())],
        ..SandboxConfig::default()
    })
    .await;
    for (name, fixture) in fixtures {
        sandbox.clear();
        let body = fixture["body"]
            .as_str()
            .unwrap()
            .replace("__EVENT_TIME__", &(now() - 60).to_string());
        let path = format!(
            "{}?{}",
            fixture["path"].as_str().unwrap(),
            fixture["query"].as_str().unwrap()
        );
        let content_type = fixture["content_type"].as_str().unwrap();
        let answer = send(
            &sandbox,
            reqwest::Method::POST,
            &path,
            &[("Content-Type", content_type)],
            Some(body.clone().into_bytes()),
        )
        .await;
        assert_eq!(answer.status, 200, "{name}: {}", answer.text);
        let sent = count_events(content_type, &body);
        assert_eq!(answer.json()["events_received"], sent, "{name}");
        let stored = sandbox.events_of(Some(Destination::Meta), Some(SDK_PIXEL));
        assert_eq!(stored.len() as u64, sent, "{name}");
        assert!(
            stored
                .iter()
                .all(|e| e.payload_json()["event_name"].is_string()),
            "{name}"
        );
    }
}

/// How many events the body's `data` holds (a JSON body, or a form whose `data` is JSON text).
fn count_events(content_type: &str, body: &str) -> u64 {
    if content_type.starts_with("application/json") {
        let json: Value = serde_json::from_str(body).unwrap();
        return json["data"].as_array().unwrap().len() as u64;
    }
    let data = url::form_urlencoded::parse(body.as_bytes())
        .find(|(key, _)| key == "data")
        .map(|(_, value)| value.into_owned())
        .unwrap();
    let items: Vec<Value> = serde_json::from_str(&data).unwrap();
    items.len() as u64
}
