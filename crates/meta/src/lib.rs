//! Meta Conversions API (`POST https://graph.facebook.com/{version}/{pixel_id}/events`): the model
//! signalpost builds and the sandbox validates, the strict validation itself (shared by the sandbox
//! and, later, the gateway's ingest check), Meta's error shape and the classification of Meta's
//! answers into the neutral outcomes of `signalpost_destination`. No storage, no HTTP server, no
//! clock: callers pass `now` in.
//!
//! Facts and their sources: `shared/meta-conversions-api.md`, Meta's official business SDKs
//! (`serverside/*`) and the Graph API error-handling guide.

pub mod classify;
pub mod error;
pub mod model;
pub mod rejection;
pub mod validate;

pub use classify::{classify, classify_transport_error};
pub use error::{MetaError, code, subcode};
pub use model::{
    ActionSource, Content, CustomData, DEFAULT_API_VERSION, ErrorAnswer, ErrorDetail,
    EventsRequest, EventsResponse, GRAPH_BASE_URL, MAX_EVENTS_PER_REQUEST, ServerEvent, UserData,
    events_path,
};
pub use rejection::rejected_event_index;
pub use signalpost_destination::{Classified, Outcome};
pub use validate::{Rules, validate_event, validate_request};
