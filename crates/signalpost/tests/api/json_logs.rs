//! JSON logs on the real binary: `signalpost serve` with `SIGNALPOST_LOG_FORMAT=json` at debug level
//! (access log included) takes a lead and a sale that reach the sandbox; every line it wrote to stderr
//! is one JSON object with a time, a level, a target and a message, and nothing it wrote holds the
//! access token, the API key, the raw email, the raw phone or the raw IP.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use signalpost_sandbox::SandboxConfig;

const KEY: &str = "json-logs-admin-key-0123456789abcdefgh";
const PIXEL: &str = "CJSONLOGPIXEL01";
const TOKEN: &str = "json-logs-access-token-5f6e7d8c";
const EMAIL: &str = "Jason.Logger@Example.com";
const PHONE: &str = "+1 213 373 4253";
const PHONE_DIGITS: &str = "2133734253";
const IP: &str = "198.51.100.77";

#[tokio::test]
async fn json_logs_are_one_object_a_line_and_hold_no_secret_or_raw_identifier() {
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
base_url = "{base}"

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
"#,
            data = dir.path().join("data").display(),
            base = sandbox.base_url(),
        ),
    )
    .unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_signalpost"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "debug")
        .env("SIGNALPOST_LOG_FORMAT", "json")
        .env_remove("SIGNALPOST_API_KEYS")
        .env_remove("SIGNALPOST_MASTER_KEY")
        .env_remove("SIGNALPOST_LISTEN")
        .env_remove("SIGNALPOST_DATA_DIR")
        .env_remove("SIGNALPOST_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the signalpost binary starts");
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout_text = Arc::new(Mutex::new(String::new()));
    let stdout = child.stdout.take().unwrap();
    let out = stdout_text.clone();
    let stdout_reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(addr) = line.strip_prefix("signalpost: listening on ") {
                let _ = tx.send(addr.trim().to_owned());
            }
            out.lock().unwrap().push_str(&line);
            out.lock().unwrap().push('\n');
        }
    });
    let mut stderr = child.stderr.take().unwrap();
    let stderr_reader = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = stderr.read_to_string(&mut all);
        all
    });
    let addr: String = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the server announces its address");
    let base = addr;
    let client = reqwest::Client::new();

    let lead = client
        .post(format!("{base}/v1/leads"))
        .bearer_auth(KEY)
        .header("x-request-id", "lead-req-42")
        .json(&json!({
            "transaction_id": "json-log-lead-1",
            "email": EMAIL,
            "phone": PHONE,
            "ip": IP,
            "user_agent": "Mozilla/5.0",
            "landing_url": "https://lp.example/form?ttclid=E.C.P.jsonlog"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(lead.status(), 202);
    assert_eq!(lead.headers()["x-request-id"], "lead-req-42");
    let sold = client
        .post(format!("{base}/v1/leads/json-log-lead-1/events"))
        .bearer_auth(KEY)
        .json(&json!({"type": "lead_sold", "buyer": "acme", "revenue": 12.5}))
        .send()
        .await
        .unwrap();
    assert_eq!(sold.status(), 202);
    let generated = sold.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(generated.len() >= 16, "{generated}");
    // A refused key and a postback with its key in the query are logged too (neither key may be).
    let refused = client
        .get(format!("{base}/v1/leads/json-log-lead-1"))
        .bearer_auth("not-the-key-but-also-secret-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let _ = client
        .get(format!(
            "{base}/v1/postback?key={KEY}&transaction_id=json-log-lead-1&type=offer_click"
        ))
        .send()
        .await
        .unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if sandbox.events(Some(PIXEL)).len() >= 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sandbox never received both events"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // SIGTERM: a graceful stop, so the shutdown is logged too.
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "serve exited with {status}");
    let stderr = stderr_reader.join().unwrap();
    stdout_reader.join().unwrap();
    let stdout = stdout_text.lock().unwrap().clone();

    let mut request_ids = Vec::new();
    let mut access_lines = 0;
    let mut pixel_lines = 0;
    for line in stderr.lines() {
        let entry: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {line}"));
        for field in ["timestamp", "level", "target"] {
            assert!(entry.get(field).is_some(), "no {field} in {line}");
        }
        // Ours always say what happened (a dependency's event may carry fields only).
        if entry["target"]
            .as_str()
            .is_some_and(|t| t.starts_with("signalpost"))
        {
            assert!(entry["message"].is_string(), "no message in {line}");
        }
        if entry["target"] == "signalpost::access" {
            assert!(
                entry["request_id"]
                    .as_str()
                    .is_some_and(|id| !id.is_empty())
            );
            assert!(entry["status"].is_u64(), "{line}");
            request_ids.push(entry["request_id"].as_str().unwrap_or("").to_owned());
            access_lines += 1;
        }
        if entry["pixel"] == PIXEL {
            pixel_lines += 1;
        }
    }
    assert!(access_lines >= 4, "the access log is missing:\n{stderr}");
    for id in ["lead-req-42", generated.as_str()] {
        assert!(
            request_ids.iter().any(|r| r == id),
            "no access line for {id}"
        );
    }
    assert!(pixel_lines >= 1, "no line names the pixel:\n{stderr}");

    let everything = format!("{stdout}\n{stderr}");
    let lowered = everything.to_lowercase();
    for secret in [
        TOKEN,
        KEY,
        "not-the-key-but-also-secret-0123456789",
        IP,
        PHONE,
        PHONE_DIGITS,
    ] {
        assert!(!everything.contains(secret), "{secret:?} is in the logs");
    }
    assert!(
        !lowered.contains(&EMAIL.to_lowercase()),
        "the email is in the logs"
    );
    drop(sandbox);
}
