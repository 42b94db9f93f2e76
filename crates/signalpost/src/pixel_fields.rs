//! Checks of a pixel's fields (code, access token, destination, site URL, default region, test
//! event code), each naming the field it refuses. One set of rules for the config file, the admin
//! API, the console and the CLI.

use crate::wire::dto::lead::MAX_URL_LEN;
use crate::wire::problem::FieldError;

/// Pixel codes: 1–64 letters, digits, `_` or `-` (TikTok's are upper-case letters and digits).
pub fn validate_code(code: &str) -> Result<(), FieldError> {
    if code.is_empty() {
        return Err(FieldError::new("code", "must not be empty"));
    }
    if code.len() > 64
        || !code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(FieldError::new(
            "code",
            "a pixel code is 1–64 letters, digits, '_' or '-' (as shown in TikTok Events Manager)",
        ));
    }
    Ok(())
}

/// Access tokens: non-empty, printable, no spaces, at most 512 characters.
pub fn validate_token(token: &str) -> Result<(), FieldError> {
    if token.trim().is_empty() {
        return Err(FieldError::new("access_token", "must not be empty"));
    }
    if token.len() > 512 || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(FieldError::new(
            "access_token",
            "an access token is at most 512 characters without spaces (copy it from TikTok Events Manager)",
        ));
    }
    Ok(())
}

/// A pixel's secret as its destination holds it: an access token, or a Google Ads pixel's four
/// credentials bundled (each checked where it was given; the bundle is checked whole here).
pub fn validate_secret(
    destination: &signalpost_gateway::destinations::Destination,
    secret: &str,
) -> Result<(), FieldError> {
    use signalpost_gateway::destinations::{Destination, google_ads::token::Secrets};
    match destination {
        Destination::GoogleAds(_) => Secrets::from_bundle(secret)
            .map(|_| ())
            .map_err(|why| FieldError::new("access_token", why)),
        _ => validate_token(secret),
    }
}

/// A destination: an absolute http(s) URL without query or fragment.
pub fn validate_base_url(base_url: Option<&str>) -> Result<(), FieldError> {
    let Some(raw) = base_url else {
        return Ok(());
    };
    let bad = |detail: &str| FieldError::new("base_url", detail);
    let url = url::Url::parse(raw)
        .map_err(|_| bad("must be an absolute URL such as https://business-api.tiktok.com"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad("must be an http:// or https:// URL with a host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must not have a query string or fragment"));
    }
    Ok(())
}

/// Longest `site_url` accepted (the same bound as a lead's `landing_url`).
pub const MAX_SITE_URL_LEN: usize = MAX_URL_LEN;

/// A pixel's site: an absolute http(s) URL with a host, since it becomes TikTok's `page.url` as is.
pub fn validate_site_url(site_url: Option<&str>) -> Result<(), FieldError> {
    let Some(raw) = site_url else {
        return Ok(());
    };
    let bad = |detail: &str| FieldError::new("site_url", detail);
    if raw.len() > MAX_SITE_URL_LEN {
        return Err(bad("must be at most 4096 bytes"));
    }
    match url::Url::parse(raw) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => Ok(()),
        _ => Err(bad(
            "must be an absolute http:// or https:// URL such as https://shop.example/ (it is sent as page.url when a lead has no landing_url)",
        )),
    }
}

/// A pixel's `default_region` as stored: ISO 3166-1 alpha-2, upper-case; blank is none.
pub fn pixel_region(raw: Option<&str>) -> Result<Option<String>, FieldError> {
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(None),
        Some(r) => signalpost_tiktok::identity::Region::parse(r)
            .map(|region| Some(region.to_string()))
            .map_err(|e| {
                FieldError::new(
                    "default_region",
                    format!("{e} (an ISO 3166-1 alpha-2 code such as FR)"),
                )
            }),
    }
}

/// Why a pixel should be looked at although it is valid: a (web) pixel without `site_url` sends
/// leads that bring no landing URL or referrer to `undeliverable`, since TikTok requires
/// `page.url`. Not an error: leads with a landing URL are fine. Each names the field.
pub fn pixel_warnings(site_url: Option<&str>) -> Vec<FieldError> {
    match site_url {
        Some(_) => Vec::new(),
        None => vec![FieldError::new("site_url", SITE_URL_WARNING)],
    }
}

/// The warning for a pixel without `site_url` (API answers, `signalpost check`, the console).
pub const SITE_URL_WARNING: &str = "no site_url: events of leads without landing_url or referrer have no page.url, which TikTok requires for web events, so they are kept as undeliverable; set site_url to the advertiser's site";

/// A test event code: 1–64 printable characters without spaces.
pub fn validate_test_code(code: Option<&str>) -> Result<(), FieldError> {
    match code {
        Some(c)
            if c.is_empty()
                || c.len() > 64
                || c.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Err(FieldError::new(
                "test_event_code",
                "a test event code is 1–64 characters without spaces (from Events Manager's Test Events tab)",
            ))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_checked_with_the_field_named() {
        assert!(validate_code("CABC123_x-1").is_ok());
        assert_eq!(validate_code("").unwrap_err().field, "code");
        assert_eq!(validate_code("a/b").unwrap_err().field, "code");
        assert!(validate_token("abc123").is_ok());
        assert_eq!(validate_token(" ").unwrap_err().field, "access_token");
        assert_eq!(validate_token("a b").unwrap_err().field, "access_token");
        assert!(validate_base_url(Some("http://127.0.0.1:9/")).is_ok());
        assert!(validate_base_url(None).is_ok());
        for bad in ["ftp://x", "not a url", "https://x/?a=1", "/relative"] {
            assert_eq!(validate_base_url(Some(bad)).unwrap_err().field, "base_url");
        }
        assert!(validate_test_code(Some("TEST123")).is_ok());
        assert!(validate_test_code(Some("")).is_err());
        assert!(validate_site_url(Some("https://shop.example/lp?a=1")).is_ok());
        assert!(validate_site_url(None).is_ok());
        for bad in ["shop.example", "ftp://shop.example/", "https://", "/lp", ""] {
            assert_eq!(
                validate_site_url(Some(bad)).unwrap_err().field,
                "site_url",
                "{bad:?}"
            );
        }
    }
}
