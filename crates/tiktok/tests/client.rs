//! The client against a real HTTP/1.1 server on 127.0.0.1 (hand-written so the test controls
//! status lines, delays, bodies and can count connections).
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use signalpost_tiktok::client::AddressPolicy;
use signalpost_tiktok::model::{Event, EventSource, TrackRequest};
use signalpost_tiktok::{Client, ClientConfig, Outcome};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Reply {
    status: u16,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
    delay: Duration,
}

impl Reply {
    fn json(body: &str) -> Reply {
        Reply {
            status: 200,
            body: body.as_bytes().to_vec(),
            headers: vec![("Content-Type", "application/json".into())],
            delay: Duration::ZERO,
        }
    }
}

type Responder = dyn Fn(&Recorded) -> Reply + Send + Sync;

struct TestServer {
    base_url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    connections: Arc<AtomicUsize>,
}

async fn serve(respond: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(AtomicUsize::new(0));
    let respond: Arc<Responder> = Arc::new(respond);
    let (reqs, conns) = (requests.clone(), connections.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            conns.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(connection(stream, reqs.clone(), respond.clone()));
        }
    });
    TestServer {
        base_url,
        requests,
        connections,
    }
}

async fn connection(
    mut stream: TcpStream,
    requests: Arc<Mutex<Vec<Recorded>>>,
    respond: Arc<Responder>,
) {
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next().unwrap().split(' ');
        let method = request_line.next().unwrap().to_owned();
        let path = request_line.next().unwrap().to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().unwrap())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buf[head_end..head_end + length].to_vec();
        buf.drain(..head_end + length);
        let recorded = Recorded {
            method,
            path,
            headers,
            body,
        };
        let reply = respond(&recorded);
        requests.lock().unwrap().push(recorded);
        tokio::time::sleep(reply.delay).await;
        let mut out = format!(
            "HTTP/1.1 {} Whatever\r\nContent-Length: {}\r\n",
            reply.status,
            reply.body.len()
        );
        for (k, v) in &reply.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&reply.body);
        if stream.write_all(&bytes).await.is_err() {
            return;
        }
    }
}

fn client(base_url: &str) -> Client {
    Client::new(ClientConfig {
        base_url: base_url.to_owned(),
        // The test server is on loopback, as a destination named in the config file may be.
        addresses: AddressPolicy::Any,
        ..ClientConfig::default()
    })
    .unwrap()
}

fn request() -> TrackRequest {
    TrackRequest {
        event_source: EventSource::Web,
        event_source_id: "PIXEL1".into(),
        data: vec![Event {
            event: "Lead".into(),
            event_time: 1_700_000_000,
            event_id: Some("tx-1".into()),
            ..Default::default()
        }],
        test_event_code: None,
        partner_name: None,
    }
}

const OK: &str =
    r#"{"code":0,"message":"OK","request_id":"202506221755469100000000000000000A","data":{}}"#;

#[tokio::test]
async fn posts_json_with_the_raw_access_token_and_reports_delivery() {
    let server = serve(|_| Reply::json(OK)).await;
    let answer = client(&server.base_url).track("tok-123", &request()).await;

    assert_eq!(answer.http_status, Some(200));
    assert_eq!(answer.classified.outcome, Outcome::Delivered);
    assert_eq!(
        answer.classified.request_id.as_deref(),
        Some("202506221755469100000000000000000A")
    );
    let seen = server.requests.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "/open_api/v1.3/event/track/");
    assert_eq!(seen[0].header("access-token"), Some("tok-123"));
    assert_eq!(seen[0].header("content-type"), Some("application/json"));
    assert_eq!(seen[0].header("authorization"), None);
    let sent: TrackRequest = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(sent, request());
}

#[tokio::test]
async fn sends_a_preserialized_body_unchanged_and_handles_a_trailing_slash() {
    let server = serve(|_| Reply::json(OK)).await;
    let body =
        br#"{"event_source":"web","event_source_id":"P","data":[{"event":"Lead","event_time":1}]}"#;
    let answer = client(&format!("{}/", server.base_url))
        .track_raw("t", body.to_vec())
        .await;
    assert_eq!(answer.classified.outcome, Outcome::Delivered);
    let seen = server.requests.lock().unwrap().clone();
    assert_eq!(seen[0].path, "/open_api/v1.3/event/track/");
    assert_eq!(seen[0].body, body.to_vec());
}

