//! `POST /v1/batch`: up to 1,000 leads and lifecycle events in one request, for backfills and
//! high-volume senders. Every item is answered on its own, in order (`status`, the ingest answer or
//! a problem naming `items[i].field`), and all the good ones are stored in one group commit.
//!
//! Body: `{"items": [{"lead": {...}}, {"event": {"transaction_id": "...", "type": "...", ...}}]}`.
//! An event may follow its lead in the same batch. The answer is 200 whenever the envelope was
//! readable — look at each item's `status`; a malformed envelope, more than 1,000 items, a body
//! over [`BATCH_BODY_LIMIT`] or a store failure that refused the whole commit is a single problem,
//! and then nothing of the batch is stored.
//!
//! The body is read once into a buffer of at most [`BATCH_BODY_LIMIT`] bytes and its items are
//! parsed one by one into their typed requests (`parse`): what a batch costs is bounded by the
//! limits, whatever its shape.

pub mod parse;

use axum::Router;
use axum::extract::{Request, State};
use axum::routing::post;
use serde::Serialize;
use signalpost_gateway::time::now_secs;

use super::views::IngestAnswer;
use super::{AppState, Json, record_ingest};
use crate::wire::json::{BATCH_BODY_LIMIT, read_body};
use crate::wire::problem::{ApiError, Problem};

/// Most items in one batch (TikTok's own batch limit, so one batch can become one request).
pub const MAX_BATCH_ITEMS: usize = 1000;

/// Routes of this resource (authenticated by the caller's bearer layer).
pub fn router() -> Router<AppState> {
    Router::new().route(
        "/v1/batch",
        // The body limit is `read_body`'s, not a `DefaultBodyLimit`: the handler reads the body.
        post(post_batch),
    )
}

/// `POST /v1/batch` body, as documented (the handler reads it item by item, see `parse`).
#[derive(Debug, utoipa::ToSchema)]
pub struct BatchRequest {
    /// 1 to 1,000 items, each `{"lead": {...}}` (the body of `POST /v1/leads`) or
    /// `{"event": {"transaction_id": "...", ...}}` (the body of `POST /v1/leads/{id}/events` plus the
    /// lead's transaction_id).
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<serde_json::Value>,
}

/// The answer to a batch.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchAnswer {
    /// How many items were stored (replays included).
    pub accepted: usize,
    /// How many were refused.
    pub rejected: usize,
    #[schema(value_type = Vec<ItemAnswerSchema>)]
    pub items: Vec<ItemAnswer>,
}

/// One item's answer: the ingest answer's fields when accepted, `error` when not.
#[derive(Debug, Serialize)]
pub struct ItemAnswer {
    pub index: usize,
    /// What the single endpoint would have answered (202, 404, 422, 503 …).
    pub status: u16,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub answer: Option<IngestAnswer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Problem>,
}

/// [`ItemAnswer`] in the OpenAPI document: the flattened ingest answer's fields are there only when
/// the item was accepted, `error` only when it was not (utoipa cannot express an optional flatten).
#[derive(utoipa::ToSchema)]
#[schema(as = ItemAnswer)]
#[allow(dead_code)] // Only its schema is used.
pub struct ItemAnswerSchema {
    index: usize,
    /// What the single endpoint would have answered (202, 404, 422, 503 …).
    status: u16,
    /// Accepted items: the lead as stored.
    #[schema(value_type = Option<crate::wire::schemas::LeadSchema>)]
    lead: Option<()>,
    /// Accepted items: the conversions queued.
    conversions: Option<Vec<super::views::QueuedConversion>>,
    /// Accepted items: conversions already queued by an earlier event (absent when none).
    already_queued: Option<Vec<super::views::QueuedConversion>>,
    /// Accepted items: identifiers dropped at the edge, with why.
    #[schema(value_type = Option<Vec<crate::wire::schemas::WarningSchema>>)]
    warnings: Option<()>,
    /// Accepted items: whether this repeats an earlier request.
    replayed: Option<bool>,
    /// Refused items: the problem, as the single endpoint would have answered it.
    error: Option<Problem>,
}

/// Up to 1,000 leads and events in one request and one commit; each item answered on its own.
#[utoipa::path(
    post,
    path = "/v1/batch",
    tag = "ingest",
    request_body = BatchRequest,
    responses(
        (status = 200, description = "Every item's answer, in order (look at each `status`)", body = BatchAnswer),
        (status = 422, description = "The envelope is invalid (items missing, empty or over 1,000; nothing stored)", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or wrong API key", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 4 MiB (1,000 realistic items are about 1.1 MiB)", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body not sent as application/json", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 400, description = "Body is not JSON, or not a JSON object", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Write queue full or disk full (both with Retry-After; nothing stored), or shutting down", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub(super) async fn post_batch(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<BatchAnswer>, ApiError> {
    let body = read_body(request, BATCH_BODY_LIMIT).await?;
    let parsed = parse::items(&body, &state.identifier_policy(), now_secs())?;
    drop(body);
    let n = parsed.len();
    // Per item: the path its gateway errors are named under, or why it was refused at the edge.
    let mut edges: Vec<Result<String, ApiError>> = Vec::with_capacity(n);
    let mut items = Vec::with_capacity(n);
    for outcome in parsed {
        match outcome {
            Ok((prefix, item)) => {
                items.push(item);
                edges.push(Ok(prefix));
            }
            Err(e) => edges.push(Err(e)),
        }
    }
    let mut stored = if items.is_empty() {
        Vec::new().into_iter()
    } else {
        state.gateway.submit_batch(items).await?.into_iter()
    };
    let mut answers = Vec::with_capacity(n);
    for (index, edge) in edges.into_iter().enumerate() {
        let outcome = match edge {
            Err(e) => Err(e),
            Ok(prefix) => match stored.next() {
                Some(Ok(result)) => Ok(result),
                Some(Err(e)) => Err(ApiError::from(e).under(&prefix)),
                None => Err(ApiError::internal(
                    "the gateway answered fewer items than sent",
                )),
            },
        };
        answers.push(match outcome {
            Ok(result) => {
                let replayed = !result.event_created;
                if !replayed {
                    record_ingest(&result);
                }
                ItemAnswer {
                    index,
                    status: 202,
                    answer: Some(IngestAnswer::new(&result, replayed)),
                    error: None,
                }
            }
            Err(e) => ItemAnswer {
                index,
                status: e.status().as_u16(),
                answer: None,
                error: Some(e.problem()),
            },
        });
    }
    let accepted = answers.iter().filter(|a| a.error.is_none()).count();
    Ok(Json(BatchAnswer {
        accepted,
        rejected: n - accepted,
        items: answers,
    }))
}
