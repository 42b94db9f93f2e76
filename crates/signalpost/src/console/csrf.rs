//! CSRF protection: every console form carries its session's token in a hidden `csrf` field (script
//! requests send it as `X-CSRF-Token`), and the session guard refuses any POST whose token does not
//! match, before a handler runs. `SameSite=Strict` cookies already keep other sites' requests
//! unauthenticated; the token is the second, independent lock.

use axum::http::HeaderMap;
use maud::{Markup, html};

/// Name of the hidden form field.
pub const FIELD: &str = "csrf";
/// Header a script may send the token in instead.
pub const HEADER: &str = "x-csrf-token";
/// Largest console form body read (the guard buffers it to find the token).
pub const FORM_LIMIT: usize = 256 * 1024;

/// The hidden field carrying `token`.
pub fn field(token: &str) -> Markup {
    html! { input type="hidden" name=(FIELD) value=(token); }
}

/// The token a request presents: the header, else the urlencoded body's `csrf` field.
pub fn presented(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    if let Some(value) = headers.get(HEADER).and_then(|v| v.to_str().ok()) {
        return Some(value.to_owned());
    }
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == FIELD)
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_token_comes_from_the_header_or_the_form() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            presented(&headers, b"a=1&csrf=t0k%2B&b=2").as_deref(),
            Some("t0k+")
        );
        assert_eq!(presented(&headers, b"a=1"), None);
        headers.insert(HEADER, HeaderValue::from_static("from-header"));
        assert_eq!(
            presented(&headers, b"csrf=other").as_deref(),
            Some("from-header")
        );
    }

    #[test]
    fn the_field_is_hidden_and_escaped() {
        let markup = field("a\"b").into_string();
        assert!(markup.contains("type=\"hidden\""), "{markup}");
        assert!(markup.contains("value=\"a&quot;b\""), "{markup}");
    }
}
