//! Test Postback: fires ONE event for a pixel right now — not through the outbox — with the pixel's
//! own token and destination, and reports TikTok's answer next to the exact body sent. It mirrors
//! TikTok's Test Events flow, so an operator can prove a pixel and its token work before real traffic
//! depends on them. Shared by `POST /v1/test-postback` and `signalpost test-postback`.
//!
//! The event is built by the same code as every real conversion (a one-off rule through
//! `rules::build_conversion`), from a lead validated exactly as `POST /v1/leads` validates it, or from a
//! built-in sample lead. Nothing is stored, and the pixel's state is not changed: a rejected token
//! is reported, not acted on (pausing is the delivery engine's job).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use signalpost_destination::http::{Endpoint, EndpointConfig};
use signalpost_gateway::RuleSet;
use signalpost_gateway::delivery::PixelRegistry;
use signalpost_gateway::destinations::credentials;
use signalpost_gateway::domain::{LifecycleEvent, Trigger, Warning};
use signalpost_gateway::gateway::lead_from;
use signalpost_gateway::rules::{Rule, RuleConfig, ValueConfig, build_conversion};
use utoipa::ToSchema;

use crate::admin::destinations::Destinations;
use crate::wire::IdentifierPolicy;
use crate::wire::dto::LeadRequest;
use crate::wire::problem::ApiError;

/// The event sent when the request names none: what a form submission fires in most funnels.
pub const DEFAULT_EVENT: &str = "CompleteRegistration";
/// How long TikTok may take to answer a test postback.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Connect limit of a test postback.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `POST /v1/test-postback` body.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestPostbackRequest {
    /// Pixel code of a configured pixel.
    pub pixel: String,
    /// TikTok event name, standard or custom (default `CompleteRegistration`).
    #[serde(default)]
    pub event: Option<String>,
    /// Events Manager test code; the pixel's configured one when absent. With neither, the event is
    /// sent as live data.
    #[serde(default)]
    pub test_event_code: Option<String>,
    /// A lead in the shape of `POST /v1/leads`; a built-in sample lead when absent.
    #[serde(default, deserialize_with = "crate::wire::json::object_only")]
    pub lead: Option<LeadRequest>,
    /// `properties.value`.
    #[serde(default)]
    pub value: Option<f64>,
    /// `properties.currency` (TikTok's list; USD when a value is given without one).
    #[serde(default)]
    pub currency: Option<String>,
}

/// What TikTok answered, and what was sent.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TestPostbackAnswer {
    pub pixel: String,
    pub event: String,
    pub event_id: String,
    /// The top-level code sent; `null` means the event went to TikTok as live data.
    pub test_event_code: Option<String>,
    /// HTTP status TikTok answered with; `null` when no answer came (timeout, connection refused).
    pub http_status: Option<u16>,
    /// TikTok's `code` (0 = accepted).
    pub code: Option<i64>,
    /// TikTok's message, or a description of another answer. Shown only for TikTok's host and
    /// hosts the config file names; for any other destination a fixed text says it is withheld.
    pub message: String,
    /// TikTok's `request_id` (its log id, for support tickets).
    pub request_id: Option<String>,
    pub latency_ms: u64,
    /// How signalpost classifies the answer: `delivered`, `retryable`, `auth` (token or permission
    /// rejected) or `invalid`.
    pub outcome: String,
    /// Identifiers of the lead dropped at the edge, with why.
    #[schema(value_type = Vec<crate::wire::schemas::WarningSchema>)]
    pub warnings: Vec<Warning>,
    /// The exact request body sent to TikTok.
    #[schema(value_type = Object)]
    pub request_body: serde_json::Value,
}

impl TestPostbackAnswer {
    /// Whether TikTok accepted the event.
    pub fn delivered(&self) -> bool {
        self.outcome == "delivered"
    }
}

/// The sample lead: enough signals for TikTok's strict checks (an email, an IP, a user agent and a
/// page URL), all from documentation ranges, so it can never match a real person.
pub fn sample_lead() -> LeadRequest {
    LeadRequest {
        email: Some("test-postback@example.com".into()),
        external_id: Some("signalpost-test-postback".into()),
        ip: Some("192.0.2.1".into()),
        user_agent: Some("Mozilla/5.0 (compatible; signalpost test postback)".into()),
        landing_url: Some("https://example.com/signalpost/test-postback".into()),
        ..LeadRequest::default()
    }
}

