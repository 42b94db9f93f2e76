//! Lifecycle events: what happened to a lead in the funnel (form submitted, sold, routed, an offer
//! clicked or converted, or a custom step). Rules turn them into conversions.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Lead;

/// Idempotency key of the `form_submit` lifecycle event: one per lead.
pub const FORM_SUBMIT_KEY: &str = "form_submit";

/// The funnel step a lifecycle event reports; rules select on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// Fired by `POST /v1/leads`.
    FormSubmit,
    LeadSold,
    OfferClick,
    OfferConversion,
    BuyerRouted,
    /// A custom step; the event carries its `name`.
    Custom,
}

/// Every trigger, in declaration order (for error messages and docs).
pub const ALL_TRIGGERS: &[Trigger] = &[
    Trigger::FormSubmit,
    Trigger::LeadSold,
    Trigger::OfferClick,
    Trigger::OfferConversion,
    Trigger::BuyerRouted,
    Trigger::Custom,
];

impl Trigger {
    /// The snake_case wire and config name.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::FormSubmit => "form_submit",
            Trigger::LeadSold => "lead_sold",
            Trigger::OfferClick => "offer_click",
            Trigger::OfferConversion => "offer_conversion",
            Trigger::BuyerRouted => "buyer_routed",
            Trigger::Custom => "custom",
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The string names no trigger.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown trigger {0:?} (expected form_submit, lead_sold, offer_click, offer_conversion, buyer_routed or custom)"
)]
pub struct UnknownTrigger(pub String);

impl FromStr for Trigger {
    type Err = UnknownTrigger;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL_TRIGGERS
            .iter()
            .copied()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownTrigger(s.to_owned()))
    }
}

/// A lifecycle event as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifecycleEvent {
    /// Store-assigned id.
    pub id: i64,
    pub transaction_id: String,
    pub trigger: Trigger,
    /// The custom event's name (`custom` only).
    pub name: Option<String>,
    pub buyer: Option<String>,
    pub offer: Option<String>,
    /// Becomes `properties.value` for rules with `value = "revenue"`.
    pub revenue: Option<f64>,
    /// What the operator earns or pays out for this step (an offer network's payout), apart from the
    /// buyer's revenue; rules can send it as the value (`value = "payout"`) or match on it.
    #[serde(default)]
    pub payout: Option<f64>,
    /// ISO 4217, upper case, on TikTok's list.
    pub currency: Option<String>,
    /// When it happened, unix seconds: TikTok's `event_time`.
    pub occurred_at: i64,
    /// A repeat with the same key is a replay (`form_submit` for the form submission itself).
    pub idempotency_key: Option<String>,
}

impl LifecycleEvent {
    /// The form submission that creates `lead`: at the lead's own time, under [`FORM_SUBMIT_KEY`]
    /// (the event ingest stores with a new lead, and the one previews plan against).
    pub fn form_submit(lead: &Lead) -> LifecycleEvent {
        LifecycleEvent {
            id: 0,
            transaction_id: lead.transaction_id.clone(),
            trigger: Trigger::FormSubmit,
            name: None,
            buyer: None,
            offer: None,
            revenue: None,
            payout: None,
            currency: None,
            occurred_at: lead.created_at,
            idempotency_key: Some(FORM_SUBMIT_KEY.to_owned()),
        }
    }
}

/// A lifecycle event before it is stored (the HTTP layer's input to [`crate::Gateway::submit_event`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewLifecycleEvent {
    pub trigger: Trigger,
    pub name: Option<String>,
    pub buyer: Option<String>,
    pub offer: Option<String>,
    pub revenue: Option<f64>,
    /// Zero or more; see [`LifecycleEvent::payout`].
    #[serde(default)]
    pub payout: Option<f64>,
    /// Any case; checked against TikTok's list.
    pub currency: Option<String>,
    /// Unix seconds; now when absent.
    pub occurred_at: Option<i64>,
    pub idempotency_key: Option<String>,
}

impl NewLifecycleEvent {
    /// An event of `trigger` with nothing else set.
    pub fn new(trigger: Trigger) -> Self {
        Self {
            trigger,
            name: None,
            buyer: None,
            offer: None,
            revenue: None,
            payout: None,
            currency: None,
            occurred_at: None,
            idempotency_key: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_names_round_trip_through_serde_and_from_str() {
        for t in ALL_TRIGGERS {
            let json = serde_json::to_string(t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
            assert_eq!(t.as_str().parse::<Trigger>(), Ok(*t));
        }
        assert!("sold".parse::<Trigger>().is_err());
    }
}
