//! Operator commands beside a running server, as an operator runs them: the real binary pointed at
//! the running app's config (same data_dir) while the app has a delivery request held in flight at
//! the sandbox (the `hang` fault). None of them may make the server send that batch twice, and a
//! second `serve` on the same data_dir must refuse to start instead of taking over its leases.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::json;
use signalpost::app::AppOptions;
use signalpost_gateway::delivery::DeliveryPolicy;
use signalpost_sandbox::{Fault, FaultKind, SandboxConfig};

use crate::common::{PIXEL, TestApp, spawn_app_with_sandbox};

/// How long the sandbox holds the hung request: it only has to outlast the commands below and one
/// quick delivery.
const HANG: Duration = Duration::from_secs(20);

/// Runs `signalpost ARGS` to completion off the async runtime.
async fn signalpost(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_signalpost"))
            .args(&args)
            .env_remove("SIGNALPOST_CONFIG")
            .env("RUST_LOG", "warn")
            .output()
            .expect("the signalpost binary runs")
    })
    .await
    .unwrap()
}

/// Runs `signalpost serve --config CONFIG`, which must exit on its own; killed (and the test failed)
/// if it is still running after a minute, since a server that started would serve forever.
async fn second_serve(config: &str) -> Output {
    let config = config.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_signalpost"))
            .args(["serve", "--config", &config])
            .env_remove("SIGNALPOST_CONFIG")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the signalpost binary starts");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "a second serve on the same data_dir started: {}",
                    String::from_utf8_lossy(&out.stdout)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn state(app: &TestApp, transaction_id: &str) -> String {
    let record = app.get(&format!("/v1/leads/{transaction_id}")).await;
    record.body["conversions"][0]["state"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_commands_and_a_second_serve_beside_serve_never_make_it_send_a_batch_twice() {
    // The lease and the request timeout outlast the hang: only a lease cut short from outside could
    // make the server send the held batch again.
    let options = AppOptions {
        delivery: Some(DeliveryPolicy {
            lease: Duration::from_secs(600),
            request_timeout: Duration::from_secs(300),
            ..DeliveryPolicy::default()
        }),
        ..AppOptions::default()
    };
    let sandbox = SandboxConfig {
        hang: HANG,
        ..SandboxConfig::default()
    };
    let app = spawn_app_with_sandbox(sandbox, "", "", "", options).await;
    let config = app.config_path.to_str().unwrap().to_owned();

    app.sandbox
        .sandbox()
        .inject(Fault::requests(FaultKind::Hang, 1));
    app.lead(json!({"transaction_id": "held", "landing_url": "https://lp.example/"}))
        .await;
    // The hang fault is used up by the request carrying the lead: the sandbox holds it.
    app.wait_for_lead("held", |r| r["conversions"][0]["state"] == "in_flight")
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !app.sandbox.sandbox().faults().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the held request never reached the sandbox"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Commands that open the store: reading (keys), counting (replay --dry-run), writing (import).
    let keys = signalpost(&["keys", "list", "--config", &config]).await;
    assert!(keys.status.success(), "{}", text(&keys.stderr));
    let replay = signalpost(&[
        "replay",
        "--config",
        &config,
        "--state",
        "dead",
        "--dry-run",
    ])
    .await;
    assert!(replay.status.success(), "{}", text(&replay.stderr));
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("leads.csv");
    std::fs::write(
        &csv,
        "transaction_id,email,landing_url\nfrom-the-tool,t@example.com,https://lp.example/\n",
    )
    .unwrap();
    let import = signalpost(&[
        "import",
        csv.to_str().unwrap(),
        "--trigger",
        "form_submit",
        "--config",
        &config,
    ])
    .await;
    assert!(
        import.status.success(),
        "{}{}",
        text(&import.stdout),
        text(&import.stderr)
    );

    // A second server on the same data_dir refuses to start, and says why.
    let second = second_serve(&config).await;
    assert!(!second.status.success());
    let why = text(&second.stderr);
    assert!(
        why.contains("already serving the data directory") && why.contains("serve.lock"),
        "{why}"
    );

    // The server's next claims (the imported lead, and one posted now) are the ones that would
    // take the held batch again had anything above released its lease.
    app.lead(json!({"transaction_id": "after", "landing_url": "https://lp.example/"}))
        .await;
    for tx in ["from-the-tool", "after"] {
        app.wait_for_lead(tx, |r| r["conversions"][0]["state"] == "delivered")
            .await;
    }
    assert_eq!(
        state(&app, "held").await,
        "in_flight",
        "the held batch was settled early: claimed again while its request was in flight (or the \
         sandbox's {HANG:?} hang ended first: then this machine is too slow for the test)"
    );
    assert!(
        app.sandbox
            .events(Some(PIXEL))
            .iter()
            .all(|e| e.event_id.as_deref() != Some("held")),
        "the held event was sent again while its first request was still in flight"
    );

    // The held request completes: every event arrived once.
    let record = app
        .wait_for_lead("held", |r| r["conversions"][0]["state"] == "delivered")
        .await;
    assert_eq!(
        record["conversions"][0]["attempts"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "{record:#}"
    );
    let stats = app.sandbox.stats();
    assert_eq!(
        (stats.accepted_events, stats.duplicates),
        (3, 0),
        "{stats:#?}"
    );
    let mut ids: Vec<_> = app
        .sandbox
        .events(Some(PIXEL))
        .into_iter()
        .filter_map(|e| e.event_id)
        .collect();
    ids.sort();
    assert_eq!(ids, ["after", "from-the-tool", "held"]);
    app.stop().await;
}
