//! Integration tests: the real application on 127.0.0.1 port 0, a real SQLite file in a tempdir,
//! and a real in-process TikTok sandbox as the destination. One test binary, one module per area.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../support/pg_schema.rs"]
mod pg_schema;

mod admin;
mod batch;
mod body_limits;
mod cli_ops;
mod click_ids;
mod console;
mod country;
mod deliverable;
mod delivery;
mod demo;
mod destinations_google_ads;
mod destinations_meta;
mod erase;
mod idempotency;
mod identifiers;
mod json_logs;
mod openapi;
mod operations;
mod postback;
mod preview;
mod problems;
mod replay;
mod request_limits;
mod rules;
mod schemathesis_findings;
mod serve_lock;
mod test_postback;
