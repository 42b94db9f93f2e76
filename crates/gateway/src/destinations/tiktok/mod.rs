//! TikTok Events API 2.0: `POST /open_api/v1.3/event/track/` with the `Access-Token` header; a web
//! pixel (`event_source: web`) or a CRM event set (`event_source: crm`, leads reported by stage).

pub mod answer;
pub mod check;
pub mod payload;
pub mod request;

use signalpost_tiktok::model::EventSource;

/// Default `lead.lead_event_source` of CRM events: the system the stages come from.
pub const DEFAULT_LEAD_EVENT_SOURCE: &str = "signalpost";

/// A TikTok pixel's settings beyond its code and token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PixelSettings {
    /// `web` (a pixel code) or `crm` (a CRM event set id: events carry `lead.lead_id`).
    pub event_source: EventSource,
    /// `lead.lead_event_source` of CRM events.
    pub lead_event_source: String,
}

impl Default for PixelSettings {
    fn default() -> Self {
        Self {
            event_source: EventSource::Web,
            lead_event_source: DEFAULT_LEAD_EVENT_SOURCE.to_owned(),
        }
    }
}
