//! Meta's request: the events URL of the pixel, and the body around stored events with the token
//! inside it (never in the URL: a URL ends up in error messages and proxies' logs).

use signalpost_destination::http::{EndpointError, base_url};

use super::PixelSettings;
use crate::destinations::{push_events, push_json_string};

/// Meta's production Graph API.
pub const DEFAULT_BASE_URL: &str = signalpost_meta::GRAPH_BASE_URL;
/// Events per request (Meta's documented limit).
pub const MAX_EVENTS: usize = signalpost_meta::MAX_EVENTS_PER_REQUEST;
/// `partner_agent`: which platform sent the events.
pub const PARTNER_AGENT: &str = "signalpost";

/// `base_url` + `/{version}/{pixel}/events`.
pub fn endpoint_url(
    base: &str,
    settings: &PixelSettings,
    pixel: &str,
) -> Result<String, EndpointError> {
    Ok(format!(
        "{}{}",
        base_url(base)?,
        signalpost_meta::events_path(&settings.api_version, pixel)
    ))
}

/// `{"data":[…][,"test_event_code":CODE],"partner_agent":"signalpost"[,"access_token":TOKEN]}`
/// with the stored event objects copied verbatim.
pub fn body<'a>(
    token: Option<&str>,
    test_event_code: Option<&str>,
    payloads: impl Iterator<Item = &'a str> + Clone,
) -> Vec<u8> {
    let size: usize = payloads.clone().map(|p| p.len() + 1).sum();
    let mut body = Vec::with_capacity(size + 256);
    body.extend_from_slice(br#"{"data":["#);
    push_events(&mut body, payloads);
    body.push(b']');
    if let Some(code) = test_event_code {
        body.extend_from_slice(br#","test_event_code":"#);
        push_json_string(&mut body, code);
    }
    body.extend_from_slice(br#","partner_agent":"#);
    push_json_string(&mut body, PARTNER_AGENT);
    if let Some(token) = token {
        body.extend_from_slice(br#","access_token":"#);
        push_json_string(&mut body, token);
    }
    body.push(b'}');
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_names_version_and_pixel_and_the_token_goes_in_the_body() {
        let url = endpoint_url(
            "https://graph.facebook.com/",
            &PixelSettings::default(),
            "123",
        )
        .unwrap();
        assert_eq!(url, "https://graph.facebook.com/v25.0/123/events");
        let e1 = r#"{"event_name":"Lead","event_time":1}"#;
        let body = body(Some("tok\"en"), Some("TEST1"), [e1, e1].into_iter());
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["data"].as_array().unwrap().len(), 2);
        assert_eq!(v["test_event_code"], "TEST1");
        assert_eq!(v["access_token"], "tok\"en");
        assert_eq!(v["partner_agent"], "signalpost");
        let shown = super::body(None, None, [e1].into_iter());
        let v: serde_json::Value = serde_json::from_slice(&shown).unwrap();
        assert!(v.get("access_token").is_none() && v.get("test_event_code").is_none());
    }
}
