//! Google Ads click conversions in the sandbox: the OAuth token endpoint (`POST /token`) and
//! `POST /{version}/customers/{customer_id}:uploadClickConversions`, as strict as Google documents
//! them (the rules are `signalpost_google_ads::validate`, shared with the gateway), answering in
//! Google's envelope and partial-failure shape.
//!
//! Decisions where Google's documentation leaves room:
//! - Routing: axum's router (matchit 0.8) has no `{param}:suffix` segments, so the route captures
//!   the whole last segment (`1234567890:uploadClickConversions`) and splits it at `:`; another
//!   method, or a version that is not `v<digits>`, answers 404 `NOT_FOUND`. The static `customers`
//!   segment sits beside Meta's `/{version}/{pixel_id}/events` without overlapping it.
//! - Check order: fault and latency (shared with TikTok and Meta), path, `Authorization: Bearer`
//!   (missing → 401 without Ads details, as Google's front end answers; never issued →
//!   `OAUTH_TOKEN_INVALID`; expired → `OAUTH_TOKEN_EXPIRED`), rate limit (429
//!   `RESOURCE_EXHAUSTED`), customer id format (400 `INVALID_CUSTOMER_ID`), customer registered
//!   (403 `USER_PERMISSION_DENIED`, Google's answer for an account the caller cannot reach),
//!   `developer-token` equal to the customer's (403 `DEVELOPER_TOKEN_PROHIBITED`), an optional
//!   `login-customer-id` of 10 digits (400 `INVALID_CUSTOMER_ID`; our code choice), JSON body, the
//!   request-wide rules (400), then each row.
//! - Row failures come back as HTTP 200 with `partialFailureError` (one `GoogleAdsFailure` listing
//!   every failed row with `fieldPathElements` `conversions[i]…`) and `{}` in `results` for them;
//!   see [`rows`] for the click states and duplicates.
//! - Faults: `http_500`/`http_502` HTML pages, `rate_limit` 429, `token_revoked` 401
//!   `OAUTH_TOKEN_REVOKED`, `no_permission` 403 `DEVELOPER_TOKEN_NOT_APPROVED`, `server_error` 500
//!   `INTERNAL`. The token endpoint is never faulted or delayed (another Google service).
//! - Inspection: each accepted row is one event with `destination: "google_ads"`, `pixel` the
//!   customer id (the account plays the pixel's part, so `?pixel=` selects an account),
//!   `event` the conversion action id, `event_id` the `orderId`, `event_time` the instant of
//!   `conversionDateTime`, and the conversion as received. Rows that failed are not recorded.
//! - Developer tokens: Google's v23+ reference marks `DEVELOPER_TOKEN_INVALID` deprecated ("developer
//!   tokens have been sunset"), while the facts file and every current client still send the
//!   header; the sandbox requires it, as the gateway's contract does.

mod answer;
pub(crate) mod control;
mod rows;
pub(crate) mod state;
pub(crate) mod token;
pub(crate) mod upload;

use std::time::Instant;

pub use state::ClickState;

use crate::{InvalidPixel, Sandbox};

/// The token route (Google's token endpoint path is `/token`).
pub(crate) const TOKEN: &str = "/token";
/// The upload route: version, `customers`, `{customer_id}:{method}`.
pub(crate) const UPLOAD: &str = "/{version}/customers/{call}";

impl Sandbox {
    /// Registers Google Ads customer `id` (10 digits) with its developer token, or replaces the
    /// token: the previous one then gets 403 `DEVELOPER_TOKEN_PROHIBITED`.
    pub fn set_google_ads_customer(
        &self,
        id: &str,
        developer_token: &str,
    ) -> Result<(), InvalidPixel> {
        crate::check_google_ads_customer(id, developer_token)?;
        self.google().set_customer(id, developer_token);
        Ok(())
    }

    /// Registered Google Ads customer ids, sorted (developer tokens are never listed).
    pub fn google_ads_customers(&self) -> Vec<String> {
        self.google().customer_ids()
    }

    /// How uploads treat conversions with this `gclid` from now on.
    pub fn set_google_ads_click(&self, gclid: &str, state: ClickState) {
        self.google().set_click(gclid, state);
    }

    /// Marks a refresh token revoked (`POST /token` answers `invalid_grant`) or usable again.
    pub fn set_google_ads_refresh_token_revoked(&self, refresh_token: &str, revoked: bool) {
        self.google()
            .set_refresh_token_revoked(refresh_token, revoked);
    }

    /// Expires every access token issued so far; returns how many were still valid.
    pub fn expire_google_ads_access_tokens(&self) -> usize {
        self.google().expire_tokens(Instant::now())
    }

    /// Access tokens issued by `POST /token` since start: how often a client refreshed.
    pub fn google_ads_tokens_issued(&self) -> u64 {
        self.google().tokens_issued
    }
}
