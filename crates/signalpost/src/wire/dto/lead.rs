//! The lead body (`POST /v1/leads`, a batch item's `lead`) and its validation.
//!
//! This is where raw PII stops: email, phone and external id are normalized and SHA-256 hashed here
//! (TikTok's rules, via `signalpost_tiktok::identity`) and the raw strings are dropped before the
//! lead goes any further. A signal that cannot be used — an email without `@`, a phone no parser
//! accepts, an IP that is not one, a landing URL that is not a URL — must not cost the conversion:
//! it is dropped with a `warnings` entry naming the field, unless `strict_identifiers` is set, in
//! which case it is a 422 naming the field. `country` is the exception: it chooses how the phone is
//! read, so one that is not a region is always a 422 at `country`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Deserialize;
use signalpost_gateway::domain::{NewLead, Warning};
use signalpost_tiktok::identity::{self, Region};

use super::click_ids::RawClickIds;
use super::{MAX_LABEL_LEN, RawTime, opt_text, validate_time, validate_transaction_id};
use crate::wire::problem::{ApiError, FieldError};

/// What reading a phone gives besides `phone`: the pixel regions' readings, a note when only those
/// read it, and the digits-only hashes (Meta's format).
#[derive(Default)]
struct PhoneExtras {
    by_region: BTreeMap<String, String>,
    note: Option<String>,
    digits: Option<String>,
    digits_by_region: BTreeMap<String, String>,
}

/// Longest URL kept (`landing_url`, `referrer`).
pub const MAX_URL_LEN: usize = 4096;
/// Longest user agent kept.
pub const MAX_USER_AGENT_LEN: usize = 2048;
/// Longest email accepted before normalization (RFC 5321 allows 254 in practice; room for spaces).
pub const MAX_EMAIL_LEN: usize = 320;
/// Longest external id accepted.
pub const MAX_EXTERNAL_ID_LEN: usize = 1024;
/// Longest click id or cookie value accepted (`ttclid`, `ttp`, `fbclid`, `fbc`, `fbp`, `gclid`,
/// `gbraid`, `wbraid`).
pub use signalpost_gateway::click_id::MAX_CLICK_ID_LEN;

/// How the edge treats identifiers: the regions for national phone numbers, and whether an unusable
/// identifier is a warning (default) or an error.
#[derive(Debug, Clone)]
pub struct IdentifierPolicy {
    /// `[server] default_region`.
    pub default_region: Region,
    pub strict: bool,
    /// The pixels' own `default_region`s (distinct): a phone of a lead without `country` is also
    /// read with each (see [`super::phone`]).
    pub pixel_regions: Vec<Region>,
}

impl IdentifierPolicy {
    /// This policy with the pixel regions of `rules` (the pixels as currently loaded).
    pub fn with_pixels_of(&self, rules: &signalpost_gateway::RuleSet) -> IdentifierPolicy {
        IdentifierPolicy {
            pixel_regions: rules.distinct_pixel_regions(),
            ..self.clone()
        }
    }
}