/// Validates the request and sends the event; TikTok refusing it is an answer, not an error.
/// The pixel's settings in `rules` apply exactly as at ingest: its `site_url` gives the event a
/// `page.url` when the lead has no landing URL or referrer, its `default_region` picks the phone.
/// `destinations` says whose answers may be shown in full (TikTok's host and the config file's).
pub async fn fire(
    pixels: &PixelRegistry,
    rules: &RuleSet,
    destinations: &Destinations,
    policy: &IdentifierPolicy,
    request: TestPostbackRequest,
    now: i64,
) -> Result<TestPostbackAnswer, ApiError> {
    let code = request.pixel.trim().to_owned();
    let Some(pixel) = pixels.get(&code) else {
        return Err(ApiError::NotFound {
            detail: format!(
                "no pixel with code {code:?} is configured; add it under [[pixels]] first"
            ),
        });
    };
    let mut new_lead = request
        .lead
        .unwrap_or_else(sample_lead)
        .validate(policy, now)
        .map_err(|e| e.under("lead"))?;
    if new_lead.transaction_id.is_none() {
        new_lead.transaction_id = Some(format!("test-postback-{}", uuid::Uuid::now_v7()));
    }
    let warnings = new_lead.warnings.clone();
    let lead = lead_from(new_lead, now).map_err(|e| ApiError::from(e).under("lead"))?;
    let test_event_code =
        non_empty(request.test_event_code).or_else(|| pixel.config.test_event_code.clone());
    let mut config = RuleConfig::new(
        "test-postback",
        Trigger::FormSubmit.as_str(),
        &code,
        &non_empty(request.event).unwrap_or_else(|| DEFAULT_EVENT.to_owned()),
    );
    config.value = request.value.map(ValueConfig::Number);
    config.currency = non_empty(request.currency);
    let mut rule = Rule::from_config(config).map_err(|e| ApiError::invalid(e.field, e.problem))?;
    rule.site_url = rules.site_url(&code).map(str::to_owned);
    rule.phone_region = rules.pixel_region(&code).map(|r| r.to_string());
    rule.destination = pixel.config.destination.clone();
    let event = LifecycleEvent {
        id: 0,
        transaction_id: lead.transaction_id.clone(),
        trigger: Trigger::FormSubmit,
        name: None,
        buyer: None,
        offer: None,
        revenue: None,
        payout: None,
        currency: None,
        occurred_at: now,
        idempotency_key: None,
    };
    let conversion =
        build_conversion(&lead, &event, &rule, &mut Vec::new()).map_err(ApiError::internal)?;
    let payload = conversion.payload;
    let destination = &pixel.config.destination;
    let payloads = || std::iter::once(payload.as_str());
    // What the answer shows: the body without a token; what is sent: with it where it belongs.
    let shown = destination.request_body(&code, None, test_event_code.as_deref(), payloads());
    let request_body = serde_json::from_slice(&shown).map_err(ApiError::internal)?;
    let token = pixel.config.access_token.expose();
    let body = destination.request_body(&code, Some(token), test_event_code.as_deref(), payloads());

    let endpoint = destination
        .endpoint_url(&pixel.config.base_url, &code)
        .and_then(|url| {
            Endpoint::new(EndpointConfig {
                url,
                timeout: TIMEOUT,
                connect_timeout: CONNECT_TIMEOUT,
                addresses: pixel.config.addresses,
            })
        })
        .map_err(|e| ApiError::Unavailable {
            detail: format!("pixel {code}: {e}"),
        })?;
    let answer =
        credentials::post(&endpoint, destination, token, pixel.config.addresses, body).await;
    if answer.destination_refused {
        return Err(ApiError::invalid(
            "pixel",
            format!(
                "pixel {code}: {}; nothing was sent (set base_url to an allowed destination)",
                answer.classified.message
            ),
        ));
    }
    let mut c = answer.classified;
    if !destinations.shows_answer_text(&pixel.config.base_url) {
        // Another host's words could be an internal page the token was led to; only the status
        // and TikTok's code are shown.
        c.message = HIDDEN_ANSWER.to_owned();
        c.request_id = None;
    }
    Ok(TestPostbackAnswer {
        pixel: code,
        event: conversion.event_name,
        event_id: conversion.event_id,
        test_event_code,
        http_status: answer.http_status,
        code: c.code,
        message: c.message,
        request_id: c.request_id,
        latency_ms: u64::try_from(answer.latency.as_millis()).unwrap_or(u64::MAX),
        outcome: c.outcome.as_str().to_owned(),
        warnings,
        request_body,
    })
}

/// The message of an answer from a host other than TikTok's or one the config file names.
pub const HIDDEN_ANSWER: &str = "the destination's answer is not shown: its host is neither TikTok's API host nor named in the config file (HTTP status and TikTok code only)";

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}
