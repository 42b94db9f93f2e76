//! Meta's Conversions API in the sandbox: `POST /{version}/{pixel_id}/events`, as strict as Meta
//! documents it (the rules are `signalpost_meta::validate`, shared with the gateway) and accepting
//! every encoding Meta's official SDKs and documentation use: JSON, form-encoded (the Python SDK,
//! with `data` a JSON string) and multipart (Meta's own `curl -F` examples).
//!
//! Decisions where Meta's documentation leaves room:
//! - Check order: fault and latency, path version (`v<major>.<minor>`), access token (query string
//!   or body; missing or unknown → code 190), rate limit (code 17), the token's access to the
//!   pixel (100/33, as Graph answers for an object it cannot reach), body encoding, then the events
//!   in order; the first problem rejects the whole request, as Meta does.
//! - Every refusal is HTTP 400 with Meta's `{"error":{…}}` shape, except the server-error fault
//!   (HTTP 500, code 2, `is_transient`) and the HTML pages of the `http_500`/`http_502` faults.
//! - Query-string parameters count as body parameters (Graph reads both); the body wins.
//! - Meta documents no byte limit; the router's body limit applies.

mod answer;
mod body;
pub(crate) mod events;
mod multipart;

/// The route: Graph API version, pixel (dataset) id, `events` edge.
pub(crate) const EVENTS: &str = "/{version}/{pixel_id}/events";
