//! One destination endpoint over HTTPS: sends a request body and reports what came back as an
//! [`Answer`] (never an `Err`): the delivery engine records every attempt, and a timeout is as much
//! an answer as a rate limit. Each destination says where (the endpoint URL), how the token goes
//! (a header, or inside the body it built), and how its answers read ([`ReadAnswer`]).
//!
//! The access token is a secret: a header credential is marked sensitive so HTTP-layer debug output
//! hides it, and nothing here stores, logs or puts it in a message.
//!
//! Where the token may go is part of the configuration: an endpoint built with
//! [`AddressPolicy::PublicOnly`] (the default) connects only to public addresses, checked on the
//! address actually connected to ([`crate::address`]); a refusal is reported like a transport error,
//! with [`Answer::destination_refused`] set.

use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};

use crate::address::{
    AddressPolicy, DestinationRefused, PublicOnlyResolver, literal_refusal, refusal_in,
};
use crate::outcome::{Classified, Outcome};

/// Largest response body read unless a destination says otherwise ([`ReadAnswer::max_body_bytes`]):
/// TikTok and Meta answer in a few hundred bytes.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Where and how patiently to talk to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    /// The full URL requests are posted to (http or https, no query or fragment).
    pub url: String,
    /// Whole-request limit, connection included: bounds how long a batch can hold a worker.
    pub timeout: Duration,
    /// Limit for establishing the connection (TCP + TLS).
    pub connect_timeout: Duration,
    /// Which addresses may be connected to: public ones only unless the operator named the
    /// destination (config file, command line).
    pub addresses: AddressPolicy,
}

/// Why an [`Endpoint`] cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointError {
    /// The URL is not an http(s) URL with a host.
    Url { url: String, reason: String },
    /// The TLS or HTTP stack could not be set up.
    Build(String),
}

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointError::Url { url, reason } => {
                write!(f, "base_url {url:?} is not an http(s) URL: {reason}")
            }
            EndpointError::Build(e) => write!(f, "cannot build the HTTP client: {e}"),
        }
    }
}

impl std::error::Error for EndpointError {}

/// What one request got: the HTTP status (none if no answer came), its classification and how long
/// it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub http_status: Option<u16>,
    pub classified: Classified,
    pub latency: Duration,
    /// The connection was not made because the destination's address is not public (and the
    /// endpoint is [`AddressPolicy::PublicOnly`]); the message says which address.
    pub destination_refused: bool,
}

/// How a destination's answers read: its classification of a status and body, and the response
/// header that carries its trace id when the body does not.
#[derive(Debug, Clone, Copy)]
pub struct ReadAnswer {
    pub classify: fn(u16, &[u8]) -> Classified,
    pub trace_header: Option<&'static str>,
    /// Most bytes of a body read; the rest is dropped (so an answer cut short reads as not the
    /// destination's). Google Ads echoes every accepted row: 2,000 rows take about half a MiB.
    pub max_body_bytes: usize,
}

/// A pooled, keep-alive client for one endpoint URL. Cheap to clone (shares the pool).
#[derive(Clone)]
pub struct Endpoint {
    http: reqwest::Client,
    url: String,
    timeout: Duration,
    /// Set when the URL's host is an IP literal the address policy refuses: no request is made.
    refused: Option<DestinationRefused>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .field("refused", &self.refused.is_some())
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// Builds the client; fails only on a bad URL or a TLS setup problem.
    pub fn new(config: EndpointConfig) -> Result<Endpoint, EndpointError> {
        check_url(&config.url)?;
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
            refused = reqwest::Url::parse(&config.url)
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
            .map_err(|e| EndpointError::Build(error_chain(&e)))?;
        Ok(Endpoint {
            http,
            url: config.url,
            timeout: config.timeout,
            refused,
        })
    }

