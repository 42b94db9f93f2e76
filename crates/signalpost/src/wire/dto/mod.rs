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

pub mod click_ids;
pub mod event;
pub mod fields;
pub mod lead;
pub mod phone;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use signalpost_tiktok::currency::Currency;

use super::problem::FieldError;

pub use event::{EventRequest, EventType, ValidEvent, to_new_event};
pub use lead::{LeadRequest, ValidLead};

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

/// `RawTime` in the OpenAPI document: an RFC 3339 string or integer epoch seconds.
impl utoipa::PartialSchema for RawTime {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type,
        };
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64))),
            )
            .description(Some(
                "When it happened: an RFC 3339 timestamp (any offset) or integer epoch seconds (also as a digit string). Milliseconds, more than 5 minutes in the future and before 2000 are refused. Absent: now.",
            ))
            .into()
    }
}
impl utoipa::ToSchema for RawTime {}

/// `RawRevenue` in the OpenAPI document: a number or a plain decimal string.
impl utoipa::PartialSchema for RawRevenue {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Number).minimum(Some(0.0)))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(r"^\s*(\d+(\.\d*)?|\.\d+)\s*$")),
            )
            .description(Some(
                "An amount ≥ 0: a JSON number or a plain decimal string like \"12.50\" (no symbols, separators or exponents). 0 is a value.",
            ))
            .into()
    }
}
impl utoipa::ToSchema for RawRevenue {}

/// Checks a currency against TikTok's list.
pub fn validate_currency(raw: &str, field: &str) -> Result<Currency, FieldError> {
    Currency::parse(raw).map_err(|e| FieldError::new(field, e.to_string()))
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
