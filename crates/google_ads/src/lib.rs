//! Google Ads click conversions (`POST https://googleads.googleapis.com/v{N}/customers/{id}:uploadClickConversions`,
//! offline conversion import and enhanced conversions for leads): the model signalpost builds and
//! the sandbox validates, the strict validation itself (shared by the sandbox and the gateway's
//! ingest check), Google's error shapes, the `conversionDateTime` format, and the classification of
//! Google's answers: per request into the neutral outcomes of `signalpost_destination`
//! ([`classify`]), and per row of a partial failure into what to do with each conversion
//! ([`row_failures`]). No storage, no HTTP server, no clock.
//!
//! Facts and their sources: `shared/google-ads-conversions.md` and the Google Ads API reference
//! (UploadClickConversionsRequest, ClickConversion, ClickConversionResult and the error enums);
//! each module says which of its rules are documented and which are our decisions.

pub mod classify;
pub mod datetime;
pub mod failure;
pub mod model;
pub mod rows;
pub mod validate;

pub use classify::{classify, classify_transport_error, is_throttle, needs_split};
pub use datetime::{DateTimeError, format_conversion_date_time, parse_conversion_date_time};
pub use failure::RequestFailure;
pub use model::{
    API_BASE_URL, ClickConversion, ClickConversionResult, Consent, ConsentStatus,
    DEFAULT_API_VERSION, DEVELOPER_TOKEN_HEADER, ErrorAnswer, ErrorCode, GoogleAdsError,
    GoogleAdsFailure, LOGIN_CUSTOMER_ID_HEADER, MAX_CONVERSIONS_PER_REQUEST, MAX_USER_IDENTIFIERS,
    REQUEST_ID_HEADER, Status, TOKEN_URL, TokenError, TokenResponse, UploadClickConversionsRequest,
    UploadClickConversionsResponse, UserIdentifier, conversion_action_resource, upload_path,
};
pub use rows::{
    RequestWideError, RowAction, RowFailure, RowFailures, TOO_RECENT_RETRY, row_failures,
};
pub use signalpost_destination::{Classified, Outcome};
pub use validate::{
    CheckedRequest, ConversionSummary, FieldPath, Scope, ValidationError, is_customer_id,
    validate_conversion, validate_request,
};
