//! `GET /capture.js` (no key): the landing-page script that keeps a visit's click ids in a
//! first-party cookie and fills the lead form's hidden inputs (see `capture.js` beside this file and
//! docs/api.md). Compiled into the binary; served cacheable by anyone's browser, revalidated by an
//! ETag of its content, so a new release's script is picked up without a stale copy lingering more
//! than [`MAX_AGE_SECS`].

use std::sync::LazyLock;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use super::AppState;

/// How long browsers and CDNs may use their copy without asking: an hour, because the script only
/// changes with a release and the ETag makes the question after that cheap.
pub const MAX_AGE_SECS: u32 = 3600;

/// The script's source.
pub const SOURCE: &str = include_str!("capture.js");

/// `"<first 16 hex digits of the SHA-256 of the source>"`.
static ETAG: LazyLock<String> = LazyLock::new(|| {
    let digest = hex::encode(Sha256::digest(SOURCE.as_bytes()));
    format!("\"{}\"", &digest[..16])
});

/// The route (no authentication).
pub fn router() -> Router<AppState> {
    Router::new().route("/capture.js", get(capture_js))
}

/// The click-id capture script for landing pages (no key). `If-None-Match` with its ETag gets a 304.
#[utoipa::path(
    get,
    path = "/capture.js",
    tag = "ingest",
    responses(
        (status = 200, description = "The script (JavaScript); cacheable, with an ETag", body = String, content_type = "application/javascript"),
        (status = 304, description = "The cached copy (If-None-Match) is current"),
    )
)]
pub(super) async fn capture_js(headers: HeaderMap) -> Response {
    let etag = ETAG.as_str();
    let cached = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*");
    let cache_control = format!("public, max-age={MAX_AGE_SECS}");
    let common = [
        (header::ETAG, HeaderValue::from_str(etag)),
        (header::CACHE_CONTROL, HeaderValue::from_str(&cache_control)),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            Ok(HeaderValue::from_static("nosniff")),
        ),
        // Landing pages on other sites load it; a page with COEP needs this to be allowed to.
        (
            header::HeaderName::from_static("cross-origin-resource-policy"),
            Ok(HeaderValue::from_static("cross-origin")),
        ),
    ];
    let mut response = if cached {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                "application/javascript; charset=utf-8",
            )],
            SOURCE,
        )
            .into_response()
    };
    for (name, value) in common {
        if let Ok(value) = value {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_is_small_and_uses_nothing_that_runs_code_or_talks_to_the_network() {
        assert!(SOURCE.len() < 8 * 1024, "{} bytes", SOURCE.len());
        for forbidden in [
            "eval(",
            "new Function",
            "fetch(",
            "XMLHttpRequest",
            "sendBeacon",
            "import(",
            "innerHTML",
        ] {
            assert!(!SOURCE.contains(forbidden), "{forbidden}");
        }
        for name in [
            "ttclid", "fbclid", "gclid", "gbraid", "wbraid", "_ttp", "_fbp", "_fbc",
        ] {
            assert!(SOURCE.contains(&format!("'{name}'")), "{name}");
        }
    }

    #[test]
    fn the_etag_is_a_quoted_content_hash() {
        assert_eq!(ETAG.len(), 18);
        assert!(ETAG.starts_with('"') && ETAG.ends_with('"'));
    }
}
