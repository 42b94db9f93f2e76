//! A delivery attempt: one HTTP request that carried a conversion, and what TikTok answered. Every
//! attempt is kept so the lead record can show TikTok's code, message and request_id.

use serde::{Deserialize, Serialize};

/// How an attempt ended, as the engine classified TikTok's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// Code 0.
    Delivered,
    /// Rate limit, 5xx, timeout, connection error: retried with backoff.
    Retryable,
    /// Token or permission rejected (40001/40105): the pixel is paused.
    Auth,
    /// TikTok refused the content (40002): not retried.
    Invalid,
    /// Not a request: an operator re-queued the conversion (replay). Marks the log; never classified.
    Replayed,
}

impl AttemptOutcome {
    /// The snake_case storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::Retryable => "retryable",
            AttemptOutcome::Auth => "auth",
            AttemptOutcome::Invalid => "invalid",
            AttemptOutcome::Replayed => "replayed",
        }
    }

    /// Parses a storage name; unknown names read as `Retryable` (the conservative reading).
    pub fn from_stored(s: &str) -> Self {
        match s {
            "delivered" => AttemptOutcome::Delivered,
            "auth" => AttemptOutcome::Auth,
            "invalid" => AttemptOutcome::Invalid,
            "replayed" => AttemptOutcome::Replayed,
            _ => AttemptOutcome::Retryable,
        }
    }
}

/// An attempt as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub conversion_id: i64,
    /// When the request was sent, unix milliseconds.
    pub at_ms: i64,
    /// HTTP status; absent on timeouts and connection errors.
    pub http_status: Option<u16>,
    /// TikTok's `code` when the body had one.
    pub code: Option<i64>,
    /// TikTok's `message`, or what went wrong on the wire.
    pub message: String,
    /// TikTok's `request_id` (its log id, for support tickets).
    pub request_id: Option<String>,
    pub latency_ms: u64,
    pub outcome: AttemptOutcome,
    /// How many events the request carried (bisection sends smaller batches).
    pub batch_size: u32,
}

/// An attempt to record for one conversion (the conversion id is on the enclosing result).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAttempt {
    pub at_ms: i64,
    pub http_status: Option<u16>,
    pub code: Option<i64>,
    pub message: String,
    pub request_id: Option<String>,
    pub latency_ms: u64,
    pub outcome: AttemptOutcome,
    pub batch_size: u32,
}
