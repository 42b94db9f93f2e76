//! OpenAPI schemas of the gateway's domain types that appear in our answers (`Lead`,
//! `LifecycleEvent`, `Warning`). The gateway crate has no OpenAPI dependency, so their shapes are
//! mirrored here; a test serializes the real types and checks the mirrors have exactly their fields,
//! so a field added to the domain without its docs fails the build's tests.

#![allow(dead_code)] // Only their schemas are used.

use utoipa::ToSchema;

/// A lead as stored: identifiers are SHA-256 hex, never raw.
#[derive(ToSchema)]
#[schema(as = Lead)]
pub struct LeadSchema {
    /// The funnel's key for this person; TikTok's `event_id` by default.
    transaction_id: String,
    /// SHA-256 hex of the normalized email.
    email: Option<String>,
    /// SHA-256 hex of the E.164 phone, read with the lead's `country`, else `[server] default_region`.
    phone: Option<String>,
    /// Present only when some pixel's own `default_region` reads a national phone number (of a lead
    /// without `country`) differently from `phone`: region → SHA-256 hex; that pixel's events carry it.
    #[schema(value_type = Option<Object>)]
    phone_by_region: Option<std::collections::BTreeMap<String, String>>,
    /// SHA-256 hex of the trimmed external id.
    external_id: Option<String>,
    /// ISO 3166-1 alpha-2, upper-case, as sent.
    #[schema(example = "GB")]
    country: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    /// TikTok click id (given, or from the landing URL).
    ttclid: Option<String>,
    /// The `_ttp` cookie.
    ttp: Option<String>,
    /// Meta click id (given, or from the landing URL), case kept exactly.
    fbclid: Option<String>,
    /// Meta's `_fbc` cookie, `fb.<subdomain index>.<creation ms>.<fbclid>`.
    fbc: Option<String>,
    /// Meta's `_fbp` cookie, `fb.<subdomain index>.<creation ms>.<random>`.
    fbp: Option<String>,
    /// Google Ads click id (given, or from the landing URL).
    gclid: Option<String>,
    /// Google Ads iOS app-to-web click id (given, or from the landing URL).
    gbraid: Option<String>,
    /// Google Ads iOS web-to-app click id (given, or from the landing URL).
    wbraid: Option<String>,
    /// Meta's lead id for Conversion Leads, 15 to 17 digits.
    meta_lead_id: Option<String>,
    /// TikTok Lead Generation lead id (digits).
    tiktok_lead_id: Option<String>,
    landing_url: Option<String>,
    referrer: Option<String>,
    source: Option<String>,
    /// Custom fields as sent (JSON object, or null).
    #[schema(value_type = Option<Object>)]
    fields: serde_json::Value,
    /// When the form was submitted, unix seconds.
    created_at: i64,
    /// Identifiers dropped at the edge, with why.
    warnings: Vec<WarningSchema>,
}

/// A field the edge could not use (the lead was accepted without it), or a conversion TikTok would
/// refuse (then `rule`, `pixel` and `event` name it).
#[derive(ToSchema)]
#[schema(as = Warning)]
pub struct WarningSchema {
    /// The request field, e.g. `email`; for a refused conversion, the TikTok field at fault
    /// (`page.url`, `event_id`).
    field: String,
    /// What was wrong, and for a conversion what to do (`page.url missing: set the pixel's site_url
    /// or send landing_url`).
    problem: String,
    /// The rule of the refused conversion.
    rule: Option<String>,
    /// Its pixel code.
    pixel: Option<String>,
    /// Its TikTok event name.
    event: Option<String>,
}

/// A lifecycle event of a lead.
#[derive(ToSchema)]
#[schema(as = LifecycleEvent)]
pub struct LifecycleEventSchema {
    /// Store-assigned id (0 in a preview).
    id: i64,
    transaction_id: String,
    /// `form_submit`, `lead_sold`, `offer_click`, `offer_conversion`, `buyer_routed` or `custom`.
    trigger: String,
    /// The custom event's name.
    name: Option<String>,
    buyer: Option<String>,
    offer: Option<String>,
    revenue: Option<f64>,
    /// What the offer network pays out for the step.
    payout: Option<f64>,
    currency: Option<String>,
    /// When it happened, unix seconds (TikTok's `event_time`).
    occurred_at: i64,
    idempotency_key: Option<String>,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use signalpost_gateway::domain::{Lead, LifecycleEvent, Trigger, Warning};
    use utoipa::PartialSchema;
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::Schema;

    fn documented<T: PartialSchema>() -> BTreeSet<String> {
        match T::schema() {
            RefOr::T(Schema::Object(object)) => object.properties.keys().cloned().collect(),
            _ => panic!("not an object schema"),
        }
    }

    fn serialized(value: impl serde::Serialize) -> BTreeSet<String> {
        match serde_json::to_value(value).unwrap() {
            serde_json::Value::Object(map) => map.keys().cloned().collect(),
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn the_mirrors_document_exactly_the_domain_types_fields() {
        let warning = Warning::new("email", "no @");
        let lead = Lead {
            transaction_id: "t".into(),
            email: None,
            phone: None,
            phone_by_region: [("FR".to_owned(), "f".repeat(64))].into(),
            phone_digits: None,
            phone_digits_by_region: Default::default(),
            external_id: None,
            country: Some("FR".into()),
            ip: None,
            user_agent: None,
            ttclid: None,
            ttp: None,
            fbclid: None,
            fbc: None,
            fbp: None,
            gclid: None,
            gbraid: None,
            wbraid: None,
            meta_lead_id: None,
            tiktok_lead_id: None,
            landing_url: None,
            referrer: None,
            source: None,
            fields: serde_json::Value::Null,
            created_at: 0,
            warnings: vec![warning.clone()],
        };
        let event = LifecycleEvent {
            id: 0,
            transaction_id: "t".into(),
            trigger: Trigger::FormSubmit,
            name: None,
            buyer: None,
            offer: None,
            revenue: None,
            payout: None,
            currency: None,
            occurred_at: 0,
            idempotency_key: None,
        };
        assert_eq!(documented::<super::LeadSchema>(), serialized(&lead));
        let refused = signalpost_gateway::domain::RefusedConversion {
            rule: "r".into(),
            pixel: "P".into(),
            event: "Lead".into(),
            field: "page.url".into(),
            problem: "page.url missing".into(),
            stored: true,
        };
        assert_eq!(
            documented::<super::WarningSchema>(),
            serialized(refused.warning())
        );
        assert_eq!(
            documented::<super::LifecycleEventSchema>(),
            serialized(&event)
        );
    }
}
