//! How Meta's answers read: `signalpost_meta::classify` (Graph error codes: 190 and permission
//! codes pause, throttling and transient codes retry, 100 is invalid content), the trace id in
//! `fbtrace_id` (or the `x-fb-trace-id` header), and the `data[N]` an invalid batch names.

use signalpost_destination::http::ReadAnswer;

/// Meta's answer reader.
pub const READ: ReadAnswer = ReadAnswer {
    classify: signalpost_meta::classify,
    trace_header: Some("x-fb-trace-id"),
    max_body_bytes: signalpost_destination::http::MAX_RESPONSE_BYTES,
};

/// Meta's throttling codes: 4 application request limit, 17 user request limit, 32 page request
/// limit, 613 call rate limit, and the Marketing API's 80000–80014 family.
fn is_throttle_code(code: i64) -> bool {
    matches!(code, 4 | 17 | 32 | 613 | 80_000..=80_014)
}

/// Whether a retryable answer says the pixel sends too much, rather than that Meta failed.
pub fn is_throttle(http_status: Option<u16>, code: Option<i64>) -> bool {
    code.is_some_and(is_throttle_code) || http_status == Some(429)
}

/// The event `data[N]` Meta's message names, if any.
pub fn rejected_index(message: &str) -> Option<usize> {
    signalpost_meta::rejected_event_index(message)
}
