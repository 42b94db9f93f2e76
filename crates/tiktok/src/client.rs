//! The HTTP client for `POST /open_api/v1.3/event/track/`. It sends one request and reports what
//! came back as an [`Answer`] (never an `Err`): the delivery engine records every attempt, and a
//! timeout is as much an answer as a 40100.
//!
//! The access token is a secret: it is passed per call, sent only in the `Access-Token` header
//! (marked sensitive so HTTP-layer debug output hides it), and never stored, logged or put in a
//! message.
//!
//! Where the token may go is part of the configuration: a client built with
//! [`AddressPolicy::PublicOnly`] (the default) connects only to public addresses, checked on the
//! address actually connected to ([`signalpost_destination::address`]); a refusal is reported like a
//! transport error, with [`Answer::destination_refused`] set.

use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};

use crate::classify::{Classified, Outcome, classify, classify_transport_error};
pub use signalpost_destination::AddressPolicy;
use signalpost_destination::address::{
    DestinationRefused, PublicOnlyResolver, literal_refusal, refusal_in,
};
use crate::model::{DEFAULT_BASE_URL, TRACK_PATH, TrackRequest};

/// Largest response body read; TikTok's answers are a few hundred bytes.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Header TikTok puts its log id in (also returned as `request_id` in the body).
const LOG_ID_HEADER: &str = "x-tt-logid";

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
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("base_url {url:?} is not an http(s) URL: {reason}")]
    BaseUrl { url: String, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
}

/// What one request got: the HTTP status (none if no answer came), its classification and how long
/// it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub http_status: Option<u16>,
    pub classified: Classified,
    pub latency: Duration,
    /// The connection was not made because the destination's address is not public (and the
    /// client is [`AddressPolicy::PublicOnly`]); the message says which address.
    pub destination_refused: bool,
}

/// A pooled, keep-alive HTTPS client for the track endpoint. Cheap to clone (shares the pool).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    track_url: String,
    timeout: Duration,
    /// Set when the URL's host is an IP literal the address policy refuses: no request is made.
    refused: Option<DestinationRefused>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("track_url", &self.track_url)
            .field("timeout", &self.timeout)
            .field("refused", &self.refused.is_some())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Builds the client; fails only on a bad `base_url` or a TLS setup problem.
    pub fn new(config: ClientConfig) -> Result<Client, ClientError> {
        let track_url = track_url(&config.base_url)?;
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let mut builder = reqwest::Client::builder();
        let mut refused = None;
        if config.addresses == AddressPolicy::PublicOnly {
            // Names are resolved by a resolver that keeps public addresses only; an IP literal
            // never reaches a resolver, so it is checked here once.
            builder = builder.dns_resolver(std::sync::Arc::new(
                PublicOnlyResolver::exempting_env_proxies(),
            ));
            refused = reqwest::Url::parse(&track_url)
                .ok()
                .and_then(|url| literal_refusal(&url));
        }
        let http = builder
            .default_headers(headers)
            .user_agent(concat!("signalpost/", env!("CARGO_PKG_VERSION")))
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            // A POST must not silently turn into a GET somewhere else; a 3xx is classified.
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| ClientError::Build(error_chain(&e)))?;
        Ok(Client {
            http,
            track_url,
            timeout: config.timeout,
            refused,
        })
    }

    /// The full URL requests go to.
    pub fn track_url(&self) -> &str {
        &self.track_url
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
                },
                latency: Duration::ZERO,
                destination_refused: false,
            },
        }
    }

    /// Sends a body that is already the JSON of a [`TrackRequest`] (the delivery engine assembles
    /// batches from stored event fragments without re-serializing them).
    pub async fn track_raw(&self, access_token: &str, body: impl Into<Bytes>) -> Answer {
        let started = Instant::now();
        let Ok(mut token) = HeaderValue::from_str(access_token) else {
            return Answer {
                http_status: None,
                classified: Classified {
                    outcome: Outcome::Auth,
                    code: None,
                    message: "access token contains characters not allowed in an HTTP header"
                        .to_owned(),
                    request_id: None,
                },
                latency: started.elapsed(),
                destination_refused: false,
            };
        };
        token.set_sensitive(true);
        if let Some(refused) = &self.refused {
            return refused_answer(refused, started.elapsed());
        }
        let sent = self
            .http
            .post(&self.track_url)
            .header("Access-Token", token)
            .body(body.into())
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(e) => {
                if let Some(refused) = refusal_in(&e) {
                    return refused_answer(&refused, started.elapsed());
                }
                return Answer {
                    http_status: None,
                    classified: classify_transport_error(self.describe(&e)),
                    latency: started.elapsed(),
                    destination_refused: false,
                };
            }
        };
        let status = response.status().as_u16();
        let log_id = response
            .headers()
            .get(LOG_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = MAX_RESPONSE_BYTES.saturating_sub(body.len());
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if room <= chunk.len() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let mut classified = classify_transport_error(format!(
                        "HTTP {status}, then the body could not be read: {}",
                        self.describe(&e)
                    ));
                    classified.request_id = log_id;
                    return Answer {
                        http_status: Some(status),
                        classified,
                        latency: started.elapsed(),
                        destination_refused: false,
                    };
                }
            }
        }
        let mut classified = classify(status, &body);
        if classified.request_id.is_none() {
            classified.request_id = log_id;
        }
        Answer {
            http_status: Some(status),
            classified,
            latency: started.elapsed(),
            destination_refused: false,
        }
    }

    /// A transport failure in words: "timeout after 10s", "connection error: …".
    fn describe(&self, e: &reqwest::Error) -> String {
        if e.is_timeout() {
            format!("timeout after {}", human(self.timeout))
        } else if e.is_connect() {
            format!("connection error: {}", error_chain(e))
        } else {
            format!("request error: {}", error_chain(e))
        }
    }
}

/// The answer to a request never sent because its destination's address is not allowed: a
/// transport error (no HTTP status) whose message names the address.
fn refused_answer(refused: &DestinationRefused, latency: Duration) -> Answer {
    Answer {
        http_status: None,
        classified: classify_transport_error(refused.to_string()),
        latency,
        destination_refused: true,
    }
}

/// `base_url` + [`TRACK_PATH`], with or without a trailing slash on the base.
fn track_url(base_url: &str) -> Result<String, ClientError> {
    let bad = |reason: &str| ClientError::BaseUrl {
        url: base_url.to_owned(),
        reason: reason.to_owned(),
    };
    let base = base_url.trim().trim_end_matches('/');
    let parsed = reqwest::Url::parse(base).map_err(|e| bad(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad("it must not have a query or fragment"));
    }
    Ok(format!("{base}{TRACK_PATH}"))
}

/// The error and its causes, without the URL (which carries no secret, but is noise here).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(e);
    while let Some(err) = current {
        let text = match err.downcast_ref::<reqwest::Error>() {
            Some(re) => {
                let mut text = re.to_string();
                if let Some(url) = re.url() {
                    text = text.replace(&format!(" ({url})"), "");
                }
                text
            }
            None => err.to_string(),
        };
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        current = err.source();
    }
    parts.join(": ")
}

/// "10s", "250ms", "1.5s".
fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else if d.as_secs() == 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
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
    fn durations_read_naturally() {
        assert_eq!(human(Duration::from_secs(10)), "10s");
        assert_eq!(human(Duration::from_millis(250)), "250ms");
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
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
