//! Meta's `data[]` event for one planned conversion:
//! - `user_data`: `em`, `ph` (digits without `+`), `external_id` as the lead's SHA-256 hashes
//!   (hashed once, at the edge, by the shared identity module); `client_ip_address`,
//!   `client_user_agent`, `fbc`, `fbp` and `lead_id` raw. `fbc` is the lead's `_fbc` cookie, or
//!   built from its `fbclid` as `fb.1.<lead time in ms>.<fbclid>` (the id kept exactly);
//! - `custom_data`: value, currency, content_type, `order_id` (the event id), the rule's extra
//!   properties; for Conversion Leads (`system_generated`) `event_source: "crm"` and
//!   `lead_event_source`;
//! - `event_source_url` (landing URL, referrer or the pixel's site) and `referrer_url` for web
//!   events; `[rules.page]` may set either; `limited_data_use = true` becomes Meta's LDU.

use serde_json::{Map, Value};
use signalpost_meta::{ActionSource, CustomData, ServerEvent, UserData};

use super::PixelSettings;
use crate::domain::Lead;
use crate::rules::payload::{DEFAULT_CURRENCY, PlannedEvent};

/// The event object, serialized.
pub fn event_json(
    planned: &PlannedEvent<'_>,
    settings: &PixelSettings,
) -> Result<String, serde_json::Error> {
    let event = event(planned, settings);
    let overlay = &planned.overlay;
    if overlay.is_empty() {
        return serde_json::to_string(&event);
    }
    let Value::Object(mut object) = serde_json::to_value(&event)? else {
        return serde_json::to_string(&event);
    };
    if !overlay.properties.is_empty() {
        let mut custom = match object.remove("custom_data") {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        for (k, v) in &overlay.properties {
            custom.insert(k.clone(), v.clone());
        }
        if custom.contains_key("value") && !custom.contains_key("currency") {
            custom.insert("currency".into(), Value::String(DEFAULT_CURRENCY.into()));
        }
        object.insert("custom_data".into(), Value::Object(custom));
    }
    for (key, target) in [("url", "event_source_url"), ("referrer", "referrer_url")] {
        if let Some(v) = overlay.page.get(key) {
            object.insert(target.into(), v.clone());
        }
    }
    match overlay.limited_data_use {
        Some(Value::Bool(true)) => {
            // Limited Data Use, with Meta geolocating the person (country and state 0).
            object.insert("data_processing_options".into(), serde_json::json!(["LDU"]));
            object.insert("data_processing_options_country".into(), Value::from(0));
            object.insert("data_processing_options_state".into(), Value::from(0));
        }
        Some(Value::Bool(false)) => {
            object.insert("data_processing_options".into(), serde_json::json!([]));
        }
        _ => {}
    }
    serde_json::to_string(&object)
}

/// The typed event, before the rule's overlay.
pub fn event(planned: &PlannedEvent<'_>, settings: &PixelSettings) -> ServerEvent {
    let lead = planned.lead;
    let action_source = planned.action_source.unwrap_or(settings.action_source);
    let crm = action_source == ActionSource::SystemGenerated;
    let web = action_source == ActionSource::Website;
    let user_data = UserData {
        em: lead.email.iter().cloned().collect(),
        ph: planned
            .phone_digits
            .map(str::to_owned)
            .into_iter()
            .collect(),
        external_id: lead.external_id.iter().cloned().collect(),
        client_ip_address: lead.ip.clone(),
        client_user_agent: lead.user_agent.clone(),
        fbc: fbc(lead),
        fbp: lead.fbp.clone(),
        lead_id: lead.meta_lead_id.as_deref().and_then(|id| id.parse().ok()),
        ..UserData::default()
    };
    let custom_data = CustomData {
        value: planned.value,
        currency: planned.currency.clone(),
        content_type: planned.content_type.map(str::to_owned),
        order_id: Some(planned.event_id.clone()),
        event_source: crm.then(|| "crm".to_owned()),
        lead_event_source: crm.then(|| settings.lead_event_source.clone()),
        ..CustomData::default()
    };
    ServerEvent {
        event_name: planned.event_name.to_owned(),
        event_time: planned.event_time,
        event_id: Some(planned.event_id.clone()),
        action_source,
        // A web event names its page; a CRM stage has none.
        event_source_url: web.then_some(planned.page_url).flatten().map(str::to_owned),
        referrer_url: web.then_some(planned.referrer).flatten().map(str::to_owned),
        opt_out: None,
        user_data,
        custom_data: Some(custom_data),
        data_processing_options: None,
        data_processing_options_country: None,
        data_processing_options_state: None,
    }
}

/// The lead's `fbc`: its `_fbc` cookie, else `fb.1.<lead time in ms>.<fbclid>` from the click id
/// its landing URL carried (subdomain index 1, as Meta asks of server-built values; the fbclid is
/// case-sensitive and kept exactly).
pub fn fbc(lead: &Lead) -> Option<String> {
    if let Some(cookie) = &lead.fbc {
        return Some(cookie.clone());
    }
    let fbclid = lead.fbclid.as_deref()?;
    Some(format!(
        "fb.1.{}.{fbclid}",
        lead.created_at.saturating_mul(1000)
    ))
}

/// `payload` (a stored web event) with `event_source_url` set to `site_url` when it has none; `None`
/// when it has one, is not a `website` event (a CRM stage or an app event names no page) or is not
/// an object. The replay of `undeliverable` conversions uses it, like TikTok's `page.url`.
pub fn fill_event_source_url(payload: &str, site_url: &str) -> Option<String> {
    let Ok(Value::Object(mut event)) = serde_json::from_str::<Value>(payload) else {
        return None;
    };
    let website = event.get("action_source").and_then(Value::as_str) == Some("website");
    if !website || event.get("event_source_url").is_some_and(Value::is_string) {
        return None;
    }
    event.insert(
        "event_source_url".into(),
        Value::String(site_url.to_owned()),
    );
    serde_json::to_string(&event).ok()
}
