//! How one request carries a pixel's credentials, per destination: TikTok's `Access-Token` header;
//! Meta's token inside the body (no header); Google Ads' OAuth access token (from the pixel's
//! refresh token, cached, refreshed once on a 401) and developer token in headers. [`post`] sends a request with them; it is the one way
//! the engine, the test postback and `signalpost send` reach a destination, so a destination whose
//! credentials need a step before the request (an OAuth exchange) adds it here once.

use bytes::Bytes;
use signalpost_destination::AddressPolicy;
use signalpost_destination::http::{Answer, Endpoint};

use super::{Destination, google_ads, tiktok};

/// Posts `body` to `endpoint` with the credentials `secret` (the pixel's access token, or its
/// Google Ads credential bundle) on the request as `destination` wants them, and reads the answer
/// the destination's way. `addresses` is the pixel's policy, applied to a token endpoint too.
pub async fn post(
    endpoint: &Endpoint,
    destination: &Destination,
    secret: &str,
    addresses: AddressPolicy,
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
        Destination::GoogleAds(settings) => {
            google_ads::token::post(endpoint, settings, secret, addresses, body.into()).await
        }
    }
}
