//! What Google's answer to one upload means for the request as a whole (shared/google-ads-conversions.md,
//! "Answer"). A pure function of the HTTP status and body: no I/O, no clock. What each row of a
//! 200 means is [`crate::rows`]'s business.
//!
//! Google answers an upload that reached the Ads API with HTTP 200 (`results`, and
//! `partialFailureError` when rows failed), and everything else with a 4xx/5xx carrying
//! `{"error":{"code","message","status","details":[GoogleAdsFailure]}}`. The gRPC `status` name
//! decides whenever the body is Google's; the HTTP status decides only when it is not (a gateway's
//! HTML 502, an empty 504, a proxy's 429).
//!
//! Only Google's own words pause a pixel: `UNAUTHENTICATED` (401: bad, expired or revoked access
//! token; the gateway refreshes the token once before pausing) and `PERMISSION_DENIED` (403:
//! developer token not approved, no access to the customer). A bare 401 or 403 comes from whatever
//! stands between us and Google, says nothing about the token and is retried within the schedule,
//! as for Meta and TikTok.
//!
//! `Classified::code` holds Google's `error.code` (the HTTP-ish 401/403/429/…); the message starts
//! with the status name and the Google Ads error enums, e.g. `UNAUTHENTICATED (authenticationError:
//! OAUTH_TOKEN_EXPIRED): …`, which [`needs_split`] reads.

use serde_json::{Map, Value};
use signalpost_destination::{Classified, Outcome, RowVerdict};

use crate::rows::RowAction;

/// Longest message kept (bounds a hostile or broken server).
const MESSAGE_CHARS: usize = 1000;
/// Longest excerpt of a body that is not Google's.
const EXCERPT_CHARS: usize = 200;
/// Google Ads errors named in one message (the rest are counted).
const ERRORS_NAMED: usize = 3;
/// Details and errors looked at (a broken server may send thousands).
const ERRORS_READ: usize = 64;

/// The gRPC status names (google.rpc.Code): a body naming one is Google's.
const RPC_STATUSES: &[&str] = &[
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// Classifies Google's answer to one upload.
pub fn classify(http_status: u16, body: &[u8]) -> Classified {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    // Some Google front ends wrap the envelope in a one-element array.
    let top = match json {
        Some(Value::Object(top)) => top,
        Some(Value::Array(items)) => match items.into_iter().next() {
            Some(Value::Object(top)) if top.contains_key("error") => top,
            _ => return by_status_only(http_status, body),
        },
        _ => return by_status_only(http_status, body),
    };
    if let Some(Value::Object(error)) = top.get("error")
        && let Some(status) = error
            .get("status")
            .and_then(Value::as_str)
            .filter(|s| RPC_STATUSES.contains(s))
    {
        let code = error.get("code").and_then(Value::as_i64);
        return Classified {
            outcome: by_rpc_status(status),
            code,
            message: error_message(status, error),
            request_id: request_id(error.get("details")),
            rows: Vec::new(),
        };
    }
    let looks_like_upload = ["results", "partialFailureError", "jobId"]
        .iter()
        .any(|k| top.contains_key(*k));
    if (200..300).contains(&http_status) && looks_like_upload {
        let results = top
            .get("results")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let partial = top.get("partialFailureError").and_then(Value::as_object);
        let failed = partial.map_or(0, |p| count_errors(p.get("details")));
        return Classified {
            outcome: Outcome::Delivered,
            code: None,
            message: format!("{results} results, {failed} row errors"),
            request_id: partial.and_then(|p| request_id(p.get("details"))),
            rows: row_verdicts(body, results.max(1)),
        };
    }
    by_status_only(http_status, body)
}

/// Classifies an upload that got no HTTP answer (timeout, refused or reset connection, TLS
/// failure): always retryable.
pub fn classify_transport_error(description: impl Into<String>) -> Classified {
    Classified::transport_error(description)
}

/// Whether a retryable answer says the account sends too much (429 / `RESOURCE_EXHAUSTED`), rather
/// than that Google failed.
pub fn is_throttle(http_status: Option<u16>, code: Option<i64>) -> bool {
    http_status == Some(429) || code == Some(429)
}

/// Whether Google refused the request for holding more than 2,000 conversions: send it again in
/// smaller requests instead of giving up on its rows.
pub fn needs_split(classified: &Classified) -> bool {
    classified.outcome == Outcome::Invalid
        && classified
            .message
            .contains("TOO_MANY_CONVERSIONS_IN_REQUEST")
}

/// The outcome of a gRPC status name.
fn by_rpc_status(status: &str) -> Outcome {
    match status {
        "UNAUTHENTICATED" | "PERMISSION_DENIED" => Outcome::Auth,
        // The same request cannot succeed (partialFailure missing, too many conversions, …).
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" | "ALREADY_EXISTS" => {
            Outcome::Invalid
        }
        // Throttling, Google's own failures, and the rest: retrying is bounded by the schedule and
        // safe (Google deduplicates on order id and on click + time), while dropping would lose
        // conversions on an unfamiliar word. NOT_FOUND / UNIMPLEMENTED (a sunset API version, a
        // wrong base URL) are configuration problems an operator fixes within the schedule.
        _ => Outcome::Retryable,
    }
}

