//! Every byte Meta's route sends back: the success body, Meta's error shape with a fresh
//! `fbtrace_id` (also in the `x-fb-trace-id` header, as Meta sends it), and the fault answers. Also
//! where a Meta request is counted, so stats and answers cannot drift apart.

use axum::http::StatusCode;
use axum::response::Response;
use rand::Rng;
use signalpost_meta::{EventsResponse, MetaError};

use crate::Sandbox;
use crate::faults::FaultKind;
use crate::response::html_page;
use crate::store::Destination;

/// Header Meta echoes the trace id in.
const TRACE_HEADER: &str = "x-fb-trace-id";
/// The alphabet of Meta's trace ids (URL-safe base64).
const TRACE_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

/// A fresh trace id shaped like Meta's: `A` and 26 URL-safe base64 characters.
pub(crate) fn fbtrace_id() -> String {
    let mut rng = rand::rng();
    let mut id = String::with_capacity(27);
    id.push('A');
    for _ in 0..26 {
        let i = rng.random_range(0..TRACE_ALPHABET.len());
        id.push(char::from(TRACE_ALPHABET[i]));
    }
    id
}

/// HTTP 200 `{"events_received": N, "messages": [], "fbtrace_id": "…"}`.
pub(crate) fn accepted(events_received: usize) -> Response {
    let trace = fbtrace_id();
    let body = EventsResponse {
        events_received: events_received as u64,
        messages: Vec::new(),
        fbtrace_id: trace.clone(),
    };
    json(StatusCode::OK, &body, &trace)
}

/// Counts a refused request and renders Meta's error.
pub(crate) fn refuse(sandbox: &Sandbox, pixel: Option<&str>, err: &MetaError) -> Response {
    tracing::debug!(pixel, code = err.code, subcode = err.subcode, message = %err, "sandbox rejected a Meta request");
    sandbox
        .store()
        .reject(Destination::Meta, pixel, &format!("meta_{}", err.label()));
    let trace = fbtrace_id();
    let status = StatusCode::from_u16(err.http_status).unwrap_or(StatusCode::BAD_REQUEST);
    json(status, &err.to_answer(&trace), &trace)
}

/// Meta's answer to an answering fault.
pub(crate) fn fault(sandbox: &Sandbox, kind: FaultKind) -> Response {
    let err = match kind {
        FaultKind::Http500 | FaultKind::Http502 => {
            let status = if matches!(kind, FaultKind::Http500) {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::BAD_GATEWAY
            };
            sandbox.store().reject(
                Destination::Meta,
                None,
                &format!("http_{}", status.as_u16()),
            );
            return html_page(status);
        }
        FaultKind::RateLimit => MetaError::rate_limited(),
        FaultKind::TokenRevoked => MetaError::token_revoked(),
        FaultKind::NoPermission => MetaError::unknown_pixel("unknown"),
        // `hang` and `slow` delay rather than answer; never drawn as an answer.
        FaultKind::ServerError | FaultKind::Hang | FaultKind::Slow(_) => MetaError::server_error(),
    };
    refuse(sandbox, None, &err)
}

fn json<T: serde::Serialize>(status: StatusCode, body: &T, trace: &str) -> Response {
    crate::response::json_traced(status, body, TRACE_HEADER, trace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_look_like_metas() {
        let id = fbtrace_id();
        assert_eq!(id.len(), 27);
        assert!(id.starts_with('A'));
        assert!(id.bytes().all(|b| TRACE_ALPHABET.contains(&b)), "{id}");
        assert_ne!(fbtrace_id(), fbtrace_id());
    }
}
