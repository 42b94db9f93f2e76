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
        phone: phone_for(lead, rule).map(str::to_owned),
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
        page: page_url(lead, rule).map(|url| Page {
            url: url.to_owned(),
            referrer: lead.referrer.clone(),
        }),
        ..Default::default()
    }
}

/// The hashed phone for `rule`'s pixel: the lead's phone as read with the pixel's `default_region`
/// when it has such a reading (a national number, no `country`), else `phone` (read with the lead's
/// `country` or the server's `default_region`).
pub fn phone_for<'a>(lead: &'a Lead, rule: &Rule) -> Option<&'a str> {
    rule.phone_region
        .as_deref()
        .and_then(|region| lead.phone_by_region.get(region))
        .or(lead.phone.as_ref())
        .map(String::as_str)
}

/// `page.url` per DESIGN.md's field mapping: the lead's landing URL; without one, its referrer; then
/// the `site_url` of the rule's pixel. Lead platforms often send no landing URL at all, and TikTok
/// requires a page URL for web events, so the pixel's site stands in rather than the event failing.
pub fn page_url<'a>(lead: &'a Lead, rule: &'a Rule) -> Option<&'a str> {
    lead.landing_url
        .as_deref()
        .or(lead.referrer.as_deref())
        .or(rule.site_url.as_deref())
}

/// `payload` (a stored event object) with `page.url` set to `site_url` when it has none; `None` when
/// it already has one or is not an object. A replay of `undeliverable` conversions uses it: their
/// payload was built before the pixel had a `site_url`, and the new one is what ingest would use now
/// (the lead had neither a landing URL nor a referrer, or its payload would carry one).
pub fn fill_page_url(payload: &str, site_url: &str) -> Option<String> {
    let Ok(Value::Object(mut event)) = serde_json::from_str::<Value>(payload) else {
        return None;
    };
    let page = event
        .entry("page")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    let Value::Object(page) = page else {
        return None;
    };
    if page.get("url").is_some_and(Value::is_string) {
        return None;
    }
    page.insert("url".into(), Value::String(site_url.to_owned()));
    serde_json::to_string(&event).ok()
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
        undeliverable: None,
    })
}

#[cfg(test)]
#[path = "payload_tests.rs"]
mod tests;
