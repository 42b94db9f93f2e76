//! Field paths: the names rules use for what a lead and its lifecycle event carry (`buyer`,
//! `revenue`, `source`, `fields.vertical`, …), parsed once at config load (an unknown name is a config
//! error, never a silent "missing") and resolved against a lead and an event at match time. Conditions,
//! templates and transforms all read values through here, so "what is a field" is decided once.

use std::borrow::Cow;
use std::fmt;

use serde_json::{Map, Value};

use crate::domain::{Lead, LifecycleEvent};

/// A named value of a lead or of its lifecycle event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    TransactionId,
    Trigger,
    /// The custom event's name.
    Name,
    Buyer,
    Offer,
    Revenue,
    Payout,
    Currency,
    /// The lifecycle event's time, unix seconds.
    OccurredAt,
    IdempotencyKey,
    Source,
    Ttclid,
    Ttp,
    /// Meta's click id, case kept.
    Fbclid,
    /// Meta's `_fbc` cookie.
    Fbc,
    /// Meta's `_fbp` cookie.
    Fbp,
    /// Google Ads click ids.
    Gclid,
    Gbraid,
    Wbraid,
    /// CRM lead ids (Meta Conversion Leads, TikTok Lead Generation).
    MetaLeadId,
    TiktokLeadId,
    Ip,
    UserAgent,
    LandingUrl,
    Referrer,
    /// SHA-256 hex (identifiers never exist raw past the edge).
    Email,
    Phone,
    ExternalId,
    /// ISO alpha-2, upper-case; a lead without one reads `fields.country` as it was written.
    Country,
    /// The lead's submission time, unix seconds.
    CreatedAt,
    /// A path into the lead's free JSON `fields` (`fields.address.state` → `["address", "state"]`).
    Custom(Vec<String>),
}

/// What values a field holds, for load-time checks of operators and literals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Number,
    /// A custom field: any JSON value.
    Any,
}

/// The core fields by name, with their kinds.
const NAMED: &[(&str, Field, FieldKind)] = &[
    ("transaction_id", Field::TransactionId, FieldKind::Text),
    ("trigger", Field::Trigger, FieldKind::Text),
    ("name", Field::Name, FieldKind::Text),
    ("buyer", Field::Buyer, FieldKind::Text),
    ("offer", Field::Offer, FieldKind::Text),
    ("revenue", Field::Revenue, FieldKind::Number),
    ("payout", Field::Payout, FieldKind::Number),
    ("currency", Field::Currency, FieldKind::Text),
    ("occurred_at", Field::OccurredAt, FieldKind::Number),
    ("idempotency_key", Field::IdempotencyKey, FieldKind::Text),
    ("source", Field::Source, FieldKind::Text),
    ("ttclid", Field::Ttclid, FieldKind::Text),
    ("ttp", Field::Ttp, FieldKind::Text),
    ("fbclid", Field::Fbclid, FieldKind::Text),
    ("fbc", Field::Fbc, FieldKind::Text),
    ("fbp", Field::Fbp, FieldKind::Text),
    ("gclid", Field::Gclid, FieldKind::Text),
    ("gbraid", Field::Gbraid, FieldKind::Text),
    ("wbraid", Field::Wbraid, FieldKind::Text),
    ("meta_lead_id", Field::MetaLeadId, FieldKind::Text),
    ("tiktok_lead_id", Field::TiktokLeadId, FieldKind::Text),
    ("ip", Field::Ip, FieldKind::Text),
    ("user_agent", Field::UserAgent, FieldKind::Text),
    ("landing_url", Field::LandingUrl, FieldKind::Text),
    ("referrer", Field::Referrer, FieldKind::Text),
    ("email", Field::Email, FieldKind::Text),
    ("phone", Field::Phone, FieldKind::Text),
    ("external_id", Field::ExternalId, FieldKind::Text),
    ("country", Field::Country, FieldKind::Text),
    ("created_at", Field::CreatedAt, FieldKind::Number),
];

/// Address parts the lead API keeps in `fields`: `state` means `fields.state`, `zip` `fields.zip`.
/// (`country` is the lead's own field now, falling back to `fields.country`.)
const ALIASES: &[&str] = &["state", "zip", "city"];

