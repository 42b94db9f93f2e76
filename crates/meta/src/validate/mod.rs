//! Validation of `/{pixel_id}/events` bodies, as strict as Meta documents them
//! (shared/meta-conversions-api.md), and accepting everything Meta's official SDKs send (the
//! Python SDK's form encoding, where `data` is a JSON string whose items are JSON strings; a string
//! or an array for customer information parameters; `lead_id` as a number).
//!
//! Pure functions over a parsed body: no HTTP, no store, no clock (`now` comes in [`Rules`]), so
//! the sandbox (whole requests: [`validate_request`]) and the gateway (one planned event:
//! [`validate_event`]) apply the very same rules. The first problem rejects the whole request, as
//! Meta does, with Meta's error shape (code 100, a subcode where Meta documents one) and the field
//! named Graph-style: `data[3][user_data][fbc]`.

mod custom_data;
mod event;
mod user_data;

use serde_json::{Map, Value};

use crate::error::MetaError;
use crate::model::{ActionSource, MAX_EVENTS_PER_REQUEST};

pub use event::{EventSummary, validate_event};

/// The knobs one request is validated against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Unix seconds at which the request was received.
    pub now: i64,
    /// How old an `event_time` may be, in seconds (Meta: 7 days).
    pub max_past: i64,
    /// How far ahead of `now` an `event_time` may be (clock skew), in seconds.
    pub max_future: i64,
}

impl Rules {
    /// Meta's window: 7 days back, 5 minutes of clock skew ahead.
    pub fn at(now: i64) -> Rules {
        Rules {
            now,
            max_past: 7 * 86_400,
            max_future: 300,
        }
    }
}

/// A valid request.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    pub test_event_code: Option<String>,
    pub events: Vec<AcceptedEvent>,
}

/// One valid event: what inspection indexes, and the event object as received (decoded from its
/// JSON string when the SDK sent it as one).
#[derive(Debug, Clone, PartialEq)]
pub struct AcceptedEvent {
    pub payload: Value,
    pub event_name: String,
    pub event_id: Option<String>,
    pub event_time: i64,
    pub action_source: ActionSource,
}

/// Validates a whole body (its top-level members already decoded; see the module docs for what
/// `data` may look like). Unknown top-level members (`partner_agent`, `namespace_id`,
/// `upload_tag`, `access_token`, …) are left alone, and a top-level `null` reads as absent: the
/// official Node.js SDK sends `"test_event_code": null` when none is set.
pub fn validate_request(body: &Map<String, Value>, rules: &Rules) -> Result<Accepted, MetaError> {
    let test_event_code = match body.get("test_event_code") {
        // The official Node.js SDK sends every unset top-level member as `null`.
        None | Some(Value::Null) => None,
        Some(Value::String(code)) if is_test_event_code(code) => Some(code.clone()),
        Some(_) => {
            return Err(invalid(
                "test_event_code",
                "Invalid Test Event Code",
                "must be the code Events Manager shows under Test events (letters and digits, at most 64)",
                None,
            ));
        }
    };
    let items = data_items(body)?;
    let mut events = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let payload = match item {
            Value::String(text) => serde_json::from_str::<Value>(&text).map_err(|_| {
                invalid(
                    &format!("data[{index}]"),
                    "Invalid Event",
                    "must be a JSON object",
                    None,
                )
            })?,
            other => other,
        };
        let summary = validate_event(&payload, index, rules)?;
        events.push(AcceptedEvent {
            event_name: summary.event_name,
            event_id: summary.event_id,
            event_time: summary.event_time,
            action_source: summary.action_source,
            payload,
        });
    }
    Ok(Accepted {
        test_event_code,
        events,
    })
}

/// `data`: an array of 1–1,000 events, or a string holding one (form encoding).
fn data_items(body: &Map<String, Value>) -> Result<Vec<Value>, MetaError> {
    let items = match body.get("data") {
        None | Some(Value::Null) => {
            return Err(MetaError::invalid(
                "(#100) The parameter data is required",
                None,
                "Missing Parameter",
                "data: the events to send are required",
            ));
        }
        Some(Value::Array(items)) => items.clone(),
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(items)) => items,
            _ => return Err(not_a_list()),
        },
        Some(_) => return Err(not_a_list()),
    };
    if items.is_empty() || items.len() > MAX_EVENTS_PER_REQUEST {
        return Err(invalid(
            "data",
            "Invalid Number Of Events",
            &format!(
                "must hold between 1 and {MAX_EVENTS_PER_REQUEST} events, got {}",
                items.len()
            ),
            None,
        ));
    }
    Ok(items)
}

fn not_a_list() -> MetaError {
    invalid(
        "data",
        "Invalid Parameter",
        "must be a JSON array of events",
        None,
    )
}

/// Letters and digits, 1 to 64 (Events Manager's codes look like `TEST12345`).
fn is_test_event_code(code: &str) -> bool {
    (1..=64).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A code 100 naming `path`: the message is Graph's, the user message says what is wrong.
pub(crate) fn invalid(path: &str, title: &str, what: &str, subcode: Option<i64>) -> MetaError {
    MetaError::invalid(
        format!("(#100) Invalid parameter {path}"),
        subcode,
        title,
        format!("{path} {what}."),
    )
}

/// A required parameter is absent.
pub(crate) fn missing(path: &str) -> MetaError {
    MetaError::invalid(
        format!("(#100) The parameter {path} is required"),
        None,
        "Missing Parameter",
        format!("{path} is required."),
    )
}

/// A string member (`None` when absent; `null` and other types refused).
pub(crate) fn opt_str<'v>(
    obj: &'v Map<String, Value>,
    key: &str,
    path: &dyn Fn() -> String,
) -> Result<Option<&'v str>, MetaError> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(
            &path(),
            "Invalid Parameter",
            "must be a string",
            None,
        )),
    }
}

#[cfg(test)]
mod tests;
