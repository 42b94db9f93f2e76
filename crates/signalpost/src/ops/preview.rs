//! Preview (dry run): what a lead and one of its lifecycle events would produce under the rules in
//! force — for every rule, whether it fires and, if not, why; for every conversion, the exact TikTok
//! event object and the full request body it would be sent in. Nothing is stored or sent. Shared by
//! `POST /v1/preview` and `signalpost preview`.

use serde::{Deserialize, Serialize};
use signalpost_gateway::Gateway;
use signalpost_gateway::delivery::PixelRegistry;
use signalpost_gateway::delivery::batch::track_body;
use signalpost_gateway::domain::{Lead, LifecycleEvent, NewConversion, Trigger, Warning};
use signalpost_gateway::gateway::{FORM_SUBMIT_KEY, event_from, lead_from};
use signalpost_gateway::rules::SkipReason;
use utoipa::ToSchema;

use crate::http::IdentifierPolicy;
use crate::http::dto::{EventRequest, LeadRequest, validate_transaction_id};
use crate::http::events::to_new_event;
use crate::http::problem::ApiError;

/// `POST /v1/preview` body: a lead (or the transaction id of a stored one) and optionally a later
/// lifecycle event of it.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// A lead in the shape of `POST /v1/leads`.
    #[serde(default)]
    pub lead: Option<LeadRequest>,
    /// Instead of `lead`: preview against the stored lead with this transaction id.
    #[serde(default)]
    pub transaction_id: Option<String>,
    /// A lifecycle event in the shape of `POST /v1/leads/{transaction_id}/events`; absent: the
    /// lead's own `form_submit`.
    #[serde(default)]
    pub event: Option<EventRequest>,
}

/// What the rules would do.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PreviewAnswer {
    /// The lead as it would be stored (identifiers hashed).
    #[schema(value_type = crate::http::openapi::schemas::LeadSchema)]
    pub lead: Lead,
    /// The lifecycle event the rules were matched against.
    #[schema(value_type = crate::http::openapi::schemas::LifecycleEventSchema)]
    pub event: LifecycleEvent,
    /// Identifiers dropped at the edge, with why.
    #[schema(value_type = Vec<crate::http::openapi::schemas::WarningSchema>)]
    pub warnings: Vec<Warning>,
    /// How many conversions would be queued.
    pub conversions: usize,
    /// Every rule, in config order.
    pub rules: Vec<RulePreview>,
}

/// One rule's verdict.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RulePreview {
    pub rule: String,
    pub trigger: String,
    pub pixel: String,
    /// The TikTok event name the rule sends.
    pub event: String,
    pub matched: bool,
    /// Why the rule does not fire (unmatched rules only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<SkipDetail>,
    /// What it would send (matched rules only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversion: Option<PreviewConversion>,
}

/// The first condition that failed, machine-readable and in words.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SkipDetail {
    /// `{"reason": "buyer", "wanted": "acme", "got": "globex"}` and the like.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub reason: SkipReason,
    pub explanation: String,
}

/// A conversion the rule would queue.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PreviewConversion {
    pub event_id: String,
    /// The request's top-level test code (the rule's, else the pixel's).
    pub test_event_code: Option<String>,
    /// The `data[]` event object, exactly as it would be stored and sent.
    #[schema(value_type = Object)]
    pub tiktok_event: serde_json::Value,
    /// The full `event/track` body it would be sent in (alone; real batches hold up to 1,000).
    #[schema(value_type = Object)]
    pub request_body: serde_json::Value,
}

/// Runs the rules on the request; stores and sends nothing.
pub async fn preview(
    gateway: &Gateway,
    pixels: &PixelRegistry,
    policy: &IdentifierPolicy,
    request: PreviewRequest,
    now: i64,
) -> Result<PreviewAnswer, ApiError> {
    let (lead, warnings) = match (request.lead, request.transaction_id) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "transaction_id",
                "send either a lead or the transaction_id of a stored lead, not both",
            ));
        }
        (Some(lead), None) => {
            let valid = lead.validate(policy, now).map_err(|e| e.under("lead"))?;
            let warnings = valid.warnings.clone();
            let lead = lead_from(valid).map_err(|e| ApiError::from(e).under("lead"))?;
            (lead, warnings)
        }
        (None, Some(transaction_id)) => {
            let id = validate_transaction_id(&transaction_id, "transaction_id")
                .map_err(|e| ApiError::Invalid(vec![e]))?;
            let lead = gateway
                .store()
                .find_lead(&id)
                .await?
                .ok_or_else(|| ApiError::NotFound {
                    detail: format!("no lead with transaction_id {id:?}"),
                })?;
            let warnings = lead.warnings.clone();
            (lead, warnings)
        }
        (None, None) => {
            return Err(ApiError::invalid(
                "lead",
                "send a lead (the body of POST /v1/leads) or the transaction_id of a stored lead",
            ));
        }
    };
    let event = match request.event {
        Some(event) => {
            let valid = event.validate(None, now).map_err(|e| e.under("event"))?;
            event_from(&lead.transaction_id, to_new_event(valid))
                .map_err(|e| ApiError::from(e).under("event"))?
        }
        None => LifecycleEvent {
            id: 0,
            transaction_id: lead.transaction_id.clone(),
            trigger: Trigger::FormSubmit,
            name: None,
            buyer: None,
            offer: None,
            revenue: None,
            currency: None,
            occurred_at: lead.created_at,
            idempotency_key: Some(FORM_SUBMIT_KEY.to_owned()),
        },
    };
    let plan = gateway.preview(&lead, &event)?;
    let rules = gateway.rules();
    let mut previews = Vec::with_capacity(rules.rules().len());
    for rule in rules.rules() {
        let conversion = plan.conversions.iter().find(|c| c.rule == rule.name);
        let skipped = plan.skipped.iter().find(|s| s.rule == rule.name);
        previews.push(RulePreview {
            rule: rule.name.clone(),
            trigger: rule.trigger.as_str().to_owned(),
            pixel: rule.pixel.clone(),
            event: rule.event.as_str().to_owned(),
            matched: conversion.is_some(),
            skipped: skipped.map(|s| SkipDetail {
                explanation: s.reason.to_string(),
                reason: s.reason.clone(),
            }),
            conversion: conversion
                .map(|c| preview_conversion(c, pixels))
                .transpose()?,
        });
    }
    Ok(PreviewAnswer {
        lead,
        event,
        warnings,
        conversions: plan.conversions.len(),
        rules: previews,
    })
}

fn preview_conversion(
    c: &NewConversion,
    pixels: &PixelRegistry,
) -> Result<PreviewConversion, ApiError> {
    let test_event_code = c
        .test_event_code
        .clone()
        .or_else(|| pixels.get(&c.pixel).and_then(|p| p.config.test_event_code));
    let body = track_body(
        &c.pixel,
        test_event_code.as_deref(),
        std::iter::once(c.payload.as_str()),
    );
    Ok(PreviewConversion {
        event_id: c.event_id.clone(),
        test_event_code,
        tiktok_event: serde_json::from_str(&c.payload).map_err(ApiError::internal)?,
        request_body: serde_json::from_slice(&body).map_err(ApiError::internal)?,
    })
}
