//! The load tool against the real server (in-process, port 0, SQLite in a tempdir) delivering to a
//! real sandbox: what it counts must match what the server stored and the sandbox received.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use clap::Parser;
use signalpost::app::{AppOptions, Application};
use signalpost::config::Config;
use signalpost_loadgen::{Args, run};
use signalpost_sandbox::{RunningSandbox, SandboxConfig};
use tokio::sync::oneshot;

const KEY: &str = "loadgen-test-key-0123456789abcdefghij";
const PIXEL: &str = "CLOADGENPIXEL01";
const TOKEN: &str = "loadgen-access-token-0123456789";

struct Running {
    base: String,
    sandbox: RunningSandbox,
    stop: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn start() -> Running {
    let sandbox = signalpost_sandbox::spawn(
        SandboxConfig {
            pixels: vec![(PIXEL.to_owned(), TOKEN.to_owned())],
            ..SandboxConfig::default()
        },
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
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
retry_base_ms = 50
retry_cap_ms = 300
linger_ms = 5
"#,
        data = dir.path().join("data").display(),
        sandbox = sandbox.base_url(),
    );
    let path = dir.path().join("signalpost.toml");
    std::fs::write(&path, text).unwrap();
    let config = Config::load_with_env(Some(&path), &|_| None).unwrap();
    let app = Application::build(config, AppOptions::default())
        .await
        .unwrap();
    let base = format!("http://{}", app.local_addr());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    Running {
        base,
        sandbox,
        stop: Some(stop),
        _dir: dir,
    }
}

fn args(server: &Running, extra: &[&str]) -> Args {
    let mut argv = vec![
        "loadgen".to_owned(),
        "--target".into(),
        server.base.clone(),
        "--key".into(),
        KEY.into(),
        "--sandbox".into(),
        server.sandbox.base_url(),
        "--verify-timeout".into(),
        "60".into(),
    ];
    argv.extend(extra.iter().map(|s| (*s).to_owned()));
    Args::parse_from(argv)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_leads_and_sales_are_counted_acknowledged_and_all_delivered() {
    let server = start().await;
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("out.json");
    let mut a = args(
        &server,
        &[
            "--connections",
            "4",
            "--requests",
            "400",
            "--duration",
            "60",
            "--sold-share",
            "0.5",
        ],
    );
    a.json = Some(json_path.clone());
    let (report, passed) = run(&a).await.unwrap();
    assert!(passed, "{}", report.table());
    assert_eq!(report.requests, 400);
    assert_eq!(report.transport_errors, 0, "{}", report.table());
    let leads = report.by_kind["lead"].ok;
    let sales = report.by_kind.get("lead_sold").map_or(0, |k| k.ok);
    assert!(sales > 0, "{}", report.table());
    assert_eq!(leads + sales, 400);
    // One conversion per acknowledged lead (CompleteRegistration) and per sale (Purchase).
    assert_eq!(report.conversions_acked as u64, leads + sales);
    let delivery = report.delivery.as_ref().unwrap();
    assert_eq!(delivery.delivered, report.conversions_acked);
    assert_eq!(delivery.missing, 0);
    assert_eq!(delivery.conflicting, 0);
    let purchases = server
        .sandbox
        .sandbox()
        .events(Some(PIXEL))
        .iter()
        .filter(|e| e.event == "Purchase")
        .count();
    assert_eq!(purchases as u64, sales);
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(written["requests"], 400);
    assert!(written["latency"]["p99_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(written["delivery"]["passed"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_batches_drain_after_release_and_the_check_counts_every_item() {
    let server = start().await;
    let a = args(
        &server,
        &[
            "--mode",
            "batch",
            "--batch-size",
            "50",
            "--connections",
            "2",
            "--requests",
            "10",
            "--duration",
            "60",
            "--hold-delivery",
        ],
    );
    let (report, passed) = run(&a).await.unwrap();
    assert!(passed, "{}", report.table());
    assert_eq!(report.requests, 10);
    assert_eq!(report.items_acked, 500);
    assert_eq!(report.items_refused, 0);
    let delivery = report.delivery.as_ref().unwrap();
    assert!(delivery.held);
    assert_eq!(delivery.delivered, report.conversions_acked);
    assert_eq!(report.conversions_acked, 500);
    assert!(server.sandbox.sandbox().faults().is_empty());
    // Nothing arrived while the sandbox failed: every track request before the release was a 500.
    assert!(
        server
            .sandbox
            .sandbox()
            .stats()
            .by_code
            .contains_key("http_500")
    );
}
