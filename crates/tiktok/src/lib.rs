//! TikTok Events API 2.0 (`POST /open_api/v1.3/event/track/`): the model signalpost builds and the
//! sandbox validates. No storage and no HTTP server here.

pub mod currency;
pub mod event_name;
pub mod model;
