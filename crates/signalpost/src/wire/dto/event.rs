//! The lifecycle-event body (`POST /v1/leads/{transaction_id}/events`, a batch item's `event`, and
//! the postback's query once decoded) and its validation.

use serde::{Deserialize, Serialize};
use signalpost_gateway::domain::{NewLifecycleEvent, Trigger};
use signalpost_tiktok::currency::Currency;
use signalpost_tiktok::event_name;

use super::{
    MAX_IDEMPOTENCY_KEY_LEN, MAX_LABEL_LEN, RawRevenue, RawTime, opt_text, validate_currency,
    validate_revenue, validate_time,
};
use crate::wire::problem::{ApiError, FieldError};

/// The lifecycle event types a client may send (`form_submit` is fired by `POST /v1/leads`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventRequest {
    /// The lifecycle step. Kept as text so an unknown type gets our message, not serde's.
    #[serde(rename = "type")]
    #[schema(value_type = EventType)]
    pub kind: String,
    /// The custom event's name (`type` custom only): letters, digits, `_`, `-`, starting with a letter, ≤ 50.
    #[serde(default)]
    pub name: Option<String>,
    /// Who bought the lead; matched by rules' `when.buyer`.
    #[serde(default)]
    pub buyer: Option<String>,
    /// Offer id or name; matched by rules' `when.offer`, usable in `event_id` templates.
    #[serde(default)]
    pub offer: Option<String>,
    /// What the step earned; a rule with `value = "revenue"` sends it as `properties.value`.
    #[serde(default)]
    pub revenue: Option<RawRevenue>,
    /// What the network pays out for this step (rules can send it as the value); same format as
    /// `revenue`.
    #[serde(default)]
    pub payout: Option<RawRevenue>,
    /// ISO 4217 from TikTok's list, any case.
    #[serde(default)]
    pub currency: Option<String>,
    /// When the step happened (TikTok's `event_time`); now when absent.
    #[serde(default)]
    pub occurred_at: Option<RawTime>,
    /// A repeat of this key for the same lead returns the first answer and queues nothing (or send the `Idempotency-Key` header).
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
    pub payout: Option<f64>,
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
        let payout = self.payout.as_ref().and_then(|r| {
            validate_revenue(r, "payout")
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
                payout,
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

/// The gateway's input for a validated event.
pub fn to_new_event(valid: ValidEvent) -> NewLifecycleEvent {
    NewLifecycleEvent {
        trigger: trigger_of(valid.kind),
        name: valid.name,
        buyer: valid.buyer,
        offer: valid.offer,
        revenue: valid.revenue,
        payout: valid.payout,
        currency: valid.currency.map(|c| c.as_str().to_owned()),
        occurred_at: Some(valid.occurred_at),
        idempotency_key: valid.idempotency_key,
    }
}

fn trigger_of(kind: EventType) -> Trigger {
    match kind {
        EventType::LeadSold => Trigger::LeadSold,
        EventType::OfferClick => Trigger::OfferClick,
        EventType::OfferConversion => Trigger::OfferConversion,
        EventType::BuyerRouted => Trigger::BuyerRouted,
        EventType::Custom => Trigger::Custom,
    }
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
}
