//! What Meta's answer to one `/{pixel_id}/events` request means for the events in it
//! (shared/meta-conversions-api.md, "Errors and what to do"; compared with RudderStack's Facebook
//! network handler for coverage). A pure function of the HTTP status and body: no I/O, no clock.
//!
//! Meta answers success as HTTP 200 with `events_received`, and every failure as a 4xx/5xx with
//! `{"error":{"code","error_subcode","is_transient","fbtrace_id",…}}`. The error's `code` decides
//! whenever there is one; the HTTP status decides only when the body is not Meta's (a gateway's
//! HTML 502, an empty 504, a proxy's 429).
//!
//! Only Meta's own words can pause a pixel: code 190 (token invalid, expired, revoked), 10 and
//! 200–299 (permissions), 100 with subcode 33 (the pixel cannot be reached with this token). A bare
//! HTTP 401 or 403 comes from whatever stands between us and Meta (a proxy, a CDN), says nothing
//! about the token and is retried within the schedule, as for TikTok.

use serde_json::Value;
use signalpost_destination::{Classified, Outcome};

/// Throttling and transient codes (Graph API error-handling guide): 1 unknown/transient, 2 service
/// unavailable, 4 app request limit, 17 user request limit, 32 page request limit, 341 application
/// limit, 368 temporarily blocked, 613 call rate limit.
const RETRYABLE_CODES: &[i64] = &[1, 2, 4, 17, 32, 341, 368, 613];
/// Marketing API rate-limit family (80000–80014, 80003 for custom audiences and others).
const RATE_LIMIT_FAMILY: std::ops::RangeInclusive<i64> = 80000..=80014;
/// Longest message kept (Meta's are short; this bounds a hostile or broken server).
const MESSAGE_CHARS: usize = 1000;
/// Longest excerpt of a non-Meta body kept in a message.
const EXCERPT_CHARS: usize = 200;

/// Classifies Meta's answer to one request.
pub fn classify(http_status: u16, body: &[u8]) -> Classified {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let Some(Value::Object(top)) = json else {
        return by_status_only(http_status, body);
    };
    if let Some(Value::Object(error)) = top.get("error")
        && let Some(code) = error.get("code").and_then(as_i64)
    {
        let subcode = error.get("error_subcode").and_then(as_i64);
        let transient = error.get("is_transient").and_then(Value::as_bool) == Some(true);
        return Classified {
            outcome: by_code(code, subcode, transient),
            code: Some(code),
            message: error_message(error, subcode),
            request_id: text(error.get("fbtrace_id")).or_else(|| text(top.get("fbtrace_id"))),
            rows: Vec::new(),
        };
    }
    if (200..300).contains(&http_status)
        && let Some(received) = top.get("events_received").and_then(Value::as_u64)
    {
        return Classified {
            outcome: Outcome::Delivered,
            code: None,
            message: format!("events_received {received}"),
            request_id: text(top.get("fbtrace_id")),
            rows: Vec::new(),
        };
    }
    Classified {
        request_id: text(top.get("fbtrace_id")),
        ..by_status_only(http_status, body)
    }
}

/// Classifies a request that got no HTTP answer (timeout, refused or reset connection, TLS
/// failure): always retryable. `description` says what happened without the token.
pub fn classify_transport_error(description: impl Into<String>) -> Classified {
    Classified::transport_error(description)
}

/// The outcome of a Graph API error code.
fn by_code(code: i64, subcode: Option<i64>, transient: bool) -> Outcome {
    match code {
        190 | 10 | 200..=299 => Outcome::Auth,
        100 if subcode == Some(33) => Outcome::Auth,
        _ if transient => Outcome::Retryable,
        c if RETRYABLE_CODES.contains(&c) || RATE_LIMIT_FAMILY.contains(&c) => Outcome::Retryable,
        // 100 invalid parameter (with or without a Conversions API subcode), 105 too many
        // parameters, 3 capability missing for this call: the same request cannot succeed.
        100 | 105 | 3 => Outcome::Invalid,
        // The Conversions API's own codes (2804xxx) name invalid content when sent as the code.
        2_804_000..=2_804_999 => Outcome::Invalid,
        // Anything else: retrying is bounded by the schedule and safe for dedup, while dropping
        // would lose events on an unknown word.
        _ => Outcome::Retryable,
    }
}

/// Neither Meta's error nor its success: the HTTP status decides, and the message quotes the body.
fn by_status_only(http_status: u16, body: &[u8]) -> Classified {
    let outcome = match http_status {
        // A proxy's or CDN's refusal says nothing about the token (module docs).
        401 | 403 | 404 | 405 | 408 | 425 | 429 => Outcome::Retryable,
        400..=499 => Outcome::Invalid,
        _ => Outcome::Retryable,
    };
    Classified {
        outcome,
        code: None,
        message: describe(http_status, body),
        request_id: None,
        rows: Vec::new(),
    }
}

