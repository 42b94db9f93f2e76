//! Serde types for Meta's `POST /{version}/{pixel_id}/events` body and its two answers. The payload
//! builder fills these; the validator does not use them (it walks the JSON, so that it can name
//! the exact field at fault and accept what Meta accepts, such as a single string where Meta also
//! takes an array).
//!
//! Serialization follows what Meta's official SDKs send: customer information parameters as arrays
//! (`"em": ["…"]`), absent fields left out (never `null`), `lead_id` as a JSON number.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// The Graph API version signalpost sends to unless a pixel says otherwise. Each version lives about
/// two years; v24.0 sunsets on 2026-10-06 (shared/meta-conversions-api.md).
pub const DEFAULT_API_VERSION: &str = "v25.0";

/// Meta takes 1 to 1,000 events per request; more fails the whole request.
pub const MAX_EVENTS_PER_REQUEST: usize = 1000;

/// Where the Graph API lives; a pixel's `base_url` (the sandbox, a proxy) replaces it.
pub const GRAPH_BASE_URL: &str = "https://graph.facebook.com";

/// The path of a pixel's events edge, `/{version}/{pixel_id}/events` (e.g. `/v25.0/123/events`).
/// The token goes beside it as `access_token` (query string or body), never in a log line.
pub fn events_path(version: &str, pixel_id: &str) -> String {
    format!("/{version}/{pixel_id}/events")
}

/// The body of `POST /{version}/{pixel_id}/events`. The access token travels beside it (query
/// string or an `access_token` member), never in this type, so it cannot end up in a log of bodies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventsRequest {
    pub data: Vec<ServerEvent>,
    /// Routes the events to Events Manager's "Test events" tab instead of live data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_event_code: Option<String>,
    /// Which platform sent the events (Meta's `partner_agent`), e.g. `signalpost`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_agent: Option<String>,
}

/// One server event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerEvent {
    /// A standard event (`Purchase`, `Lead`, …), a custom name, or for Conversion Leads the stage.
    pub event_name: String,
    /// Unix seconds of when the event happened (not when it is sent); at most 7 days old.
    pub event_time: i64,
    /// With `event_name`, Meta's dedup key against the browser pixel (48 hours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    pub action_source: ActionSource,
    /// Required for `website` events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_source_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer_url: Option<String>,
    /// `true`: the event must not be used for ads delivery optimization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opt_out: Option<bool>,
    pub user_data: UserData,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// Limited Data Use: `[]` or `["LDU"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_processing_options: Option<Vec<String>>,
    /// With `["LDU"]`: `0` (let Meta geolocate) or `1` (United States).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_processing_options_country: Option<i64>,
    /// With `["LDU"]`: `0` (let Meta geolocate) or `1000` (California).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_processing_options_state: Option<i64>,
}

/// Where the conversion happened (SDK `serverside/action_source.py`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionSource {
    Email,
    Website,
    App,
    PhoneCall,
    Chat,
    PhysicalStore,
    /// Conversion Leads: stages reported from a CRM.
    SystemGenerated,
    BusinessMessaging,
    Other,
}

impl ActionSource {
    /// Every value, in Meta's order.
    pub const ALL: [ActionSource; 9] = [
        ActionSource::Email,
        ActionSource::Website,
        ActionSource::App,
        ActionSource::PhoneCall,
        ActionSource::Chat,
        ActionSource::PhysicalStore,
        ActionSource::SystemGenerated,
        ActionSource::BusinessMessaging,
        ActionSource::Other,
    ];

    /// The wire value (`website`, `system_generated`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ActionSource::Email => "email",
            ActionSource::Website => "website",
            ActionSource::App => "app",
            ActionSource::PhoneCall => "phone_call",
            ActionSource::Chat => "chat",
            ActionSource::PhysicalStore => "physical_store",
            ActionSource::SystemGenerated => "system_generated",
            ActionSource::BusinessMessaging => "business_messaging",
            ActionSource::Other => "other",
        }
    }

    /// Reads a wire value, exactly (Meta's values are lower case).
    pub fn parse(value: &str) -> Option<ActionSource> {
        ActionSource::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

/// Customer information parameters. Hashed keys (`em`, `ph`, `fn`, …) hold SHA-256 hex of the
/// normalized value; `client_ip_address`, `client_user_agent`, `fbc`, `fbp`, `lead_id` are raw.
/// Meta accepts a string or an array for the hashed keys and `external_id`; these types read both
/// and always write arrays, as the official SDKs do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserData {
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub em: Vec<String>,
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ph: Vec<String>,
    #[serde(
        rename = "fn",
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub first_name: Vec<String>,
    #[serde(
        rename = "ln",
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub last_name: Vec<String>,
    /// Date of birth, `YYYYMMDD`, hashed.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub db: Vec<String>,
    /// Gender, `f` or `m`, hashed.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ge: Vec<String>,
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ct: Vec<String>,
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub st: Vec<String>,
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub zp: Vec<String>,
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub country: Vec<String>,
    /// Hashing recommended, not required (the official SDKs send it as given).
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub external_id: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_user_agent: Option<String>,
    /// Click id cookie, `fb.<subdomain index>.<creation ms>.<fbclid>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fbc: Option<String>,
    /// Browser id cookie `_fbp`, `fb.<subdomain index>.<creation ms>.<random>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fbp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fb_login_id: Option<u64>,
    /// Meta's Lead Ads lead id (15–17 digits), for Conversion Leads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_id: Option<u64>,
}

