//! TikTok's request: the track URL, the token header and the body around stored events.

use signalpost_destination::http::EndpointError;

use super::PixelSettings;
use crate::destinations::{push_events, push_json_string};

/// TikTok's production API.
pub const DEFAULT_BASE_URL: &str = signalpost_tiktok::model::DEFAULT_BASE_URL;
/// Events per request (TikTok's documented limit).
pub const MAX_EVENTS: usize = signalpost_tiktok::model::MAX_EVENTS_PER_REQUEST;
/// The header that carries the access token.
pub const TOKEN_HEADER: &str = "Access-Token";

/// `base_url` + the track path.
pub fn endpoint_url(base_url: &str) -> Result<String, EndpointError> {
    signalpost_tiktok::client::track_url(base_url)
}

/// `{"event_source":SOURCE,"event_source_id":PIXEL[,"test_event_code":CODE],"data":[…]}` with the
/// stored event objects copied verbatim.
pub fn body<'a>(
    settings: &PixelSettings,
    pixel: &str,
    test_event_code: Option<&str>,
    payloads: impl Iterator<Item = &'a str> + Clone,
) -> Vec<u8> {
    let size: usize = payloads.clone().map(|p| p.len() + 1).sum();
    let mut body = Vec::with_capacity(size + 128 + pixel.len());
    body.extend_from_slice(br#"{"event_source":"#);
    push_json_string(&mut body, settings.event_source.as_str());
    body.extend_from_slice(br#","event_source_id":"#);
    push_json_string(&mut body, pixel);
    if let Some(code) = test_event_code {
        body.extend_from_slice(br#","test_event_code":"#);
        push_json_string(&mut body, code);
    }
    body.extend_from_slice(br#","data":["#);
    push_events(&mut body, payloads);
    body.extend_from_slice(b"]}");
    body
}
