//! How TikTok's answers read: `signalpost_tiktok::classify` (its `code` families, HTTP status
//! only when the body is not TikTok's), the `x-tt-logid` trace header, and the `data.N` an invalid
//! batch's message names.

use signalpost_destination::http::ReadAnswer;

/// TikTok's answer reader.
pub const READ: ReadAnswer = signalpost_tiktok::client::READ_ANSWER;

/// The event `data.N` TikTok's message names, if any.
pub fn rejected_index(message: &str) -> Option<usize> {
    signalpost_tiktok::rejection::rejected_event_index(message)
}
