//! From a rule firing on a lead's lifecycle event to the conversion to store: the rule's
//! destination-neutral plan ([`PlannedEvent`]: event name, time, id, value, currency, page, the
//! rule's extra settings), shaped by the pixel's destination (`crate::destinations`) into its event
//! object, serialized once. The JSON is stored with the conversion and later concatenated into
//! request bodies, so the mapping is decided at ingest and only there.

use super::rule::Rule;
use super::settings::Overlay;
use super::transform::Ctx;
use crate::domain::{Lead, LifecycleEvent, NewConversion};

/// Currency sent with a value when neither the rule nor the event names one.
pub const DEFAULT_CURRENCY: &str = "USD";

/// One conversion as the rules plan it, before a destination shapes it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedEvent<'a> {
    pub lead: &'a Lead,
    /// The rule's event name (a TikTok or Meta event name, as the rule's pixel wants).
    pub event_name: &'a str,
    /// When the conversion happened, Unix seconds UTC.
    pub event_time: i64,
    /// The dedup key, stable per conversion.
    pub event_id: String,
    pub value: Option<f64>,
    pub currency: Option<String>,
    pub content_type: Option<&'a str>,
    /// The lead's landing URL; without one its referrer; then the pixel's `site_url`.
    pub page_url: Option<&'a str>,
    pub referrer: Option<&'a str>,
    /// The lead's phone hash (E.164) as the pixel's region reads it.
    pub phone: Option<&'a str>,
    /// The same reading hashed as digits without the plus sign (Meta's format).
    pub phone_digits: Option<&'a str>,
    /// The rule's `action_source` (Meta pixels), overriding the pixel's.
    pub action_source: Option<signalpost_meta::ActionSource>,
    /// The rule's `[rules.properties]`, `[rules.page]` and `limited_data_use`, evaluated.
    pub overlay: Overlay,
    /// The rule's time zone (`[server] timezone` unless the rule names one): Google Ads'
    /// `conversionDateTime` is written in it, with its offset.
    pub timezone: chrono_tz::Tz,
}

/// The plan for `rule` firing on `event` of `lead`. Values a transform could not compute are left
/// out and explained in `notes`.
pub fn plan_event<'a>(
    lead: &'a Lead,
    event: &LifecycleEvent,
    rule: &'a Rule,
    notes: &mut Vec<String>,
) -> PlannedEvent<'a> {
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
    let overlay = if rule.settings.is_empty() {
        Overlay::default()
    } else {
        rule.settings.evaluate(&ctx, notes)
    };
    PlannedEvent {
        lead,
        event_name: rule.event.as_str(),
        event_time: event.occurred_at,
        event_id: rule.event_id.render(lead, event),
        value,
        currency,
        content_type: rule.content_type.as_deref(),
        page_url: page_url(lead, rule),
        referrer: lead.referrer.as_deref(),
        phone: phone_for(lead, rule),
        phone_digits: phone_digits_for(lead, rule),
        action_source: rule.action_source,
        overlay,
        timezone: rule.timezone,
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

/// [`phone_for`] hashed as digits without the plus sign.
pub fn phone_digits_for<'a>(lead: &'a Lead, rule: &Rule) -> Option<&'a str> {
    match rule.phone_region.as_deref() {
        Some(region) if lead.phone_by_region.contains_key(region) => {
            lead.phone_digits_by_region.get(region).map(String::as_str)
        }
        _ => lead.phone_digits.as_deref(),
    }
}

/// The page per DESIGN.md's field mapping: the lead's landing URL; without one, its referrer; then
/// the `site_url` of the rule's pixel. Lead platforms often send no landing URL at all, and
/// destinations require a page URL for web events, so the pixel's site stands in rather than the
/// event failing.
pub fn page_url<'a>(lead: &'a Lead, rule: &'a Rule) -> Option<&'a str> {
    lead.landing_url
        .as_deref()
        .or(lead.referrer.as_deref())
        .or(rule.site_url.as_deref())
}

/// The conversion `rule` produces for `event`, its payload shaped by the rule's destination and
/// serialized (no caps, not suppressed: the planner adds those).
pub fn build_conversion(
    lead: &Lead,
    event: &LifecycleEvent,
    rule: &Rule,
    notes: &mut Vec<String>,
) -> Result<NewConversion, serde_json::Error> {
    let planned = plan_event(lead, event, rule, notes);
    let payload = rule.destination.event_json(&planned)?;
    let test_event_code = rule
        .test_event_code
        .as_ref()
        .map(|t| t.render(lead, event))
        .filter(|code| !code.trim().is_empty());
    Ok(NewConversion {
        rule: rule.name.clone(),
        pixel: rule.pixel.clone(),
        event_name: planned.event_name.to_owned(),
        event_id: planned.event_id,
        test_event_code,
        event_time: planned.event_time,
        payload,
        caps: Vec::new(),
        suppressed: None,
        undeliverable: None,
    })
}

#[cfg(test)]
#[path = "payload_tests.rs"]
mod tests;
