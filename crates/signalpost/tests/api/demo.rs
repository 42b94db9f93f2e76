//! `serve` without a config: generated API key kept across restarts, demo pixel and rules delivered
//! to an in-process sandbox.

use std::time::Duration;

use serde_json::json;
use signalpost::app::{AppOptions, Application};
use signalpost::config::{Config, ServerConfig};
use signalpost::demo::{DEMO_PIXEL, DEMO_SITE_URL};

fn demo_config(data_dir: &std::path::Path) -> Config {
    Config {
        server: ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: data_dir.to_owned(),
            ..ServerConfig::default()
        },
        ..Config::default()
    }
}

fn demo_options() -> AppOptions {
    AppOptions {
        demo: true,
        announce: false,
        delivery: None,
    }
}

#[tokio::test]
async fn demo_mode_generates_a_key_once_and_delivers_to_its_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let app = Application::build(demo_config(dir.path()), demo_options())
        .await
        .unwrap();
    let key = app.generated_api_key().unwrap().to_owned();
    let sandbox = app.sandbox().unwrap().sandbox().clone();
    let base = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));

    let client = reqwest::Client::new();
    let answer: serde_json::Value = client
        .post(format!("{base}/v1/leads"))
        .bearer_auth(&key)
        .json(&json!({"transaction_id": "demo-1", "landing_url": "https://lp.example.com/?ttclid=E.C.P.d"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["conversions"][0]["pixel"], DEMO_PIXEL, "{answer:#}");
    assert_eq!(answer["conversions"][0]["event"], "CompleteRegistration");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while sandbox.events(Some(DEMO_PIXEL)).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the demo sandbox got nothing"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    task.await.unwrap().unwrap();

    // A restart on the same data dir keeps the key and does not print a new one.
    let again = Application::build(demo_config(dir.path()), demo_options())
        .await
        .unwrap();
    assert_eq!(again.generated_api_key(), None);
    let base = format!("http://{}", again.local_addr());
    let task = tokio::spawn(again.run_until_stopped(std::future::pending()));
    let status = client
        .get(format!("{base}/v1/leads/demo-1"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    task.abort();
}

#[tokio::test]
async fn the_demo_pixel_has_a_site_url_so_a_lead_without_landing_url_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let app = Application::build(demo_config(dir.path()), demo_options())
        .await
        .unwrap();
    let key = app.generated_api_key().unwrap().to_owned();
    let sandbox = app.sandbox().unwrap().sandbox().clone();
    let base = format!("http://{}", app.local_addr());
    let task = tokio::spawn(app.run_until_stopped(std::future::pending()));
    let client = reqwest::Client::new();
    let pixel: serde_json::Value = client
        .get(format!("{base}/v1/pixels/{DEMO_PIXEL}"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pixel["site_url"], DEMO_SITE_URL, "{pixel:#}");
    let answer: serde_json::Value = client
        .post(format!("{base}/v1/leads"))
        .bearer_auth(&key)
        .json(&json!({"transaction_id": "demo-nolp", "ip": "203.0.113.1", "user_agent": "UA"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["warnings"], json!([]), "{answer:#}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let event = loop {
        let events = sandbox.events(Some(DEMO_PIXEL));
        if let Some(e) = events
            .iter()
            .find(|e| e.event_id.as_deref() == Some("demo-nolp"))
        {
            break e.payload_json();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the demo sandbox got nothing"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(event["page"]["url"], DEMO_SITE_URL);
    task.abort();
}
