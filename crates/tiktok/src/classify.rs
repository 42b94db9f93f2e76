//! What TikTok's answer to one `event/track` request means for the events in it
//! (shared/tiktok-events-api.md §4). A pure function of the HTTP status and body: no I/O, no clock,
//! so the delivery engine's decisions can be tested exhaustively.
//!
//! TikTok reports business errors as HTTP 200 with a nonzero `code`, so the JSON `code` decides
//! whenever there is one; the HTTP status decides only when the body is not TikTok's envelope
//! (a gateway's HTML 502, an empty 504, a proxy's 429).
//!
//! Only TikTok's own words can pause a pixel: codes 40001 (no permission on the pixel) and 40105
//! (token incorrect or revoked) in its JSON envelope. A bare HTTP 401, 403, 404 or 405 comes from
//! whatever stands between us and TikTok (a corporate proxy, a CDN, a load balancer mid-deploy, a
//! captive portal), says nothing about the pixel's token, and is usually over in minutes; pausing on
//! it would hold every event of the pixel until an operator replaced a token that was never wrong.
//! So those are retried with backoff, bounded by the retry schedule like any transient failure.
//!
//! docs/delivery.md ("What each TikTok answer does") lists every code and what the gateway does.

use serde::Deserialize;
use serde_json::Value;

pub use signalpost_destination::{Classified, Outcome};

/// Codes TikTok (or the integrations' experience of it) says to retry: 40100 rate limit; 40016
/// and 40133 treated as rate limits by Airbyte; 40700 retried by RudderStack.
const RETRYABLE_CODES: &[i64] = &[40016, 40100, 40133, 40700];
/// Codes that mean the token or its permission on the pixel is refused.
const AUTH_CODES: &[i64] = &[40001, 40105];
/// Longest excerpt of a non-TikTok body kept in a message.
const EXCERPT_CHARS: usize = 200;
/// Longest TikTok message kept (they are short; this bounds a hostile or broken server).
const MESSAGE_CHARS: usize = 1000;

/// Classifies TikTok's answer to one request.
pub fn classify(http_status: u16, body: &[u8]) -> Classified {
    let envelope = parse_envelope(body);
    if let Some(env) = &envelope
        && let Some(code) = env.code
    {
        let outcome = match code {
            0 | 20001 if is_success(http_status) => Some(Outcome::Delivered),
            // A success code on a failed HTTP answer is not a delivery: let the status decide.
            0 | 20001 => None,
            c if AUTH_CODES.contains(&c) => Some(Outcome::Auth),
            c if RETRYABLE_CODES.contains(&c) => Some(Outcome::Retryable),
            50000..=50999 => Some(Outcome::Retryable),
            40000..=49999 => Some(Outcome::Invalid),
            // A code outside the documented families: retrying is bounded by the schedule and
            // safe for dedup, while dropping would lose events on TikTok's word alone.
            _ => Some(Outcome::Retryable),
        };
        if let Some(outcome) = outcome {
            return Classified {
                outcome,
                code: Some(code),
                message: env.message.clone().unwrap_or_default(),
                request_id: env.request_id.clone(),
                rows: Vec::new(),
            };
        }
    }
    let (code, request_id) = envelope
        .map(|env| (env.code, env.request_id))
        .unwrap_or_default();
    Classified {
        outcome: by_status(http_status),
        code,
        message: describe(http_status, body),
        request_id,
        rows: Vec::new(),
    }
}

/// Classifies a request that got no HTTP answer (timeout, refused or reset connection, TLS
/// failure): always retryable. `description` should say what happened without the token, e.g.
/// "timeout after 10s" or "connection error: connection refused".
pub fn classify_transport_error(description: impl Into<String>) -> Classified {
    Classified::transport_error(description)
}