    /// The URL requests go to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Posts `body` with `headers` (credentials: each is marked sensitive, so HTTP-layer debug
    /// output hides it; a destination that carries its token in the body passes none), and reads
    /// the answer with `read`.
    pub async fn post(
        &self,
        headers: &[(&'static str, &str)],
        body: impl Into<Bytes>,
        read: ReadAnswer,
    ) -> Answer {
        let started = Instant::now();
        let mut request = self.http.post(&self.url);
        for &(name, value) in headers {
            let Ok(mut value) = HeaderValue::from_str(value) else {
                return Answer {
                    http_status: None,
                    classified: Classified {
                        outcome: Outcome::Auth,
                        code: None,
                        message: format!(
                            "the credential for the {name} header contains characters not allowed in an HTTP header"
                        ),
                        request_id: None,
                        rows: Vec::new(),
                    },
                    latency: started.elapsed(),
                    destination_refused: false,
                };
            };
            value.set_sensitive(true);
            request = request.header(name, value);
        }
        if let Some(refused) = &self.refused {
            return refused_answer(refused, started.elapsed());
        }
        let mut response = match request.body(body.into()).send().await {
            Ok(response) => response,
            Err(e) => {
                if let Some(refused) = refusal_in(&e) {
                    return refused_answer(&refused, started.elapsed());
                }
                return Answer {
                    http_status: None,
                    classified: Classified::transport_error(self.describe(&e)),
                    latency: started.elapsed(),
                    destination_refused: false,
                };
            }
        };
        let status = response.status().as_u16();
        let trace_id = read
            .trace_header
            .and_then(|name| response.headers().get(name))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = read.max_body_bytes.saturating_sub(body.len());
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if room <= chunk.len() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let mut classified = Classified::transport_error(format!(
                        "HTTP {status}, then the body could not be read: {}",
                        self.describe(&e)
                    ));
                    classified.request_id = trace_id;
                    return Answer {
                        http_status: Some(status),
                        classified,
                        latency: started.elapsed(),
                        destination_refused: false,
                    };
                }
            }
        }
        let mut classified = (read.classify)(status, &body);
        if classified.request_id.is_none() {
            classified.request_id = trace_id;
        }
        Answer {
            http_status: Some(status),
            classified,
            latency: started.elapsed(),
            destination_refused: false,
        }
    }

    /// Posts `form` URL-encoded (an OAuth token exchange) and answers the HTTP status with at most
    /// 64 KiB of the body, or a transport failure in words. The form holds secrets: nothing here
    /// logs it or puts it in a message.
    pub async fn post_form(&self, form: &[(&str, &str)]) -> Result<(u16, Vec<u8>), String> {
        if let Some(refused) = &self.refused {
            return Err(refused.to_string());
        }
        let sent = self.http.post(&self.url).form(form).send().await;
        let mut response = match sent {
            Ok(response) => response,
            Err(e) => {
                return Err(match refusal_in(&e) {
                    Some(refused) => refused.to_string(),
                    None => self.describe(&e),
                });
            }
        };
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.describe(&e))? {
            let room = MAX_RESPONSE_BYTES.saturating_sub(body.len());
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if room <= chunk.len() {
                break;
            }
        }
        Ok((status, body))
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
        classified: Classified::transport_error(refused.to_string()),
        latency,
        destination_refused: true,
    }
}

/// `base_url` checked and without trailing slashes, ready for a destination to append its path.
pub fn base_url(base_url: &str) -> Result<String, EndpointError> {
    let base = base_url.trim().trim_end_matches('/');
    check_url(base).map_err(|e| match e {
        EndpointError::Url { reason, .. } => EndpointError::Url {
            url: base_url.to_owned(),
            reason,
        },
        other => other,
    })?;
    Ok(base.to_owned())
}

fn check_url(url: &str) -> Result<(), EndpointError> {
    let bad = |reason: &str| EndpointError::Url {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad("it must not have a query or fragment"));
    }
    Ok(())
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
    fn base_urls_lose_trailing_slashes_and_must_be_http() {
        assert_eq!(
            base_url(" https://graph.facebook.com// ").unwrap(),
            "https://graph.facebook.com"
        );
        for bad in [
            "",
            "graph.facebook.com",
            "ftp://x.com",
            "https://x.com/?a=1",
            "http://",
        ] {
            assert!(base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human(Duration::from_secs(10)), "10s");
        assert_eq!(human(Duration::from_millis(250)), "250ms");
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
    }
}