/// A parsed field name, remembering how it was spelled (errors and explanations show that).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    field: Field,
    spelled: String,
}

/// A value read from a lead or event. JSON `null` reads as missing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Val<'a> {
    Str(&'a str),
    Num(f64),
    Bool(bool),
    List(&'a [Value]),
    Object(&'a Map<String, Value>),
}

impl FieldPath {
    /// Parses a field name: a core field, an address alias, or `fields.<path>`.
    pub fn parse(name: &str) -> Result<FieldPath, String> {
        let name = name.trim();
        if let Some((_, field, _)) = NAMED.iter().find(|(n, _, _)| *n == name) {
            return Ok(FieldPath {
                field: field.clone(),
                spelled: name.to_owned(),
            });
        }
        if ALIASES.contains(&name) {
            return Ok(FieldPath {
                field: Field::Custom(vec![name.to_owned()]),
                spelled: name.to_owned(),
            });
        }
        if let Some(rest) = name.strip_prefix("fields.") {
            let segments: Vec<String> = rest.split('.').map(str::to_owned).collect();
            if segments.iter().any(|s| s.trim().is_empty()) {
                return Err(format!("{name:?} has an empty segment"));
            }
            return Ok(FieldPath {
                field: Field::Custom(segments),
                spelled: name.to_owned(),
            });
        }
        Err(format!(
            "unknown field {name:?} (known: {}, {}, or fields.<name> for the lead's custom fields)",
            NAMED
                .iter()
                .map(|(n, _, _)| *n)
                .collect::<Vec<_>>()
                .join(", "),
            ALIASES.join(", ")
        ))
    }

    /// `transaction_id` (the default event_id).
    pub fn transaction_id() -> FieldPath {
        FieldPath {
            field: Field::TransactionId,
            spelled: "transaction_id".to_owned(),
        }
    }

    /// The field.
    pub fn field(&self) -> &Field {
        &self.field
    }

    /// The name as written in the config.
    pub fn as_str(&self) -> &str {
        &self.spelled
    }

    /// What values it holds.
    pub fn kind(&self) -> FieldKind {
        match &self.field {
            Field::Custom(_) => FieldKind::Any,
            f => NAMED
                .iter()
                .find(|(_, named, _)| named == f)
                .map_or(FieldKind::Any, |(_, _, kind)| *kind),
        }
    }

    /// Reads the field; `None` when the lead or event does not have it.
    pub fn resolve<'a>(&self, lead: &'a Lead, event: &'a LifecycleEvent) -> Option<Val<'a>> {
        let text = |s: &'a Option<String>| s.as_deref().map(Val::Str);
        match &self.field {
            Field::TransactionId => Some(Val::Str(&event.transaction_id)),
            Field::Trigger => Some(Val::Str(event.trigger.as_str())),
            Field::Name => text(&event.name),
            Field::Buyer => text(&event.buyer),
            Field::Offer => text(&event.offer),
            Field::Revenue => event.revenue.map(Val::Num),
            Field::Payout => event.payout.map(Val::Num),
            Field::Currency => text(&event.currency),
            Field::OccurredAt => Some(Val::Num(event.occurred_at as f64)),
            Field::IdempotencyKey => text(&event.idempotency_key),
            Field::Source => text(&lead.source),
            Field::Ttclid => text(&lead.ttclid),
            Field::Ttp => text(&lead.ttp),
            Field::Fbclid => text(&lead.fbclid),
            Field::Fbc => text(&lead.fbc),
            Field::Fbp => text(&lead.fbp),
            Field::Gclid => text(&lead.gclid),
            Field::Gbraid => text(&lead.gbraid),
            Field::Wbraid => text(&lead.wbraid),
            Field::MetaLeadId => text(&lead.meta_lead_id),
            Field::TiktokLeadId => text(&lead.tiktok_lead_id),
            Field::Ip => text(&lead.ip),
            Field::UserAgent => text(&lead.user_agent),
            Field::LandingUrl => text(&lead.landing_url),
            Field::Referrer => text(&lead.referrer),
            Field::Email => text(&lead.email),
            Field::Phone => text(&lead.phone),
            Field::ExternalId => text(&lead.external_id),
            Field::Country => text(&lead.country).or_else(|| match &lead.fields {
                Value::Object(map) => map.get("country").and_then(Val::from_json),
                _ => None,
            }),
            Field::CreatedAt => Some(Val::Num(lead.created_at as f64)),
            Field::Custom(path) => {
                let mut at = &lead.fields;
                for segment in path {
                    at = match at {
                        Value::Object(map) => map.get(segment)?,
                        Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
                        _ => return None,
                    };
                }
                Val::from_json(at)
            }
        }
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.spelled)
    }
}

impl<'a> Val<'a> {
    /// A JSON value as a field value; `null` is missing.
    pub fn from_json(v: &'a Value) -> Option<Val<'a>> {
        match v {
            Value::Null => None,
            Value::Bool(b) => Some(Val::Bool(*b)),
            Value::Number(n) => n.as_f64().map(Val::Num),
            Value::String(s) => Some(Val::Str(s)),
            Value::Array(items) => Some(Val::List(items)),
            Value::Object(map) => Some(Val::Object(map)),
        }
    }

    /// The value as a number: a number, or a string that is one after trimming (`" 12.5 "`).
    /// Anything else (`"12 USD"`, `true`, a list) is not a number.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Val::Num(n) => Some(*n),
            Val::Str(s) => parse_number(s),
            _ => None,
        }
    }

    /// The value as text: strings as they are, numbers without a trailing `.0`, booleans as
    /// `true`/`false`, lists and objects as JSON.
    pub fn text(&self) -> Cow<'a, str> {
        match self {
            Val::Str(s) => Cow::Borrowed(s),
            Val::Num(n) => Cow::Owned(format_number(*n)),
            Val::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Val::List(items) => Cow::Owned(Value::Array(items.to_vec()).to_string()),
            Val::Object(map) => Cow::Owned(Value::Object((*map).clone()).to_string()),
        }
    }

    /// The value as JSON (for explanations).
    pub fn to_json(&self) -> Value {
        match self {
            Val::Str(s) => Value::String((*s).to_owned()),
            Val::Num(n) => number_json(*n),
            Val::Bool(b) => Value::Bool(*b),
            Val::List(items) => Value::Array(items.to_vec()),
            Val::Object(map) => Value::Object((*map).clone()),
        }
    }

    /// Whether the value counts as present for `exists`: not an empty or blank string.
    pub fn is_present(&self) -> bool {
        !matches!(self, Val::Str(s) if s.trim().is_empty())
    }
}

