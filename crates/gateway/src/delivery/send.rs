//! The engine's one door to the destinations: an endpoint client per URL and address policy (the
//! destination crate's), and the mapping of a classified answer onto an attempt record.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use signalpost_destination::http::{Endpoint, EndpointConfig};
use signalpost_destination::{Outcome, RowVerdict};

use super::AddressPolicy;

use crate::destinations::{Destination, credentials};
use crate::domain::{AttemptOutcome, NewAttempt};
use crate::time::now_ms;

/// What one request came back with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    pub outcome: AttemptOutcome,
    pub attempt: NewAttempt,
    pub latency: Duration,
    /// Events the destination judged on their own (see [`RowVerdict`]); `outcome` is for the rest.
    pub rows: Vec<RowVerdict>,
    /// For a retryable answer: when the destination said to try again (not the backoff's call).
    pub retry_after: Option<Duration>,
}

/// Endpoint clients by URL and address policy, built on first use.
pub(crate) struct Clients {
    timeout: Duration,
    connect_timeout: Duration,
    by_url: Mutex<HashMap<(String, AddressPolicy), Arc<Endpoint>>>,
}

impl Clients {
    pub fn new(timeout: Duration, connect_timeout: Duration) -> Self {
        Self {
            timeout,
            connect_timeout,
            by_url: Mutex::new(HashMap::new()),
        }
    }

    fn client(&self, url: &str, addresses: AddressPolicy) -> Result<Arc<Endpoint>, String> {
        let mut map = self
            .by_url
            .lock()
            .map_err(|_| "client cache poisoned".to_owned())?;
        let key = (url.to_owned(), addresses);
        if let Some(c) = map.get(&key) {
            return Ok(c.clone());
        }
        let client = Endpoint::new(EndpointConfig {
            url: url.to_owned(),
            timeout: self.timeout,
            connect_timeout: self.connect_timeout,
            addresses,
        })
        .map_err(|e| format!("cannot build an HTTP client for {url}: {e}"))?;
        let client = Arc::new(client);
        map.insert(key, client.clone());
        Ok(client)
    }

    /// Sends one body to `url` (its endpoint URL, or why there is none) with the pixel's
    /// credentials `secret` as `destination` carries them, and reads the answer its way. A
    /// destination whose address `addresses` refuses is not connected to: the attempt is a
    /// transport error naming the address (retried with backoff, then dead, like every problem
    /// only the operator can fix by changing the pixel).
    pub async fn send(
        &self,
        url: Result<&str, String>,
        addresses: AddressPolicy,
        destination: &Destination,
        secret: &str,
        body: Vec<u8>,
        batch_size: usize,
    ) -> Answer {
        let at_ms = now_ms();
        let batch_size = u32::try_from(batch_size).unwrap_or(u32::MAX);
        let client = match url.and_then(|url| self.client(url, addresses)) {
            Ok(c) => c,
            Err(message) => {
                return Answer {
                    outcome: AttemptOutcome::Retryable,
                    attempt: NewAttempt {
                        at_ms,
                        http_status: None,
                        code: None,
                        message,
                        request_id: None,
                        latency_ms: 0,
                        outcome: AttemptOutcome::Retryable,
                        batch_size,
                    },
                    latency: Duration::ZERO,
                    rows: Vec::new(),
                    retry_after: None,
                };
            }
        };
        let answer = credentials::post(&client, destination, secret, addresses, body).await;
        let outcome = match answer.classified.outcome {
            Outcome::Delivered => AttemptOutcome::Delivered,
            Outcome::Retryable => AttemptOutcome::Retryable,
            Outcome::Auth => AttemptOutcome::Auth,
            Outcome::Invalid => AttemptOutcome::Invalid,
        };
        Answer {
            outcome,
            attempt: NewAttempt {
                at_ms,
                http_status: answer.http_status,
                code: answer.classified.code,
                message: answer.classified.message.clone(),
                request_id: answer.classified.request_id.clone(),
                latency_ms: u64::try_from(answer.latency.as_millis()).unwrap_or(u64::MAX),
                outcome,
                batch_size,
            },
            latency: answer.latency,
            rows: answer.classified.rows,
            retry_after: None,
        }
    }
}
