//! The legacy Events API 1.0 endpoints, `POST /open_api/v1.3/pixel/track/` and `.../pixel/batch/`.
//! Same gate and permission rule as 2.0 (on `pixel_code`), 1.0 error wording, and the events are
//! stored in the same inspection record with their original payload.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::value::RawValue;

use super::gate::{admit, body_error, refuse, tiktok_fault, with_faults};
use super::track::store;
use crate::Sandbox;
use crate::response::Reply;
use crate::store::{ApiVersion, Destination};
use crate::validate::legacy::{pixel_code, validate_batch, validate_track};
use crate::validate::{BodyError, TopLevel, parse_top};

/// Which legacy endpoint.
#[derive(Clone, Copy)]
enum Kind {
    Track,
    Batch,
}

pub(crate) async fn track(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(sandbox, headers, body, Kind::Track).await
}

pub(crate) async fn batch(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(sandbox, headers, body, Kind::Batch).await
}

async fn handle(sandbox: Sandbox, headers: HeaderMap, body: Bytes, kind: Kind) -> Response {
    // The closure owns its own handles: when the answer is delayed it outlives this request.
    let (state, bytes) = (sandbox.clone(), body.clone());
    let render = tiktok_fault(body.clone());
    with_faults(&sandbox, Destination::Tiktok, render, move || {
        process(&state, &headers, &bytes, kind)
    })
    .await
}

fn process(sandbox: &Sandbox, headers: &HeaderMap, body: &Bytes, kind: Kind) -> Response {
    let token = match admit(sandbox, headers) {
        Ok(token) => token,
        Err(reply) => return refuse(sandbox, None, reply),
    };
    let top: TopLevel<'_> = match parse_top(body) {
        Ok(top) => top,
        Err(err) => return refuse(sandbox, None, body_error(&err)),
    };
    let pixel = match pixel_code(&top) {
        Ok(pixel) => pixel,
        Err(invalid) => return refuse(sandbox, None, Reply::invalid(invalid.v1_message())),
    };
    if !sandbox.token_allows(&token, &pixel) {
        return refuse(sandbox, Some(&pixel), Reply::no_permission(&pixel));
    }
    let received_at = Utc::now();
    let rules = sandbox.rules(received_at.timestamp());
    let whole: &RawValue = match serde_json::from_slice(body) {
        Ok(raw) => raw,
        Err(err) => {
            let err = BodyError::Malformed(err.to_string());
            return refuse(sandbox, Some(&pixel), body_error(&err));
        }
    };
    let result = match kind {
        Kind::Track => validate_track(whole, &rules),
        Kind::Batch => validate_batch(&top, &rules),
    };
    match result {
        Ok(accepted) => {
            store(sandbox, &pixel, accepted, ApiVersion::V1, received_at);
            Reply::Accepted.into_response()
        }
        Err(invalid) => refuse(sandbox, Some(&pixel), Reply::invalid(invalid.v1_message())),
    }
}
