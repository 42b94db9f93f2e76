//! The HTTP API (axum): one module per resource, each with its own `router()`, merged here with the
//! shared layers — problem+json for every failure, API-key checks, body limits, latency metrics and
//! a panic guard that answers a bare 500 problem.

pub mod auth;
pub mod dto;
pub mod json;
pub mod problem;
