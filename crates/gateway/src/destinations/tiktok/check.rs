//! Whether TikTok would take an event object, by the strict sandbox's rules
//! (`signalpost_tiktok::validate`): the gateway's ingest check for TikTok pixels.

use signalpost_tiktok::model::EventSource;
use signalpost_tiktok::validate::{Invalid, Reason, Rules, validate_event_payload};

use super::PixelSettings;
use crate::destinations::Refused;

/// The check for a pixel with `settings`.
pub fn check(payload: &str, settings: &PixelSettings, now_secs: i64) -> Result<(), Refused> {
    validate(payload, settings.event_source, now_secs).map_err(|invalid| Refused {
        field: if invalid.path.is_empty() {
            "event".to_owned()
        } else {
            invalid.path.clone()
        },
        text: crate::deliverable::describe(&invalid),
    })
}

/// Validates one stored event object as a strict event of `source`.
///
/// The event-time window is left open: the edge already refuses an `occurred_at` in the future or
/// in milliseconds (with the request's own clock), and "too old" is the delivery engine's call, by
/// its configurable `max_event_age`, at the time it sends: an event fine now may be too old after
/// an outage, and the other way round is impossible.
pub fn validate(payload: &str, source: EventSource, now_secs: i64) -> Result<(), Invalid> {
    let event: serde_json::Value = serde_json::from_str(payload).map_err(|e| Invalid {
        path: String::new(),
        reason: Reason::Other(format!("not valid JSON ({e})")),
    })?;
    let rules = Rules {
        strict: true,
        now: now_secs,
        max_past: i64::MAX,
        max_future: i64::MAX,
    };
    validate_event_payload(&event, source, &rules)
}