/// Neither Google's error nor its success: the HTTP status decides, and the message quotes the body.
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
        message: signalpost_destination::outcome::describe_foreign_answer(
            http_status,
            body,
            "Google",
            EXCERPT_CHARS,
        ),
        request_id: None,
        rows: Vec::new(),
    }
}

/// The rows a 200 refused, as the delivery engine's verdicts. `rows` is how many the request
/// carried (Google answers one `results` entry per row, `{}` for a refused one).
///
/// A row refused for being in a request over 2,000 conversions cannot happen to a request the
/// gateway built (it sends at most 2,000); should one come, it is dead with Google's words rather
/// than resent forever.
fn row_verdicts(body: &[u8], rows: usize) -> Vec<RowVerdict> {
    crate::rows::row_failures(body, rows)
        .rows
        .into_iter()
        .map(|failure| RowVerdict {
            index: failure.index,
            action: match failure.action {
                RowAction::Delivered => signalpost_destination::RowAction::Delivered,
                RowAction::RetryAfter(after) => {
                    signalpost_destination::RowAction::RetryAfter(after)
                }
                RowAction::Split | RowAction::Dead => signalpost_destination::RowAction::Dead,
            },
            message: if failure.not_attributable {
                format!("not attributable: {}", failure.message)
            } else {
                failure.message
            },
            code: failure.error_code,
        })
        .collect()
}

