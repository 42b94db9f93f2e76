//! `DELETE /v1/leads/{transaction_id}`: erases one person's lead, its lifecycle events, conversions,
//! payloads and attempt log (admin keys only). `signalpost erase` does the same by transaction id,
//! email or phone.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::delete;
use serde::Serialize;
use signalpost_gateway::store::EraseRequest;

use super::AdminAccessProblems;
use crate::http::{AppState, Json};
use crate::wire::problem::{ApiError, Problem};

/// The erasure route.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/leads/{transaction_id}", delete(erase_lead))
}

/// What was deleted.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErasedView {
    pub leads: u64,
    pub events: u64,
    pub conversions: u64,
    pub attempts: u64,
}

/// Erase a lead and everything stored about it (its events, conversions, payloads and attempts).
/// What was already delivered stays at TikTok.
#[utoipa::path(
    delete,
    path = "/v1/leads/{transaction_id}",
    tag = "admin",
    params(("transaction_id" = String, Path, description = "The lead's transaction id")),
    responses(
        (status = 200, description = "Erased; the counts of what was deleted", body = ErasedView),
        (status = 404, description = "No such lead", body = Problem, content_type = "application/problem+json"),
        AdminAccessProblems,
    ),
    security(("bearer" = []))
)]
pub async fn erase_lead(
    State(state): State<AppState>,
    Path(transaction_id): Path<String>,
) -> Result<Json<ErasedView>, ApiError> {
    let who = EraseRequest {
        transaction_id: Some(transaction_id),
        ..EraseRequest::default()
    };
    let erased = state.gateway.store().erase(&who).await?;
    if erased.leads == 0 {
        return Err(ApiError::NotFound {
            detail: "no lead has this transaction_id".to_owned(),
        });
    }
    tracing::info!(
        leads = erased.leads,
        conversions = erased.conversions,
        "lead erased"
    );
    Ok(Json(ErasedView {
        leads: erased.leads,
        events: erased.events,
        conversions: erased.conversions,
        attempts: erased.attempts,
    }))
}
