//! One event: the required members, the action source and what it requires, the time window, and
//! the Conversion Leads rules. `user_data` and `custom_data` have their own modules.

use serde_json::{Map, Value};

use super::custom_data::validate_custom_data;
use super::user_data::validate_user_data;
use super::{Rules, invalid, missing, opt_str};
use crate::error::{MetaError, subcode};
use crate::model::ActionSource;

/// What the sandbox indexes of a valid event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSummary {
    pub event_name: String,
    pub event_id: Option<String>,
    pub event_time: i64,
    pub action_source: ActionSource,
}

/// An event time this large is in milliseconds (year 5138 in seconds).
const MILLIS_THRESHOLD: i64 = 100_000_000_000;

/// Validates event `index` of a request (or a single planned event, `index` 0).
pub fn validate_event(
    event: &Value,
    index: usize,
    rules: &Rules,
) -> Result<EventSummary, MetaError> {
    let at = |key: &str| format!("data[{index}][{key}]");
    let Value::Object(obj) = event else {
        return Err(invalid(
            &format!("data[{index}]"),
            "Invalid Event",
            "must be a JSON object",
            None,
        ));
    };
    let event_name = match obj.get("event_name") {
        None => return Err(missing(&at("event_name"))),
        Some(Value::String(name)) if !name.trim().is_empty() => name.clone(),
        Some(_) => {
            return Err(invalid(
                &at("event_name"),
                "Invalid Event Name",
                "must be non-empty UTF-8 encoded string",
                None,
            ));
        }
    };
    let event_time = event_time(obj, &at("event_time"), rules)?;
    let action_source = match obj.get("action_source") {
        None => return Err(missing(&at("action_source"))),
        Some(Value::String(s)) => ActionSource::parse(s).ok_or_else(|| {
            invalid(
                &at("action_source"),
                "Invalid Action Source",
                "must be one of: email, website, app, phone_call, chat, physical_store, system_generated, business_messaging, other",
                None,
            )
        })?,
        Some(_) => return Err(invalid(&at("action_source"), "Invalid Action Source", "must be a string", None)),
    };
    let event_id = opt_str(obj, "event_id", &|| at("event_id"))?.map(str::to_owned);
    let source_url = opt_str(obj, "event_source_url", &|| at("event_source_url"))?;
    if let Some(url) = source_url
        && !is_http_url(url)
    {
        return Err(invalid(
            &at("event_source_url"),
            "Invalid Event Source URL",
            "must be an absolute http or https URL",
            None,
        ));
    }
    opt_str(obj, "referrer_url", &|| at("referrer_url"))?;
    if let Some(v) = obj.get("opt_out")
        && !v.is_boolean()
    {
        return Err(invalid(
            &at("opt_out"),
            "Invalid Parameter",
            "must be a boolean",
            None,
        ));
    }
    data_processing_options(obj, &at)?;

    let user = match obj.get("user_data") {
        None => return Err(missing(&at("user_data"))),
        Some(Value::Object(user)) => user,
        Some(_) => {
            return Err(invalid(
                &at("user_data"),
                "Invalid User Data",
                "must be a JSON object",
                None,
            ));
        }
    };
    let user_facts = validate_user_data(user, index)?;
    let custom = match obj.get("custom_data") {
        None => None,
        Some(Value::Object(custom)) => Some(custom),
        Some(_) => {
            return Err(invalid(
                &at("custom_data"),
                "Invalid Custom Data",
                "must be a JSON object",
                None,
            ));
        }
    };
    let custom_facts = custom
        .map(|c| validate_custom_data(c, index))
        .transpose()?
        .unwrap_or_default();

    if action_source == ActionSource::Website {
        if !user_facts.has_user_agent {
            return Err(MetaError::invalid(
                format!(
                    "(#100) The parameter data[{index}][user_data][client_user_agent] is required"
                ),
                None,
                "Missing User Agent",
                format!(
                    "data[{index}][user_data][client_user_agent] is required for events whose action_source is website."
                ),
            ));
        }
        if source_url.is_none() {
            return Err(MetaError::invalid(
                format!(
                    "(#100) The parameter {} is required",
                    at("event_source_url")
                ),
                None,
                "Missing Event Source URL",
                format!(
                    "{} is required for events whose action_source is website.",
                    at("event_source_url")
                ),
            ));
        }
    }
    if custom_facts.crm {
        if action_source != ActionSource::SystemGenerated {
            return Err(invalid(
                &at("action_source"),
                "Invalid Action Source",
                "must be system_generated for Conversion Leads events (custom_data.event_source crm)",
                None,
            ));
        }
        if !custom_facts.has_lead_event_source {
            return Err(missing(&format!(
                "data[{index}][custom_data][lead_event_source]"
            )));
        }
        if !user_facts.has_lead_id && !user_facts.has_contact {
            return Err(missing(&format!("data[{index}][user_data][lead_id]")));
        }
    }
    Ok(EventSummary {
        event_name,
        event_id,
        event_time,
        action_source,
    })
}

/// `event_time`: integer Unix seconds within the window. Any event too old fails the request
/// (subcode 2804003); Meta documents no bound for the future beyond "when the event happened", so
/// a small clock skew is tolerated ([`Rules::max_future`]).
fn event_time(obj: &Map<String, Value>, path: &str, rules: &Rules) -> Result<i64, MetaError> {
    let time = match obj.get("event_time") {
        None => return Err(missing(path)),
        Some(Value::Number(n)) if n.is_i64() => n.as_i64().unwrap_or(i64::MAX),
        Some(Value::Number(n)) if n.is_u64() => i64::MAX,
        Some(_) => {
            return Err(invalid(
                path,
                "Invalid Event Time",
                "must be an integer Unix timestamp in seconds",
                None,
            ));
        }
    };
    if time >= MILLIS_THRESHOLD {
        return Err(invalid(
            path,
            "Event Timestamp In Future",
            "looks like milliseconds: send Unix seconds",
            None,
        ));
    }
    if rules.now.saturating_sub(time) > rules.max_past {
        return Err(MetaError::invalid(
            "Invalid parameter",
            Some(subcode::EVENT_TOO_OLD),
            "Event Timestamp Too Old",
            format!(
                "{path}: the timestamp for this event is too far in the past. Events need to be sent from your server within 7 days of when they occurred."
            ),
        ));
    }
    if time.saturating_sub(rules.now) > rules.max_future {
        return Err(invalid(
            path,
            "Event Timestamp In Future",
            "is in the future: send the time the event happened",
            None,
        ));
    }
    Ok(time)
}

/// Limited Data Use: `data_processing_options` is `[]` or `["LDU"]`; country and state integers.
fn data_processing_options(
    obj: &Map<String, Value>,
    at: &dyn Fn(&str) -> String,
) -> Result<(), MetaError> {
    if let Some(options) = obj.get("data_processing_options") {
        let ok = options
            .as_array()
            .is_some_and(|list| list.iter().all(|o| o.as_str() == Some("LDU")));
        if !ok {
            return Err(invalid(
                &at("data_processing_options"),
                "Invalid Data Processing Options",
                "must be [] or [\"LDU\"]",
                None,
            ));
        }
    }
    for key in [
        "data_processing_options_country",
        "data_processing_options_state",
    ] {
        if let Some(v) = obj.get(key)
            && !(v.is_i64() || v.is_u64())
        {
            return Err(invalid(
                &at(key),
                "Invalid Data Processing Options",
                "must be an integer",
                None,
            ));
        }
    }
    Ok(())
}

fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !url.chars().any(char::is_whitespace)
    })
}
