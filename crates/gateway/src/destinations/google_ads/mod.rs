//! Google Ads click conversions: `POST /v{N}/customers/{id}:uploadClickConversions` with an OAuth
//! access token (from the pixel's refresh token, cached: `token.rs`) and the developer token in
//! headers; up to 2,000 conversions a request in partial-failure mode, answered row by row.
//! A Google Ads "pixel" is a conversion target: the operator's `code` for one conversion action
//! of one customer account.

pub mod answer;
pub mod check;
pub mod payload;
pub mod request;
pub mod token;

use signalpost_google_ads::ConsentStatus;

/// A conversion target's settings beyond its code and credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PixelSettings {
    /// The advertiser's account, 10 digits without dashes.
    pub customer_id: String,
    /// The conversion action's id (digits).
    pub conversion_action: String,
    /// The manager account acting for `customer_id`, when access goes through one.
    pub login_customer_id: Option<String>,
    /// API version of the endpoint, e.g. `v26`.
    pub api_version: String,
    /// The OAuth token endpoint; `None`: Google's.
    pub token_url: Option<String>,
    /// `consent` of conversions whose lead says nothing (both `adUserData` and
    /// `adPersonalization`); `None`: no consent sent.
    pub consent: Option<ConsentStatus>,
}

/// Whether `version` looks like a Google Ads API version (`v26`).
pub fn is_api_version(version: &str) -> bool {
    version
        .strip_prefix('v')
        .is_some_and(|n| !n.is_empty() && n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether `id` is a conversion action id (digits only).
pub fn is_conversion_action(id: &str) -> bool {
    !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit())
}
