//! The legacy Events API 1.0 bodies: `pixel/track` (one event at the top level) and `pixel/batch`
//! (`batch[]`). Same rules as 2.0 where the fields overlap; the 1.0 shapes differ: ISO-8601
//! `timestamp` instead of `event_time`, `context.user.phone_number`, `context.ad.callback` for the
//! click id, `context.ip` / `context.user_agent`, plain strings (no lists) for hashed identifiers.

use crate::model::{EventSource, MAX_EVENTS_PER_REQUEST};
use chrono::{DateTime, NaiveDateTime};
use serde_json::value::RawValue;

use super::event::{check_event_name, check_event_time};
use super::properties::{Api, validate_properties};
use super::track::{Accepted, AcceptedEvent};
use super::user::{hashed, ip_field, user_agent_field};
use super::{
    Invalid, Object, Path, Rules, TopLevel, as_object, item_value, opt_object, opt_one_of, opt_str,
    req_str, top_list, top_opt_str, top_str,
};

/// The pixel a legacy request addresses (`pixel_code`), read first so permission comes before content.
pub fn pixel_code(top: &TopLevel<'_>) -> Result<String, Invalid> {
    top_str(top, "pixel_code")
}

/// Validates a `pixel/track` body; `raw` is the whole body, which is the event.
pub fn validate_track<'a>(raw: &'a RawValue, rules: &Rules) -> Result<Accepted<'a>, Invalid> {
    let root = Path::Root;
    let value = item_value(raw, &root)?;
    let obj = as_object(&value, &root)?;
    let test_event_code = opt_str(obj, "test_event_code", &root)?.map(str::to_owned);
    opt_str(obj, "partner_name", &root)?;
    let event = legacy_event(obj, &root, rules, false)?;
    Ok(Accepted {
        event_source: EventSource::Web,
        test_event_code,
        events: vec![event.with_raw(raw)],
    })
}

/// Validates a `pixel/batch` body.
pub fn validate_batch<'a>(top: &TopLevel<'a>, rules: &Rules) -> Result<Accepted<'a>, Invalid> {
    let test_event_code = top_opt_str(top, "test_event_code")?;
    top_opt_str(top, "partner_name")?;
    // TikTok's 1.0 batch limit is not documented where we looked; the 2.0 limit is the safe bound.
    let items = top_list(top, "batch", MAX_EVENTS_PER_REQUEST)?;
    let root = Path::Root;
    let batch = root.key("batch");
    let mut events = Vec::with_capacity(items.len());
    for (i, raw) in items.into_iter().enumerate() {
        let at = batch.index(i);
        let value = item_value(raw, &at)?;
        let obj = as_object(&value, &at)?;
        events.push(legacy_event(obj, &at, rules, true)?.with_raw(raw));
    }
    Ok(Accepted {
        event_source: EventSource::Web,
        test_event_code,
        events,
    })
}

/// The indexed fields of a valid legacy event.
struct LegacySummary {
    event: String,
    event_id: Option<String>,
    event_time: i64,
}

impl LegacySummary {
    fn with_raw(self, raw: &RawValue) -> AcceptedEvent<'_> {
        AcceptedEvent {
            raw,
            event: self.event,
            event_id: self.event_id,
            event_time: self.event_time,
        }
    }
}

fn legacy_event(
    obj: &Object,
    path: &Path,
    rules: &Rules,
    in_batch: bool,
) -> Result<LegacySummary, Invalid> {
    if in_batch {
        // "Currently only accepting value track" (TikTok SDK docs).
        opt_one_of(obj, "type", path, &["track"])?;
    }
    let event = req_str(obj, "event", path)?;
    check_event_name(event, EventSource::Web, rules, &path.key("event"))?;
    let event_id = opt_str(obj, "event_id", path)?;
    // Without a timestamp TikTok uses the time it receives the event.
    let event_time = match opt_str(obj, "timestamp", path)? {
        Some(stamp) => {
            let at = path.key("timestamp");
            let time = parse_iso8601(stamp).ok_or_else(|| {
                at.other(format!(
                    "{stamp:?} is not an ISO 8601 timestamp (e.g. 2024-05-01T12:00:00Z)"
                ))
            })?;
            check_event_time(time, rules, &at)?;
            time
        }
        None => rules.now,
    };
    if let Some(context) = opt_object(obj, "context", path)? {
        validate_context(context, &path.key("context"), rules)?;
    }
    if let Some(props) = opt_object(obj, "properties", path)? {
        validate_properties(props, &path.key("properties"), Api::V1)?;
    }
    Ok(LegacySummary {
        event: event.to_owned(),
        event_id: event_id.map(str::to_owned),
        event_time,
    })
}

/// `context`: ad click id, page, hashed user identifiers, raw ip and user agent.
fn validate_context(context: &Object, path: &Path, rules: &Rules) -> Result<(), Invalid> {
    if let Some(ad) = opt_object(context, "ad", path)? {
        opt_str(ad, "callback", &path.key("ad"))?;
    }
    if let Some(page) = opt_object(context, "page", path)? {
        let here = path.key("page");
        opt_str(page, "url", &here)?;
        opt_str(page, "referrer", &here)?;
    }
    if let Some(user) = opt_object(context, "user", path)? {
        let here = path.key("user");
        for key in ["external_id", "phone_number", "email"] {
            if let Some(value) = opt_str(user, key, &here)? {
                hashed(value, &here.key(key), rules)?;
            }
        }
        opt_str(user, "ttp", &here)?;
    }
    ip_field(context, "ip", path)?;
    user_agent_field(context, "user_agent", path)?;
    opt_str(context, "locale", path)?;
    Ok(())
}

