//! The top level of an Events API 2.0 body (`event_source`, `event_source_id`, `data`,
//! `test_event_code`, `partner_name`) and the walk over `data[]`. Unknown top-level keys are ignored,
//! as TikTok's documentation gives no sign they are refused.

use crate::model::{EventSource, MAX_EVENTS_PER_REQUEST};
use serde_json::value::RawValue;

use super::event::validate_event;
use super::{
    Invalid, Path, Reason, Rules, TopLevel, item_value, top_list, top_opt_str, top_str, top_value,
};

/// A valid request, ready for the store. Events borrow their raw bytes from the request body.
#[derive(Debug)]
pub struct Accepted<'a> {
    pub event_source: EventSource,
    pub test_event_code: Option<String>,
    pub events: Vec<AcceptedEvent<'a>>,
}

/// One valid event: the fields the inspection API indexes, and the event exactly as sent.
#[derive(Debug)]
pub struct AcceptedEvent<'a> {
    pub raw: &'a RawValue,
    pub event: String,
    pub event_id: Option<String>,
    pub event_time: i64,
}

/// `event_source` values.
const EVENT_SOURCES: &[&str] = &["web", "app", "offline", "crm"];

/// The pixel (or event set) the request addresses, read before anything else so that permission is
/// checked before the body's content.
pub fn event_source_id(top: &TopLevel<'_>) -> Result<String, Invalid> {
    top_str(top, "event_source_id")
}

/// Validates everything but `event_source_id` (already read) and returns the accepted events.
pub fn validate<'a>(top: &TopLevel<'a>, rules: &Rules) -> Result<Accepted<'a>, Invalid> {
    let root = Path::Root;
    let source_path = root.key("event_source");
    let event_source = match top_value(top, "event_source")? {
        None => return Err(source_path.invalid(Reason::Missing)),
        Some(serde_json::Value::String(s)) => match s.as_str() {
            "web" => EventSource::Web,
            "app" => EventSource::App,
            "offline" => EventSource::Offline,
            "crm" => EventSource::Crm,
            _ => return Err(source_path.invalid(Reason::OneOf(EVENT_SOURCES))),
        },
        Some(_) => return Err(source_path.invalid(Reason::NotString)),
    };
    let test_event_code = top_opt_str(top, "test_event_code")?;
    top_opt_str(top, "partner_name")?;

    let items = top_list(top, "data", MAX_EVENTS_PER_REQUEST)?;
    let data = root.key("data");
    let mut events = Vec::with_capacity(items.len());
    for (i, raw) in items.into_iter().enumerate() {
        let at = data.index(i);
        let value = item_value(raw, &at)?;
        let summary = validate_event(&value, &at, event_source, rules)?;
        events.push(AcceptedEvent {
            raw,
            event: summary.event.to_owned(),
            event_id: summary.event_id.map(str::to_owned),
            event_time: summary.event_time,
        });
    }
    Ok(Accepted {
        event_source,
        test_event_code,
        events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::parse_top;

    const NOW: i64 = 1_687_758_800;

    fn rules() -> Rules {
        Rules {
            strict: true,
            now: NOW,
            max_past: 7 * 86_400,
            max_future: 300,
        }
    }

    fn event(i: usize) -> String {
        format!(
            r#"{{"event":"Purchase","event_time":1687758765,"event_id":"e{i}","page":{{"url":"https://a.example/"}}}}"#
        )
    }

    #[test]
    fn accepts_events_and_keeps_their_raw_bytes() {
        let body = format!(
            r#"{{"event_source":"web","event_source_id":"PIX","test_event_code":"TEST1","unknown":1,"data":[{}, {}]}}"#,
            event(0),
            event(1)
        );
        let top = parse_top(body.as_bytes()).unwrap();
        assert_eq!(event_source_id(&top).unwrap(), "PIX");
        let accepted = validate(&top, &rules()).unwrap();
        assert_eq!(accepted.event_source, EventSource::Web);
        assert_eq!(accepted.test_event_code.as_deref(), Some("TEST1"));
        assert_eq!(accepted.events.len(), 2);
        assert_eq!(accepted.events[1].raw.get(), event(1));
        assert_eq!(accepted.events[1].event_id.as_deref(), Some("e1"));
    }

    #[test]
    fn event_source_id_must_be_a_string() {
        let top = parse_top(br#"{"event_source":"web","event_source_id":123,"data":[]}"#).unwrap();
        assert_eq!(
            event_source_id(&top).unwrap_err().v2_message(),
            "Invalid value for event_source_id: not a valid string."
        );
    }

    #[test]
    fn event_source_must_be_one_of_four() {
        let top =
            parse_top(br#"{"event_source":"email","event_source_id":"P","data":[]}"#).unwrap();
        assert_eq!(
            validate(&top, &rules()).unwrap_err().v2_message(),
            "Invalid value for event_source: must be one of: web, app, offline, crm."
        );
    }

    #[test]
    fn data_holds_one_to_a_thousand_events() {
        let empty =
            parse_top(br#"{"event_source":"web","event_source_id":"P","data":[]}"#).unwrap();
        assert_eq!(
            validate(&empty, &rules()).unwrap_err().v2_message(),
            "Invalid value for data: length must be between 1 and 1000."
        );
        let many = vec![event(0); 1001].join(",");
        let body = format!(r#"{{"event_source":"web","event_source_id":"P","data":[{many}]}}"#);
        let top = parse_top(body.as_bytes()).unwrap();
        assert_eq!(validate(&top, &rules()).unwrap_err().path, "data");
        let enough = vec![event(0); 1000].join(",");
        let body = format!(r#"{{"event_source":"web","event_source_id":"P","data":[{enough}]}}"#);
        let top = parse_top(body.as_bytes()).unwrap();
        assert_eq!(validate(&top, &rules()).unwrap().events.len(), 1000);
    }

    #[test]
    fn the_first_bad_event_is_reported_with_its_index() {
        let bad = r#"{"event":"Purchase","event_time":1687758765,"event_id":7,"page":{"url":"u"}}"#;
        let body = format!(
            r#"{{"event_source":"web","event_source_id":"P","data":[{},{},{bad},{bad}]}}"#,
            event(0),
            event(1)
        );
        let top = parse_top(body.as_bytes()).unwrap();
        assert_eq!(
            validate(&top, &rules()).unwrap_err().path,
            "data.2.event_id"
        );
    }
}
