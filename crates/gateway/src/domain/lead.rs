//! A lead: one person who submitted a form, keyed by `transaction_id`. Identifiers are held only as
//! SHA-256 hex: the raw email/phone/external id never get this far (the HTTP layer normalizes and hashes
//! them, and [`crate::Gateway`] refuses anything that is not 64 lowercase hex).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A lead as stored. Immutable once stored: re-posting the same `transaction_id` returns this record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lead {
    /// The funnel's key for this person; the default TikTok `event_id`.
    pub transaction_id: String,
    /// SHA-256 hex of the normalized email.
    pub email: Option<String>,
    /// SHA-256 hex of the E.164 phone, read with the lead's `country` or else the server's
    /// `default_region`.
    pub phone: Option<String>,
    /// The phone read with a pixel's own `default_region`, region → SHA-256 hex, where that reading
    /// differs from `phone` (a national number without `country`). Usually empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub phone_by_region: BTreeMap<String, String>,
    /// SHA-256 hex of `phone`'s number as digits without the plus sign (Meta's format).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_digits: Option<String>,
    /// `phone_by_region`'s readings as digits without the plus sign, by region.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub phone_digits_by_region: BTreeMap<String, String>,
    /// SHA-256 hex of the trimmed external id.
    pub external_id: Option<String>,
    /// The lead's country, ISO 3166-1 alpha-2, upper-case.
    #[serde(default)]
    pub country: Option<String>,
    /// Public IP, raw (TikTok wants it unhashed).
    pub ip: Option<String>,
    /// Browser user agent, raw.
    pub user_agent: Option<String>,
    /// TikTok click id: given, or taken from the landing URL's query.
    pub ttclid: Option<String>,
    /// The `_ttp` cookie, raw.
    pub ttp: Option<String>,
    /// Meta click id: given, or taken from the landing URL's query; case kept exactly.
    #[serde(default)]
    pub fbclid: Option<String>,
    /// The `_fbc` cookie, raw (`fb.<subdomain index>.<ms>.<fbclid>`), shape checked at the edge.
    #[serde(default)]
    pub fbc: Option<String>,
    /// The `_fbp` cookie, raw (`fb.<subdomain index>.<ms>.<random>`), shape checked at the edge.
    #[serde(default)]
    pub fbp: Option<String>,
    /// Google Ads click id (web): given, or taken from the landing URL's query.
    #[serde(default)]
    pub gclid: Option<String>,
    /// Google Ads click id for iOS app-to-web clicks: given, or from the landing URL's query.
    #[serde(default)]
    pub gbraid: Option<String>,
    /// Google Ads click id for iOS web-to-app clicks: given, or from the landing URL's query.
    #[serde(default)]
    pub wbraid: Option<String>,
    /// Meta's lead id for Conversion Leads (15–17 digits).
    #[serde(default)]
    pub meta_lead_id: Option<String>,
    /// TikTok Lead Generation's lead id (digits), for TikTok CRM events.
    #[serde(default)]
    pub tiktok_lead_id: Option<String>,
    /// The page the form was on; becomes `page.url`.
    pub landing_url: Option<String>,
    /// Becomes `page.referrer`.
    pub referrer: Option<String>,
    /// Traffic source label, matched by rules' `when.source`.
    pub source: Option<String>,
    /// Free custom fields from the form, kept as JSON.
    pub fields: serde_json::Value,
    /// When the form was submitted, unix seconds.
    pub created_at: i64,
    /// Identifiers dropped at the edge (malformed email, unparseable phone), so the lead still converts.
    pub warnings: Vec<Warning>,
}

/// A field the edge could not use, and why; the lead was accepted without it. The same shape says
/// why a conversion of the request will not be delivered (TikTok would refuse it): then `field` is
/// the TikTok field at fault (`page.url`, `event_id`) and `rule`, `pixel` and `event` name the
/// conversion, so the caller knows what to fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// The request field, e.g. `email`; or the TikTok field of a refused conversion (`page.url`).
    pub field: String,
    /// What was wrong, e.g. `not an email address (no '@')`.
    pub problem: String,
    /// The rule whose conversion is refused (conversion warnings only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// That conversion's pixel code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pixel: Option<String>,
    /// That conversion's TikTok event name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
}

impl Warning {
    /// A warning about `field`.
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
            rule: None,
            pixel: None,
            event: None,
        }
    }
}

/// A form submission as the HTTP layer hands it over: identifiers already hashed, the rest raw.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewLead {
    /// Generated (UUID v7) when absent.
    pub transaction_id: Option<String>,
    /// SHA-256 hex (64 lowercase hex); anything else is refused.
    pub email: Option<String>,
    /// SHA-256 hex of the E.164 number.
    pub phone: Option<String>,
    /// Region (ISO alpha-2, upper-case) → SHA-256 hex of the phone read there, for pixels whose
    /// `default_region` reads it differently from `phone` (see [`Lead::phone_by_region`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub phone_by_region: BTreeMap<String, String>,
    /// SHA-256 hex of the phone as digits without the plus sign (Meta's format).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_digits: Option<String>,
    /// `phone_by_region` as digits, by region.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub phone_digits_by_region: BTreeMap<String, String>,
    /// SHA-256 hex of the trimmed id.
    pub external_id: Option<String>,
    /// ISO 3166-1 alpha-2; any case is accepted, stored upper-case.
    #[serde(default)]
    pub country: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// When absent, taken from `landing_url`'s query.
    pub ttclid: Option<String>,
    pub ttp: Option<String>,
    /// When absent, taken from `landing_url`'s query; case kept.
    #[serde(default)]
    pub fbclid: Option<String>,
    /// `_fbc` cookie; the edge has checked its shape.
    #[serde(default)]
    pub fbc: Option<String>,
    /// `_fbp` cookie; the edge has checked its shape.
    #[serde(default)]
    pub fbp: Option<String>,
    /// When absent, taken from `landing_url`'s query.
    #[serde(default)]
    pub gclid: Option<String>,
    /// When absent, taken from `landing_url`'s query.
    #[serde(default)]
    pub gbraid: Option<String>,
    /// When absent, taken from `landing_url`'s query.
    #[serde(default)]
    pub wbraid: Option<String>,
    /// 15–17 digits; anything else is refused.
    #[serde(default)]
    pub meta_lead_id: Option<String>,
    /// Digits (at most 32); anything else is refused.
    #[serde(default)]
    pub tiktok_lead_id: Option<String>,
    pub landing_url: Option<String>,
    pub referrer: Option<String>,
    pub source: Option<String>,
    /// Unix seconds of the submission; now when absent.
    pub occurred_at: Option<i64>,
    /// Free JSON; `null` when absent.
    pub fields: serde_json::Value,
    /// Problems the edge found with identifiers it dropped.
    pub warnings: Vec<Warning>,
}
