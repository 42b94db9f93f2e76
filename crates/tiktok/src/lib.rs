//! TikTok Events API 2.0 (`POST /open_api/v1.3/event/track/`): the model signalpost builds and the
//! sandbox validates, the validation itself (shared by the sandbox and the gateway's ingest check),
//! identifier normalization and hashing, response classification and the HTTP client. No storage and
//! no HTTP server here.

pub mod classify;
pub mod client;
pub mod currency;
pub use signalpost_destination as destination;
pub mod event_name;
pub use signalpost_identity as identity;
mod json;
pub mod model;
pub mod rejection;
pub mod validate;

pub use classify::{Classified, Outcome, classify, classify_transport_error};
pub use client::{Answer, Client, ClientConfig, ClientError};
pub use identity::{
    Field, IdentifierError, Region, Sha256Hex, UnknownRegion, hash_email, hash_external_id,
    hash_phone, normalize_email, normalize_phone,
};
