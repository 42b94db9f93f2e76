//! Google's request: the customer's upload URL and the body around stored conversions, always in
//! partial-failure mode (Google refuses a request without it, and row-by-row answers are what let
//! one bad row leave the rest delivered). A pixel's `test_event_code` asks for `validateOnly`:
//! Google checks the rows and records nothing, the closest it has to a test event.

use signalpost_destination::http::{EndpointError, base_url};

use super::PixelSettings;
use crate::destinations::push_events;

/// Google Ads API's production host.
pub const DEFAULT_BASE_URL: &str = signalpost_google_ads::API_BASE_URL;
/// Conversions per request (Google's documented limit).
pub const MAX_EVENTS: usize = signalpost_google_ads::MAX_CONVERSIONS_PER_REQUEST;

/// `base_url` + `/v{N}/customers/{customer_id}:uploadClickConversions`.
pub fn endpoint_url(base: &str, settings: &PixelSettings) -> Result<String, EndpointError> {
    Ok(format!(
        "{}{}",
        base_url(base)?,
        signalpost_google_ads::upload_path(&settings.api_version, &settings.customer_id)
    ))
}

/// `{"conversions":[…],"partialFailure":true[,"validateOnly":true]}` with the stored conversions
/// copied verbatim.
pub fn body<'a>(validate_only: bool, payloads: impl Iterator<Item = &'a str> + Clone) -> Vec<u8> {
    let size: usize = payloads.clone().map(|p| p.len() + 1).sum();
    let mut body = Vec::with_capacity(size + 64);
    body.extend_from_slice(br#"{"conversions":["#);
    push_events(&mut body, payloads);
    body.extend_from_slice(br#"],"partialFailure":true"#);
    if validate_only {
        body.extend_from_slice(br#","validateOnly":true"#);
    }
    body.push(b'}');
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> PixelSettings {
        PixelSettings {
            customer_id: "1234567890".into(),
            conversion_action: "555".into(),
            login_customer_id: None,
            api_version: "v26".into(),
            token_url: None,
            consent: None,
        }
    }

    #[test]
    fn the_url_names_version_and_customer_and_the_body_asks_for_partial_failure() {
        assert_eq!(
            endpoint_url("https://googleads.googleapis.com/", &settings()).unwrap(),
            "https://googleads.googleapis.com/v26/customers/1234567890:uploadClickConversions"
        );
        let row =
            r#"{"gclid":"g","conversionAction":"customers/1234567890/conversionActions/555"}"#;
        let v: serde_json::Value =
            serde_json::from_slice(&body(false, [row, row].into_iter())).unwrap();
        assert_eq!(v["conversions"].as_array().unwrap().len(), 2);
        assert_eq!(v["partialFailure"], true);
        assert!(v.get("validateOnly").is_none());
        let v: serde_json::Value = serde_json::from_slice(&body(true, [row].into_iter())).unwrap();
        assert_eq!(v["validateOnly"], true);
    }
}