/// `POST /v1/leads` body. Every field is optional; identifiers are normalized and SHA-256 hashed
/// here and never stored raw.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadRequest {
    /// The funnel's key for this person (1–128 characters, no spaces); TikTok's `event_id` by default. Generated when absent. Re-posting it is idempotent.
    #[serde(default)]
    pub transaction_id: Option<String>,
    /// Raw email (trimmed, lower-cased, SHA-256 hashed here) or an existing SHA-256 hex.
    #[serde(default)]
    pub email: Option<String>,
    /// Raw phone (E.164, then SHA-256) or an existing SHA-256 hex. A national number is read with `country`; without it, with the pixel's `default_region`, else `[server] default_region`.
    #[serde(default)]
    pub phone: Option<String>,
    /// The lead's country, ISO 3166-1 alpha-2 (any case, spaces trimmed; stored upper-case): the region a national-format `phone` is read with, and a rule field. Anything else is a 422 at `country`.
    #[serde(default)]
    #[schema(example = "GB")]
    pub country: Option<String>,
    /// Your user id (trimmed, SHA-256 hashed, case kept) or an existing SHA-256 hex.
    #[serde(default)]
    pub external_id: Option<String>,
    /// The visitor's public IPv4 or IPv6 address, sent raw.
    #[serde(default)]
    pub ip: Option<String>,
    /// The visitor's browser user agent, sent raw.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// The page the form was on (absolute http(s) URL): `page.url`; its `ttclid`, `fbclid`, `gclid`, `gbraid` and `wbraid` query parameters are taken when those fields are absent (case kept).
    #[serde(default)]
    pub landing_url: Option<String>,
    /// `page.referrer`.
    #[serde(default)]
    pub referrer: Option<String>,
    /// TikTok click id.
    #[serde(default)]
    pub ttclid: Option<String>,
    /// Value of the `_ttp` cookie.
    #[serde(default)]
    pub ttp: Option<String>,
    /// Meta click id (case-sensitive, never altered); taken from `landing_url` when absent.
    #[serde(default)]
    #[schema(example = "IwAR2F4-dbP0l7Mn1IawQQGCINEz7PYXQvwjNwB_qa2ofrHyiLjcbCRxTDMgk")]
    pub fbclid: Option<String>,
    /// Value of Meta's `_fbc` cookie, `fb.<subdomain index>.<creation ms>.<fbclid>`. A malformed one is dropped with a warning at `fbc`.
    #[serde(default)]
    #[schema(
        example = "fb.1.1554763741205.IwAR2F4-dbP0l7Mn1IawQQGCINEz7PYXQvwjNwB_qa2ofrHyiLjcbCRxTDMgk"
    )]
    pub fbc: Option<String>,
    /// Value of Meta's `_fbp` cookie, `fb.<subdomain index>.<creation ms>.<random>`. A malformed one is dropped with a warning at `fbp`.
    #[serde(default)]
    #[schema(example = "fb.1.1596403881668.1116446470")]
    pub fbp: Option<String>,
    /// Google Ads click id; taken from `landing_url` when absent.
    #[serde(default)]
    pub gclid: Option<String>,
    /// Google Ads click id of iOS app-to-web clicks; taken from `landing_url` when absent.
    #[serde(default)]
    pub gbraid: Option<String>,
    /// Google Ads click id of iOS web-to-app clicks; taken from `landing_url` when absent.
    #[serde(default)]
    pub wbraid: Option<String>,
    /// Meta's lead id (Conversion Leads: the leadgen id of an Instant Form lead), 15 to 17 digits. Anything else is a 422 at `meta_lead_id`.
    #[serde(default)]
    #[schema(example = "1234567890123456")]
    pub meta_lead_id: Option<String>,
    /// TikTok Lead Generation lead id (digits, at most 32), for TikTok CRM events. Anything else is a 422 at `tiktok_lead_id`.
    #[serde(default)]
    #[schema(example = "7301234567890123456")]
    pub tiktok_lead_id: Option<String>,
    /// Traffic source label, matched by rules' `when.source`.
    #[serde(default)]
    pub source: Option<String>,
    /// When the form was submitted; now when absent.
    #[serde(default)]
    pub occurred_at: Option<RawTime>,
    /// Free custom fields (a JSON object), matched by rules and shown on the lead record. At most 100 keys (all levels), 5 levels deep, 16 KiB as JSON, keys of 128 and strings of 4096 characters.
    #[serde(default, deserialize_with = "super::fields::bounded")]
    #[schema(value_type = Option<Object>)]
    pub fields: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A lead that passed validation: identifiers hashed, warnings collected.
pub type ValidLead = NewLead;

