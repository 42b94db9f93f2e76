//! Request bodies as clients send them, and their validation into the gateway's inputs.
//!
//! Two stages: serde reads the shape (wrong types and unknown fields are caught there, with their
//! path, by `json.rs`), then `validate` checks values and collects *every* bad field at once, so a
//! client fixes its request in one round trip. Decisions made here, for the API docs:
//! - `occurred_at`: an RFC 3339 string (`2025-06-01T12:00:00Z`, any offset) or integer epoch
//!   seconds (also as a digit string). Values above 10^10 are refused as "milliseconds", times more
//!   than 5 minutes in the future and before 2000 are refused. Absent → now.
//! - `revenue`: a JSON number, or a plain decimal string (`"12.50"`) because form tools and
//!   offer-wall macros send strings. No signs, symbols, thousands separators or exponents; never
//!   negative. `0` is a value, not "absent".
//! - `currency`: TikTok's list, any case (`usd` → `USD`).
//! - `type`: `lead_sold` | `offer_click` | `offer_conversion` | `buyer_routed` | `custom`; `custom`
//!   requires `name` (letters, digits, `_`, `-`, starting with a letter, ≤ 50), other types refuse it.
//! - Unknown fields are refused: a typo (`emial`) must not silently cost a conversion.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use signalpost_tiktok::currency::Currency;
use signalpost_tiktok::event_name;

use super::problem::{ApiError, FieldError};

/// Latest accepted `occurred_at`, relative to now: clocks drift, but not by hours.
pub const MAX_FUTURE_SECS: i64 = 5 * 60;
/// Above this an epoch value is taken for milliseconds (10^10 s is the year 2286).
pub const MILLIS_THRESHOLD: i64 = 10_000_000_000;
/// 2000-01-01T00:00:00Z: anything earlier is a unit or zero-value bug, not a lead.
pub const EARLIEST_SECS: i64 = 946_684_800;
/// Longest `transaction_id` (TikTok's `event_id` is built from it).
pub const MAX_TRANSACTION_ID_LEN: usize = 128;
/// Longest idempotency key.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;
/// Longest short label (`buyer`, `offer`, `source`).
pub const MAX_LABEL_LEN: usize = 256;

