//! How one request carries a pixel's credentials, per destination: TikTok's `Access-Token` header;
//! Meta's token inside the body (no header). [`post`] sends a request with them; it is the one way
//! the engine, the test postback and `signalpost send` reach a destination, so a destination whose
//! credentials need a step before the request (an OAuth exchange) adds it here once.

use bytes::Bytes;
use signalpost_destination::http::{Answer, Endpoint};

use super::{Destination, tiktok};

/// Posts `body` to `endpoint` with the credentials `secret` (the pixel's access token) on the
/// request as `destination` wants them, and reads the answer the destination's way.
pub async fn post(
    endpoint: &Endpoint,
    destination: &Destination,
    secret: &str,
    body: impl Into<Bytes>,
) -> Answer {
    let read = destination.read_answer();
    match destination {
        Destination::TikTok(_) => {
            endpoint
                .post(&[(tiktok::request::TOKEN_HEADER, secret)], body, read)
                .await
        }
        // The token is in the body `request_body` built.
        Destination::Meta(_) => endpoint.post(&[], body, read).await,
    }
}
