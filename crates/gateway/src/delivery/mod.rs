//! The delivery engine: per pixel, claim due conversions in batches, send them to TikTok, classify the
//! answer and record what happened, following DESIGN.md's delivery policy (retry with backoff, pause on
//! a rejected token, bisect an invalid batch, drop what is too old).

pub mod bisect;
pub mod pixels;
pub mod retry;
pub mod signal;
pub mod token_bucket;

pub use pixels::{AccessToken, PixelConfig, PixelRegistry, PixelSnapshot, PixelState, Upsert};
pub use retry::{NextStep, RetryPolicy};
pub use signal::WorkSignal;