/// A time as sent: epoch seconds or text. Checked against the clock in [`validate_time`].
#[derive(Debug, Clone, PartialEq)]
pub enum RawTime {
    Seconds(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for RawTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TimeVisitor;
        impl Visitor<'_> for TimeVisitor {
            type Value = RawTime;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an RFC 3339 timestamp string or integer epoch seconds")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawTime, E> {
                Ok(RawTime::Seconds(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawTime, E> {
                Ok(RawTime::Seconds(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawTime, E> {
                Err(E::custom(format!(
                    "epoch seconds must be an integer (got {v}); send whole seconds or an RFC 3339 string"
                )))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawTime, E> {
                Ok(RawTime::Text(v.to_owned()))
            }
        }
        deserializer.deserialize_any(TimeVisitor)
    }
}

/// Turns a sent time into epoch seconds, refusing milliseconds, the future and the distant past.
pub fn validate_time(raw: &RawTime, field: &str, now: i64) -> Result<i64, FieldError> {
    let secs = match raw {
        RawTime::Seconds(s) => *s,
        RawTime::Text(text) => {
            let text = text.trim();
            if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
                text.parse::<i64>().unwrap_or(i64::MAX)
            } else {
                chrono::DateTime::parse_from_rfc3339(text)
                    .map(|t| t.timestamp())
                    .map_err(|e| {
                        FieldError::new(
                            field,
                            format!(
                                "{text:?} is not an RFC 3339 timestamp ({e}); send e.g. \"2025-06-01T12:00:00Z\" or epoch seconds"
                            ),
                        )
                    })?
            }
        }
    };
    if secs >= MILLIS_THRESHOLD {
        return Err(FieldError::new(
            field,
            format!(
                "{secs} looks like milliseconds; send epoch seconds (e.g. {})",
                secs / 1000
            ),
        ));
    }
    if secs > now + MAX_FUTURE_SECS {
        return Err(FieldError::new(
            field,
            format!(
                "{secs} is {} s in the future; at most {MAX_FUTURE_SECS} s of clock drift is allowed",
                secs - now
            ),
        ));
    }
    if secs < EARLIEST_SECS {
        return Err(FieldError::new(
            field,
            format!("{secs} is before 2000-01-01; send the event's time in epoch seconds"),
        ));
    }
    Ok(secs)
}

/// A revenue as sent: a JSON number or a decimal string. Checked in [`validate_revenue`].
#[derive(Debug, Clone, PartialEq)]
pub enum RawRevenue {
    Number(f64),
    Text(String),
}

impl<'de> Deserialize<'de> for RawRevenue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RevenueVisitor;
        impl Visitor<'_> for RevenueVisitor {
            type Value = RawRevenue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number or a decimal string like \"12.50\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawRevenue, E> {
                Ok(RawRevenue::Number(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawRevenue, E> {
                Ok(RawRevenue::Number(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawRevenue, E> {
                Ok(RawRevenue::Number(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawRevenue, E> {
                Ok(RawRevenue::Text(v.to_owned()))
            }
        }
        deserializer.deserialize_any(RevenueVisitor)
    }
}

/// A revenue as a non-negative finite number.
pub fn validate_revenue(raw: &RawRevenue, field: &str) -> Result<f64, FieldError> {
    let value = match raw {
        RawRevenue::Number(n) => *n,
        RawRevenue::Text(text) => parse_decimal(text).ok_or_else(|| {
            FieldError::new(
                field,
                format!(
                    "{text:?} is not a plain decimal amount; send digits with an optional '.' (e.g. 12.50), no currency symbols or separators"
                ),
            )
        })?,
    };
    if !value.is_finite() || value < 0.0 {
        return Err(FieldError::new(
            field,
            format!("{value} is not a valid amount; revenue must be zero or positive"),
        ));
    }
    Ok(value)
}

/// `12`, `12.5`, `.5`, `12.` → a number; anything with other characters → none.
fn parse_decimal(text: &str) -> Option<f64> {
    let t = text.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
        return None;
    }
    t.parse().ok()
}

/// Checks a currency against TikTok's list.
pub fn validate_currency(raw: &str, field: &str) -> Result<Currency, FieldError> {
    Currency::parse(raw).map_err(|e| FieldError::new(field, e.to_string()))
}

/// The lifecycle event types a client may send (`form_submit` is fired by `POST /v1/leads`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    LeadSold,
    OfferClick,
    OfferConversion,
    BuyerRouted,
    Custom,
}

impl EventType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::LeadSold => "lead_sold",
            EventType::OfferClick => "offer_click",
            EventType::OfferConversion => "offer_conversion",
            EventType::BuyerRouted => "buyer_routed",
            EventType::Custom => "custom",
        }
    }

    /// Parses a wire name (the postback's `type=`), with an error listing the accepted names.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "lead_sold" => Ok(EventType::LeadSold),
            "offer_click" => Ok(EventType::OfferClick),
            "offer_conversion" => Ok(EventType::OfferConversion),
            "buyer_routed" => Ok(EventType::BuyerRouted),
            "custom" => Ok(EventType::Custom),
            "form_submit" => Err(
                "form_submit is fired by POST /v1/leads, not sent as an event; expected one of lead_sold, offer_click, offer_conversion, buyer_routed, custom".into(),
            ),
            other => Err(format!(
                "unknown event type {other:?}; expected one of lead_sold, offer_click, offer_conversion, buyer_routed, custom"
            )),
        }
    }
}

/// `POST /v1/leads/{transaction_id}/events` body (also a batch item's `event`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRequest {
    /// Kept as text so an unknown type gets our message, not serde's.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub buyer: Option<String>,
    #[serde(default)]
    pub offer: Option<String>,
    #[serde(default)]
    pub revenue: Option<RawRevenue>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub occurred_at: Option<RawTime>,
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// A lifecycle event that passed validation, ready for the gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidEvent {
    pub kind: EventType,
    pub name: Option<String>,
    pub buyer: Option<String>,
    pub offer: Option<String>,
    pub revenue: Option<f64>,
    pub currency: Option<Currency>,
    /// Epoch seconds; `now` when not sent.
    pub occurred_at: i64,
    pub idempotency_key: Option<String>,
}

impl EventRequest {
    /// Validates every field; `header_key` is the `Idempotency-Key` header, if any.
    pub fn validate(self, header_key: Option<&str>, now: i64) -> Result<ValidEvent, ApiError> {
        let mut errors = Vec::new();
        let kind = EventType::parse(&self.kind)
            .map_err(|detail| errors.push(FieldError::new("type", detail)))
            .ok();
        let name = opt_text(
            self.name,
            "name",
            event_name::MAX_CUSTOM_EVENT_LEN,
            &mut errors,
        );
        let name = match (kind, name) {
            (Some(EventType::Custom), None) => {
                errors.push(FieldError::new(
                    "name",
                    "name is required when type is custom",
                ));
                None
            }
            (Some(EventType::Custom), Some(name)) => match event_name::validate_custom(&name) {
                Ok(()) => Some(name),
                Err(e) => {
                    errors.push(FieldError::new("name", e.to_string()));
                    None
                }
            },
            (Some(other), Some(_)) => {
                errors.push(FieldError::new(
                    "name",
                    format!("name is only used with type custom, not {}", other.as_str()),
                ));
                None
            }
            (_, name) => name,
        };
        let buyer = opt_text(self.buyer, "buyer", MAX_LABEL_LEN, &mut errors);
        let offer = opt_text(self.offer, "offer", MAX_LABEL_LEN, &mut errors);
        let revenue = self.revenue.as_ref().and_then(|r| {
            validate_revenue(r, "revenue")
                .map_err(|e| errors.push(e))
                .ok()
        });
        let currency = opt_text(self.currency, "currency", 16, &mut errors).and_then(|c| {
            validate_currency(&c, "currency")
                .map_err(|e| errors.push(e))
                .ok()
        });
        let occurred_at = match &self.occurred_at {
            Some(raw) => validate_time(raw, "occurred_at", now)
                .map_err(|e| errors.push(e))
                .unwrap_or(now),
            None => now,
        };
        let idempotency_key = merge_idempotency_key(self.idempotency_key, header_key, &mut errors);
        match kind {
            Some(kind) if errors.is_empty() => Ok(ValidEvent {
                kind,
                name,
                buyer,
                offer,
                revenue,
                currency,
                occurred_at,
                idempotency_key,
            }),
            _ => Err(ApiError::Invalid(errors)),
        }
    }
}

fn merge_idempotency_key(
    body: Option<String>,
    header: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let body = opt_text(body, "idempotency_key", MAX_IDEMPOTENCY_KEY_LEN, errors);
    let header = header.map(str::trim).filter(|h| !h.is_empty());
    match (body, header) {
        (Some(b), Some(h)) if b != h => {
            errors.push(FieldError::new(
                "idempotency_key",
                "idempotency_key differs from the Idempotency-Key header; send one of them",
            ));
            None
        }
        (Some(b), _) => Some(b),
        (None, Some(h)) if h.chars().count() > MAX_IDEMPOTENCY_KEY_LEN => {
            errors.push(FieldError::new(
                "idempotency_key",
                format!(
                    "the Idempotency-Key header is longer than {MAX_IDEMPOTENCY_KEY_LEN} characters"
                ),
            ));
            None
        }
        (None, h) => h.map(str::to_owned),
    }
}

/// Trims a text field; empty is absent; longer than `max` characters is an error.
pub fn opt_text(
    value: Option<String>,
    field: &str,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let value = value?;
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return None;
    }
    if trimmed.chars().count() > max {
        errors.push(FieldError::new(
            field,
            format!("{field} is longer than {max} characters"),
        ));
        return None;
    }
    if trimmed.chars().any(char::is_control) {
        errors.push(FieldError::new(
            field,
            format!("{field} contains control characters"),
        ));
        return None;
    }
    Some(trimmed.to_owned())
}

