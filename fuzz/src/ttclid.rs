//! ttclid extraction from landing URLs (`signalpost_gateway::click_id::from_landing_url`, the same
//! code reads fbclid, gclid, gbraid and wbraid): on any text, never panics;
//! an answer is non-empty and trimmed; a text without `?` has no query and so no ttclid; and the
//! value found, written back into a URL with form encoding, is found again unchanged.
//!
//! Input: the bytes as (lossy UTF-8) text.

use signalpost_gateway::click_id::{UrlClickId, from_landing_url as find};

fn from_landing_url(url: &str) -> Option<String> {
    find(url, UrlClickId::Ttclid)
}

/// Runs the ttclid checks on one input.
pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let found = from_landing_url(&text);
    if !text.contains('?') {
        assert_eq!(found, None, "a ttclid was found without a query");
    }
    let Some(value) = found else { return };
    assert!(!value.is_empty(), "an empty ttclid was returned");
    assert_eq!(value, value.trim(), "the ttclid was not trimmed");

    let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
    for url in [
        format!("https://lp.example.com/p?ttclid={encoded}"),
        format!("https://lp.example.com/p?utm_source=tiktok&TTCLID={encoded}#top"),
        format!("/p#/spa?ttclid={encoded}"),
    ] {
        assert_eq!(
            from_landing_url(&url).as_deref(),
            Some(value.as_str()),
            "the ttclid did not survive a round trip through {url:?}"
        );
    }
}
