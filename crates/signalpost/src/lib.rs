//! signalpost: the server-side conversion gateway from lead funnels to the ad platforms' conversion APIs
//! (TikTok Events API, Meta Conversions API).
//! This crate is the application: configuration, CLI, HTTP API. The binary in `main.rs` only calls
//! [`cli::run`]; integration tests drive the same code through this library.
//!
//! The modules are layered: each imports only modules of the layers below it, never one of its own
//! layer or above (`tests/module_layers.rs` holds the list and fails on such an import). Bottom
//! first, as declared below:
//!
//! 1. leaves, importing no other module: [`api_keys`], [`app_store`], [`demo`],
//!    [`destination_hosts`], [`metrics`], [`private_file`], [`retention`];
//! 2. [`wire`], the API's request and answer vocabulary;
//! 3. [`pixel_fields`], the checks of a pixel's fields;
//! 4. [`config`];
//! 5. [`pixel_wiring`], the config's pixels and rules as the gateway takes them;
//! 6. [`admin`], the stored pixels, rules and keys, and the running node following them;
//! 7. [`ops`], the operator tools shared by the HTTP API and the CLI;
//! 8. [`http`], the HTTP API;
//! 9. [`console`], the web console, over the API's state;
//! 10. [`app`], everything `serve` runs (it composes the API and the console);
//! 11. [`cli`].

// Layer 1: the leaves.
pub mod api_keys;
pub mod app_store;
pub mod demo;
pub mod destination_hosts;
pub mod metrics;
pub mod private_file;
pub mod retention;
// Layer 2.
pub mod wire;
// Layer 3.
pub mod pixel_fields;
// Layer 4.
pub mod config;
// Layer 5.
pub mod pixel_wiring;
// Layer 6.
pub mod admin;
// Layer 7.
pub mod ops;
// Layer 8.
pub mod http;
// Layer 9.
pub mod console;
// Layer 10.
pub mod app;
// Layer 11.
pub mod cli;