/// The outcome when the body is not TikTok's envelope (or carries no `code`).
fn by_status(http_status: u16) -> Outcome {
    match http_status {
        // Not TikTok speaking: a proxy's or CDN's refusal says nothing about the token, so it must
        // not pause the pixel (module docs). Retrying is bounded by the schedule and safe for dedup.
        401 | 403 | 404 | 405 => Outcome::Retryable,
        408 | 425 | 429 => Outcome::Retryable,
        // The request itself was refused (malformed, too large): sending it unchanged cannot help,
        // and for a batch bisection finds the events that cause it.
        400..=499 => Outcome::Invalid,
        // 2xx with garbage is a gateway problem, as are 1xx/3xx (redirects are not followed)
        // and 5xx.
        _ => Outcome::Retryable,
    }
}

fn is_success(http_status: u16) -> bool {
    (200..300).contains(&http_status)
}

struct Envelope {
    code: Option<i64>,
    message: Option<String>,
    request_id: Option<String>,
}

/// Reads TikTok's `{code, message, request_id, data}` leniently: a numeric string code is
/// accepted, unknown keys are ignored. `None` if the body is not a JSON object.
fn parse_envelope(body: &[u8]) -> Option<Envelope> {
    #[derive(Deserialize)]
    struct Raw {
        #[serde(default)]
        code: Option<Value>,
        #[serde(default)]
        message: Option<Value>,
        #[serde(default)]
        request_id: Option<Value>,
    }
    let raw: Raw = serde_json::from_slice(body).ok()?;
    let code = match raw.code {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    let text = |v: Option<Value>| match v {
        Some(Value::String(s)) => Some(truncate(&s, MESSAGE_CHARS)),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    Some(Envelope {
        code,
        message: text(raw.message),
        request_id: text(raw.request_id),
    })
}

/// "HTTP 502: 502 Bad Gateway nginx": the status and a short excerpt of the body with markup
/// removed and whitespace collapsed.
fn describe(http_status: u16, body: &[u8]) -> String {
    signalpost_destination::outcome::describe_foreign_answer(
        http_status,
        body,
        "TikTok",
        EXCERPT_CHARS,
    )
}

fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn answer(code: i64) -> Vec<u8> {
        format!(r#"{{"code":{code},"message":"m{code}","request_id":"2025062217554691FA1E8FB37D612053A0","data":{{}}}}"#)
            .into_bytes()
    }

    /// Every code of shared/tiktok-events-api.md §4.2 and the families around them, in TikTok's
    /// envelope over HTTP 200 (as TikTok sends business errors). Mirrors docs/delivery.md's table.
    #[test]
    fn classifies_every_documented_code() {
        for (code, outcome) in [
            (0, Outcome::Delivered),
            (20001, Outcome::Delivered),
            (40001, Outcome::Auth),
            (40105, Outcome::Auth),
            (40002, Outcome::Invalid),
            (40007, Outcome::Invalid),
            (40000, Outcome::Invalid),
            (41000, Outcome::Invalid),
            (49999, Outcome::Invalid),
            (40016, Outcome::Retryable),
            (40100, Outcome::Retryable),
            (40133, Outcome::Retryable),
            (40700, Outcome::Retryable),
            (50000, Outcome::Retryable),
            (50002, Outcome::Retryable),
            (50999, Outcome::Retryable),
            // Outside every documented family: retried within the schedule, never dropped.
            (1, Outcome::Retryable),
            (-1, Outcome::Retryable),
            (20002, Outcome::Retryable),
            (39999, Outcome::Retryable),
            (51000, Outcome::Retryable),
            (60000, Outcome::Retryable),
        ] {
            let c = classify(200, &answer(code));
            assert_eq!(c.outcome, outcome, "code {code}");
            assert_eq!(c.code, Some(code));
            assert_eq!(c.message, format!("m{code}"));
            assert_eq!(
                c.request_id.as_deref(),
                Some("2025062217554691FA1E8FB37D612053A0")
            );
        }
    }

    /// Answers without TikTok's envelope (or without a `code` in it): the HTTP status decides.
    #[test]
    fn classifies_gateway_answers_by_status() {
        let html = b"<html><head><title>502 Bad Gateway</title></head>\r\n<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>";
        for (status, body, outcome) in [
            (502, &html[..], Outcome::Retryable),
            (504, &b""[..], Outcome::Retryable),
            (500, &b"oops"[..], Outcome::Retryable),
            (503, &b"{}"[..], Outcome::Retryable),
            (429, &b"Too Many Requests"[..], Outcome::Retryable),
            (408, &b""[..], Outcome::Retryable),
            (425, &b""[..], Outcome::Retryable),
            (200, &b"<html>maintenance</html>"[..], Outcome::Retryable),
            (200, &b""[..], Outcome::Retryable),
            (301, &b""[..], Outcome::Retryable),
            (101, &b""[..], Outcome::Retryable),
            // A proxy's, CDN's or load balancer's refusal is not TikTok refusing the token.
            (401, &b"unauthorized"[..], Outcome::Retryable),
            (
                401,
                &br#"{"message":"Unauthorized"}"#[..],
                Outcome::Retryable,
            ),
            (403, &b""[..], Outcome::Retryable),
            (
                403,
                &b"<html><body>Access denied by the corporate proxy</body></html>"[..],
                Outcome::Retryable,
            ),
            (404, &b"not found"[..], Outcome::Retryable),
            (404, &br#"{"error":"no route"}"#[..], Outcome::Retryable),
            (405, &b"method not allowed"[..], Outcome::Retryable),
            (400, &b"bad request"[..], Outcome::Invalid),
            (413, &b""[..], Outcome::Invalid),
            (422, &b"unprocessable"[..], Outcome::Invalid),
        ] {
            let c = classify(status, body);
            assert_eq!(
                c.outcome,
                outcome,
                "HTTP {status} {:?}",
                String::from_utf8_lossy(body)
            );
            assert_eq!(c.code, None);
            assert!(
                c.message.starts_with(&format!("HTTP {status}")),
                "{}",
                c.message
            );
        }
        assert_eq!(
            classify(502, html).message,
            "HTTP 502: 502 Bad Gateway 502 Bad Gateway nginx"
        );
        assert_eq!(classify(504, b"").message, "HTTP 504 (empty body)");
        assert_eq!(
            classify(403, b"<h1>Forbidden</h1>").message,
            "HTTP 403: Forbidden"
        );
    }

    /// Only TikTok's own 40001/40105 pause, whatever the HTTP status around them; a proxy that
    /// answers with a JSON `code` of its own (an HTTP status as a code) is not TikTok either.
    #[test]
    fn only_tiktoks_own_codes_pause_the_pixel() {
        for (status, body, outcome, code) in [
            (401, answer(40105), Outcome::Auth, Some(40105)),
            (403, answer(40001), Outcome::Auth, Some(40001)),
            (200, answer(40105), Outcome::Auth, Some(40105)),
            (
                401,
                br#"{"code":401,"message":"Unauthorized"}"#.to_vec(),
                Outcome::Retryable,
                Some(401),
            ),
            (
                403,
                br#"{"code":"403","message":"Forbidden"}"#.to_vec(),
                Outcome::Retryable,
                Some(403),
            ),
            (
                404,
                br#"{"code":404}"#.to_vec(),
                Outcome::Retryable,
                Some(404),
            ),
            (
                401,
                br#"{"code":null,"message":"x"}"#.to_vec(),
                Outcome::Retryable,
                None,
            ),
        ] {
            let c = classify(status, &body);
            assert_eq!(
                (c.outcome, c.code),
                (outcome, code),
                "HTTP {status} {}",
                String::from_utf8_lossy(&body)
            );
        }
    }

    #[test]
    fn a_success_code_on_a_server_error_is_retried() {
        let c = classify(503, &answer(0));
        assert_eq!(c.outcome, Outcome::Retryable);
        assert_eq!(c.code, Some(0));
    }

    #[test]
    fn business_errors_win_over_the_http_status() {
        assert_eq!(classify(500, &answer(40002)).outcome, Outcome::Invalid);
        assert_eq!(classify(400, &answer(40100)).outcome, Outcome::Retryable);
        assert_eq!(classify(200, &answer(40105)).outcome, Outcome::Auth);
    }

    #[test]
    fn reads_lenient_envelopes() {
        let c = classify(
            200,
            br#"{"code":"40002","message":"Invalid value for event_id: not a valid string."}"#,
        );
        assert_eq!((c.outcome, c.code), (Outcome::Invalid, Some(40002)));
        assert_eq!(c.request_id, None);
        let c = classify(
            200,
            br#"{"code":0,"data":null,"message":"OK","request_id":"x"}"#,
        );
        assert_eq!(c.outcome, Outcome::Delivered);
        assert_eq!(c.message, "OK");
    }

    #[test]
    fn long_bodies_are_cut_short() {
        let body = "x".repeat(5000);
        let c = classify(502, body.as_bytes());
        assert!(c.message.chars().count() < 230, "{}", c.message.len());
        let msg = format!(r#"{{"code":40002,"message":"{}"}}"#, "y".repeat(5000));
        assert!(classify(200, msg.as_bytes()).message.chars().count() <= MESSAGE_CHARS + 1);
    }

    #[test]
    fn transport_errors_are_retryable_without_a_code() {
        let c = classify_transport_error("timeout after 10s");
        assert_eq!(c.outcome, Outcome::Retryable);
        assert_eq!((c.code, c.request_id), (None, None));
        assert_eq!(c.message, "timeout after 10s");
    }

    proptest! {
        #[test]
        fn never_retries_a_40002(status in 100u16..600, message in "\\PC{0,40}", extra in any::<bool>()) {
            let body = serde_json::json!({
                "code": 40002,
                "message": message,
                "request_id": "r",
                "data": if extra { serde_json::json!({"x": 1}) } else { Value::Null },
            });
            let c = classify(status, body.to_string().as_bytes());
            prop_assert_eq!(c.outcome, Outcome::Invalid);
        }

        #[test]
        fn code_0_with_http_200_is_always_delivered(message in "\\PC{0,40}", request_id in proptest::option::of("[0-9A-F]{34}")) {
            let body = serde_json::json!({"code": 0, "message": message, "request_id": request_id, "data": {}});
            let c = classify(200, body.to_string().as_bytes());
            prop_assert_eq!(c.outcome, Outcome::Delivered);
            prop_assert_eq!(c.request_id, request_id);
        }

        #[test]
        fn nothing_but_40001_or_40105_pauses(
            status in 100u16..600,
            code in proptest::option::of(prop_oneof![
                Just(40001i64), Just(40105), Just(401), Just(403), Just(404), Just(0),
                40000i64..50000, any::<i64>(),
            ]),
            body in "\\PC{0,40}",
            json in any::<bool>(),
        ) {
            let body = match (json, code) {
                (true, Some(code)) => serde_json::json!({"code": code, "message": body}).to_string(),
                (true, None) => serde_json::json!({"message": body}).to_string(),
                (false, _) => body,
            };
            let c = classify(status, body.as_bytes());
            let tiktok_auth_code = matches!(c.code, Some(40001 | 40105));
            prop_assert_eq!(c.outcome == Outcome::Auth, tiktok_auth_code, "HTTP {} {}", status, body);
        }

        #[test]
        fn never_panics_and_keeps_messages_short(status in any::<u16>(), body in proptest::collection::vec(any::<u8>(), 0..600)) {
            let c = classify(status, &body);
            prop_assert!(c.message.chars().count() <= MESSAGE_CHARS + 64);
        }
    }
}
