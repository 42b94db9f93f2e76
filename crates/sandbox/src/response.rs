//! TikTok's answer envelope (`{"code","message","request_id","data"}`), the request-id format and the
//! infrastructure-style failures (HTML 5xx pages). Owns every byte the track endpoints send back; it
//! never decides *which* answer to give.

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Success.
pub const CODE_OK: i64 = 0;
/// The token is valid but may not operate this pixel / event source.
pub const CODE_NO_PERMISSION: i64 = 40001;
/// Invalid parameter: the body breaks TikTok's schema.
pub const CODE_INVALID: i64 = 40002;
/// Rate limited; the client should back off and retry.
pub const CODE_RATE_LIMITED: i64 = 40100;
/// Access token missing, incorrect or revoked.
pub const CODE_BAD_TOKEN: i64 = 40105;
/// Transient server error; the client should retry.
pub const CODE_SERVER_ERROR: i64 = 50002;

/// TikTok's wording for [`CODE_BAD_TOKEN`].
pub const BAD_TOKEN_MESSAGE: &str = "Access token is incorrect or has been revoked.";
/// TikTok's wording for [`CODE_RATE_LIMITED`].
pub const RATE_LIMIT_MESSAGE: &str = "Too many requests. Please retry in some time.";
/// Wording for [`CODE_SERVER_ERROR`] (TikTok's exact text is not documented).
pub const SERVER_ERROR_MESSAGE: &str = "Internal service error. Please retry later.";

/// Header TikTok uses to echo the log id of a request.
const LOG_ID_HEADER: &str = "x-tt-logid";

/// TikTok's [`CODE_NO_PERMISSION`] message for a pixel the token may not use.
pub fn no_permission_message(pixel: &str) -> String {
    format!(
        "No permission to operate pixel code: {pixel}. You must be an admin or operator of this advertiser account."
    )
}

/// A fresh request id in TikTok's log-id format: `YYYYMMDDhhmmss` (UTC) followed by 20 upper-case hex
/// digits, 34 characters in all, e.g. `202303141300390EF6F5D96D1798201C51`.
pub fn request_id() -> String {
    let stamp = chrono::Utc::now().format("%Y%m%d%H%M%S");
    let high: u64 = rand::random();
    let low: u16 = rand::random();
    format!("{stamp}{high:016X}{low:04X}")
}

/// What a track endpoint answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// `{"code":0,"message":"OK"}`.
    Accepted,
    /// A business error: HTTP 200 with a nonzero code, as TikTok does.
    Error { code: i64, message: String },
    /// An infrastructure failure: a real HTTP error status with an nginx-style HTML page.
    Html(StatusCode),
}

impl Reply {
    /// A 40002 with `message`.
    pub(crate) fn invalid(message: String) -> Self {
        Reply::Error {
            code: CODE_INVALID,
            message,
        }
    }

    pub(crate) fn bad_token() -> Self {
        Reply::Error {
            code: CODE_BAD_TOKEN,
            message: BAD_TOKEN_MESSAGE.to_owned(),
        }
    }

    pub(crate) fn no_permission(pixel: &str) -> Self {
        Reply::Error {
            code: CODE_NO_PERMISSION,
            message: no_permission_message(pixel),
        }
    }

    pub(crate) fn rate_limited() -> Self {
        Reply::Error {
            code: CODE_RATE_LIMITED,
            message: RATE_LIMIT_MESSAGE.to_owned(),
        }
    }

    pub(crate) fn server_error() -> Self {
        Reply::Error {
            code: CODE_SERVER_ERROR,
            message: SERVER_ERROR_MESSAGE.to_owned(),
        }
    }

    /// The key this answer is counted under in `Stats::by_code`: the TikTok code, or `http_<status>`.
    pub(crate) fn label(&self) -> Cow<'static, str> {
        match self {
            Reply::Accepted => Cow::Borrowed("0"),
            Reply::Error { code, .. } => Cow::Owned(code.to_string()),
            Reply::Html(status) => Cow::Owned(format!("http_{}", status.as_u16())),
        }
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    code: i64,
    message: &'a str,
    request_id: &'a str,
    data: serde_json::Map<String, serde_json::Value>,
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let id = request_id();
        let mut response = match self {
            Reply::Accepted => envelope(CODE_OK, "OK", &id),
            Reply::Error { code, message } => envelope(code, &message, &id),
            Reply::Html(status) => html_page(status),
        };
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(LOG_ID_HEADER, value);
        }
        response
    }
}

fn envelope(code: i64, message: &str, request_id: &str) -> Response {
    let body = Envelope {
        code,
        message,
        request_id,
        data: serde_json::Map::new(),
    };
    match serde_json::to_vec(&body) {
        Ok(bytes) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            bytes,
        )
            .into_response(),
        // Serializing a struct of strings and integers cannot fail; answer like a broken gateway if it does.
        Err(_) => html_page(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// The kind of page a reverse proxy in front of TikTok (or Meta) returns when the backend fails: not JSON, so
/// a client that blindly parses the body is caught out.
pub(crate) fn html_page(status: StatusCode) -> Response {
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    let body = format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    (status, [(header::CONTENT_TYPE, "text/html")], body).into_response()
}

/// A JSON answer (`application/json; charset=UTF-8`, as Google and Meta send) with the destination's
/// trace id in the header `trace_header` (Meta's `x-fb-trace-id`, Google's `request-id`).
pub(crate) fn json_traced<T: Serialize>(
    status: StatusCode,
    body: &T,
    trace_header: &'static str,
    trace: &str,
) -> Response {
    let Ok(bytes) = serde_json::to_vec(body) else {
        return html_page(StatusCode::INTERNAL_SERVER_ERROR);
    };
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
        bytes,
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(trace) {
        response.headers_mut().insert(trace_header, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_id_has_tiktoks_log_id_shape() {
        let id = request_id();
        assert_eq!(id.len(), 34, "{id}");
        assert!(id[..14].bytes().all(|b| b.is_ascii_digit()), "{id}");
        assert!(
            id[14..]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)),
            "{id}"
        );
        assert_ne!(request_id(), request_id());
    }

    #[test]
    fn labels_name_the_code_or_the_http_status() {
        assert_eq!(Reply::Accepted.label(), "0");
        assert_eq!(Reply::rate_limited().label(), "40100");
        assert_eq!(Reply::Html(StatusCode::BAD_GATEWAY).label(), "http_502");
    }
}