/// Checks a client-supplied transaction id: 1–128 printable characters without spaces.
pub fn validate_transaction_id(raw: &str, field: &str) -> Result<String, FieldError> {
    let t = raw.trim();
    if t.is_empty() {
        return Err(FieldError::new(field, "transaction_id must not be empty"));
    }
    if t.chars().count() > MAX_TRANSACTION_ID_LEN {
        return Err(FieldError::new(
            field,
            format!("transaction_id is longer than {MAX_TRANSACTION_ID_LEN} characters"),
        ));
    }
    if t.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(FieldError::new(
            field,
            "transaction_id must not contain spaces or control characters",
        ));
    }
    Ok(t.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_750_000_000;

    fn event(json: serde_json::Value) -> EventRequest {
        serde_json::from_value(json).unwrap()
    }

    fn fields(err: ApiError) -> Vec<String> {
        match err {
            ApiError::Invalid(errors) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn accepts_rfc3339_with_offsets_and_epoch_seconds() {
        let cases = [
            (RawTime::Text("2025-06-15T15:06:40Z".into()), 1_750_000_000),
            (
                RawTime::Text("2025-06-15T17:06:40+02:00".into()),
                1_750_000_000,
            ),
            (RawTime::Seconds(1_749_999_000), 1_749_999_000),
            (RawTime::Text("1749999000".into()), 1_749_999_000),
        ];
        for (raw, want) in cases {
            assert_eq!(validate_time(&raw, "occurred_at", NOW), Ok(want), "{raw:?}");
        }
    }

    #[test]
    fn rejects_event_time_in_milliseconds() {
        let err =
            validate_time(&RawTime::Seconds(1_750_000_000_000), "occurred_at", NOW).unwrap_err();
        assert_eq!(err.field, "occurred_at");
        assert!(err.detail.contains("milliseconds"), "{}", err.detail);
        assert!(err.detail.contains("1750000000"), "{}", err.detail);
    }

    #[test]
    fn rejects_future_past_and_garbage_times() {
        assert!(validate_time(&RawTime::Seconds(NOW + 301), "t", NOW).is_err());
        assert!(validate_time(&RawTime::Seconds(NOW + 299), "t", NOW).is_ok());
        assert!(validate_time(&RawTime::Seconds(0), "t", NOW).is_err());
        assert!(validate_time(&RawTime::Seconds(-5), "t", NOW).is_err());
        let err = validate_time(&RawTime::Text("yesterday".into()), "t", NOW).unwrap_err();
        assert!(err.detail.contains("RFC 3339"), "{}", err.detail);
        assert!(validate_time(&RawTime::Text("2025-06-15 15:06:40".into()), "t", NOW).is_err());
    }

    #[test]
    fn fractional_epoch_seconds_are_a_type_error() {
        let err = serde_json::from_str::<RawTime>("1750000000.5").unwrap_err();
        assert!(err.to_string().contains("must be an integer"), "{err}");
        assert!(serde_json::from_str::<RawTime>("true").is_err());
    }

    #[test]
    fn revenue_accepts_numbers_and_plain_decimal_strings_only() {
        let ok = [
            (RawRevenue::Number(12.5), 12.5),
            (RawRevenue::Number(0.0), 0.0),
            (RawRevenue::Text("12.50".into()), 12.5),
            (RawRevenue::Text(" 7 ".into()), 7.0),
            (RawRevenue::Text(".5".into()), 0.5),
        ];
        for (raw, want) in ok {
            assert_eq!(validate_revenue(&raw, "revenue"), Ok(want), "{raw:?}");
        }
        for bad in [
            "$12", "1,200.00", "-3", "1e3", "", ".", "{payout}", "NaN", "12.5.1",
        ] {
            assert!(
                validate_revenue(&RawRevenue::Text(bad.into()), "revenue").is_err(),
                "{bad:?}"
            );
        }
        assert!(validate_revenue(&RawRevenue::Number(-0.01), "revenue").is_err());
    }

    #[test]
    fn a_valid_event_keeps_its_values_and_defaults_time_to_now() {
        let v = event(serde_json::json!({
            "type": "lead_sold", "buyer": " acme ", "revenue": "12.50", "currency": "eur"
        }))
        .validate(Some("k-1"), NOW)
        .unwrap();
        assert_eq!(v.kind, EventType::LeadSold);
        assert_eq!(v.buyer.as_deref(), Some("acme"));
        assert_eq!(v.revenue, Some(12.5));
        assert_eq!(v.currency.map(|c| c.as_str()), Some("EUR"));
        assert_eq!(v.occurred_at, NOW);
        assert_eq!(v.idempotency_key.as_deref(), Some("k-1"));
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let err = event(serde_json::json!({
            "type": "lead_sold", "currency": "BTC", "revenue": -1, "occurred_at": 1_750_000_000_000i64
        }))
        .validate(None, NOW)
        .unwrap_err();
        assert_eq!(fields(err), ["revenue", "currency", "occurred_at"]);
    }

    #[test]
    fn unknown_type_and_form_submit_are_refused_with_the_accepted_list() {
        for kind in ["sale", "form_submit"] {
            let err = event(serde_json::json!({ "type": kind }))
                .validate(None, NOW)
                .unwrap_err();
            let problem = err.problem();
            assert_eq!(problem.field.as_deref(), Some("type"));
            assert!(problem.detail.contains("lead_sold"), "{}", problem.detail);
        }
    }

    #[test]
    fn custom_requires_a_valid_name_and_others_refuse_one() {
        let missing = event(serde_json::json!({"type": "custom"})).validate(None, NOW);
        assert_eq!(fields(missing.unwrap_err()), ["name"]);
        let bad =
            event(serde_json::json!({"type": "custom", "name": "2nd call"})).validate(None, NOW);
        assert_eq!(fields(bad.unwrap_err()), ["name"]);
        let good = event(serde_json::json!({"type": "custom", "name": "qualified_call"}))
            .validate(None, NOW)
            .unwrap();
        assert_eq!(good.name.as_deref(), Some("qualified_call"));
        let stray =
            event(serde_json::json!({"type": "lead_sold", "name": "x"})).validate(None, NOW);
        assert_eq!(fields(stray.unwrap_err()), ["name"]);
    }

    #[test]
    fn idempotency_key_from_header_or_body_but_not_two_different_ones() {
        let body = event(serde_json::json!({"type": "offer_click", "idempotency_key": "a"}));
        assert_eq!(
            body.clone()
                .validate(None, NOW)
                .unwrap()
                .idempotency_key
                .as_deref(),
            Some("a")
        );
        assert!(body.clone().validate(Some("a"), NOW).is_ok());
        assert_eq!(
            fields(body.validate(Some("b"), NOW).unwrap_err()),
            ["idempotency_key"]
        );
    }

    #[test]
    fn transaction_ids_are_trimmed_and_checked() {
        assert_eq!(
            validate_transaction_id(" t-1 ", "transaction_id"),
            Ok("t-1".into())
        );
        assert!(validate_transaction_id("", "transaction_id").is_err());
        assert!(validate_transaction_id("a b", "transaction_id").is_err());
        assert!(validate_transaction_id(&"x".repeat(129), "transaction_id").is_err());
    }
}