impl LeadRequest {
    /// Validates and hashes. Consumes the request so the raw identifiers die here.
    pub fn validate(self, policy: &IdentifierPolicy, now: i64) -> Result<ValidLead, ApiError> {
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let mut soft = |field: &str, problem: String, errors: &mut Vec<FieldError>| {
            if policy.strict {
                errors.push(FieldError::new(field, problem));
            } else {
                warnings.push(Warning::new(field, problem));
            }
        };

        let transaction_id = self.transaction_id.and_then(|t| {
            validate_transaction_id(&t, "transaction_id")
                .map_err(|e| errors.push(e))
                .ok()
        });

        // Each identifier: a usable length, then TikTok's normalization and SHA-256. Any failure
        // drops just that identifier (a warning) unless strict.
        let mut identifier = |field: &str,
                              value: Option<String>,
                              max: usize,
                              hash: &dyn Fn(&str) -> Result<Option<String>, String>,
                              errors: &mut Vec<FieldError>| {
            match soft_text(value, field, max) {
                Ok(Some(raw)) => match hash(&raw) {
                    Ok(hashed) => hashed,
                    Err(problem) => {
                        soft(field, problem, errors);
                        None
                    }
                },
                Ok(None) => None,
                Err(problem) => {
                    soft(field, problem, errors);
                    None
                }
            }
        };
        let email = identifier(
            "email",
            self.email,
            MAX_EMAIL_LEN,
            &|raw| {
                identity::hash_email(raw)
                    .map(|h| Some(h.into_string()))
                    .map_err(|e| e.to_string())
            },
            &mut errors,
        );
        let country = parse_country(self.country).unwrap_or_else(|e| {
            errors.push(e);
            None
        });
        // The phone's readings for pixels with their own region, and a note when only those read it.
        let regional: RefCell<PhoneExtras> = RefCell::default();
        let phone = identifier(
            "phone",
            self.phone,
            MAX_LABEL_LEN,
            &|raw| {
                let reading = super::phone::read(raw, country, policy);
                let read_elsewhere = !reading.by_region.is_empty();
                *regional.borrow_mut() = PhoneExtras {
                    by_region: reading.by_region,
                    note: reading.note,
                    digits: reading.digits,
                    digits_by_region: reading.digits_by_region,
                };
                match reading.phone {
                    Ok(hashed) => Ok(Some(hashed)),
                    // Read only with pixel regions: no `phone`, and the note says why.
                    Err(_) if read_elsewhere => Ok(None),
                    Err(problem) => Err(problem),
                }
            },
            &mut errors,
        );
        let external_id = identifier(
            "external_id",
            self.external_id,
            MAX_EXTERNAL_ID_LEN,
            &|raw| {
                identity::hash_external_id(raw)
                    .map(|h| Some(h.into_string()))
                    .map_err(|e| e.to_string())
            },
            &mut errors,
        );

        let ip = self
            .ip
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .and_then(|raw| match raw.parse::<IpAddr>() {
                Ok(ip) => Some(ip.to_string()),
                Err(_) => {
                    soft(
                        "ip",
                        format!("{} is not an IPv4 or IPv6 address", shorten(raw)),
                        &mut errors,
                    );
                    None
                }
            });
        let user_agent = soft_text(self.user_agent, "user_agent", MAX_USER_AGENT_LEN)
            .unwrap_or_else(|problem| {
                soft("user_agent", problem, &mut errors);
                None
            });
        // Click ids come from the landing URL when not given, even if the URL itself is unusable.
        let raw_landing = self
            .landing_url
            .as_deref()
            .map(str::trim)
            .map(str::to_owned);
        let landing_url = soft_url(self.landing_url, "landing_url").unwrap_or_else(|problem| {
            soft("landing_url", problem, &mut errors);
            None
        });
        let referrer = soft_url(self.referrer, "referrer").unwrap_or_else(|problem| {
            soft("referrer", problem, &mut errors);
            None
        });
        let ids = RawClickIds {
            ttclid: self.ttclid,
            ttp: self.ttp,
            fbclid: self.fbclid,
            fbc: self.fbc,
            fbp: self.fbp,
            gclid: self.gclid,
            gbraid: self.gbraid,
            wbraid: self.wbraid,
            meta_lead_id: self.meta_lead_id,
            tiktok_lead_id: self.tiktok_lead_id,
        }
        .validate(raw_landing.as_deref(), &mut soft, &mut errors);
        let source = opt_text(self.source, "source", MAX_LABEL_LEN, &mut errors);
        let occurred_at = self.occurred_at.as_ref().and_then(|raw| {
            validate_time(raw, "occurred_at", now)
                .map_err(|e| errors.push(e))
                .ok()
        });

        if !errors.is_empty() {
            return Err(ApiError::Invalid(errors));
        }
        let PhoneExtras {
            by_region: phone_by_region,
            note: phone_note,
            digits: phone_digits,
            digits_by_region: phone_digits_by_region,
        } = regional.into_inner();
        if let Some(note) = phone_note {
            warnings.push(Warning::new("phone", note));
        }
        Ok(NewLead {
            transaction_id,
            email,
            phone,
            phone_by_region,
            phone_digits,
            phone_digits_by_region,
            external_id,
            country: country.map(|c| c.to_string()),
            ip,
            user_agent,
            ttclid: ids.ttclid,
            ttp: ids.ttp,
            fbclid: ids.fbclid,
            fbc: ids.fbc,
            fbp: ids.fbp,
            gclid: ids.gclid,
            gbraid: ids.gbraid,
            wbraid: ids.wbraid,
            meta_lead_id: ids.meta_lead_id,
            tiktok_lead_id: ids.tiktok_lead_id,
            landing_url,
            referrer,
            source,
            occurred_at: Some(occurred_at.unwrap_or(now)),
            fields: self
                .fields
                .map(serde_json::Value::Object)
                .unwrap_or(serde_json::Value::Null),
            warnings,
        })
    }
}

