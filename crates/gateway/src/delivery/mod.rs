//! The delivery engine: per pixel, claim due conversions in batches, send them to the pixel's
//! destination, classify the answer and record what happened, following DESIGN.md's delivery policy (retry with backoff, pause on
//! a rejected token, set aside the events of a refused batch, drop what is too old).
//!
//! `engine` runs the workers (and probes a paused pixel), `deliver` handles one request batch, `lease`
//! keeps its claim alive while it works, `batch` plans requests and builds bodies,
//! `retry`/`isolate`/`token_bucket`/`window` (how many requests a pixel keeps in flight) are the
//! pure policy pieces, `pixels` the pixel registry.

pub mod batch;
mod deliver;
pub mod engine;
pub mod isolate;
mod lease;
pub mod pixels;
pub mod policy;
pub mod retry;
mod send;
pub mod signal;
pub mod stats;
pub mod token_bucket;
pub mod window;

pub use engine::{DeliveryEngine, EngineHandle};
pub use pixels::{AccessToken, PixelConfig, PixelRegistry, PixelSnapshot, PixelState, Upsert};
pub use policy::DeliveryPolicy;
pub use retry::{NextStep, RetryPolicy};
pub use signal::WorkSignal;
pub use signalpost_tiktok::client::AddressPolicy;
pub use stats::DeliveryStats;
