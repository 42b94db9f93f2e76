//! How Google's answers read: `signalpost_google_ads::classify` (UNAUTHENTICATED and
//! PERMISSION_DENIED pause, RESOURCE_EXHAUSTED and server errors retry, INVALID_ARGUMENT is
//! invalid content), the rows a 200's `partialFailureError` refused as row verdicts, and the trace
//! id in the `request-id` header.

use signalpost_destination::http::ReadAnswer;

/// Google's answer reader. A 200 echoes every accepted row (about 250 bytes each), so the body
/// limit fits 2,000 of them with room to spare.
pub const READ: ReadAnswer = ReadAnswer {
    classify: signalpost_google_ads::classify,
    trace_header: Some(signalpost_google_ads::REQUEST_ID_HEADER),
    max_body_bytes: 4 * 1024 * 1024,
};

/// Whether a retryable answer says the account sends too much (429 / RESOURCE_EXHAUSTED).
pub fn is_throttle(http_status: Option<u16>, code: Option<i64>) -> bool {
    signalpost_google_ads::is_throttle(http_status, code)
}