/// `country`: trimmed, blank is absent, else a region [`Region::parse`] accepts.
pub(crate) fn parse_country(value: Option<String>) -> Result<Option<Region>, FieldError> {
    let Some(raw) = value.as_deref().map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    Region::parse(raw).map(Some).map_err(|e| {
        FieldError::new(
            "country",
            format!(
                "{}: {e}; expected an ISO 3166-1 alpha-2 code such as GB",
                shorten(raw)
            ),
        )
    })
}

/// A free-text signal: trimmed, empty is absent, too long or with control characters is unusable.
fn soft_text(value: Option<String>, field: &str, max: usize) -> Result<Option<String>, String> {
    let Some(value) = value else { return Ok(None) };
    let t = value.trim();
    if t.is_empty() {
        return Ok(None);
    }
    if t.chars().count() > max {
        return Err(format!("{field} is longer than {max} characters"));
    }
    if t.chars().any(char::is_control) {
        return Err(format!("{field} contains control characters"));
    }
    Ok(Some(t.to_owned()))
}

/// A page URL: must be absolute http(s), because TikTok's `page.url` is.
fn soft_url(value: Option<String>, field: &str) -> Result<Option<String>, String> {
    let Some(text) = soft_text(value, field, MAX_URL_LEN)? else {
        return Ok(None);
    };
    match url::Url::parse(&text) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(Some(text)),
        _ => Err(format!("{} is not an absolute http(s) URL", shorten(&text))),
    }
}