#[tokio::test]
async fn keeps_the_connection_alive_between_requests() {
    let server = serve(|_| Reply::json(OK)).await;
    let client = client(&server.base_url);
    for _ in 0..3 {
        let answer = client.track("t", &request()).await;
        assert_eq!(answer.classified.outcome, Outcome::Delivered);
    }
    assert_eq!(server.requests.lock().unwrap().len(), 3);
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn classifies_business_errors_sent_with_http_200() {
    let server = serve(|r| match r.header("access-token") {
        Some("limited") => Reply::json(r#"{"code":40100,"message":"Too many requests. Please retry in some time.","request_id":"r1"}"#),
        Some("revoked") => Reply::json(r#"{"code":40105,"message":"Access token is incorrect or has been revoked","request_id":"r2"}"#),
        _ => Reply::json(r#"{"code":40002,"message":"Invalid value for event_id: not a valid string.","request_id":"r3"}"#),
    })
    .await;
    let client = client(&server.base_url);
    for (token, outcome, code) in [
        ("limited", Outcome::Retryable, 40100),
        ("revoked", Outcome::Auth, 40105),
        ("other", Outcome::Invalid, 40002),
    ] {
        let answer = client.track(token, &request()).await;
        assert_eq!(answer.http_status, Some(200));
        assert_eq!(answer.classified.outcome, outcome, "{token}");
        assert_eq!(answer.classified.code, Some(code));
    }
}

/// What stands between signalpost and TikTok (a corporate proxy, a CDN, a load balancer) may refuse
/// a request with 401, 403, 404 or 405 and a page of its own. That is not TikTok refusing the token,
/// so it is retried with backoff and never pauses the pixel; TikTok's own 40105 still does, even when
/// it comes with an HTTP 401.
#[tokio::test]
async fn a_proxys_401_403_404_or_405_page_is_retried_not_a_pause() {
    let server = serve(|r| {
        let (status, body, content_type) = match r.header("access-token") {
            Some("proxy-401") => (401, "<html><body><h1>401 Authorization Required</h1></body></html>", "text/html"),
            Some("proxy-403") => (403, "<html><body>Access denied by policy</body></html>", "text/html"),
            Some("cdn-404") => (404, r#"{"error":"Not Found"}"#, "application/json"),
            Some("lb-405") => (405, "", "text/plain"),
            _ => (401, r#"{"code":40105,"message":"Access token is incorrect or has been revoked","request_id":"r9"}"#, "application/json"),
        };
        Reply {
            status,
            body: body.as_bytes().to_vec(),
            headers: vec![("Content-Type", content_type.into())],
            delay: Duration::ZERO,
        }
    })
    .await;
    let client = client(&server.base_url);
    for (token, status, outcome, code, message) in [
        (
            "proxy-401",
            401,
            Outcome::Retryable,
            None,
            "HTTP 401: 401 Authorization Required",
        ),
        (
            "proxy-403",
            403,
            Outcome::Retryable,
            None,
            "HTTP 403: Access denied by policy",
        ),
        (
            "cdn-404",
            404,
            Outcome::Retryable,
            None,
            r#"HTTP 404: {"error":"Not Found"}"#,
        ),
        (
            "lb-405",
            405,
            Outcome::Retryable,
            None,
            "HTTP 405 (empty body)",
        ),
        (
            "tiktok",
            401,
            Outcome::Auth,
            Some(40105),
            "Access token is incorrect or has been revoked",
        ),
    ] {
        let answer = client.track(token, &request()).await;
        assert_eq!(answer.http_status, Some(status), "{token}");
        assert_eq!(
            (answer.classified.outcome, answer.classified.code),
            (outcome, code),
            "{token}: {answer:?}"
        );
        assert_eq!(answer.classified.message, message, "{token}");
    }
    assert_eq!(server.requests.lock().unwrap().len(), 5);
}

#[tokio::test]
async fn an_html_gateway_error_is_retryable_with_an_excerpt() {
    let server = serve(|_| Reply {
        status: 502,
        body: b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>".to_vec(),
        headers: vec![("Content-Type", "text/html".into()), ("X-Tt-Logid", "LOG42".into())],
        delay: Duration::ZERO,
    })
    .await;
    let answer = client(&server.base_url).track("t", &request()).await;
    assert_eq!(answer.http_status, Some(502));
    assert_eq!(answer.classified.outcome, Outcome::Retryable);
    assert_eq!(
        answer.classified.message,
        "HTTP 502: 502 Bad Gateway 502 Bad Gateway"
    );
    assert_eq!(answer.classified.request_id.as_deref(), Some("LOG42"));
}

#[tokio::test]
async fn a_timeout_is_retryable_without_a_status_and_never_shows_the_token() {
    let server = serve(|_| Reply {
        delay: Duration::from_secs(5),
        ..Reply::json(OK)
    })
    .await;
    let client = Client::new(ClientConfig {
        base_url: server.base_url.clone(),
        timeout: Duration::from_millis(200),
        addresses: AddressPolicy::Any,
        ..ClientConfig::default()
    })
    .unwrap();
    let answer = client.track("secret-token-value", &request()).await;
    assert_eq!(answer.http_status, None);
    assert_eq!(answer.classified.outcome, Outcome::Retryable);
    assert_eq!(answer.classified.message, "timeout after 200ms");
    assert!(!format!("{client:?} {answer:?}").contains("secret-token-value"));
}

#[tokio::test]
async fn a_refused_connection_is_retryable_and_never_shows_the_token() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = client(&base_url);
    let answer = client.track("secret-token-value", &request()).await;
    assert_eq!(answer.http_status, None);
    assert_eq!(answer.classified.outcome, Outcome::Retryable);
    assert!(
        answer.classified.message.starts_with("connection error: "),
        "{}",
        answer.classified.message
    );
    assert!(!format!("{client:?} {answer:?}").contains("secret-token-value"));
}

#[tokio::test]
async fn a_token_that_cannot_be_a_header_pauses_without_sending() {
    let server = serve(|_| Reply::json(OK)).await;
    let answer = client(&server.base_url)
        .track("bad\ntoken", &request())
        .await;
    assert_eq!(answer.classified.outcome, Outcome::Auth);
    assert!(!answer.classified.message.contains("bad\ntoken"));
    assert!(server.requests.lock().unwrap().is_empty());
}

/// A destination set through the API is built public-only: an IP literal on loopback is refused
/// before any connection, and the answer says why without the token.
#[tokio::test]
async fn a_public_only_client_never_connects_to_a_loopback_literal() {
    let server = serve(|_| Reply::json(OK)).await;
    let client = Client::new(ClientConfig {
        base_url: server.base_url.clone(),
        ..ClientConfig::default()
    })
    .unwrap();
    let answer = client.track("secret-token-value", &request()).await;
    assert!(answer.destination_refused, "{answer:?}");
    assert_eq!(answer.http_status, None);
    assert_eq!(answer.classified.outcome, Outcome::Retryable);
    assert!(
        answer
            .classified
            .message
            .starts_with("the destination address is not allowed: 127.0.0.1"),
        "{}",
        answer.classified.message
    );
    assert_eq!(server.connections.load(Ordering::SeqCst), 0);
    assert!(!format!("{client:?} {answer:?}").contains("secret-token-value"));
}

/// A name is checked on what it resolves to: `localhost` is as refused as 127.0.0.1, and no
/// connection reaches the listener behind it.
#[tokio::test]
async fn a_public_only_client_refuses_a_name_that_resolves_to_loopback() {
    let server = serve(|_| Reply::json(OK)).await;
    let port = server.base_url.rsplit(':').next().unwrap().to_owned();
    let client = Client::new(ClientConfig {
        base_url: format!("http://localhost:{port}"),
        ..ClientConfig::default()
    })
    .unwrap();
    let answer = client.track("secret-token-value", &request()).await;
    assert!(answer.destination_refused, "{answer:?}");
    assert!(
        answer
            .classified
            .message
            .starts_with("the destination address is not allowed: localhost resolves to "),
        "{}",
        answer.classified.message
    );
    assert_eq!(server.connections.load(Ordering::SeqCst), 0);
    assert!(server.requests.lock().unwrap().is_empty());
}