/// ISO 8601 date-times as clients send them: RFC 3339 with an offset (`Z`, `+02:00`), or without one
/// (read as UTC), with optional fractional seconds. Returns Unix seconds.
fn parse_iso8601(stamp: &str) -> Option<i64> {
    if let Ok(at) = DateTime::parse_from_rfc3339(stamp) {
        return Some(at.timestamp());
    }
    NaiveDateTime::parse_from_str(stamp, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|naive| naive.and_utc().timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::parse_top;

    const NOW: i64 = 1_714_564_800; // 2024-05-01T12:00:00Z
    const HASH: &str = "80fba0ae1c48e3978e43e4efc365e14e12ea0c830ba8ba5b9a2dafc7e3f2ab8b";

    fn rules() -> Rules {
        Rules {
            strict: true,
            now: NOW,
            max_past: 7 * 86_400,
            max_future: 300,
        }
    }

    fn track(body: &str) -> Result<(String, Option<String>, i64), Invalid> {
        let raw: &RawValue = serde_json::from_str(body).unwrap();
        let accepted = validate_track(raw, &rules())?;
        let event = &accepted.events[0];
        Ok((
            event.event.clone(),
            event.event_id.clone(),
            event.event_time,
        ))
    }

    #[test]
    fn parses_iso8601_with_and_without_offsets() {
        assert_eq!(parse_iso8601("2024-05-01T12:00:00Z"), Some(NOW));
        assert_eq!(parse_iso8601("2024-05-01T14:00:00+02:00"), Some(NOW));
        assert_eq!(parse_iso8601("2024-05-01T12:00:00.250"), Some(NOW));
        assert_eq!(parse_iso8601("1714564800000"), None);
        assert_eq!(parse_iso8601(""), None);
    }

    #[test]
    fn accepts_a_legacy_track_event() {
        let body = format!(
            r#"{{"pixel_code":"P","event":"CompletePayment","event_id":"x1","timestamp":"2024-05-01T11:59:00Z",
               "context":{{"ad":{{"callback":"E.C.P.abc"}},"page":{{"url":"https://a.example"}},
                 "user":{{"external_id":"{HASH}","email":"{HASH}","phone_number":"{HASH}","ttp":"t"}},
                 "ip":"203.0.113.9","user_agent":"Mozilla/5.0"}},
               "properties":{{"contents":[{{"content_id":"1","content_type":"product","price":1.5,"quantity":1}}],
                 "currency":"EUR","value":1.5,"query":"q"}}}}"#
        );
        assert_eq!(
            track(&body).unwrap(),
            (
                "CompletePayment".to_owned(),
                Some("x1".to_owned()),
                NOW - 60
            )
        );
        assert_eq!(
            track(r#"{"pixel_code":"P","event":"ViewContent"}"#)
                .unwrap()
                .2,
            NOW
        );
    }

    #[test]
    fn legacy_errors_use_the_capitalized_path_style() {
        let err = track(
            r#"{"pixel_code":"P","event":"ViewContent","context":{"user":{"email":"a@b.c"}}}"#,
        )
        .unwrap_err();
        assert_eq!(err.path, "context.user.email");
        assert!(
            err.v1_message()
                .starts_with("Context.user.email: Must be a SHA-256"),
            "{}",
            err.v1_message()
        );
        let err = track(r#"{"pixel_code":"P","event":"ViewContent","timestamp":"1714564800000"}"#)
            .unwrap_err();
        assert_eq!(err.path, "timestamp");
        let err = track(r#"{"pixel_code":"P","event":"ViewContent","timestamp":1714564800}"#)
            .unwrap_err();
        assert_eq!(err.v1_message(), "Timestamp: Not a valid string");
    }

    #[test]
    fn batch_items_are_validated_with_their_index() {
        let body = r#"{"pixel_code":"P","batch":[
            {"type":"track","event":"ViewContent","event_id":"a"},
            {"type":"track","event":"ViewContent","properties":{"contents":[{"content_id":1}]}}]}"#;
        let top = parse_top(body.as_bytes()).unwrap();
        assert_eq!(pixel_code(&top).unwrap(), "P");
        let err = validate_batch(&top, &rules()).unwrap_err();
        assert_eq!(
            err.v1_message(),
            "Batch.1.properties.contents.0.content_id: Not a valid string"
        );
        let body = r#"{"pixel_code":"P","batch":[{"type":"identify","event":"ViewContent"}]}"#;
        let top = parse_top(body.as_bytes()).unwrap();
        assert_eq!(
            validate_batch(&top, &rules()).unwrap_err().path,
            "batch.0.type"
        );
    }

    #[test]
    fn accepts_a_batch_and_keeps_each_item_raw() {
        let body = r#"{"pixel_code":"P","test_event_code":"TEST9","batch":[{"type":"track","event":"ViewContent","event_id":"a"},{"event":"Search"}]}"#;
        let top = parse_top(body.as_bytes()).unwrap();
        let accepted = validate_batch(&top, &rules()).unwrap();
        assert_eq!(accepted.test_event_code.as_deref(), Some("TEST9"));
        assert_eq!(accepted.events.len(), 2);
        assert_eq!(accepted.events[1].raw.get(), r#"{"event":"Search"}"#);
    }
}