/// Quotes a value for a message, cut to 40 characters (no need to echo a whole blob back).
fn shorten(s: &str) -> String {
    let cut: String = s.chars().take(40).collect();
    if cut.len() < s.len() {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_750_000_000;

    fn policy(strict: bool) -> IdentifierPolicy {
        IdentifierPolicy {
            default_region: Region::parse("US").unwrap(),
            strict,
            pixel_regions: Vec::new(),
        }
    }

    fn lead(json: serde_json::Value) -> LeadRequest {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn hashes_identifiers_and_keeps_no_raw_value() {
        let v = lead(serde_json::json!({
            "email": " ALICE_abc@gmail.com ",
            "phone": "(+1)2133734253",
            "external_id": "user_123",
            "ip": "203.0.113.1",
        }))
        .validate(&policy(false), NOW)
        .unwrap();
        assert_eq!(
            v.email.as_deref(),
            Some("848a771458438fc2ec420560d769fb9b9b86851ee338ec56517baabd79d3bb4f")
        );
        assert_eq!(
            v.phone.as_deref(),
            Some("9f7ec22d72092cd3c0b58726ed9c2d91b92e51a3f29837508fb2948bb22dd2fd")
        );
        assert_eq!(
            v.external_id.as_deref(),
            Some("80fba0ae1c48e3978e43e4efc365e14e12ea0c830ba8ba5b9a2dafc7e3f2ab8b")
        );
        let all = serde_json::to_string(&v).unwrap();
        assert!(!all.contains("gmail"), "{all}");
        assert!(v.warnings.is_empty());
    }

    #[test]
    fn malformed_identifiers_become_warnings_and_the_lead_is_kept() {
        let v = lead(serde_json::json!({
            "transaction_id": "t-1",
            "email": "not-an-email",
            "phone": "12",
            "ip": "999.1.1.1",
            "landing_url": "/relative?ttclid=abc",
        }))
        .validate(&policy(false), NOW)
        .unwrap();
        let fields: Vec<&str> = v.warnings.iter().map(|w| w.field.as_str()).collect();
        assert_eq!(fields, ["email", "phone", "ip", "landing_url"]);
        assert!(v.email.is_none() && v.phone.is_none() && v.ip.is_none());
        assert_eq!(
            v.ttclid.as_deref(),
            Some("abc"),
            "ttclid still taken from the URL"
        );
        let problem = &v.warnings[0].problem;
        assert!(!problem.is_empty());
    }

    #[test]
    fn an_overlong_identifier_is_a_warning_not_an_error() {
        let v = lead(serde_json::json!({"email": format!("{}@example.com", "a".repeat(400))}))
            .validate(&policy(false), NOW)
            .unwrap();
        assert_eq!(v.warnings[0].field, "email");
        assert!(v.email.is_none());
    }

    #[test]
    fn strict_identifiers_turn_warnings_into_422_naming_the_field() {
        let err = lead(serde_json::json!({"email": "not-an-email", "phone": "+12133734253"}))
            .validate(&policy(true), NOW)
            .unwrap_err();
        let problem = err.problem();
        assert_eq!(problem.status, 422);
        assert_eq!(problem.field.as_deref(), Some("email"));
    }

    #[test]
    fn a_country_is_stored_upper_case_and_reads_the_phone() {
        let v = lead(serde_json::json!({"phone": "0612345678", "country": " fr "}))
            .validate(&policy(false), NOW)
            .unwrap();
        assert_eq!(v.country.as_deref(), Some("FR"));
        let want = identity::hash_phone("+33612345678", Region::parse("US").unwrap())
            .unwrap()
            .into_string();
        assert_eq!(v.phone.as_deref(), Some(want.as_str()));
        assert!(v.phone_by_region.is_empty() && v.warnings.is_empty());
    }

    #[test]
    fn a_bad_country_is_a_422_at_country_even_when_not_strict() {
        for bad in ["XX", "USA", "1", "g b"] {
            let err = lead(serde_json::json!({"country": bad, "phone": "+12133734253"}))
                .validate(&policy(false), NOW)
                .unwrap_err();
            let problem = err.problem();
            assert_eq!(problem.status, 422, "{bad}");
            assert_eq!(problem.field.as_deref(), Some("country"), "{bad}");
        }
        let blank = lead(serde_json::json!({"country": "  "}))
            .validate(&policy(false), NOW)
            .unwrap();
        assert_eq!(blank.country, None);
    }

    #[test]
    fn a_phone_only_a_pixel_region_reads_is_kept_for_it_with_a_warning_even_when_strict() {
        let mut p = policy(true);
        p.pixel_regions = vec![Region::parse("FR").unwrap()];
        let v = lead(serde_json::json!({"phone": "0612345678"}))
            .validate(&p, NOW)
            .unwrap();
        assert_eq!(v.phone, None);
        assert!(v.phone_by_region.contains_key("FR"));
        assert_eq!(v.warnings.len(), 1);
        assert_eq!(v.warnings[0].field, "phone");
    }

    #[test]
    fn ttclid_from_landing_url_unless_given() {
        let from_url = lead(serde_json::json!({
            "landing_url": "https://lp.example.com/?utm=x&ttclid=E.C.P.from-url"
        }))
        .validate(&policy(false), NOW)
        .unwrap();
        assert_eq!(from_url.ttclid.as_deref(), Some("E.C.P.from-url"));
        let given = lead(serde_json::json!({
            "ttclid": "explicit",
            "landing_url": "https://lp.example.com/?ttclid=E.C.P.from-url"
        }))
        .validate(&policy(false), NOW)
        .unwrap();
        assert_eq!(given.ttclid.as_deref(), Some("explicit"));
    }

    #[test]
    fn occurred_at_defaults_to_now_and_bad_times_are_errors_not_warnings() {
        let v = lead(serde_json::json!({}))
            .validate(&policy(false), NOW)
            .unwrap();
        assert_eq!(v.occurred_at, Some(NOW));
        let err = lead(serde_json::json!({"occurred_at": 1_750_000_000_000i64}))
            .validate(&policy(false), NOW)
            .unwrap_err();
        assert_eq!(err.problem().field.as_deref(), Some("occurred_at"));
    }
}
