//! The delivery engine: per pixel, claim due conversions in batches, send them to TikTok, classify the
//! answer and record what happened, following DESIGN.md's delivery policy (retry with backoff, pause on
//! a rejected token, bisect an invalid batch, drop what is too old).

pub mod signal;

pub use signal::WorkSignal;
