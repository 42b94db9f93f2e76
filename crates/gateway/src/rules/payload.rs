//! Builds the TikTok event object for one conversion, per DESIGN.md's field mapping plus the rule's
//! own settings (`[rules.properties]`, `[rules.page]`, `limited_data_use`), and serializes it once.
//! The JSON is stored with the conversion and later concatenated into batch bodies, so the mapping is
//! decided here and only here.

use serde_json::Value;
use signalpost_tiktok::model::{Event, Page, Properties, User};

use super::rule::Rule;
use super::transform::Ctx;
use crate::domain::{Lead, LifecycleEvent, NewConversion};

/// Currency sent with a value when neither the rule nor the event names one.
pub const DEFAULT_CURRENCY: &str = "USD";

/// The `data[]` element for `rule` firing on `event` of `lead`, standard mapping only (the rule's
/// settings are applied by [`build_conversion`]). Values a transform could not compute are left out
/// and explained in `notes`.
pub fn build_event(
    lead: &Lead,
    event: &LifecycleEvent,
    rule: &Rule,
    notes: &mut Vec<String>,
) -> Event {
    let user = User {
        email: lead.email.clone(),
        phone: lead.phone.clone(),
        external_id: lead.external_id.clone(),
        ttclid: lead.ttclid.clone(),
        ttp: lead.ttp.clone(),
        ip: lead.ip.clone(),
        user_agent: lead.user_agent.clone(),
        locale: None,
    };
    let ctx = Ctx {
        lead,
        event,
        tz: rule.timezone,
    };
    let value = rule
        .value
        .as_ref()
        .and_then(|v| v.eval(&ctx, "value", notes))
        .and_then(|v| v.as_f64());
    let currency = rule
        .currency
        .map(|c| c.as_str().to_owned())
        .or_else(|| event.currency.clone())
        .or_else(|| value.map(|_| DEFAULT_CURRENCY.to_owned()));
    let properties = Properties {
        value,
        currency,
        content_type: rule.content_type.clone(),
        ..Default::default()
    };
    let has_properties = properties.value.is_some()
        || properties.currency.is_some()
        || properties.content_type.is_some();
    Event {
        event: rule.event.as_str().to_owned(),
        event_time: event.occurred_at,
        event_id: Some(rule.event_id.render(lead, event)),
        user: (user != User::default()).then_some(user),
        properties: has_properties.then_some(properties),
        page: lead.landing_url.as_ref().map(|url| Page {
            url: url.clone(),
            referrer: lead.referrer.clone(),
        }),
        ..Default::default()
    }
}

/// The event JSON with the rule's settings applied.
pub fn build_payload(
    lead: &Lead,
    event: &LifecycleEvent,
    rule: &Rule,
    notes: &mut Vec<String>,
) -> Result<(Event, String), serde_json::Error> {
    let tiktok_event = build_event(lead, event, rule, notes);
    if rule.settings.is_empty() {
        let json = serde_json::to_string(&tiktok_event)?;
        return Ok((tiktok_event, json));
    }
    let Value::Object(mut object) = serde_json::to_value(&tiktok_event)? else {
        let json = serde_json::to_string(&tiktok_event)?;
        return Ok((tiktok_event, json));
    };
    let ctx = Ctx {
        lead,
        event,
        tz: rule.timezone,
    };
    rule.settings.apply(&mut object, &ctx, notes);
    // A value set through properties gets the default currency like one set through `value`.
    if let Some(Value::Object(props)) = object.get_mut("properties")
        && props.contains_key("value")
        && !props.contains_key("currency")
    {
        props.insert("currency".into(), Value::String(DEFAULT_CURRENCY.into()));
    }
    let json = serde_json::to_string(&object)?;
    Ok((tiktok_event, json))
}

/// The conversion `rule` produces for `event`, payload serialized (no caps, not suppressed: the
/// planner adds those).
pub fn build_conversion(
    lead: &Lead,
    event: &LifecycleEvent,
    rule: &Rule,
    notes: &mut Vec<String>,
) -> Result<NewConversion, serde_json::Error> {
    let (tiktok_event, payload) = build_payload(lead, event, rule, notes)?;
    let test_event_code = rule
        .test_event_code
        .as_ref()
        .map(|t| t.render(lead, event))
        .filter(|code| !code.trim().is_empty());
    Ok(NewConversion {
        rule: rule.name.clone(),
        pixel: rule.pixel.clone(),
        event_name: tiktok_event.event,
        event_id: tiktok_event.event_id.unwrap_or_default(),
        test_event_code,
        event_time: tiktok_event.event_time,
        payload,
        caps: Vec::new(),
        suppressed: None,
    })
}

#[cfg(test)]
#[path = "payload_tests.rs"]
mod tests;