/// `UNAUTHENTICATED (authenticationError: OAUTH_TOKEN_EXPIRED): Oauth token in the header has
/// expired.`, bounded; the top-level message when Google sent no Ads errors.
fn error_message(status: &str, error: &Map<String, Value>) -> String {
    let errors = ads_errors(error.get("details"));
    let mut message = status.to_owned();
    if !errors.is_empty() {
        let named: Vec<String> = errors
            .iter()
            .take(ERRORS_NAMED)
            .map(|(kind, code, _)| format!("{kind}: {code}"))
            .collect();
        message.push_str(&format!(" ({}", named.join(", ")));
        if errors.len() > ERRORS_NAMED {
            message.push_str(&format!(", and {} more", errors.len() - ERRORS_NAMED));
        }
        message.push(')');
    }
    let text = errors
        .first()
        .map(|(_, _, m)| m.clone())
        .filter(|m| !m.is_empty())
        .or_else(|| {
            error
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default();
    if !text.is_empty() {
        message.push_str(": ");
        message.push_str(&text);
    }
    truncate(&message, MESSAGE_CHARS)
}

/// `(kind, code, message)` of each Google Ads error in `details` (bounded).
fn ads_errors(details: Option<&Value>) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for detail in failures(details) {
        for error in detail
            .get("errors")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .take(ERRORS_READ)
        {
            let code = error
                .get("errorCode")
                .and_then(Value::as_object)
                .and_then(|c| c.iter().find_map(|(k, v)| Some((k, v.as_str()?))));
            let message = error.get("message").and_then(Value::as_str).unwrap_or("");
            if let Some((kind, code)) = code {
                out.push((
                    truncate(kind, 100),
                    truncate(code, 100),
                    truncate(message, MESSAGE_CHARS),
                ));
            }
            if out.len() >= ERRORS_READ {
                return out;
            }
        }
    }
    out
}

/// How many errors the details hold (Google counts failures in `errors[]`, not in `details[]`).
fn count_errors(details: Option<&Value>) -> usize {
    failures(details)
        .map(|d| {
            d.get("errors")
                .and_then(Value::as_array)
                .map_or(0, Vec::len)
        })
        .sum()
}

/// The `requestId` of the first failure detail that has one.
fn request_id(details: Option<&Value>) -> Option<String> {
    failures(details).find_map(|d| {
        d.get("requestId")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .map(|id| truncate(id, 100))
    })
}

/// The detail objects that carry Google Ads errors (the `GoogleAdsFailure` ones; others, such as
/// `google.rpc.BadRequest`, have no `errors`).
fn failures(details: Option<&Value>) -> impl Iterator<Item = &Map<String, Value>> {
    details
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .take(ERRORS_READ)
        .filter_map(Value::as_object)
}

fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::failure::RequestFailure;
    use proptest::prelude::*;
    use serde_json::json;

    fn google(failure: &RequestFailure) -> Classified {
        let body = serde_json::to_vec(&failure.to_answer("v26", "REQ-1")).unwrap();
        classify(failure.http_status, &body)
    }

    /// Every answer the sandbox (and Google) gives, and what it means.
    #[test]
    fn classifies_googles_error_answers_by_status_name() {
        use Outcome::*;
        for (failure, outcome, words) in [
            (
                RequestFailure::token_expired(),
                Auth,
                "UNAUTHENTICATED (authenticationError: OAUTH_TOKEN_EXPIRED)",
            ),
            (
                RequestFailure::token_invalid(),
                Auth,
                "authenticationError: OAUTH_TOKEN_INVALID",
            ),
            (
                RequestFailure::missing_credential(),
                Auth,
                "UNAUTHENTICATED: Request is missing",
            ),
            (
                RequestFailure::developer_token_not_approved(),
                Auth,
                "authorizationError: DEVELOPER_TOKEN_NOT_APPROVED",
            ),
            (
                RequestFailure::user_permission_denied("1234567890"),
                Auth,
                "USER_PERMISSION_DENIED",
            ),
            (
                RequestFailure::rate_limited(),
                Retryable,
                "RESOURCE_EXHAUSTED (quotaError",
            ),
            (
                RequestFailure::internal(),
                Retryable,
                "INTERNAL (internalError: INTERNAL_ERROR)",
            ),
            (RequestFailure::not_found("/v1/x"), Retryable, "NOT_FOUND"),
            (
                RequestFailure::invalid_argument(vec![crate::failure::error(
                    "partialFailureError",
                    "PARTIAL_FAILURE_MODE_REQUIRED",
                    "set it",
                    None,
                )]),
                Invalid,
                "INVALID_ARGUMENT (partialFailureError: PARTIAL_FAILURE_MODE_REQUIRED): set it",
            ),
            (
                RequestFailure::bad_payload(Some("conversions[0]"), "Unknown name".into()),
                Invalid,
                "INVALID_ARGUMENT: Unknown name",
            ),
        ] {
            let c = google(&failure);
            assert_eq!(c.outcome, outcome, "{failure}");
            assert_eq!(c.code, Some(i64::from(failure.http_status)));
            assert!(c.message.starts_with(failure.status), "{}", c.message);
            assert!(c.message.contains(words), "{}", c.message);
        }
        assert_eq!(
            google(&RequestFailure::token_expired())
                .request_id
                .as_deref(),
            Some("REQ-1")
        );
    }

    #[test]
    fn transient_status_names_retry() {
        for status in [
            "UNAVAILABLE",
            "DEADLINE_EXCEEDED",
            "ABORTED",
            "UNKNOWN",
            "CANCELLED",
        ] {
            let body = json!({"error": {"code": 503, "message": "m", "status": status}});
            let c = classify(503, body.to_string().as_bytes());
            assert_eq!(c.outcome, Outcome::Retryable, "{status}");
        }
    }

    #[test]
    fn too_many_conversions_asks_for_a_split() {
        let failure = RequestFailure::invalid_argument(vec![crate::failure::error(
            "conversionUploadError",
            "TOO_MANY_CONVERSIONS_IN_REQUEST",
            "Upload fewer than 2001 events in a single request.",
            None,
        )]);
        let c = google(&failure);
        assert_eq!(c.outcome, Outcome::Invalid);
        assert!(needs_split(&c), "{}", c.message);
        assert!(!needs_split(&google(&RequestFailure::token_expired())));
    }

    #[test]
    fn a_200_with_results_is_delivered_and_counts_row_errors() {
        let body = json!({
            "results": [{"gclid": "a"}, {}, {}],
            "partialFailureError": {"code": 3, "message": "m", "details": [{
                "@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
                "errors": [{"errorCode": {"conversionUploadError": "CLICK_NOT_FOUND"}, "message": "x"},
                           {"errorCode": {"conversionUploadError": "TOO_RECENT_EVENT"}, "message": "y"}],
                "requestId": "R9"}]},
            "jobId": "5"
        });
        let c = classify(200, body.to_string().as_bytes());
        assert_eq!(c.outcome, Outcome::Delivered);
        assert_eq!(c.message, "3 results, 2 row errors");
        assert_eq!(c.request_id.as_deref(), Some("R9"));
        let c = classify(200, br#"{"results":[{}]}"#);
        assert_eq!((c.outcome, c.request_id), (Outcome::Delivered, None));
    }

    /// Answers that are not Google's: the HTTP status decides, and a proxy's 401/403 never pauses.
    #[test]
    fn classifies_foreign_answers_by_status() {
        for (status, body, outcome) in [
            (
                502,
                &b"<html><title>502 Bad Gateway</title></html>"[..],
                Outcome::Retryable,
            ),
            (504, &b""[..], Outcome::Retryable),
            (401, &b"unauthorized"[..], Outcome::Retryable),
            (
                401,
                &br#"{"error":{"code":401,"message":"no status"}}"#[..],
                Outcome::Retryable,
            ),
            (403, &br#"{"error":"forbidden"}"#[..], Outcome::Retryable),
            (
                403,
                &br#"{"error":{"code":403,"status":"NOPE"}}"#[..],
                Outcome::Retryable,
            ),
            (429, &b"Too Many Requests"[..], Outcome::Retryable),
            (200, &b"<html>maintenance</html>"[..], Outcome::Retryable),
            (200, &b"{}"[..], Outcome::Retryable),
            (200, &br#"{"ok":true}"#[..], Outcome::Retryable),
            (400, &b"bad request"[..], Outcome::Invalid),
            (413, &b""[..], Outcome::Invalid),
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
    }

    #[test]
    fn reads_an_envelope_wrapped_in_an_array() {
        let body = json!([{"error": {"code": 401, "message": "m", "status": "UNAUTHENTICATED"}}]);
        assert_eq!(
            classify(401, body.to_string().as_bytes()).outcome,
            Outcome::Auth
        );
        assert_eq!(classify(401, b"[1]").outcome, Outcome::Retryable);
    }

    #[test]
    fn names_at_most_three_errors_and_counts_the_rest() {
        let errors: Vec<Value> = (0..5)
            .map(|i| json!({"errorCode": {"fieldError": format!("E{i}")}, "message": "m"}))
            .collect();
        let body = json!({"error": {"code": 400, "message": "top", "status": "INVALID_ARGUMENT",
                          "details": [{"@type": "x", "errors": errors}]}});
        let c = classify(400, body.to_string().as_bytes());
        assert_eq!(
            c.message,
            "INVALID_ARGUMENT (fieldError: E0, fieldError: E1, fieldError: E2, and 2 more): m"
        );
    }

    #[test]
    fn throttles_are_429s() {
        assert!(is_throttle(Some(429), None));
        assert!(is_throttle(None, Some(429)));
        assert!(!is_throttle(Some(503), Some(503)));
    }

    proptest! {
        #[test]
        fn only_googles_auth_statuses_pause(
            http in 100u16..600,
            status in proptest::option::of(prop::sample::select(RPC_STATUSES.to_vec())),
            garbage in "\\PC{0,40}",
        ) {
            let body = match status {
                Some(s) => json!({"error": {"code": http, "message": garbage, "status": s}}).to_string(),
                None => garbage,
            };
            let c = classify(http, body.as_bytes());
            let auth = matches!(status, Some("UNAUTHENTICATED" | "PERMISSION_DENIED"));
            prop_assert_eq!(c.outcome == Outcome::Auth, auth, "HTTP {} {}", http, body);
        }

        #[test]
        fn never_panics_and_keeps_messages_short(http in any::<u16>(), body in proptest::collection::vec(any::<u8>(), 0..600)) {
            let c = classify(http, &body);
            prop_assert!(c.message.chars().count() <= MESSAGE_CHARS + 64);
        }
    }
}
