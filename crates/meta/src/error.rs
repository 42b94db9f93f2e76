//! Meta's refusals as values: the code, subcode, type and wording a Graph API error carries, and
//! the HTTP status it comes with. The sandbox renders these with a fresh `fbtrace_id`; the validator
//! produces the `code 100` ones. Nothing here decides *what to do* about an error (see
//! [`crate::classify`]).

use crate::model::{ErrorAnswer, ErrorDetail};

/// Error subcodes Meta documents for the Conversions API (shared/meta-conversions-api.md).
pub mod subcode {
    /// `fbc` is malformed.
    pub const INVALID_FBC: i64 = 2804001;
    /// An event's `event_time` is more than 7 days old.
    pub const EVENT_TOO_OLD: i64 = 2804003;
    /// With code 100: the object (pixel) does not exist or the token may not use it.
    pub const OBJECT_NOT_ACCESSIBLE: i64 = 33;
    /// With code 190: the session was invalidated (password changed, token revoked).
    pub const SESSION_INVALIDATED: i64 = 460;
}

/// `code` values the sandbox answers with.
pub mod code {
    /// A transient failure on Meta's side.
    pub const SERVICE_UNAVAILABLE: i64 = 2;
    /// Application or user request limit reached.
    pub const RATE_LIMITED: i64 = 17;
    /// Invalid parameter (and, with subcode 33, an object that cannot be reached).
    pub const INVALID_PARAMETER: i64 = 100;
    /// Invalid OAuth access token.
    pub const BAD_TOKEN: i64 = 190;
}

/// One Graph API error, without its trace id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaError {
    /// HTTP status Meta answers with (400 for every documented client error, 500 for its own).
    pub http_status: u16,
    /// `OAuthException`, `GraphMethodException`.
    pub kind: &'static str,
    pub code: i64,
    pub subcode: Option<i64>,
    pub message: String,
    pub is_transient: bool,
    pub user_title: Option<String>,
    pub user_msg: Option<String>,
}

impl MetaError {
    /// Code 100: a parameter breaks Meta's rules. `message` names the parameter Graph-style
    /// (`data[0][user_data][fbc]`); the user title and message say what to do.
    pub fn invalid(
        message: impl Into<String>,
        subcode: Option<i64>,
        user_title: &str,
        user_msg: impl Into<String>,
    ) -> MetaError {
        MetaError {
            http_status: 400,
            kind: "OAuthException",
            code: code::INVALID_PARAMETER,
            subcode,
            message: message.into(),
            is_transient: false,
            user_title: Some(user_title.to_owned()),
            user_msg: Some(user_msg.into()),
        }
    }

    /// Code 190: the access token is missing, malformed, unknown or revoked.
    pub fn bad_token() -> MetaError {
        MetaError {
            http_status: 400,
            kind: "OAuthException",
            code: code::BAD_TOKEN,
            subcode: None,
            message: "Invalid OAuth access token - Cannot parse access token".to_owned(),
            is_transient: false,
            user_title: None,
            user_msg: None,
        }
    }

    /// Code 190 subcode 460: a token that was valid and has been invalidated.
    pub fn token_revoked() -> MetaError {
        MetaError {
            subcode: Some(subcode::SESSION_INVALIDATED),
            message: "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.".to_owned(),
            ..MetaError::bad_token()
        }
    }

    /// Code 100 subcode 33: the pixel does not exist, or this token may not use it.
    pub fn unknown_pixel(pixel_id: &str) -> MetaError {
        MetaError {
            http_status: 400,
            kind: "GraphMethodException",
            code: code::INVALID_PARAMETER,
            subcode: Some(subcode::OBJECT_NOT_ACCESSIBLE),
            message: format!(
                "Unsupported post request. Object with ID '{pixel_id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."
            ),
            is_transient: false,
            user_title: None,
            user_msg: None,
        }
    }

    /// Code 17: throttled; retry later.
    pub fn rate_limited() -> MetaError {
        MetaError {
            http_status: 400,
            kind: "OAuthException",
            code: code::RATE_LIMITED,
            subcode: None,
            message: "User request limit reached".to_owned(),
            is_transient: true,
            user_title: None,
            user_msg: None,
        }
    }

    /// Code 2 over HTTP 500: Meta's own transient failure.
    pub fn server_error() -> MetaError {
        MetaError {
            http_status: 500,
            kind: "OAuthException",
            code: code::SERVICE_UNAVAILABLE,
            subcode: None,
            message: "An unexpected error has occurred. Please retry your request later."
                .to_owned(),
            is_transient: true,
            user_title: None,
            user_msg: None,
        }
    }

    /// The answer body with `fbtrace_id`.
    pub fn to_answer(&self, fbtrace_id: &str) -> ErrorAnswer {
        ErrorAnswer {
            error: ErrorDetail {
                message: self.message.clone(),
                kind: self.kind.to_owned(),
                code: self.code,
                error_subcode: self.subcode,
                is_transient: self.is_transient,
                error_user_title: self.user_title.clone(),
                error_user_msg: self.user_msg.clone(),
                fbtrace_id: fbtrace_id.to_owned(),
            },
        }
    }

    /// The key the sandbox counts this answer under: `190`, `100/2804003`.
    pub fn label(&self) -> String {
        match self.subcode {
            Some(sub) => format!("{}/{sub}", self.code),
            None => self.code.to_string(),
        }
    }
}

impl std::fmt::Display for MetaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({}) {}", self.label(), self.message)?;
        if let Some(msg) = &self.user_msg {
            write!(f, ": {msg}")?;
        }
        Ok(())
    }
}

impl std::error::Error for MetaError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_metas_error_shape() {
        let err = MetaError::invalid(
            "Invalid parameter",
            Some(subcode::EVENT_TOO_OLD),
            "Event Timestamp Too Old",
            "too old",
        );
        let json = serde_json::to_value(err.to_answer("AbC")).unwrap();
        assert_eq!(json["error"]["type"], "OAuthException");
        assert_eq!(json["error"]["code"], 100);
        assert_eq!(json["error"]["error_subcode"], 2804003);
        assert_eq!(json["error"]["is_transient"], false);
        assert_eq!(json["error"]["error_user_title"], "Event Timestamp Too Old");
        assert_eq!(json["error"]["fbtrace_id"], "AbC");
        assert_eq!(err.label(), "100/2804003");
        let json = serde_json::to_value(MetaError::bad_token().to_answer("x")).unwrap();
        assert!(json["error"].get("error_subcode").is_none(), "{json}");
        assert_eq!(MetaError::server_error().http_status, 500);
        assert!(MetaError::rate_limited().is_transient);
    }
}
