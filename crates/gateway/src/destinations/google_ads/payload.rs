//! Google's `ClickConversion` for one planned conversion:
//! - the click: `gclid`; without one `gbraid`, then `wbraid` (Google takes at most one, and a
//!   gbraid/wbraid row may carry no user identifiers);
//! - `userIdentifiers` (enhanced conversions for leads): the lead's `hashedEmail` and E.164
//!   `hashedPhoneNumber`, the shared identity module's hashes, sent with a gclid or on their own, so
//!   a lead without a click id still counts when it has identifiers;
//! - `conversionAction` (`customers/{id}/conversionActions/{action}`), `conversionDateTime` in the
//!   rule's time zone with its offset (a time without one is the "conversion precedes click" bug
//!   users report elsewhere), `conversionValue`, `currencyCode`, `orderId` (the event id: Google's
//!   dedup key per conversion action);
//! - `consent` from the lead's `ad_user_data` / `ad_personalization` fields (`granted`/`denied`, or
//!   true/false), else the pixel's `consent`.
//!
//! A rule's `[rules.properties]` and `[rules.page]` name TikTok and Meta fields; Google has no place
//! for them and they are left out.

use serde_json::Value;
use signalpost_google_ads::{ClickConversion, Consent, ConsentStatus, UserIdentifier};

use super::PixelSettings;
use crate::domain::Lead;
use crate::rules::payload::PlannedEvent;

/// The conversion, serialized.
pub fn event_json(
    planned: &PlannedEvent<'_>,
    settings: &PixelSettings,
) -> Result<String, serde_json::Error> {
    serde_json::to_string(&conversion(planned, settings))
}

/// The typed conversion.
pub fn conversion(planned: &PlannedEvent<'_>, settings: &PixelSettings) -> ClickConversion {
    let lead = planned.lead;
    let mut conversion = ClickConversion {
        conversion_action: signalpost_google_ads::conversion_action_resource(
            &settings.customer_id,
            &settings.conversion_action,
        ),
        // Out of chrono's range only for absurd times, which the ingest check then refuses.
        conversion_date_time: signalpost_google_ads::format_conversion_date_time(
            planned.event_time,
            &planned.timezone,
        )
        .unwrap_or_default(),
        conversion_value: planned.value,
        currency_code: planned.currency.clone(),
        order_id: Some(planned.event_id.clone()),
        consent: consent(lead, settings.consent),
        ..ClickConversion::default()
    };
    let identifiers = || {
        let email = lead.email.iter().cloned().map(UserIdentifier::HashedEmail);
        let phone = planned
            .phone
            .map(|p| UserIdentifier::HashedPhoneNumber(p.to_owned()));
        email.chain(phone).collect::<Vec<_>>()
    };
    if let Some(gclid) = &lead.gclid {
        conversion.gclid = Some(gclid.clone());
        conversion.user_identifiers = identifiers();
    } else if let Some(gbraid) = &lead.gbraid {
        conversion.gbraid = Some(gbraid.clone());
    } else if let Some(wbraid) = &lead.wbraid {
        conversion.wbraid = Some(wbraid.clone());
    } else {
        conversion.user_identifiers = identifiers();
    }
    conversion
}

/// The lead's own consent, else the pixel's default for both signals.
fn consent(lead: &Lead, default: Option<ConsentStatus>) -> Option<Consent> {
    let own = Consent {
        ad_user_data: status(lead.fields.get("ad_user_data")).or(default),
        ad_personalization: status(lead.fields.get("ad_personalization")).or(default),
    };
    (own != Consent::default()).then_some(own)
}

/// `granted`/`denied` in any case, or a JSON boolean.
fn status(value: Option<&Value>) -> Option<ConsentStatus> {
    match value? {
        Value::Bool(true) => Some(ConsentStatus::Granted),
        Value::Bool(false) => Some(ConsentStatus::Denied),
        Value::String(s) if s.trim().eq_ignore_ascii_case("granted") => {
            Some(ConsentStatus::Granted)
        }
        Value::String(s) if s.trim().eq_ignore_ascii_case("denied") => Some(ConsentStatus::Denied),
        _ => None,
    }
}
