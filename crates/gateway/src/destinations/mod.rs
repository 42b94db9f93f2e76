//! Where a pixel's conversions go. The rules plan a destination-neutral conversion
//! ([`crate::rules::plan`]); each destination, one folder here, knows the rest:
//! - `payload.rs`: the event object it wants for one conversion (built once at ingest, stored);
//! - `request.rs`: the endpoint URL, where the token goes, the request body around stored events,
//!   and the batch limit;
//! - `answer.rs`: how its answers read (outcomes for the delivery engine, the event an invalid
//!   batch names, its trace id).
//!
//! Adding a destination (Google Ads, Snap, Reddit) is one more folder and one more variant of
//! [`Destination`]; the delivery engine, the stores and the rules do not change.

pub mod credentials;
pub mod google_ads;
pub mod meta;
pub mod stored;
pub mod tiktok;

pub use stored::{DestinationPatch, DestinationSpec};

use signalpost_destination::http::{EndpointError, ReadAnswer};
use signalpost_tiktok::model::EventSource;

use crate::rules::payload::PlannedEvent;

/// A pixel's destination and that destination's pixel-level settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// TikTok Events API 2.0 (web pixel or CRM event set).
    TikTok(tiktok::PixelSettings),
    /// Meta Conversions API (web events, or Conversion Leads).
    Meta(meta::PixelSettings),
    /// Google Ads click conversions (offline conversion import, enhanced conversions for leads).
    GoogleAds(google_ads::PixelSettings),
}

impl Default for Destination {
    fn default() -> Self {
        Destination::TikTok(tiktok::PixelSettings::default())
    }
}

/// The destination names of the config (`[[pixels]] destination`), the API and the metrics.
pub const NAMES: &[&str] = &["tiktok", "meta", "google_ads"];

impl Destination {
    /// `tiktok`, `meta` or `google_ads`.
    pub fn name(&self) -> &'static str {
        match self {
            Destination::TikTok(_) => "tiktok",
            Destination::Meta(_) => "meta",
            Destination::GoogleAds(_) => "google_ads",
        }
    }

    /// The event object for one planned conversion, serialized: what is stored with the
    /// conversion and copied into request bodies.
    pub fn event_json(&self, planned: &PlannedEvent<'_>) -> Result<String, serde_json::Error> {
        match self {
            Destination::TikTok(settings) => tiktok::payload::event_json(planned, settings),
            Destination::Meta(settings) => meta::payload::event_json(planned, settings),
            Destination::GoogleAds(settings) => google_ads::payload::event_json(planned, settings),
        }
    }

    /// Whether the destination would take a stored event object, by the strict sandbox's own
    /// rules (the event-time window excepted: that is delivery's call).
    pub fn check_event(&self, payload: &str, now_secs: i64) -> Result<(), Refused> {
        match self {
            Destination::TikTok(settings) => tiktok::check::check(payload, settings, now_secs),
            Destination::Meta(_) => meta::check::check(payload, now_secs),
            Destination::GoogleAds(settings) => google_ads::check::check(payload, settings),
        }
    }

    /// A stored event object with the page named by `site_url` where it names none (TikTok's
    /// `page.url`, Meta's `event_source_url` of a web event); `None` when it names one or needs
    /// none (a CRM event). The replay of undeliverable conversions repairs payloads with it.
    pub fn fill_page_url(&self, payload: &str, site_url: &str) -> Option<String> {
        match self {
            Destination::TikTok(settings) if settings.event_source == EventSource::Crm => None,
            Destination::TikTok(_) => tiktok::payload::fill_page_url(payload, site_url),
            Destination::Meta(_) => meta::payload::fill_event_source_url(payload, site_url),
            // A click conversion names no page.
            Destination::GoogleAds(_) => None,
        }
    }

    /// Whether a retryable answer (its HTTP status and the destination's code) says the pixel sends
    /// too much, rather than that the destination failed: the delivery window treats the two
    /// differently (see `delivery::window`).
    pub fn is_throttle(&self, http_status: Option<u16>, code: Option<i64>) -> bool {
        match self {
            Destination::TikTok(_) => tiktok::answer::is_throttle(http_status, code),
            Destination::Meta(_) => meta::answer::is_throttle(http_status, code),
            Destination::GoogleAds(_) => google_ads::answer::is_throttle(http_status, code),
        }
    }

    /// The destination's name in messages: `TikTok`, `Meta`, `Google Ads`.
    pub fn label(&self) -> &'static str {
        match self {
            Destination::TikTok(_) => "TikTok",
            Destination::Meta(_) => "Meta",
            Destination::GoogleAds(_) => "Google Ads",
        }
    }

    /// The destination's production API, used when a pixel sets no `base_url`.
    pub fn default_base_url(&self) -> &'static str {
        match self {
            Destination::TikTok(_) => tiktok::request::DEFAULT_BASE_URL,
            Destination::Meta(_) => meta::request::DEFAULT_BASE_URL,
            Destination::GoogleAds(_) => google_ads::request::DEFAULT_BASE_URL,
        }
    }

    /// Most events one request may carry.
    pub fn max_events(&self) -> usize {
        match self {
            Destination::TikTok(_) => tiktok::request::MAX_EVENTS,
            Destination::Meta(_) => meta::request::MAX_EVENTS,
            Destination::GoogleAds(_) => google_ads::request::MAX_EVENTS,
        }
    }

    /// The URL a pixel's requests are posted to.
    pub fn endpoint_url(&self, base_url: &str, pixel: &str) -> Result<String, EndpointError> {
        match self {
            Destination::TikTok(_) => tiktok::request::endpoint_url(base_url),
            Destination::Meta(settings) => meta::request::endpoint_url(base_url, settings, pixel),
            Destination::GoogleAds(settings) => {
                google_ads::request::endpoint_url(base_url, settings)
            }
        }
    }

    /// The request body around stored event objects (copied verbatim). `token` is put in the
    /// body by destinations that take it there (the body is then as secret as the token); `None`
    /// leaves it out, for showing the body to an operator.
    pub fn request_body<'a>(
        &self,
        pixel: &str,
        token: Option<&str>,
        test_event_code: Option<&str>,
        payloads: impl Iterator<Item = &'a str> + Clone,
    ) -> Vec<u8> {
        match self {
            Destination::TikTok(settings) => {
                tiktok::request::body(settings, pixel, test_event_code, payloads)
            }
            Destination::Meta(_) => meta::request::body(token, test_event_code, payloads),
            Destination::GoogleAds(_) => {
                google_ads::request::body(test_event_code.is_some(), payloads)
            }
        }
    }

    /// How the destination's answers read.
    pub fn read_answer(&self) -> ReadAnswer {
        match self {
            Destination::TikTok(_) => tiktok::answer::READ,
            Destination::Meta(_) => meta::answer::READ,
            Destination::GoogleAds(_) => google_ads::answer::READ,
        }
    }

    /// The index of the event an invalid-content answer names, when it names one (the engine then
    /// sets that event aside instead of bisecting).
    pub fn rejected_index(&self, message: &str) -> Option<usize> {
        match self {
            Destination::TikTok(_) => tiktok::answer::rejected_index(message),
            Destination::Meta(_) => meta::answer::rejected_index(message),
            // Google names refused rows in a 200's partial failure (row verdicts), not here.
            Destination::GoogleAds(_) => None,
        }
    }
}

