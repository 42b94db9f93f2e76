//! Response bodies: the ingest answer (`202 {lead, conversions, warnings, replayed}`) and the lead
//! record of `GET /v1/leads/{transaction_id}` with every delivery attempt.
//!
//! These are our API's shapes, decoupled from the store's rows: times the store keeps in unix
//! milliseconds are shown as RFC 3339, the stored TikTok event payload is shown as JSON (not as a
//! string), and a field is only renamed here, never in the store.

use serde::Serialize;
use signalpost_gateway::domain::{
    Attempt, Conversion, Lead, LifecycleEvent, RefusedConversion, Warning,
};
use signalpost_gateway::store::{IngestResult, LeadView};

/// The answer to a lead, an event, a postback, or one batch item.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IngestAnswer {
    #[schema(value_type = crate::wire::schemas::LeadSchema)]
    pub lead: Lead,
    /// Conversions this request queued (on a replay: those the first request queued).
    pub conversions: Vec<QueuedConversion>,
    /// Conversions the rules asked for that an earlier event had already queued under the same
    /// (pixel, event, event_id): TikTok would drop them as duplicates, so nothing was queued.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub already_queued: Vec<QueuedConversion>,
    /// Identifiers dropped at the edge, with why (the lead was accepted without them); and every
    /// conversion TikTok would refuse, naming its TikTok `field` (`page.url`, `event_id`), `rule`,
    /// `pixel` and `event`: kept as `undeliverable` (listed in `conversions`, replayable once fixed)
    /// or, for an `event_id` that would dedup unrelated leads, not stored at all.
    #[schema(value_type = Vec<crate::wire::schemas::WarningSchema>)]
    pub warnings: Vec<Warning>,
    /// Whether this is a repeat of an earlier request (same transaction id for a lead, same
    /// idempotency key for an event): the first answer, and nothing queued twice.
    pub replayed: bool,
}

/// A conversion as the ingest answer lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QueuedConversion {
    pub rule: String,
    pub pixel: String,
    pub event: String,
    pub event_id: String,
    pub state: String,
}

impl From<&Conversion> for QueuedConversion {
    fn from(c: &Conversion) -> Self {
        Self {
            rule: c.rule.clone(),
            pixel: c.pixel.clone(),
            event: c.event_name.clone(),
            event_id: c.event_id.clone(),
            state: c.state.as_str().to_owned(),
        }
    }
}

impl IngestAnswer {
    /// Builds the answer; `replayed` is decided by the caller (a lead and an event differ).
    pub fn new(result: &IngestResult, replayed: bool) -> Self {
        let refused = result
            .conversions
            .iter()
            .filter_map(RefusedConversion::of_stored)
            .chain(result.refused.iter().cloned());
        Self {
            warnings: result
                .lead
                .warnings
                .iter()
                .cloned()
                .chain(refused.map(|r| r.warning()))
                .collect(),
            lead: result.lead.clone(),
            conversions: result.conversions.iter().map(Into::into).collect(),
            already_queued: result.duplicates.iter().map(Into::into).collect(),
            replayed,
        }
    }
}

/// `GET /v1/leads/{transaction_id}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LeadRecord {
    #[schema(value_type = crate::wire::schemas::LeadSchema)]
    pub lead: Lead,
    #[schema(value_type = Vec<crate::wire::schemas::LifecycleEventSchema>)]
    pub events: Vec<LifecycleEvent>,
    pub conversions: Vec<ConversionRecord>,
}

/// A conversion with its delivery log.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConversionRecord {
    pub id: i64,
    pub rule: String,
    pub pixel: String,
    pub event: String,
    pub event_id: String,
    pub state: String,
    /// Unix seconds sent as `event_time`.
    pub event_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_event_code: Option<String>,
    pub queued_at: String,
    /// When it will be sent next (pending and retrying only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Every request that carried it, oldest first, and replay marks (outcome `replayed`).
    pub attempts: Vec<AttemptRecord>,
    /// The TikTok event object exactly as it is sent (identifiers already hashed).
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

/// One delivery attempt, with what TikTok answered.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AttemptRecord {
    pub at: String,
    pub http_status: Option<u16>,
    /// TikTok's `code` (0 = accepted).
    pub code: Option<i64>,
    pub message: String,
    /// TikTok's `request_id`, for support tickets.
    pub request_id: Option<String>,
    pub latency_ms: u64,
    /// `delivered`, `retryable`, `auth`, `invalid`, or `replayed` (an operator re-queued it; no
    /// request was made).
    pub outcome: String,
    pub batch_size: u32,
}

impl From<&Attempt> for AttemptRecord {
    fn from(a: &Attempt) -> Self {
        Self {
            at: rfc3339_ms(a.at_ms),
            http_status: a.http_status,
            code: a.code,
            message: a.message.clone(),
            request_id: a.request_id.clone(),
            latency_ms: a.latency_ms,
            outcome: a.outcome.as_str().to_owned(),
            batch_size: a.batch_size,
        }
    }
}

impl From<LeadView> for LeadRecord {
    fn from(view: LeadView) -> Self {
        let conversions = view
            .conversions
            .into_iter()
            .map(|cv| {
                let c = cv.conversion;
                ConversionRecord {
                    id: c.id,
                    rule: c.rule,
                    pixel: c.pixel,
                    event: c.event_name,
                    event_id: c.event_id,
                    state: c.state.as_str().to_owned(),
                    event_time: c.event_time,
                    test_event_code: c.test_event_code,
                    queued_at: rfc3339_ms(c.created_at_ms),
                    next_attempt_at: c.next_attempt_at_ms.map(rfc3339_ms),
                    last_error: c.last_error,
                    attempts: cv.attempt_log.iter().map(Into::into).collect(),
                    payload: serde_json::from_str(&c.payload)
                        .unwrap_or(serde_json::Value::String(c.payload)),
                }
            })
            .collect();
        Self {
            lead: view.lead,
            events: view.events,
            conversions,
        }
    }
}

/// Unix milliseconds as RFC 3339 UTC with milliseconds.
pub fn rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_render_as_utc_rfc3339() {
        assert_eq!(rfc3339_ms(1_750_000_000_123), "2025-06-15T15:06:40.123Z");
    }
}
