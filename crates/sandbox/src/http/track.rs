//! `POST /open_api/v1.3/event/track/`: the Events API 2.0 endpoint. Gate, parse once, check the
//! token's permission on `event_source_id`, validate, store, answer.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use super::gate::{admit, body_error, refuse, tiktok_fault, with_faults};
use crate::Sandbox;
use crate::response::Reply;
use crate::store::{ApiVersion, Destination, Origin, ReceivedEvent};
use crate::validate::parse_top;
use crate::validate::track::{Accepted, event_source_id, validate};

pub(crate) async fn handle(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // The closure owns its own handles: when the answer is delayed it outlives this request.
    let (state, bytes) = (sandbox.clone(), body.clone());
    let render = tiktok_fault(body.clone());
    with_faults(&sandbox, Destination::Tiktok, render, move || {
        process(&state, &headers, &bytes)
    })
    .await
}

fn process(sandbox: &Sandbox, headers: &HeaderMap, body: &Bytes) -> Response {
    let token = match admit(sandbox, headers) {
        Ok(token) => token,
        Err(reply) => return refuse(sandbox, None, reply),
    };
    let top = match parse_top(body) {
        Ok(top) => top,
        Err(err) => return refuse(sandbox, None, body_error(&err)),
    };
    let pixel = match event_source_id(&top) {
        Ok(pixel) => pixel,
        Err(invalid) => return refuse(sandbox, None, Reply::invalid(invalid.v2_message())),
    };
    if !sandbox.token_allows(&token, &pixel) {
        return refuse(sandbox, Some(&pixel), Reply::no_permission(&pixel));
    }
    let received_at = Utc::now();
    let rules = sandbox.rules(received_at.timestamp());
    match validate(&top, &rules) {
        Ok(accepted) => {
            store(sandbox, &pixel, accepted, ApiVersion::V2, received_at);
            Reply::Accepted.into_response()
        }
        Err(invalid) => refuse(sandbox, Some(&pixel), Reply::invalid(invalid.v2_message())),
    }
}

/// Turns accepted events into records (outside the lock) and hands them to the store in one call.
pub(crate) fn store(
    sandbox: &Sandbox,
    pixel: &str,
    accepted: Accepted<'_>,
    api: ApiVersion,
    received_at: chrono::DateTime<Utc>,
) {
    let event_source = accepted.event_source;
    let records: Vec<ReceivedEvent> = accepted
        .events
        .into_iter()
        .map(|e| ReceivedEvent {
            pixel: pixel.to_owned(),
            event: e.event,
            event_id: e.event_id,
            test_event_code: accepted.test_event_code.clone(),
            received_at,
            origin: Origin::Tiktok { event_source, api },
            event_time: e.event_time,
            duplicate: false,
            payload: e.raw.to_owned(),
        })
        .collect();
    tracing::debug!(
        pixel,
        events = records.len(),
        api = ?api,
        "sandbox accepted a request"
    );
    sandbox.store().accept(
        Destination::Tiktok,
        pixel,
        "0",
        records,
        received_at.timestamp(),
    );
}
