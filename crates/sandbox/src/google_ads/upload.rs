//! `POST /{version}/customers/{customer_id}:uploadClickConversions`: faults and latency, path,
//! access token, rate limit, customer and developer token, body, validation, then each row
//! ([`super::rows`]), store, answer (see the module docs for the order and its reasons).

use std::collections::HashMap;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use chrono::Utc;
use serde_json::Value;
use serde_json::value::RawValue;
use signalpost_google_ads::failure::{error, kind};
use signalpost_google_ads::{
    DEFAULT_API_VERSION, DEVELOPER_TOKEN_HEADER, LOGIN_CUSTOMER_ID_HEADER, RequestFailure,
    is_customer_id, validate_request,
};

use super::answer::{fault, json, refuse, request_id};
use super::rows::{Outcome, judge, partial_failure};
use super::state::TokenCheck;
use crate::Sandbox;
use crate::http::gate::with_faults;
use crate::store::{Destination, Origin, ReceivedEvent};

/// The only method served on a customer.
const METHOD: &str = "uploadClickConversions";

pub(crate) async fn handle(
    State(sandbox): State<Sandbox>,
    Path((version, call)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // The closures own their handles: when the answer is delayed they outlive this request.
    let state = sandbox.clone();
    let fault_version = known_version(&version);
    with_faults(
        &sandbox,
        Destination::GoogleAds,
        move |s, k| fault(s, &fault_version, k),
        move || process(&state, &version, &call, &headers, &body),
    )
    .await
}

fn process(
    sandbox: &Sandbox,
    version: &str,
    call: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let shown_version = known_version(version);
    let v = shown_version.as_str();
    let path = format!("/{version}/customers/{call}");
    let Some((customer, method)) = call.split_once(':') else {
        return refuse(sandbox, v, None, &RequestFailure::not_found(&path));
    };
    if !is_version(version) || method != METHOD {
        return refuse(sandbox, v, None, &RequestFailure::not_found(&path));
    }
    match bearer(headers) {
        None => return refuse(sandbox, v, None, &RequestFailure::missing_credential()),
        Some(token) => match sandbox.google().check_token(token, Instant::now()) {
            TokenCheck::Valid => {}
            TokenCheck::Expired => {
                return refuse(sandbox, v, None, &RequestFailure::token_expired());
            }
            TokenCheck::Unknown => {
                return refuse(sandbox, v, None, &RequestFailure::token_invalid());
            }
        },
    }
    if !sandbox.admit_rate() {
        return refuse(sandbox, v, None, &RequestFailure::rate_limited());
    }
    if !is_customer_id(customer) {
        let err = error(
            kind::REQUEST,
            "INVALID_CUSTOMER_ID",
            &format!("Customer ID {customer:?} is invalid: 10 digits without dashes."),
            None,
        );
        return refuse(
            sandbox,
            v,
            None,
            &RequestFailure::invalid_argument(vec![err]),
        );
    }
    let developer_token = sandbox
        .google()
        .developer_token(customer)
        .map(str::to_owned);
    let Some(developer_token) = developer_token else {
        return refuse(
            sandbox,
            v,
            None,
            &RequestFailure::user_permission_denied(customer),
        );
    };
    let sent = headers
        .get(DEVELOPER_TOKEN_HEADER)
        .and_then(|h| h.to_str().ok());
    if sent != Some(developer_token.as_str()) {
        return refuse(
            sandbox,
            v,
            None,
            &RequestFailure::developer_token_prohibited(),
        );
    }
    if let Some(login) = headers.get(LOGIN_CUSTOMER_ID_HEADER)
        && !login.to_str().is_ok_and(is_customer_id)
    {
        let err = error(
            kind::REQUEST,
            "INVALID_CUSTOMER_ID",
            "The login-customer-id header must be the manager's customer ID: 10 digits without dashes.",
            None,
        );
        return refuse(
            sandbox,
            v,
            Some(customer),
            &RequestFailure::invalid_argument(vec![err]),
        );
    }
    let parsed = read_body(headers, body);
    let body_json = match parsed {
        Ok(value) => value,
        Err(failure) => return refuse(sandbox, v, Some(customer), &failure),
    };
    let checked = match validate_request(customer, &body_json) {
        Ok(checked) => checked,
        Err(err) => return refuse(sandbox, v, Some(customer), &err.to_request_failure()),
    };
    let conversions = conversions(&body_json);
    let outcomes = judge(sandbox, customer, &checked, conversions);
    let id = request_id();
    let failure = partial_failure(&outcomes, v, &id);
    let mut answer = serde_json::Map::new();
    if let Some(status) = failure {
        answer.insert("partialFailureError".into(), status);
    }
    if !checked.validate_only {
        let results = outcomes.iter().map(|o| o.result()).collect();
        answer.insert("results".into(), Value::Array(results));
    }
    answer.insert("jobId".into(), Value::String(job_id(&body_json)));

    let accepted = if checked.validate_only {
        Vec::new()
    } else {
        records(customer, version, body, &outcomes)
    };
    let label = if outcomes.iter().any(|o| matches!(o, Outcome::Failed(_))) {
        "google_partial_failure"
    } else {
        "google_ok"
    };
    tracing::debug!(
        customer,
        conversions = outcomes.len(),
        accepted = accepted.len(),
        "sandbox answered a Google Ads upload"
    );
    sandbox.store().accept(
        Destination::GoogleAds,
        customer,
        label,
        accepted,
        Utc::now().timestamp(),
    );
    json(StatusCode::OK, &Value::Object(answer), &id)
}

/// The version to name in answers: the path's when it is one, the default otherwise.
fn known_version(version: &str) -> String {
    if is_version(version) {
        version.to_owned()
    } else {
        DEFAULT_API_VERSION.to_owned()
    }
}

/// `v<major>`, e.g. `v26` (Google's versions have no minor part).
fn is_version(version: &str) -> bool {
    version
        .strip_prefix('v')
        .is_some_and(|n| (1..=3).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive, as RFC 6750 allows).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The body as JSON; Google's front end takes `application/json` only (a decision: it is what
/// every client library sends, and a form body would be a client bug worth catching).
fn read_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, RequestFailure> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if media != "application/json" {
        return Err(RequestFailure::bad_payload(
            None,
            format!(
                "Invalid JSON payload received. Unsupported Content-Type {media:?}: send application/json."
            ),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        RequestFailure::bad_payload(None, format!("Invalid JSON payload received. {e}."))
    })
}

/// The parsed conversions (validated to be a list of objects).
fn conversions(body: &Value) -> &[Value] {
    body.get("conversions")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
}

/// The request's `jobId`, or one Google-style in [2^31, 2^63) when it has none.
fn job_id(body: &Value) -> String {
    match body.get("jobId").or_else(|| body.get("job_id")) {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => rand::random_range((1i64 << 31)..i64::MAX).to_string(),
    }
}

/// The accepted rows as inspection records, each with its conversion exactly as sent.
fn records(customer: &str, version: &str, body: &[u8], outcomes: &[Outcome]) -> Vec<ReceivedEvent> {
    let raws: Vec<&RawValue> = serde_json::from_slice::<HashMap<String, &RawValue>>(body)
        .ok()
        .and_then(|top| top.get("conversions").copied())
        .and_then(|list| serde_json::from_str::<Vec<&RawValue>>(list.get()).ok())
        .filter(|raws| raws.len() == outcomes.len())
        .unwrap_or_default();
    let received_at = Utc::now();
    outcomes
        .iter()
        .enumerate()
        .filter_map(|(i, outcome)| {
            let Outcome::Accepted { summary, payload } = outcome else {
                return None;
            };
            let raw = match raws.get(i) {
                Some(raw) => RawValue::from_string(raw.get().to_owned()).ok()?,
                None => RawValue::from_string(payload.to_string()).ok()?,
            };
            Some(ReceivedEvent {
                pixel: customer.to_owned(),
                event: summary.action_id.clone(),
                event_id: summary.order_id.clone(),
                test_event_code: None,
                received_at,
                origin: Origin::GoogleAds {
                    api_version: version.to_owned(),
                    conversion_action: summary.conversion_action.clone(),
                },
                event_time: summary.event_time,
                duplicate: false,
                payload: raw,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn versions_are_v_and_digits() {
        for (v, ok) in [
            ("v26", true),
            ("v1", true),
            ("v26.0", false),
            ("26", false),
            ("V26", false),
            ("v", false),
            ("v1234", false),
        ] {
            assert_eq!(is_version(v), ok, "{v}");
        }
    }

    #[test]
    fn reads_bearer_tokens_only() {
        for (value, token) in [
            ("Bearer ya29.x", Some("ya29.x")),
            ("bearer ya29.x", Some("ya29.x")),
            ("Bearer ", None),
            ("Basic abc", None),
            ("ya29.x", None),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
            assert_eq!(bearer(&headers), token, "{value}");
        }
        assert_eq!(bearer(&HeaderMap::new()), None);
    }
}
