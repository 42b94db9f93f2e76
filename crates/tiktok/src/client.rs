//! The TikTok endpoint `POST /open_api/v1.3/event/track/`: the shared HTTP client of
//! [`signalpost_destination::http`] with TikTok's path, its `Access-Token` header and its answers
//! read by [`crate::classify`]. It sends one request and reports what came back as an [`Answer`]
//! (never an `Err`).
//!
//! The access token is passed per call, sent only in the `Access-Token` header (marked sensitive),
//! and never stored, logged or put in a message. Where it may go follows the client's
//! [`AddressPolicy`] (public addresses only unless the operator named the destination).

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use signalpost_destination::http::{Endpoint, EndpointConfig, EndpointError, ReadAnswer, base_url};
pub use signalpost_destination::{AddressPolicy, Answer};

use crate::classify::{Classified, Outcome, classify};
use crate::model::{DEFAULT_BASE_URL, TRACK_PATH, TrackRequest};

/// Header TikTok puts its log id in (also returned as `request_id` in the body).
const LOG_ID_HEADER: &str = "x-tt-logid";

/// How TikTok's answers read.
pub const READ_ANSWER: ReadAnswer = ReadAnswer {
    classify,
    trace_header: Some(LOG_ID_HEADER),
    max_body_bytes: signalpost_destination::http::MAX_RESPONSE_BYTES,
};

/// Where and how patiently to talk to TikTok.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Scheme and host, optionally with a path prefix; the track path is appended. Default
    /// `https://business-api.tiktok.com`; the sandbox's address in tests and offline mode.
    pub base_url: String,
    /// Whole-request limit, connection included. About 5% of TikTok server events time out on
    /// TikTok's side (Elevar), so this bounds how long a batch can hold a worker.
    pub timeout: Duration,
    /// Limit for establishing the connection (TCP + TLS).
    pub connect_timeout: Duration,
    /// Which addresses the client may connect to: public ones only unless the operator named the
    /// destination (config file, command line).
    pub addresses: AddressPolicy,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            addresses: AddressPolicy::PublicOnly,
        }
    }
}

/// Why a [`Client`] cannot be built.
pub type ClientError = EndpointError;

/// A pooled, keep-alive HTTPS client for the track endpoint. Cheap to clone (shares the pool).
#[derive(Clone)]
pub struct Client {
    endpoint: Endpoint,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("track_url", &self.endpoint.url())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Builds the client; fails only on a bad `base_url` or a TLS setup problem.
    pub fn new(config: ClientConfig) -> Result<Client, ClientError> {
        let endpoint = Endpoint::new(EndpointConfig {
            url: track_url(&config.base_url)?,
            timeout: config.timeout,
            connect_timeout: config.connect_timeout,
            addresses: config.addresses,
        })?;
        Ok(Client { endpoint })
    }

    /// The full URL requests go to.
    pub fn track_url(&self) -> &str {
        self.endpoint.url()
    }

    /// Serializes and sends one request.
    pub async fn track(&self, access_token: &str, request: &TrackRequest) -> Answer {
        match serde_json::to_vec(request) {
            Ok(body) => self.track_raw(access_token, body).await,
            Err(e) => Answer {
                http_status: None,
                classified: Classified {
                    outcome: Outcome::Invalid,
                    code: None,
                    message: format!("request cannot be serialized: {e}"),
                    request_id: None,
                    rows: Vec::new(),
                },
                latency: Duration::ZERO,
                destination_refused: false,
            },
        }
    }

    /// Sends a body that is already the JSON of a [`TrackRequest`] (the delivery engine assembles
    /// batches from stored event fragments without re-serializing them).
    pub async fn track_raw(&self, access_token: &str, body: impl Into<Bytes>) -> Answer {
        self.endpoint
            .post(&[("Access-Token", access_token)], body, READ_ANSWER)
            .await
    }
}

/// `base_url` + [`TRACK_PATH`], with or without a trailing slash on the base.
pub fn track_url(base: &str) -> Result<String, ClientError> {
    Ok(format!("{}{TRACK_PATH}", base_url(base)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_the_track_path_with_or_without_a_trailing_slash() {
        for base in [
            "https://business-api.tiktok.com",
            "https://business-api.tiktok.com/",
            " https://business-api.tiktok.com// ",
        ] {
            assert_eq!(
                track_url(base).unwrap(),
                "https://business-api.tiktok.com/open_api/v1.3/event/track/"
            );
        }
        assert_eq!(
            track_url("http://127.0.0.1:8080/tiktok/").unwrap(),
            "http://127.0.0.1:8080/tiktok/open_api/v1.3/event/track/"
        );
    }

    #[test]
    fn rejects_base_urls_that_are_not_http() {
        for bad in [
            "",
            "business-api.tiktok.com",
            "ftp://x.com",
            "https://x.com/?a=1",
            "http://",
        ] {
            assert!(track_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_output_shows_the_endpoint() {
        let client = Client::new(ClientConfig::default()).unwrap();
        let debug = format!("{client:?}");
        assert!(
            debug.contains("business-api.tiktok.com/open_api/v1.3/event/track/"),
            "{debug}"
        );
    }
}
