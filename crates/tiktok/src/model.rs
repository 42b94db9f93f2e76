//! Request and response bodies of `POST /open_api/v1.3/event/track/` (shared/tiktok-events-api.md §1,
//! §4). Empty options are skipped when serializing; `event_id` is always a JSON string and
//! `event_time` always integer UTC seconds.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Production endpoint of the Events API 2.0.
pub const TRACK_URL: &str = "https://business-api.tiktok.com/open_api/v1.3/event/track/";
/// Base URL of the production API; the path [`TRACK_PATH`] is appended to it.
pub const DEFAULT_BASE_URL: &str = "https://business-api.tiktok.com";
/// Path of the track endpoint (keep the trailing slash).
pub const TRACK_PATH: &str = "/open_api/v1.3/event/track/";
/// Most events TikTok accepts in one request; above it the whole request is rejected.
pub const MAX_EVENTS_PER_REQUEST: usize = 1000;

/// Where the events come from (`event_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventSource {
    /// `event_source_id` is a pixel code.
    Web,
    /// `event_source_id` is a TikTok App ID.
    App,
    /// `event_source_id` is an Offline Event Set ID.
    Offline,
    /// `event_source_id` is a CRM Event Set ID.
    Crm,
}

impl EventSource {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            EventSource::Web => "web",
            EventSource::App => "app",
            EventSource::Offline => "offline",
            EventSource::Crm => "crm",
        }
    }
}

/// The body of one `event/track` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackRequest {
    pub event_source: EventSource,
    /// Pixel code for `web`.
    pub event_source_id: String,
    /// 1 to [`MAX_EVENTS_PER_REQUEST`] events.
    pub data: Vec<Event>,
    /// Top-level: routes the events to Events Manager's Test Events tab.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_event_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_name: Option<String>,
}

/// One event in `data[]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Event {
    /// Standard or custom event name.
    pub event: String,
    /// Unix time in seconds (UTC) when the event happened.
    pub event_time: i64,
    /// TikTok's dedup key together with `event` and the pixel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<Properties>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<Page>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limited_data_use: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ad: Option<Ad>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead: Option<Lead>,
}

impl Event {
    /// The event as JSON, byte for byte what `serde_json::to_vec` writes, about three times
    /// faster (this runs once per ingested event; see `json.rs`).
    pub fn to_json_vec(&self) -> serde_json::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(768);
        crate::json::write_event(&mut out, self)?;
        Ok(out)
    }
}

/// `data[].user`: hashed identifiers (64 lowercase hex) and raw click/browser signals.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct User {
    /// SHA-256 of the trimmed, lower-cased email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// SHA-256 of the E.164 phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// SHA-256 of the trimmed external id (case kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// TikTok click id, raw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttclid: Option<String>,
    /// `_ttp` cookie value, raw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttp: Option<String>,
    /// Public IP, raw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Browser user agent, raw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

/// `data[].properties`. Keys TikTok documents are typed; any other key is kept in `extra`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Properties {
    /// Order total; `0` is a value, not "missing".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// `product` or `product_group`; only sent when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contents: Option<Vec<Content>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_items: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shop_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_string: Option<String>,
    /// Other properties (TikTok accepts custom keys).
    #[serde(flatten, default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

/// One item of `properties.contents`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Content {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
}

/// `data[].page`: required for web events.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Page {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
}

/// `data[].ad` (web: `callback`, `attribution_share`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Ad {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<String>,
    #[serde(flatten, default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

/// `data[].lead`: required for CRM events.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Lead {
    pub lead_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_event_source: Option<String>,
}

/// TikTok's answer envelope. Business errors arrive as HTTP 200 with a nonzero `code`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackResponse {
    /// `0` means success; anything else is an error explained by `message`.
    pub code: i64,
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// `{}` or `null` on success.
    #[serde(default)]
    pub data: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_without_empty_options_and_with_string_event_id() {
        let req = TrackRequest {
            event_source: EventSource::Web,
            event_source_id: "PIX".into(),
            data: vec![Event {
                event: "Purchase".into(),
                event_time: 1_687_758_765,
                event_id: Some("12345".into()),
                properties: Some(Properties {
                    value: Some(0.0),
                    currency: Some("USD".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            test_event_code: None,
            partner_name: None,
        };
        let json = serde_json::to_string(&req).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"event_source":"web","event_source_id":"PIX","data":[{"event":"Purchase","event_time":1687758765,"event_id":"12345","properties":{"value":0.0,"currency":"USD"}}]}"#
        );
    }

    #[test]
    fn accepts_null_and_empty_data_in_responses() {
        for body in [
            r#"{"code":0,"message":"OK","request_id":"202303141300390EF6F5D96D1798201C51","data":{}}"#,
            r#"{"code":0,"data":null,"message":"OK","request_id":"x"}"#,
        ] {
            let r: TrackResponse = serde_json::from_str(body).expect("valid envelope");
            assert_eq!(r.code, 0);
        }
    }
}
