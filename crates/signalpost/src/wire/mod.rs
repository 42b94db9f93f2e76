//! The API's vocabulary on the wire, shared by the HTTP API, the console, the operator tools and the
//! admin layer: request bodies and their validation into the gateway's inputs (`dto`), the
//! problem+json answers and the field errors they carry (`problem`), strict JSON reading with the
//! path of every error (`json`), and the OpenAPI schemas of the gateway's types that answers carry
//! (`schemas`). Nothing here serves a route.

pub mod dto;
pub mod json;
pub mod problem;
pub mod schemas;

pub use dto::lead::IdentifierPolicy;
