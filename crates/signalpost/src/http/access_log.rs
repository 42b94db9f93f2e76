//! The access log: one `debug` event per request on target `signalpost::access` (enable it with
//! `RUST_LOG=info,signalpost::access=debug`), with a request id that is also sent back as
//! `x-request-id` so a client's complaint can be found in the logs. A client's own `x-request-id` is
//! kept when it is a short token; anything else is replaced (it would otherwise let a client write
//! into the log).
//!
//! What it must never log: the query string (a postback's `key=` rides in it), headers (the bearer
//! key), or a body.

use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;

const REQUEST_ID: &str = "x-request-id";

/// Logs the request after it is answered and tags the answer with its request id.
pub async fn access_log(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| is_token(id))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    tracing::debug!(
        target: "signalpost::access",
        request_id = %request_id,
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

/// 1–64 characters of `[A-Za-z0-9._-]`.
fn is_token(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}
