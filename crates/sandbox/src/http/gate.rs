//! What every Events API request passes before its body is read: injected faults and the latency
//! (every destination: [`with_faults`]), then for TikTok's track requests (2.0 and 1.0) the
//! `Access-Token` header, the rate limit and the `Content-Type`. Also the one place a finished
//! TikTok request is counted and rendered, so stats and answers cannot drift apart.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::Sandbox;
use crate::faults::FaultKind;
use crate::response::{Reply, html_page};
use crate::store::Destination;
use crate::validate::{BodyError, parse_top};

/// The header TikTok reads the token from (raw token, no `Bearer ` prefix).
const ACCESS_TOKEN: &str = "access-token";

/// Plays the injected faults and the latency around `process` (the request's normal handling). An
/// answering fault replaces it, rendered by `render` in the destination's own words (and counted
/// there). A delay (the latency, a `slow` fault, a `hang`) holds it in a
/// detached task, so the request completes even when the client gives up first, as with a slow
/// TikTok: the event may be recorded although the client saw a timeout, which is why clients need
/// stable `event_id`s. Faults are drawn when the request arrives, so count-based faults go to
/// requests in arrival order whatever their delays.
pub(crate) async fn with_faults<F, R>(
    sandbox: &Sandbox,
    destination: Destination,
    render: R,
    process: F,
) -> Response
where
    F: FnOnce() -> Response + Send + 'static,
    R: FnOnce(&Sandbox, FaultKind) -> Response + Send + 'static,
{
    let entered = sandbox.enter_request();
    let drawn = sandbox.take_fault();
    let mut hold = sandbox.draw_delay(drawn.slow);
    let refusal = match drawn.answer {
        // A `slow` fault is drawn as `drawn.slow`, never as the answer.
        None | Some(FaultKind::Slow(_)) => None,
        Some(FaultKind::Hang) => {
            hold = hold.saturating_add(sandbox.inner.hang);
            None
        }
        Some(kind) => Some(kind),
    };
    let state = sandbox.clone();
    let answer = move || match refusal {
        None => process(),
        Some(kind) => render(&state, kind),
    };
    if hold.is_zero() {
        let response = answer();
        drop(entered);
        return response;
    }
    let task = tokio::spawn(async move {
        tokio::time::sleep(hold).await;
        let response = answer();
        drop(entered);
        response
    });
    match task.await {
        Ok(response) => response,
        Err(_) => {
            sandbox.store().reject(destination, None, "http_500");
            html_page(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// TikTok's answer to an answering fault: the HTML pages, or its envelope with the fault's code.
/// `body` names the pixel for `no_permission`, which TikTok words with it.
pub(crate) fn tiktok_fault(body: Bytes) -> impl FnOnce(&Sandbox, FaultKind) -> Response + Send {
    move |sandbox, kind| {
        let reply = match kind {
            FaultKind::Http500 => Reply::Html(StatusCode::INTERNAL_SERVER_ERROR),
            FaultKind::Http502 => Reply::Html(StatusCode::BAD_GATEWAY),
            FaultKind::RateLimit => Reply::rate_limited(),
            FaultKind::TokenRevoked => Reply::bad_token(),
            FaultKind::NoPermission => Reply::no_permission(&pixel_hint(&body)),
            // `hang` and `slow` delay rather than answer; never drawn as an answer.
            FaultKind::ServerError | FaultKind::Hang | FaultKind::Slow(_) => Reply::server_error(),
        };
        refuse(sandbox, None, reply)
    }
}

/// The checks after faults and before the body: token, rate limit, content type. `Ok` carries the
/// access token.
pub(crate) fn admit(sandbox: &Sandbox, headers: &HeaderMap) -> Result<String, Reply> {
    // A missing, non-ASCII, unknown or `Bearer`-prefixed token all read as "incorrect".
    let token = headers
        .get(ACCESS_TOKEN)
        .and_then(|v| v.to_str().ok())
        .filter(|t| sandbox.token_known(t))
        .ok_or_else(Reply::bad_token)?;

    if !sandbox.admit_rate() {
        return Err(Reply::rate_limited());
    }

    if !is_json(headers) {
        let got = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none");
        return Err(Reply::invalid(format!(
            "Invalid Content-Type {got:?}: the request body must be sent as application/json."
        )));
    }
    Ok(token.to_owned())
}

/// `application/json`, any case, parameters (`; charset=utf-8`) allowed.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// The pixel a request names, for the `no_permission` fault's message (which TikTok words with it).
fn pixel_hint(body: &[u8]) -> String {
    let Ok(top) = parse_top(body) else {
        return "unknown".to_owned();
    };
    ["event_source_id", "pixel_code"]
        .into_iter()
        .find_map(|key| {
            let raw = top.get(key)?;
            serde_json::from_str::<String>(raw.get()).ok()
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// A 40002 for a body that is not a JSON object.
pub(crate) fn body_error(err: &BodyError) -> Reply {
    Reply::invalid(err.message())
}

/// Counts a request that did not succeed and renders its answer.
pub(crate) fn refuse(sandbox: &Sandbox, pixel: Option<&str>, reply: Reply) -> Response {
    if let Reply::Error { code, message } = &reply {
        tracing::debug!(pixel, code, message, "sandbox rejected a request");
    } else {
        tracing::debug!(pixel, answer = %reply.label(), "sandbox played a fault");
    }
    sandbox
        .store()
        .reject(Destination::Tiktok, pixel, &reply.label());
    reply.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn json_content_type_allows_parameters_and_case() {
        for (value, ok) in [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("Application/JSON", true),
            ("text/plain", false),
            ("application/x-www-form-urlencoded", false),
            ("application/jsonp", false),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
            assert_eq!(is_json(&headers), ok, "{value}");
        }
        assert!(!is_json(&HeaderMap::new()));
    }

    #[test]
    fn pixel_hint_reads_either_api_and_falls_back() {
        assert_eq!(pixel_hint(br#"{"event_source_id":"P1"}"#), "P1");
        assert_eq!(pixel_hint(br#"{"pixel_code":"P2"}"#), "P2");
        assert_eq!(pixel_hint(b"not json"), "unknown");
    }
}
