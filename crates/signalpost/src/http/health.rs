//! `GET /healthz` (no key): liveness, 200 when the store answers a read, 503 problem otherwise.
//! `GET /readyz` (no key): readiness, 200 only when the store answers and its schema is the one this
//! build knows (a newer build may have migrated a shared database under it), 503 problem naming the
//! reason otherwise. Meant for load balancers and orchestrators; neither says anything about
//! TikTok's reachability (a TikTok outage is what the outbox is for, not a reason to take the
//! gateway out of rotation).

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Value, json};

use super::{AppState, Json};
use crate::wire::problem::ApiError;

/// Free space below which a node with a local store (SQLite) is not ready: its writes are about to
/// fail with a full disk, and a load balancer should send leads to a node that can store them.
const MIN_FREE_BYTES: u64 = 64 * 1024 * 1024;

/// How long the store may take to answer before the check fails.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The health route (no authentication).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// 200 when the store answers with the schema this build knows (no key needed).
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready: the store answers and its schema is current", body = Object,
            example = json!({"status": "ready", "schema_version": 8})),
        (status = 503, description = "Not ready: the store does not answer, or its schema is not this build's", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let probe = state.gateway.store().schema_version();
    match tokio::time::timeout(CHECK_TIMEOUT, probe).await {
        Ok(Ok(version)) => match version.problem() {
            None if store_disk_is_full(&state) => Err(ApiError::Unavailable {
                detail: format!(
                    "the disk holding the store has less than {} MiB free: writes would fail",
                    MIN_FREE_BYTES / (1024 * 1024)
                ),
            }),
            None => Ok(Json(
                json!({"status": "ready", "schema_version": version.found}),
            )),
            Some(problem) => {
                tracing::warn!(
                    found = version.found,
                    expected = version.expected,
                    "readiness: {problem}"
                );
                Err(ApiError::Unavailable { detail: problem })
            }
        },
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the store failed");
            Err(ApiError::Unavailable {
                detail: format!("the store does not answer: {}", store_reason(&e)),
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

fn store_disk_is_full(state: &AppState) -> bool {
    state
        .gateway
        .store()
        .free_space()
        .is_some_and(|free| free < MIN_FREE_BYTES)
}

/// The kind of failure, for a public answer: the class, never the driver's text (which may name
/// hosts, users or paths).
fn store_reason(e: &signalpost_gateway::StoreError) -> &'static str {
    use signalpost_gateway::StoreError;
    match e {
        StoreError::DiskFull(_) => "the disk is full",
        StoreError::Busy(_) => "the database is locked",
        StoreError::Closed => "the store is closed (shutting down)",
        StoreError::Corrupt(_) | StoreError::SchemaTooNew(_) => "the database cannot be read",
        _ => "the database is unreachable or failing",
    }
}

/// 200 when the store answers a read (no key needed).
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses(
        (status = 200, description = "The store answers", body = Object, example = json!({"status": "ok"})),
        (status = 503, description = "The store does not answer", body = crate::wire::problem::Problem, content_type = "application/problem+json"),
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
