//! signalpost: the server-side conversion gateway from lead funnels to the TikTok Events API.
//! This crate is the application: configuration, CLI, HTTP API. The binary in `main.rs` only calls
//! [`cli::run`]; integration tests drive the same code through this library.

pub mod admin;
pub mod api_keys;
pub mod app;
pub mod app_store;
pub mod cli;
pub mod config;
pub mod console;
pub mod demo;
pub mod destination_hosts;
pub mod http;
pub mod metrics;
pub mod ops;
pub mod pixel_fields;
pub mod pixel_wiring;
pub mod private_file;
pub mod retention;
pub mod wire;
