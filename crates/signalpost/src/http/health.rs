//! `GET /healthz` (no key): 200 when the store answers a read, 503 problem otherwise. Meant for
//! load balancers and orchestrators; it says nothing about TikTok's reachability (a TikTok outage
//! is what the outbox is for, not a reason to take the gateway out of rotation).

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Value, json};

use super::problem::ApiError;
use super::{AppState, Json};

/// How long the store may take to answer before the check fails.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The health route (no authentication).
pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz))
}

/// 200 when the store answers a read (no key needed).
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses(
        (status = 200, description = "The store answers", body = Object, example = json!({"status": "ok"})),
        (status = 503, description = "The store does not answer", body = super::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn healthz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    // An indexed lookup of an id no client can create (it has a space): cheap, and it goes through
    // the same read path as the API.
    let probe = state.gateway.store().find_lead("health check");
    match tokio::time::timeout(CHECK_TIMEOUT, probe).await {
        Ok(Ok(_)) => Ok(Json(json!({"status": "ok"}))),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health check: the store failed");
            Err(ApiError::Unavailable {
                detail: "the store does not answer".into(),
            })
        }
        Err(_) => Err(ApiError::Unavailable {
            detail: format!(
                "the store did not answer within {} s",
                CHECK_TIMEOUT.as_secs()
            ),
        }),
    }
}
