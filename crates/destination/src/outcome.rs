//! What a destination's answer to one request means for the events in it, in the words the
//! delivery engine acts on. Each destination reads its own answers into these (TikTok's codes in
//! `signalpost_tiktok::classify`, Meta's in `signalpost_meta::classify`); nothing here knows any
//! destination's codes.

/// What to do with the events of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The destination accepted them.
    Delivered,
    /// A transient problem (rate limit, server error, timeout, a gateway's error page): send again
    /// later with backoff. Safe because `event_id` stays stable and destinations deduplicate.
    Retryable,
    /// The destination refused the pixel's credentials or its permission on the pixel, in its own
    /// words: pause the pixel and keep its events until the token is replaced. Never from an HTTP
    /// status alone (a proxy's 401 says nothing about the token).
    Auth,
    /// The destination rejected the content: sending it again cannot help. For a batch, bisect to
    /// find the offending events.
    Invalid,
}

impl Outcome {
    /// The lower-case name used in logs, metrics and the delivery log.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Retryable => "retryable",
            Outcome::Auth => "auth",
            Outcome::Invalid => "invalid",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to do with one event of a request the destination answered row by row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowAction {
    /// Accepted (or already there: a duplicate counts as delivered).
    Delivered,
    /// Refused for now; send it again after this long (e.g. Google Ads' click younger than 6 h).
    RetryAfter(std::time::Duration),
    /// Refused for good: sending it again cannot help.
    Dead,
}

/// The destination's word on one event of a request whose other events it accepted (Google Ads'
/// partial failures): its position in the request and what to do with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowVerdict {
    /// The event's index in the request body.
    pub index: usize,
    pub action: RowAction,
    /// The destination's own error name, e.g. `CLICK_NOT_FOUND`.
    pub code: String,
    pub message: String,
}

/// The meaning of one answer, with what the destination said, ready for the attempt log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub outcome: Outcome,
    /// The destination's error code, when its body said one (TikTok's `code`, Meta's
    /// `error.code`).
    pub code: Option<i64>,
    /// The destination's message, or a short description of an answer that was not its own.
    pub message: String,
    /// The destination's trace id for this request, to quote to its support (TikTok's
    /// `request_id`, Meta's `fbtrace_id`).
    pub request_id: Option<String>,
    /// For an answer that judged events one by one (`outcome` then covers every event not named
    /// here): the events it said otherwise of. Empty for destinations that answer per request.
    pub rows: Vec<RowVerdict>,
}

impl Classified {
    /// A request that got no HTTP answer (timeout, refused or reset connection, TLS failure): always
    /// retryable. `description` says what happened without any secret, e.g. "timeout after 10s".
    pub fn transport_error(description: impl Into<String>) -> Classified {
        Classified {
            outcome: Outcome::Retryable,
            code: None,
            message: description.into(),
            request_id: None,
            rows: Vec::new(),
        }
    }
}

/// An answer that was not `destination`'s own, in words: "HTTP 502: 502 Bad Gateway nginx", or
/// "HTTP 200 without Meta's JSON answer: …", with a short excerpt of the body.
pub fn describe_foreign_answer(
    http_status: u16,
    body: &[u8],
    destination: &str,
    max_chars: usize,
) -> String {
    let what = if (200..300).contains(&http_status) {
        format!("HTTP {http_status} without {destination}'s JSON answer")
    } else {
        format!("HTTP {http_status}")
    };
    let excerpt = excerpt(body, max_chars);
    if excerpt.is_empty() {
        format!("{what} (empty body)")
    } else {
        format!("{what}: {excerpt}")
    }
}

/// A short, readable excerpt of an answer that was not the destination's own (a gateway's HTML
/// error page): markup removed, whitespace collapsed, at most `max_chars` characters and `…`.
pub fn excerpt(body: &[u8], max_chars: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out = String::new();
    let (mut in_tag, mut space, mut count) = (false, false, 0);
    for c in text.chars() {
        match c {
            '<' => {
                in_tag = true;
                space = true;
            }
            '>' if in_tag => in_tag = false,
            _ if in_tag => {}
            c if c.is_whitespace() || c.is_control() => space = true,
            c => {
                if count == max_chars {
                    out.push('…');
                    break;
                }
                if space && !out.is_empty() {
                    out.push(' ');
                }
                space = false;
                out.push(c);
                count += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_drop_markup_collapse_space_and_stop_at_the_limit() {
        assert_eq!(
            excerpt(b"<html><h1>502  Bad\n Gateway</h1></html>", 100),
            "502 Bad Gateway"
        );
        assert_eq!(excerpt(b"abcdef", 3), "abc\u{2026}");
        assert_eq!(excerpt(b"", 3), "");
    }
}
