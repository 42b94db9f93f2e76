//! Preview (dry run): what a lead and one of its lifecycle events would produce under the rules in
//! force — for every rule, whether it fires and, if not, why; for every conversion, the exact TikTok
//! event object and the full request body it would be sent in. Nothing is stored or sent. Shared by
//! `POST /v1/preview` and `signalpost preview`.

use serde::{Deserialize, Serialize};
use signalpost_gateway::Gateway;
use signalpost_gateway::deliverable::problem_of;
use signalpost_gateway::delivery::PixelRegistry;
use signalpost_gateway::destinations::Destination;
use signalpost_gateway::domain::{Lead, LifecycleEvent, Warning};
use signalpost_gateway::gateway::{event_from, lead_from};
use signalpost_gateway::rules::{CapStatus, Outcome, PreviewedConversion, Reason};
use utoipa::ToSchema;

use crate::wire::IdentifierPolicy;
use crate::wire::dto::to_new_event;
use crate::wire::dto::{EventRequest, LeadRequest, validate_transaction_id};
use crate::wire::problem::ApiError;

/// `POST /v1/preview` body: a lead (or the transaction id of a stored one) and optionally a later
/// lifecycle event of it.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// A lead in the shape of `POST /v1/leads`.
    #[serde(default, deserialize_with = "crate::wire::json::object_only")]
    pub lead: Option<LeadRequest>,
    /// Instead of `lead`: preview against the stored lead with this transaction id.
    #[serde(default)]
    pub transaction_id: Option<String>,
    /// A lifecycle event in the shape of `POST /v1/leads/{transaction_id}/events`; absent: the
    /// lead's own `form_submit`.
    #[serde(default, deserialize_with = "crate::wire::json::object_only")]
    pub event: Option<EventRequest>,
}

/// What the rules would do.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PreviewAnswer {
    /// The lead as it would be stored (identifiers hashed).
    #[schema(value_type = crate::wire::schemas::LeadSchema)]
    pub lead: Lead,
    /// The lifecycle event the rules were matched against.
    #[schema(value_type = crate::wire::schemas::LifecycleEventSchema)]
    pub event: LifecycleEvent,
    /// Identifiers dropped at the edge, with why.
    #[schema(value_type = Vec<crate::wire::schemas::WarningSchema>)]
    pub warnings: Vec<Warning>,
    /// How many conversions would be queued and sent (rules that fire).
    pub conversions: usize,
    /// Every rule, in config order.
    pub rules: Vec<RulePreview>,
}

/// One rule's verdict.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RulePreview {
    pub rule: String,
    /// The lifecycle step the rule listens to.
    pub trigger: String,
    pub pixel: String,
    /// The TikTok event name the rule sends.
    pub event: String,
    /// `fires` (queued and sent), `suppressed` (stored, never sent: outside its schedule or a full
    /// cap) or `skipped` (no conversion).
    pub outcome: String,
    /// Whether it fires.
    pub matched: bool,
    /// Why it does not fire or is suppressed: every reason, machine-readable and in words.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<ReasonDetail>,
    /// What it would store (rules that fire or are suppressed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversion: Option<PreviewConversion>,
    /// The rule's caps with their current use.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub caps: Vec<CapStatus>,
    /// Properties left out because a transform could not compute them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One reason, as data (`{"reason": "condition", "field": "buyer", "op": "eq", "expected": "acme",
/// "actual": "globex", ...}`, `{"reason": "trigger", ...}`, `schedule`, `cap`) and as one line.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReasonDetail {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub reason: Reason,
    pub explanation: String,
}

/// A conversion the rule would queue.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PreviewConversion {
    pub event_id: String,
    /// The request's top-level test code (the rule's, else the pixel's).
    pub test_event_code: Option<String>,
    /// `tiktok` or `meta`: whose API the conversion goes to.
    pub destination: &'static str,
    /// The `data[]` event object in the destination's shape, exactly as it would be stored and sent.
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
    /// The same object for a TikTok pixel (the name older clients read); absent for other
    /// destinations.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub tiktok_event: Option<serde_json::Value>,
    /// The full `event/track` body it would be sent in (alone; real batches hold up to 1,000).
    #[schema(value_type = Object)]
    pub request_body: serde_json::Value,
    /// Why TikTok would refuse it, when it would (ingest's check, field first: `page.url missing:
    /// set the pixel's site_url or send landing_url`): ingest would keep it as `undeliverable` (or,
    /// for an `event_id` with nothing of the lead in it, not store it) and say so in `warnings`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undeliverable: Option<String>,
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
            let lead = lead_from(valid, now).map_err(|e| ApiError::from(e).under("lead"))?;
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
            event_from(&lead.transaction_id, to_new_event(valid), now)
                .map_err(|e| ApiError::from(e).under("event"))?
        }
        None => LifecycleEvent::form_submit(&lead),
    };
    let explanations = gateway.preview(&lead, &event).await?;
    let rules = gateway.rules();
    let mut previews = Vec::with_capacity(explanations.len());
    for e in explanations {
        let trigger = rules
            .rules()
            .iter()
            .find(|r| r.name == e.rule)
            .map(|r| r.trigger.as_str().to_owned())
            .unwrap_or_default();
        let conversion = match &e.conversion {
            Some(c) => {
                let mut shown = preview_conversion(&e.pixel, c, pixels)?;
                let rule = rules.rules().iter().find(|r| r.name == e.rule);
                let payload = c.payload.to_string();
                shown.undeliverable =
                    problem_of(rule, &lead, &event, &c.event_id, &payload, now).map(|p| p.text);
                Some(shown)
            }
            None => None,
        };
        previews.push(RulePreview {
            trigger,
            outcome: outcome_name(e.outcome).to_owned(),
            matched: e.outcome == Outcome::Fires,
            reasons: e
                .reasons
                .iter()
                .map(|r| ReasonDetail {
                    explanation: r.message(),
                    reason: r.clone(),
                })
                .collect(),
            conversion,
            caps: e.caps,
            notes: e.notes,
            rule: e.rule,
            pixel: e.pixel,
            event: e.event,
        });
    }
    Ok(PreviewAnswer {
        lead,
        event,
        warnings,
        conversions: previews.iter().filter(|p| p.matched).count(),
        rules: previews,
    })
}

fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Fires => "fires",
        Outcome::Suppressed => "suppressed",
        Outcome::Skipped => "skipped",
    }
}

fn preview_conversion(
    pixel: &str,
    c: &PreviewedConversion,
    pixels: &PixelRegistry,
) -> Result<PreviewConversion, ApiError> {
    let test_event_code = c
        .test_event_code
        .clone()
        .or_else(|| pixels.get(pixel).and_then(|p| p.config.test_event_code));
    let payload = serde_json::to_string(&c.payload).map_err(ApiError::internal)?;
    let destination = pixels
        .get(pixel)
        .map(|p| p.config.destination)
        .unwrap_or_default();
    // Shown to the operator: without the token, for destinations that carry it in the body.
    let body = destination.request_body(
        pixel,
        None,
        test_event_code.as_deref(),
        std::iter::once(payload.as_str()),
    );
    Ok(PreviewConversion {
        event_id: c.event_id.clone(),
        test_event_code,
        destination: destination.name(),
        event: c.payload.clone(),
        tiktok_event: matches!(destination, Destination::TikTok(_)).then(|| c.payload.clone()),
        request_body: serde_json::from_slice(&body).map_err(ApiError::internal)?,
        undeliverable: None,
    })
}