/// "Invalid parameter (subcode 2804003): Event Timestamp Too Old: The timestamp …", bounded.
fn error_message(error: &serde_json::Map<String, Value>, subcode: Option<i64>) -> String {
    let mut message = text(error.get("message")).unwrap_or_default();
    if let Some(sub) = subcode {
        message.push_str(&format!(" (subcode {sub})"));
    }
    for key in ["error_user_title", "error_user_msg"] {
        if let Some(part) = text(error.get(key)).filter(|p| !p.is_empty()) {
            message.push_str(": ");
            message.push_str(&part);
        }
    }
    truncate(&message, MESSAGE_CHARS)
}

/// An integer code, also when sent as a numeric string.
fn as_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(truncate(s, MESSAGE_CHARS)),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// "HTTP 502: 502 Bad Gateway nginx": the status and a short excerpt with markup removed.
fn describe(http_status: u16, body: &[u8]) -> String {
    signalpost_destination::outcome::describe_foreign_answer(
        http_status,
        body,
        "Meta",
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
    use serde_json::json;

    fn error(status: u16, code: i64, subcode: Option<i64>, transient: bool) -> Classified {
        let mut err = json!({"message": format!("m{code}"), "type": "OAuthException",
                             "code": code, "is_transient": transient, "fbtrace_id": "AbCdEf"});
        if let Some(sub) = subcode {
            err["error_subcode"] = json!(sub);
        }
        classify(status, json!({ "error": err }).to_string().as_bytes())
    }

    /// Every documented code (shared/meta-conversions-api.md) and the families around them.
    #[test]
    fn classifies_every_documented_code() {
        use Outcome::*;
        for (code, subcode, transient, outcome) in [
            (190, None, false, Auth),
            (190, Some(460), false, Auth),
            (190, Some(463), false, Auth),
            (190, Some(467), false, Auth),
            (10, None, false, Auth),
            (200, None, false, Auth),
            (250, None, false, Auth),
            (299, None, false, Auth),
            (100, Some(33), false, Auth),
            (1, None, false, Retryable),
            (2, None, true, Retryable),
            (4, None, false, Retryable),
            (17, None, false, Retryable),
            (32, None, false, Retryable),
            (341, None, false, Retryable),
            (368, None, false, Retryable),
            (613, None, false, Retryable),
            (80000, None, false, Retryable),
            (80003, None, false, Retryable),
            (80014, None, false, Retryable),
            (100, None, true, Retryable),
            (12345, None, true, Retryable),
            (100, None, false, Invalid),
            (100, Some(2804003), false, Invalid),
            (100, Some(2804001), false, Invalid),
            (100, Some(2804007), false, Invalid),
            (100, Some(2804016), false, Invalid),
            (100, Some(2804019), false, Invalid),
            (100, Some(2804048), false, Invalid),
            (105, None, false, Invalid),
            (3, None, false, Invalid),
            (2804030, None, false, Invalid),
            // Outside every documented family: retried within the schedule, never dropped.
            (99999, None, false, Retryable),
            (80015, None, false, Retryable),
            (300, None, false, Retryable),
        ] {
            for status in [400, 403, 500] {
                let c = error(status, code, subcode, transient);
                assert_eq!(c.outcome, outcome, "HTTP {status} code {code}/{subcode:?}");
                assert_eq!(c.code, Some(code));
                assert_eq!(c.request_id.as_deref(), Some("AbCdEf"));
                assert!(c.message.starts_with(&format!("m{code}")), "{}", c.message);
            }
        }
    }

    #[test]
    fn transient_errors_retry_but_auth_codes_still_pause() {
        assert_eq!(error(400, 190, None, true).outcome, Outcome::Auth);
        assert_eq!(
            error(400, 100, Some(2804003), true).outcome,
            Outcome::Retryable
        );
    }

    #[test]
    fn success_needs_events_received_on_a_2xx() {
        let c = classify(
            200,
            br#"{"events_received":3,"messages":[],"fbtrace_id":"AxY"}"#,
        );
        assert_eq!(c.outcome, Outcome::Delivered);
        assert_eq!(c.request_id.as_deref(), Some("AxY"));
        assert_eq!(c.message, "events_received 3");
        assert_eq!(c.code, None);
        let c = classify(500, br#"{"events_received":3,"fbtrace_id":"AxY"}"#);
        assert_eq!(c.outcome, Outcome::Retryable);
        assert_eq!(
            classify(200, br#"{"fbtrace_id":"A"}"#).outcome,
            Outcome::Retryable
        );
        assert_eq!(classify(200, b"{}").outcome, Outcome::Retryable);
    }

    #[test]
    fn messages_carry_subcode_and_user_text() {
        let body = json!({"error": {"message": "Invalid parameter", "type": "OAuthException",
            "code": 100, "error_subcode": 2804003, "is_transient": false,
            "error_user_title": "Event Timestamp Too Old",
            "error_user_msg": "The timestamp for this event is too far in the past.",
            "fbtrace_id": "A1"}});
        let c = classify(400, body.to_string().as_bytes());
        assert_eq!(
            c.message,
            "Invalid parameter (subcode 2804003): Event Timestamp Too Old: The timestamp for this event is too far in the past."
        );
        let long = json!({"error": {"message": "x".repeat(5000), "code": 100}});
        let c = classify(400, long.to_string().as_bytes());
        assert!(c.message.chars().count() <= MESSAGE_CHARS + 1);
    }

    /// Answers that are not Meta's: the HTTP status decides, and a proxy's 401/403 never pauses.
    #[test]
    fn classifies_gateway_answers_by_status() {
        let html = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>";
        for (status, body, outcome) in [
            (502, &html[..], Outcome::Retryable),
            (504, &b""[..], Outcome::Retryable),
            (500, &b"oops"[..], Outcome::Retryable),
            (503, &b"{}"[..], Outcome::Retryable),
            (429, &b"Too Many Requests"[..], Outcome::Retryable),
            (408, &b""[..], Outcome::Retryable),
            (401, &b"unauthorized"[..], Outcome::Retryable),
            (
                401,
                &br#"{"message":"Unauthorized"}"#[..],
                Outcome::Retryable,
            ),
            (
                403,
                &b"<html>Access denied by proxy</html>"[..],
                Outcome::Retryable,
            ),
            (403, &br#"{"error":"forbidden"}"#[..], Outcome::Retryable),
            (404, &b"not found"[..], Outcome::Retryable),
            (200, &b"<html>maintenance</html>"[..], Outcome::Retryable),
            (301, &b""[..], Outcome::Retryable),
            (400, &b"bad request"[..], Outcome::Invalid),
            (413, &b""[..], Outcome::Invalid),
            (
                401,
                &br#"{"error":{"message":"no code"}}"#[..],
                Outcome::Retryable,
            ),
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
            "HTTP 502: 502 Bad Gateway 502 Bad Gateway"
        );
        assert_eq!(classify(504, b"").message, "HTTP 504 (empty body)");
    }

    #[test]
    fn timeouts_are_retryable_without_a_code() {
        let c = classify_transport_error("timeout after 1.5s");
        assert_eq!(
            (c.outcome, c.code, c.request_id),
            (Outcome::Retryable, None, None)
        );
    }

    #[test]
    fn reads_numeric_string_codes() {
        let c = classify(400, br#"{"error":{"code":"190","message":"m"}}"#);
        assert_eq!((c.outcome, c.code), (Outcome::Auth, Some(190)));
    }

    proptest! {
        #[test]
        fn only_metas_auth_codes_pause(
            status in 100u16..600,
            code in proptest::option::of(prop_oneof![
                Just(190i64), Just(10), Just(100), Just(17), Just(401), Just(403), 200i64..300, any::<i64>(),
            ]),
            subcode in proptest::option::of(prop_oneof![Just(33i64), any::<i64>()]),
            body in "\\PC{0,40}",
            json in any::<bool>(),
        ) {
            let body = match (json, code) {
                (true, Some(code)) => json!({"error": {"code": code, "error_subcode": subcode, "message": body}}).to_string(),
                (true, None) => json!({"error": {"message": body}}).to_string(),
                (false, _) => body,
            };
            let c = classify(status, body.as_bytes());
            let auth = matches!(c.code, Some(190 | 10 | 200..=299))
                || (c.code == Some(100) && subcode == Some(33));
            prop_assert_eq!(c.outcome == Outcome::Auth, auth, "HTTP {} {}", status, body);
        }

        #[test]
        fn never_retries_a_plain_invalid_parameter(status in 100u16..600, sub in 2804000i64..2805000) {
            let body = json!({"error": {"code": 100, "error_subcode": sub, "is_transient": false, "message": "Invalid parameter"}});
            prop_assert_eq!(classify(status, body.to_string().as_bytes()).outcome, Outcome::Invalid);
        }

        #[test]
        fn never_panics_and_keeps_messages_short(status in any::<u16>(), body in proptest::collection::vec(any::<u8>(), 0..600)) {
            let c = classify(status, &body);
            prop_assert!(c.message.chars().count() <= MESSAGE_CHARS + 64);
        }
    }
}