/// Event details. Unknown keys are kept in `custom_properties` (Meta takes custom ones).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// ISO 4217 code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// `product` or `product_group`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contents: Vec<Content>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_items: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_ltv: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Conversion Leads: `"crm"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_source: Option<String>,
    /// Conversion Leads: the CRM's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_event_source: Option<String>,
    #[serde(flatten)]
    pub custom_properties: Map<String, Value>,
}

/// One item of `custom_data.contents`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Content {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_price: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// `in_store`, `curbside` or `home_delivery`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_category: Option<String>,
}

/// HTTP 200: `{"events_received": N, "messages": [], "fbtrace_id": "…"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventsResponse {
    pub events_received: u64,
    #[serde(default)]
    pub messages: Vec<Value>,
    #[serde(default)]
    pub fbtrace_id: String,
}

/// Any Graph API failure: `{"error": {…}}` with a 4xx or 5xx status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorAnswer {
    pub error: ErrorDetail,
}

/// The members of a Graph API error (Graph API error-handling guide).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub message: String,
    /// `OAuthException`, `GraphMethodException`, …
    #[serde(rename = "type")]
    pub kind: String,
    pub code: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_subcode: Option<i64>,
    #[serde(default)]
    pub is_transient: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_user_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_user_msg: Option<String>,
    #[serde(default)]
    pub fbtrace_id: String,
}

/// Reads a string or an array of strings into a list.
fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(value) => vec![value],
        OneOrMany::Many(values) => values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_events_path_names_version_and_pixel() {
        assert_eq!(events_path(DEFAULT_API_VERSION, "123"), "/v25.0/123/events");
    }

    #[test]
    fn action_sources_are_snake_case_on_the_wire() {
        for source in ActionSource::ALL {
            let wire = serde_json::to_value(source).unwrap();
            assert_eq!(wire, json!(source.as_str()));
            assert_eq!(ActionSource::parse(source.as_str()), Some(source));
        }
        assert_eq!(ActionSource::parse("Website"), None);
        assert_eq!(ActionSource::PhoneCall.as_str(), "phone_call");
    }

    #[test]
    fn user_data_reads_one_or_many_and_writes_arrays() {
        let user: UserData = serde_json::from_value(json!({
            "em": "a".repeat(64), "ph": ["b".repeat(64)], "fn": "c", "lead_id": 525645896321548u64
        }))
        .unwrap();
        assert_eq!(user.em, vec!["a".repeat(64)]);
        assert_eq!(user.first_name, vec!["c".to_owned()]);
        let back = serde_json::to_value(&user).unwrap();
        assert_eq!(back["em"], json!(["a".repeat(64)]));
        assert_eq!(back["fn"], json!(["c"]));
        assert_eq!(back["lead_id"], json!(525645896321548u64));
        assert!(back.get("external_id").is_none(), "{back}");
    }

    #[test]
    fn a_minimal_event_serializes_without_nulls() {
        let event = ServerEvent {
            event_name: "Lead".into(),
            event_time: 1_700_000_000,
            event_id: Some("t-1".into()),
            action_source: ActionSource::Website,
            event_source_url: Some("https://a.example/".into()),
            referrer_url: None,
            opt_out: None,
            user_data: UserData {
                client_user_agent: Some("ua".into()),
                ..UserData::default()
            },
            custom_data: Some(CustomData {
                value: Some(0.0),
                currency: Some("USD".into()),
                ..CustomData::default()
            }),
            data_processing_options: None,
            data_processing_options_country: None,
            data_processing_options_state: None,
        };
        let body = EventsRequest {
            data: vec![event],
            test_event_code: None,
            partner_agent: None,
        };
        let text = serde_json::to_string(&body).unwrap();
        assert!(!text.contains("null"), "{text}");
        assert!(text.contains(r#""value":0.0"#), "{text}");
        assert!(text.contains(r#""action_source":"website""#), "{text}");
        let back: EventsRequest = serde_json::from_str(&text).unwrap();
        assert_eq!(back, body);
    }

    #[test]
    fn answers_round_trip() {
        let ok: EventsResponse =
            serde_json::from_str(r#"{"events_received":2,"messages":[],"fbtrace_id":"Ab"}"#)
                .unwrap();
        assert_eq!(ok.events_received, 2);
        let err: ErrorAnswer = serde_json::from_str(
            r#"{"error":{"message":"Invalid parameter","type":"OAuthException","code":100,"error_subcode":2804003,"is_transient":false,"error_user_title":"t","error_user_msg":"m","fbtrace_id":"X"}}"#,
        )
        .unwrap();
        assert_eq!(err.error.code, 100);
        assert_eq!(err.error.error_subcode, Some(2804003));
        assert_eq!(err.error.kind, "OAuthException");
    }
}