/// Why a destination would refuse an event: its field, and one line saying what is wrong and what to
/// do, field first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub field: String,
    pub text: String,
}

/// Appends `s` as a JSON string.
pub(crate) fn push_json_string(out: &mut Vec<u8>, s: &str) {
    // Serializing a &str cannot fail; fall back to an empty string rather than panic.
    match serde_json::to_vec(s) {
        Ok(quoted) => out.extend_from_slice(&quoted),
        Err(_) => out.extend_from_slice(b"\"\""),
    }
}

/// Appends `payloads` comma-separated (the inside of a JSON array).
pub(crate) fn push_events<'a>(out: &mut Vec<u8>, payloads: impl Iterator<Item = &'a str>) {
    for (i, payload) in payloads.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(payload.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    const SITE: &str = "https://s.example/";

    fn filled(destination: &Destination, payload: &str) -> Option<Value> {
        destination
            .fill_page_url(payload, SITE)
            .map(|p| serde_json::from_str(&p).unwrap())
    }

    #[test]
    fn a_tiktok_web_event_gets_page_url_only_when_it_has_none() {
        let web = Destination::default();
        let got = filled(&web, r#"{"event":"Lead","event_time":1}"#).unwrap();
        assert_eq!(got["page"], json!({"url": SITE}));
        assert_eq!(got["event"], "Lead");
        let got = filled(
            &web,
            r#"{"event":"Lead","page":{"referrer":"https://r.example/"}}"#,
        );
        assert_eq!(
            got.unwrap()["page"],
            json!({"url": SITE, "referrer": "https://r.example/"}),
            "the referrer is kept"
        );
        let kept = r#"{"page":{"url":"https://a.example/"}}"#;
        assert_eq!(filled(&web, kept), None, "an existing page.url is kept");
        assert_eq!(filled(&web, "[1]"), None);
    }

    #[test]
    fn rate_limits_are_told_from_failures_per_destination() {
        let tiktok = Destination::default();
        let meta = Destination::Meta(meta::PixelSettings::default());
        assert!(tiktok.is_throttle(Some(200), Some(40100)));
        assert!(tiktok.is_throttle(Some(429), None));
        assert!(!tiktok.is_throttle(Some(200), Some(50002)));
        assert!(!tiktok.is_throttle(Some(502), None));
        for code in [4, 17, 32, 613, 80_003] {
            assert!(meta.is_throttle(Some(400), Some(code)), "{code}");
        }
        assert!(
            !meta.is_throttle(Some(500), Some(2)),
            "a transient error is a failure"
        );
        assert!(!meta.is_throttle(Some(503), None));
    }

    #[test]
    fn a_tiktok_crm_event_needs_no_page() {
        let crm = Destination::TikTok(tiktok::PixelSettings {
            event_source: EventSource::Crm,
            ..Default::default()
        });
        assert_eq!(filled(&crm, r#"{"event":"Lead","event_time":1}"#), None);
    }

    #[test]
    fn a_meta_web_event_gets_event_source_url_and_never_a_tiktok_page() {
        let meta = Destination::Meta(meta::PixelSettings::default());
        let web = r#"{"event_name":"Lead","action_source":"website","user_data":{}}"#;
        let got = filled(&meta, web).unwrap();
        assert_eq!(got["event_source_url"], SITE);
        assert!(got.get("page").is_none(), "{got}");
        let kept = r#"{"event_name":"Lead","action_source":"website","event_source_url":"https://a.example/"}"#;
        assert_eq!(filled(&meta, kept), None, "an existing URL is kept");
        let crm = r#"{"event_name":"Lead","action_source":"system_generated"}"#;
        assert_eq!(filled(&meta, crm), None, "a CRM stage names no page");
    }
}
