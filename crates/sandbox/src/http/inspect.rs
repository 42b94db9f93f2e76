//! The sandbox's own endpoints: received events, stats, faults and pixels. Never subject to faults or
//! rate limits. Bad input gets a 400 with `{"error": "..."}` naming what is wrong.

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::json_error;
use crate::Sandbox;
use crate::faults::{Fault, FaultKind};
use crate::store::EventList;

/// Longest timed fault: a day covers any soak test, and a typo of `seconds` cannot wedge a sandbox
/// for years.
const MAX_FAULT_SECONDS: f64 = 86_400.0;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventsQuery {
    pixel: Option<String>,
}

#[derive(Serialize)]
struct EventsBody {
    events: EventList,
}

/// `GET /sandbox/events[?pixel=CODE]`.
pub(crate) async fn events(
    State(sandbox): State<Sandbox>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Response {
    let Query(query) = match query {
        Ok(q) => q,
        Err(rejection) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                format!(
                    "bad query: {}; the only parameter is pixel=CODE",
                    rejection.body_text()
                ),
            );
        }
    };
    let snapshot = sandbox.store().snapshot(query.pixel.as_deref());
    // Serialized outside the lock: only the Arcs were copied under it.
    Json(EventsBody {
        events: EventList(snapshot),
    })
    .into_response()
}

/// `DELETE /sandbox/events`: forget events, dedup index and counters.
pub(crate) async fn clear_events(State(sandbox): State<Sandbox>) -> Response {
    let cleared = sandbox.clear();
    Json(json!({ "cleared_events": cleared })).into_response()
}

/// `GET /sandbox/stats`.
pub(crate) async fn stats(State(sandbox): State<Sandbox>) -> Response {
    Json(sandbox.stats()).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultRequest {
    kind: String,
    count: Option<u64>,
    seconds: Option<f64>,
}

/// `POST /sandbox/faults` with `{"kind":K,"count":N}` or `{"kind":K,"seconds":S}`.
pub(crate) async fn inject_fault(State(sandbox): State<Sandbox>, body: Bytes) -> Response {
    match parse_fault(&body) {
        Ok(fault) => (
            StatusCode::CREATED,
            Json(json!({ "fault": sandbox.inject(fault) })),
        )
            .into_response(),
        Err(message) => json_error(StatusCode::BAD_REQUEST, message),
    }
}

fn parse_fault(body: &[u8]) -> Result<Fault, String> {
    let request: FaultRequest = serde_json::from_slice(body).map_err(|err| {
        format!("invalid fault: {err}; expected {{\"kind\": K, \"count\": N}} or {{\"kind\": K, \"seconds\": S}}")
    })?;
    let kind: FaultKind = request.kind.parse().map_err(|err| format!("{err}"))?;
    match (request.count, request.seconds) {
        (Some(count), None) => {
            let count = u32::try_from(count)
                .ok()
                .filter(|n| *n > 0)
                .ok_or("count must be between 1 and 4294967295")?;
            Ok(Fault::requests(kind, count))
        }
        (None, Some(seconds)) => {
            if !(seconds > 0.0 && seconds <= MAX_FAULT_SECONDS) {
                return Err(format!(
                    "seconds must be greater than 0 and at most {MAX_FAULT_SECONDS}"
                ));
            }
            Ok(Fault::lasting(kind, Duration::from_secs_f64(seconds)))
        }
        (Some(_), Some(_)) => Err("give either count or seconds, not both".to_owned()),
        (None, None) => Err("give count (next N requests) or seconds (for S seconds)".to_owned()),
    }
}

/// `GET /sandbox/faults`: active faults.
pub(crate) async fn faults(State(sandbox): State<Sandbox>) -> Response {
    Json(json!({ "faults": sandbox.faults() })).into_response()
}

/// `DELETE /sandbox/faults`.
pub(crate) async fn clear_faults(State(sandbox): State<Sandbox>) -> Response {
    sandbox.clear_faults();
    Json(json!({ "faults": [] })).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PixelRequest {
    code: String,
    token: String,
}

/// `POST /sandbox/pixels` with `{"code","token"}`: token rotation (or a new pixel).
pub(crate) async fn set_pixel(State(sandbox): State<Sandbox>, body: Bytes) -> Response {
    let request: PixelRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(err) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                format!("invalid pixel: {err}; expected {{\"code\": C, \"token\": T}}"),
            );
        }
    };
    match sandbox.set_token(&request.code, &request.token) {
        Ok(()) => Json(json!({ "pixel": request.code })).into_response(),
        Err(err) => json_error(StatusCode::BAD_REQUEST, err.to_string()),
    }
}

/// `GET /sandbox/pixels`: codes only, never tokens.
pub(crate) async fn pixels(State(sandbox): State<Sandbox>) -> Response {
    Json(json!({ "pixels": sandbox.pixels() })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::FaultSpan;

    #[test]
    fn parses_count_and_seconds_faults() {
        assert_eq!(
            parse_fault(br#"{"kind":"http_502","count":3}"#),
            Ok(Fault::requests(FaultKind::Http502, 3))
        );
        let fault = parse_fault(br#"{"kind":"hang","seconds":1.5}"#).unwrap();
        assert_eq!(fault.span, FaultSpan::For(Duration::from_millis(1500)));
    }

    #[test]
    fn rejects_bad_fault_requests_with_a_reason() {
        for (body, needle) in [
            (r#"{"kind":"explode","count":1}"#, "unknown fault kind"),
            (r#"{"kind":"hang"}"#, "give count"),
            (r#"{"kind":"hang","count":1,"seconds":2}"#, "not both"),
            (r#"{"kind":"hang","count":0}"#, "count must be"),
            (r#"{"kind":"hang","seconds":-1}"#, "seconds must be"),
            (r#"{"kind":"hang","count":1,"pixel":"x"}"#, "unknown field"),
            ("nope", "invalid fault"),
        ] {
            let err = parse_fault(body.as_bytes()).unwrap_err();
            assert!(err.contains(needle), "{body}: {err}");
        }
    }
}
