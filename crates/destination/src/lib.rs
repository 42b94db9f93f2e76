//! What every destination (TikTok, Meta, …) shares: the outcomes its answers are read into, and the
//! network policy of the connections that carry a pixel's token. Destination-specific payloads,
//! requests and answer codes live in each destination's own crate.

pub mod address;
pub mod http;
pub mod outcome;

pub use address::{AddressPolicy, DestinationRefused, PublicOnlyResolver};
pub use http::{Answer, Endpoint, EndpointConfig, EndpointError, ReadAnswer};
pub use outcome::{Classified, Outcome, RowAction, RowVerdict};
