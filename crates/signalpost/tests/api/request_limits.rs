//! `[limits]` against the attacks they answer: a key sending too fast (429), more requests at once
//! than the node takes (503 at once), a request whose body never ends (503 after the request
//! timeout), request headers that never end (the connection is closed), and `/metrics` scraped to
//! load the store (figures cached) or read without a key (when a key is required). After each, the
//! server still ingests.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{KEY, TestApp, spawn_app_with};

/// Opens a connection and sends a `POST /v1/leads` whose body stops half-way: the request holds its
/// place in the server (a concurrency permit, the request timeout's clock) until the connection ends.
async fn unfinished_request(app: &TestApp) -> TcpStream {
    let addr = app.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/leads HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"transaction_id\":"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// Reads what the server sends until it closes the connection (bounded, so a bug cannot hang the
/// test run).
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(60), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server kept the connection open"),
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[tokio::test]
async fn an_ingest_key_over_its_rate_gets_429_and_admin_keys_are_not_limited() {
    let app = spawn_app_with(
        "",
        "[limits]\nrequests_per_second_per_key = 1\nburst_per_key = 2\n",
    )
    .await;
    let ingest = app.create_key("ingest").await;
    let post = |tx: &str| {
        app.client
            .post(app.url("/v1/leads"))
            .bearer_auth(&ingest)
            .json(&json!({"transaction_id": tx}))
    };
    assert_eq!(app.send(post("rl-1")).await.status, 202);
    assert_eq!(app.send(post("rl-2")).await.status, 202);
    let limited = app.send(post("rl-3")).await;
    let problem = limited.problem(429);
    assert_eq!(problem["type"], "urn:signalpost:problem:rate-limited");
    let wait: u32 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait >= 1);
    assert_eq!(
        app.get("/v1/leads/rl-3").await.status,
        404,
        "nothing stored"
    );
    // The admin key (and so the operator) is not limited.
    for i in 0..5 {
        app.lead(json!({"transaction_id": format!("rl-admin-{i}")}))
            .await;
    }
}

#[tokio::test]
async fn beyond_the_concurrency_cap_requests_get_503_at_once() {
    let app = spawn_app_with("", "[limits]\nmax_concurrent_requests = 1\n").await;
    let mut holder = unfinished_request(&app).await;
    // The holder's request reaches the server's handler some time after its bytes were written:
    // ask until the server says it is busy.
    let mut answer = app.get("/healthz").await;
    for _ in 0..200 {
        if answer.status == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        answer = app.get("/healthz").await;
    }
    let problem = answer.problem(503);
    assert_eq!(problem["type"], "urn:signalpost:problem:busy");
    assert_eq!(answer.headers["retry-after"], "1");
    holder.shutdown().await.unwrap();
    drop(holder);
    let mut after = app.get("/healthz").await;
    for _ in 0..200 {
        if after.status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        after = app.get("/healthz").await;
    }
    assert_eq!(after.status, 200, "the permit came back");
    app.lead(json!({"transaction_id": "after-busy"})).await;
}

#[tokio::test]
async fn a_request_whose_body_never_ends_is_answered_503_when_its_time_is_up() {
    let app = spawn_app_with("", "[limits]\nrequest_timeout_secs = 1\n").await;
    let mut stream = unfinished_request(&app).await;
    let answer = read_until_closed_or_answered(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.contains("urn:signalpost:problem:timed-out"),
        "{answer}"
    );
    assert!(answer.contains("application/problem+json"), "{answer}");
    app.lead(json!({"transaction_id": "after-timeout"})).await;
}

/// Reads until the server has sent a whole problem body or closed the connection.
async fn read_until_closed_or_answered(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&seen).into_owned();
        if text.contains("\r\n\r\n") && text.trim_end().ends_with('}') {
            return text;
        }
        match tokio::time::timeout(Duration::from_secs(60), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return text,
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => panic!("no answer from the server"),
        }
    }
}

#[tokio::test]
async fn request_headers_that_never_end_get_the_connection_closed() {
    let app = spawn_app_with("", "[limits]\nheader_read_timeout_secs = 1\n").await;
    let addr = app.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nX-Slow: a").as_bytes())
        .await
        .unwrap();
    let seen = read_until_closed(&mut stream).await;
    assert!(!seen.contains("200 OK"), "{seen}");
    assert_eq!(app.get("/healthz").await.status, 200);
}

#[tokio::test]
async fn metrics_reads_the_store_at_most_once_per_refresh_and_can_require_a_key() {
    let app = spawn_app_with(
        "metrics_require_key = true",
        "[limits]\nmetrics_refresh_secs = 3600\n",
    )
    .await;
    let anonymous = app.send(app.client.get(app.url("/metrics"))).await;
    anonymous.problem(401);
    let postback = app.create_key("postback").await;
    let weak = app
        .send(app.client.get(app.url("/metrics")).bearer_auth(&postback))
        .await;
    weak.problem(403);

    let lead = |tx: &str| json!({"transaction_id": tx, "landing_url": "https://lp.example/form"});
    app.lead(lead("m-1")).await;
    app.wait_for_lead("m-1", |l| l["conversions"][0]["state"] == "delivered")
        .await;
    let first = app.get("/metrics").await.body.as_str().unwrap().to_owned();
    let line = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("signalpost_conversions{") && l.contains("state=\"delivered\""))
            .map(str::to_owned)
    };
    let before = line(&first).expect("the delivered count is published");
    app.lead(lead("m-2")).await;
    app.wait_for_lead("m-2", |l| l["conversions"][0]["state"] == "delivered")
        .await;
    // Within the refresh period the store is not read again: the figure is the cached one.
    let second = app.get("/metrics").await.body.as_str().unwrap().to_owned();
    assert_eq!(line(&second).as_deref(), Some(before.as_str()));
}

#[tokio::test]
async fn metrics_can_live_on_their_own_address_and_leave_the_public_port() {
    let app = spawn_app_with(
        "metrics_listen = \"127.0.0.1:0\"\nmetrics_require_key = true",
        "",
    )
    .await;
    let own = app.metrics_base.clone().expect("a metrics listener");
    assert_ne!(own, app.base);
    // No key on the metrics address (require_key applies to the public port only).
    let scraped = app.send(app.client.get(format!("{own}/metrics"))).await;
    assert_eq!(scraped.status, 200);
    assert!(
        scraped.body.as_str().unwrap().contains("signalpost_"),
        "{:?}",
        scraped.body
    );
    // Only metrics there.
    let other = app.send(app.client.get(format!("{own}/v1/leads/x"))).await;
    other.problem(404);
    // The public port no longer serves them, even with a key; everything else still works.
    app.get("/metrics").await.problem(404);
    assert_eq!(app.get("/healthz").await.status, 200);
    app.lead(json!({"transaction_id": "ml-1", "landing_url": "https://lp.example/form"}))
        .await;
}
