//! Every byte the Google Ads route sends back: Google's error envelope with a fresh request id
//! (also in the `request-id` header, as Google sends it), the 200 of an upload, and the fault
//! answers. Also where a Google Ads request is counted, so stats and answers cannot drift apart.

use axum::http::StatusCode;
use axum::response::Response;
use rand::Rng;
use signalpost_google_ads::{REQUEST_ID_HEADER, RequestFailure};

use crate::Sandbox;
use crate::faults::FaultKind;
use crate::response::html_page;
use crate::store::Destination;

/// The alphabet of Google's request ids (URL-safe base64, e.g. `MIb-fPbmH5pyp-YeF_QQkg`).
const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

/// A fresh request id shaped like Google's: 22 URL-safe base64 characters.
pub(crate) fn request_id() -> String {
    let mut rng = rand::rng();
    (0..22)
        .map(|_| char::from(ID_ALPHABET[rng.random_range(0..ID_ALPHABET.len())]))
        .collect()
}

/// Counts a refused request and renders Google's error in API `version`.
pub(crate) fn refuse(
    sandbox: &Sandbox,
    version: &str,
    customer: Option<&str>,
    failure: &RequestFailure,
) -> Response {
    tracing::debug!(customer, answer = %failure, "sandbox rejected a Google Ads request");
    sandbox
        .store()
        .reject(Destination::GoogleAds, customer, &failure.label());
    let id = request_id();
    let status = StatusCode::from_u16(failure.http_status).unwrap_or(StatusCode::BAD_REQUEST);
    json(status, &failure.to_answer(version, &id), &id)
}

/// Google's answer to an answering fault (`version` names the failure detail's type).
pub(crate) fn fault(sandbox: &Sandbox, version: &str, kind: FaultKind) -> Response {
    let failure = match kind {
        FaultKind::Http500 | FaultKind::Http502 => {
            let status = if matches!(kind, FaultKind::Http500) {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::BAD_GATEWAY
            };
            sandbox.store().reject(
                Destination::GoogleAds,
                None,
                &format!("http_{}", status.as_u16()),
            );
            return html_page(status);
        }
        FaultKind::RateLimit => RequestFailure::rate_limited(),
        FaultKind::TokenRevoked => RequestFailure::token_revoked(),
        FaultKind::NoPermission => RequestFailure::developer_token_not_approved(),
        // `hang` and `slow` delay rather than answer; never drawn as an answer.
        FaultKind::ServerError | FaultKind::Hang | FaultKind::Slow(_) => RequestFailure::internal(),
    };
    refuse(sandbox, version, None, &failure)
}

/// A JSON answer with Google's content type and `request_id` in the `request-id` header.
pub(crate) fn json<T: serde::Serialize>(
    status: StatusCode,
    body: &T,
    request_id: &str,
) -> Response {
    crate::response::json_traced(status, body, REQUEST_ID_HEADER, request_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_look_like_googles() {
        let id = request_id();
        assert_eq!(id.len(), 22);
        assert!(id.bytes().all(|b| ID_ALPHABET.contains(&b)), "{id}");
        assert_ne!(request_id(), request_id());
    }
}
