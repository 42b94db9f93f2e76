//! How TikTok's answers read: `signalpost_tiktok::classify` (its `code` families, HTTP status
//! only when the body is not TikTok's), the `x-tt-logid` trace header, and the `data.N` an invalid
//! batch's message names.

use signalpost_destination::http::ReadAnswer;

/// TikTok's answer reader.
pub const READ: ReadAnswer = signalpost_tiktok::client::READ_ANSWER;

/// TikTok's code for "too many requests".
const RATE_LIMITED: i64 = 40100;

/// Whether a retryable answer says the pixel sends too much (TikTok's 40100, or HTTP 429), rather
/// than that TikTok failed.
pub fn is_throttle(http_status: Option<u16>, code: Option<i64>) -> bool {
    code == Some(RATE_LIMITED) || http_status == Some(429)
}

/// The event `data.N` TikTok's message names, if any.
pub fn rejected_index(message: &str) -> Option<usize> {
    signalpost_tiktok::rejection::rejected_event_index(message)
}
