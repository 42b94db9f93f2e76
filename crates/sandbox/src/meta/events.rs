//! `POST /{version}/{pixel_id}/events`: faults and latency, version, token, rate limit, the token's
//! access to the pixel, body, validation, store, answer (see the module docs for the order).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::Utc;
use serde_json::value::RawValue;
use signalpost_meta::MetaError;
use signalpost_meta::validate::{Accepted, validate_request};

use super::answer::{accepted, fault, refuse};
use super::body::{raw_events, read};
use crate::Sandbox;
use crate::http::gate::with_faults;
use crate::store::{Destination, Origin, ReceivedEvent};

pub(crate) async fn handle(
    State(sandbox): State<Sandbox>,
    Path((version, pixel)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // The closure owns its own handles: when the answer is delayed it outlives this request.
    let state = sandbox.clone();
    with_faults(&sandbox, Destination::Meta, fault, move || {
        process(&state, &version, &pixel, query.as_deref(), &headers, &body)
    })
    .await
}

fn process(
    sandbox: &Sandbox,
    version: &str,
    pixel: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    if !is_version(version) {
        return refuse(sandbox, None, &unknown_version(version));
    }
    let params = read(query, headers, body);
    let token = params.access_token().unwrap_or("");
    if !sandbox.meta_token_known(token) {
        return refuse(sandbox, None, &MetaError::bad_token());
    }
    if !sandbox.admit_rate() {
        return refuse(sandbox, None, &MetaError::rate_limited());
    }
    if !sandbox.meta_token_allows(token, pixel) {
        return refuse(sandbox, None, &MetaError::unknown_pixel(pixel));
    }
    if let Some(err) = &params.body_error {
        return refuse(sandbox, Some(pixel), err);
    }
    let received_at = Utc::now();
    let rules = sandbox.meta_rules(received_at.timestamp());
    match validate_request(&params.map, &rules) {
        Ok(valid) => {
            let count = valid.events.len();
            let raws = params.data_text.as_deref().and_then(raw_events);
            store(sandbox, pixel, version, valid, raws, received_at);
            accepted(count)
        }
        Err(err) => refuse(sandbox, Some(pixel), &err),
    }
}

/// `v<major>.<minor>`, e.g. `v25.0`.
fn is_version(version: &str) -> bool {
    let Some(number) = version.strip_prefix('v') else {
        return false;
    };
    let Some((major, minor)) = number.split_once('.') else {
        return false;
    };
    let digits = |s: &str| (1..=3).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    digits(major) && digits(minor)
}

/// Graph's answer to a path it does not know (code 2500).
fn unknown_version(version: &str) -> MetaError {
    MetaError {
        http_status: 400,
        kind: "OAuthException",
        code: 2500,
        subcode: None,
        message: format!(
            "Unknown path components: /{version}: the path starts with the Graph API version, e.g. /v25.0/"
        ),
        is_transient: false,
        user_title: None,
        user_msg: None,
    }
}

fn store(
    sandbox: &Sandbox,
    pixel: &str,
    version: &str,
    valid: Accepted,
    raws: Option<Vec<Box<RawValue>>>,
    received_at: chrono::DateTime<Utc>,
) {
    // The events byte for byte as sent when they could be read apart (always, for a body that
    // validated); the validated values otherwise.
    let mut raws = raws
        .filter(|r| r.len() == valid.events.len())
        .map(Vec::into_iter);
    let records: Vec<ReceivedEvent> = valid
        .events
        .into_iter()
        .filter_map(|e| {
            let payload = match raws.as_mut().and_then(Iterator::next) {
                Some(raw) => raw,
                None => RawValue::from_string(e.payload.to_string()).ok()?,
            };
            Some(ReceivedEvent {
                pixel: pixel.to_owned(),
                event: e.event_name,
                event_id: e.event_id,
                test_event_code: valid.test_event_code.clone(),
                received_at,
                origin: Origin::Meta {
                    action_source: e.action_source,
                    api_version: version.to_owned(),
                },
                event_time: e.event_time,
                duplicate: false,
                payload,
            })
        })
        .collect();
    tracing::debug!(
        pixel,
        events = records.len(),
        "sandbox accepted a Meta request"
    );
    sandbox.store().accept(
        Destination::Meta,
        pixel,
        "meta_ok",
        records,
        received_at.timestamp(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_look_like_v_major_dot_minor() {
        for (v, ok) in [
            ("v25.0", true),
            ("v3.2", true),
            ("v100.12", true),
            ("25.0", false),
            ("v25", false),
            ("v25.", false),
            ("vx.0", false),
            ("V25.0", false),
            ("v25.0.1", false),
        ] {
            assert_eq!(is_version(v), ok, "{v}");
        }
    }
}
