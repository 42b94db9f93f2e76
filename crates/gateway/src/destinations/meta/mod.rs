//! Meta Conversions API: `POST /{version}/{pixel_id}/events` with the token in the body; web events
//! (`action_source: website`) or Conversion Leads (`system_generated`: a Meta Instant Form lead's
//! stages, by its `lead_id`).

pub mod answer;
pub mod check;
pub mod payload;
pub mod request;

use signalpost_meta::ActionSource;

/// Default `custom_data.lead_event_source` of Conversion Leads events: the CRM the stages come
/// from.
pub const DEFAULT_LEAD_EVENT_SOURCE: &str = "signalpost";

/// A Meta pixel's (dataset's) settings beyond its id and token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PixelSettings {
    /// Graph API version of the endpoint, e.g. `v25.0`.
    pub api_version: String,
    /// Where the pixel's conversions happen unless a rule says otherwise (default `website`).
    pub action_source: ActionSource,
    /// `custom_data.lead_event_source` of Conversion Leads events.
    pub lead_event_source: String,
}

impl Default for PixelSettings {
    fn default() -> Self {
        Self {
            api_version: signalpost_meta::DEFAULT_API_VERSION.to_owned(),
            action_source: ActionSource::Website,
            lead_event_source: DEFAULT_LEAD_EVENT_SOURCE.to_owned(),
        }
    }
}

/// Whether `version` looks like a Graph API version (`v25.0`).
pub fn is_api_version(version: &str) -> bool {
    let Some(rest) = version.strip_prefix('v') else {
        return false;
    };
    let mut parts = rest.split('.');
    let numeric = |p: Option<&str>| {
        p.is_some_and(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
    };
    numeric(parts.next()) && numeric(parts.next()) && parts.next().is_none()
}