/// Parses a trimmed decimal number; infinities and NaN are not numbers.
pub fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty()
        || t.chars()
            .any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
    {
        return None;
    }
    t.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// `10` for 10.0, `12.5` for 12.5: how numbers read in templates and lookups.
pub fn format_number(n: f64) -> String {
    if n == n.trunc() && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// A number as JSON: integral values stay integers (`10`, not `10.0`).
pub fn number_json(n: f64) -> Value {
    if n == n.trunc() && n.abs() < 9.0e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Trigger;
    use serde_json::json;

    fn lead() -> Lead {
        Lead {
            transaction_id: "tx".into(),
            email: None,
            phone: None,
            external_id: None,
            country: None,
            phone_by_region: Default::default(),
            phone_digits: None,
            phone_digits_by_region: Default::default(),
            ip: None,
            user_agent: None,
            ttclid: Some("E.C.P.x".into()),
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
            source: Some("tiktok".into()),
            fields: json!({"vertical": "auto", "state": "CA", "n": "12.50",
                           "address": {"zip": "02134"}, "tags": ["a", "b"], "gone": null}),
            created_at: 5,
            warnings: vec![],
        }
    }

    fn event() -> LifecycleEvent {
        LifecycleEvent {
            id: 1,
            transaction_id: "tx".into(),
            trigger: Trigger::LeadSold,
            name: None,
            buyer: Some("acme".into()),
            offer: None,
            revenue: Some(10.0),
            payout: Some(0.0),
            currency: None,
            occurred_at: 7,
            idempotency_key: None,
        }
    }

    #[test]
    fn resolves_core_fields_aliases_and_custom_paths() {
        let (l, e) = (lead(), event());
        let get = |name: &str| FieldPath::parse(name).unwrap().resolve(&l, &e);
        assert_eq!(get("buyer"), Some(Val::Str("acme")));
        assert_eq!(get("trigger"), Some(Val::Str("lead_sold")));
        assert_eq!(get("revenue"), Some(Val::Num(10.0)));
        assert_eq!(get("payout"), Some(Val::Num(0.0)), "0 is a value");
        assert_eq!(get("offer"), None);
        assert_eq!(get("source"), Some(Val::Str("tiktok")));
        assert_eq!(get("state"), Some(Val::Str("CA")));
        assert_eq!(get("fields.address.zip"), Some(Val::Str("02134")));
        assert_eq!(get("fields.tags.1"), Some(Val::Str("b")));
        assert_eq!(get("fields.gone"), None, "null reads as missing");
        assert_eq!(get("fields.vertical.deeper"), None);
        assert_eq!(get("occurred_at"), Some(Val::Num(7.0)));
    }

    #[test]
    fn click_ids_and_lead_ids_are_addressable_by_their_lead_field_names() {
        let e = event();
        let l = Lead {
            fbclid: Some("IwAR1xYz".into()),
            fbc: Some("fb.1.1700000000000.IwAR1xYz".into()),
            fbp: Some("fb.1.1700000000000.42".into()),
            gclid: Some("Cj0K".into()),
            gbraid: Some("0AAA".into()),
            wbraid: Some("CjkK".into()),
            meta_lead_id: Some("123456789012345".into()),
            tiktok_lead_id: Some("7301".into()),
            ..lead()
        };
        for (name, want) in [
            ("fbclid", "IwAR1xYz"),
            ("fbc", "fb.1.1700000000000.IwAR1xYz"),
            ("fbp", "fb.1.1700000000000.42"),
            ("gclid", "Cj0K"),
            ("gbraid", "0AAA"),
            ("wbraid", "CjkK"),
            ("meta_lead_id", "123456789012345"),
            ("tiktok_lead_id", "7301"),
        ] {
            let path = FieldPath::parse(name).unwrap();
            assert_eq!(path.kind(), FieldKind::Text, "{name}");
            assert_eq!(path.resolve(&l, &e), Some(Val::Str(want)), "{name}");
            assert_eq!(path.resolve(&lead(), &e), None, "{name} absent");
        }
    }

    #[test]
    fn country_is_the_leads_own_falling_back_to_its_custom_field() {
        let e = event();
        let mut l = lead();
        let country = FieldPath::parse("country").unwrap();
        assert_eq!(country.kind(), FieldKind::Text);
        assert_eq!(country.resolve(&l, &e), None);
        l.fields["country"] = json!("it");
        assert_eq!(country.resolve(&l, &e), Some(Val::Str("it")));
        l.country = Some("GB".into());
        assert_eq!(country.resolve(&l, &e), Some(Val::Str("GB")));
    }

    #[test]
    fn rejects_unknown_names_and_empty_segments() {
        let err = FieldPath::parse("buyr").unwrap_err();
        assert!(err.contains("unknown field \"buyr\"") && err.contains("fields.<name>"));
        assert!(FieldPath::parse("fields.").is_err());
        assert!(FieldPath::parse("fields.a..b").is_err());
        assert_eq!(
            FieldPath::parse("revenue").unwrap().kind(),
            FieldKind::Number
        );
        assert_eq!(FieldPath::parse("zip").unwrap().kind(), FieldKind::Any);
    }

    #[test]
    fn numbers_parse_from_trimmed_decimal_strings_only() {
        for (s, want) in [
            (" 12.5 ", Some(12.5)),
            ("1e3", Some(1000.0)),
            ("-3", Some(-3.0)),
            ("12 USD", None),
            ("inf", None),
            ("NaN", None),
            ("", None),
            ("$5", None),
        ] {
            assert_eq!(parse_number(s), want, "{s:?}");
        }
        assert_eq!(format_number(10.0), "10");
        assert_eq!(format_number(12.5), "12.5");
        assert_eq!(number_json(3.0), json!(3));
        assert_eq!(number_json(3.25), json!(3.25));
    }
}
