//! Serde types for `POST /v{N}/customers/{customer_id}:uploadClickConversions`, its answers and the
//! OAuth token exchange in front of it. The payload builder fills these; the validator walks the
//! JSON instead (so that it can name the exact field at fault and refuse unknown fields as Google's
//! proto-JSON parser does).
//!
//! Wire names are proto-JSON (lowerCamelCase), absent fields are left out (never `null`), and the
//! secrets (access token, developer token, refresh token) never appear in a `Debug` rendering.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// The API version signalpost addresses unless a pixel says otherwise: the latest active one when
/// this was written (shared/google-ads-conversions.md). Each version lives about a year.
pub const DEFAULT_API_VERSION: &str = "v26";

/// Where the Google Ads API lives; a pixel's `base_url` (the sandbox, a proxy) replaces it.
pub const API_BASE_URL: &str = "https://googleads.googleapis.com";

/// Google's OAuth 2.0 token endpoint (refresh token → access token); `token_url` replaces it.
pub const TOKEN_URL: &str = "https://oauth2.googleapis.com/token";

/// The OAuth scope of the Google Ads API, as Google's token endpoint echoes it.
pub const ADWORDS_SCOPE: &str = "https://www.googleapis.com/auth/adwords";

/// Google takes at most 2,000 conversions per request (`TOO_MANY_CONVERSIONS_IN_REQUEST` beyond).
pub const MAX_CONVERSIONS_PER_REQUEST: usize = 2000;

/// At most five user identifiers per conversion (ClickConversion reference).
pub const MAX_USER_IDENTIFIERS: usize = 5;

/// The response header Google puts its request id in (quote it to Google's support).
pub const REQUEST_ID_HEADER: &str = "request-id";

/// The header carrying the developer token on every API call.
pub const DEVELOPER_TOKEN_HEADER: &str = "developer-token";

/// The header naming the manager account acting for the customer, when there is one.
pub const LOGIN_CUSTOMER_ID_HEADER: &str = "login-customer-id";

/// The path of the upload call, e.g. `/v26/customers/1234567890:uploadClickConversions`.
pub fn upload_path(version: &str, customer_id: &str) -> String {
    format!("/{version}/customers/{customer_id}:uploadClickConversions")
}

/// The resource name of a conversion action, `customers/{customer_id}/conversionActions/{id}`.
pub fn conversion_action_resource(customer_id: &str, action_id: &str) -> String {
    format!("customers/{customer_id}/conversionActions/{action_id}")
}

/// The body of one upload. Credentials travel in headers, never in this type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadClickConversionsRequest {
    pub conversions: Vec<ClickConversion>,
    /// Must be `true`: `false` (or absent) fails the whole request with
    /// `PARTIAL_FAILURE_MODE_REQUIRED`.
    pub partial_failure: bool,
    /// `true`: Google validates and records nothing.
    #[serde(default)]
    pub validate_only: bool,
}

/// One click conversion (ClickConversion reference; only the fields signalpost sends).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClickConversion {
    /// The Google click id; at most one of `gclid`, `gbraid`, `wbraid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gclid: Option<String>,
    /// iOS app-campaign click id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gbraid: Option<String>,
    /// iOS web click id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wbraid: Option<String>,
    /// `customers/{customer_id}/conversionActions/{action_id}`.
    pub conversion_action: String,
    /// `yyyy-mm-dd hh:mm:ss+|-hh:mm`: the offset is required ([`crate::datetime`]).
    pub conversion_date_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion_value: Option<f64>,
    /// ISO 4217, upper case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency_code: Option<String>,
    /// Google's dedup key per conversion action ("an order id can only be used for one conversion
    /// per conversion action").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// Enhanced conversions for leads: SHA-256 hex of normalized email / E.164 phone, at most 5.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_identifiers: Vec<UserIdentifier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<Consent>,
}

/// One user identifier: exactly one of the two kinds Google takes for conversion uploads.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum UserIdentifier {
    /// SHA-256 hex of the trimmed, lower-cased email.
    HashedEmail(String),
    /// SHA-256 hex of the E.164 phone number (with `+`).
    HashedPhoneNumber(String),
}

/// The user's consent for this conversion (EU user consent policy).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Consent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ad_user_data: Option<ConsentStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ad_personalization: Option<ConsentStatus>,
}

/// `GRANTED` or `DENIED` (the enum's other names, `UNSPECIFIED`/`UNKNOWN`, say nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConsentStatus {
    Granted,
    Denied,
}

/// HTTP 200: one result per conversion, in request order (`{}` for a failed row), and when rows
/// failed, `partialFailureError`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadClickConversionsResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_failure_error: Option<Status>,
    /// Not returned when `validateOnly` is true.
    #[serde(default)]
    pub results: Vec<ClickConversionResult>,
    /// The upload batch's job id (an int64, which proto-JSON writes as a string).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "int64_as_string",
        deserialize_with = "int64_from_either"
    )]
    pub job_id: Option<i64>,
}

/// What Google echoes of an accepted conversion; every member absent for a failed row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClickConversionResult {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gclid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gbraid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wbraid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion_action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_identifiers: Vec<UserIdentifier>,
}

impl ClickConversionResult {
    /// Whether this is the empty result of a failed row.
    pub fn is_empty(&self) -> bool {
        *self == ClickConversionResult::default()
    }
}

/// `google.rpc.Status`: the `partialFailureError` of a 200, and the body of every error answer
/// (inside `{"error": …}`, with `status`). `details` are `Any` messages (`@type` plus fields),
/// kept as JSON: a `GoogleAdsFailure`, a `google.rpc.BadRequest`, …
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// gRPC code (3 INVALID_ARGUMENT) in `partialFailureError`; the HTTP status in error answers.
    pub code: i64,
    #[serde(default)]
    pub message: String,
    /// The gRPC status name (`UNAUTHENTICATED`), present in error answers only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Value>,
}

/// Every error answer: `{"error": {"code": 401, "message", "status": "UNAUTHENTICATED", "details"}}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorAnswer {
    pub error: Status,
}

/// The Google Ads API's own failure detail (`@type` …`errors.GoogleAdsFailure`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GoogleAdsFailure {
    #[serde(rename = "@type")]
    pub type_url: String,
    #[serde(default)]
    pub errors: Vec<GoogleAdsError>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub request_id: String,
}

/// The `@type` of a [`GoogleAdsFailure`] in API `version` (`v26`).
pub fn failure_type_url(version: &str) -> String {
    format!("type.googleapis.com/google.ads.googleads.{version}.errors.GoogleAdsFailure")
}

/// One error of a [`GoogleAdsFailure`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GoogleAdsError {
    pub error_code: ErrorCode,
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<ErrorLocation>,
}

/// The error's enum, a proto `oneof` written as one member: `{"conversionUploadError":
/// "CLICK_NOT_FOUND"}`. `kind` is the member's name, `code` its value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ErrorCode {
    pub kind: String,
    pub code: String,
}

impl ErrorCode {
    pub fn new(kind: &str, code: &str) -> ErrorCode {
        ErrorCode {
            kind: kind.to_owned(),
            code: code.to_owned(),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.code)
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(&self.kind, &self.code)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    /// The first member whose value is a string (Google sets exactly one).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = serde_json::Map::<String, Value>::deserialize(deserializer)?;
        Ok(map
            .into_iter()
            .find_map(|(kind, code)| match code {
                Value::String(code) => Some(ErrorCode { kind, code }),
                _ => None,
            })
            .unwrap_or_default())
    }
}

/// Where in the request an error lies: `conversions[3].conversion_date_time` as elements.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorLocation {
    #[serde(default)]
    pub field_path_elements: Vec<FieldPathElement>,
}

/// One step of an [`ErrorLocation`]: a field (proto name) and, for a list, the index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldPathElement {
    pub field_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
}

/// The token endpoint's answer to a refresh-token grant. The access token is a secret: `Debug`
/// shows only its length.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    /// Seconds the access token stays valid (Google: 3599).
    pub expires_in: u64,
    /// `Bearer`.
    pub token_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field(
                "access_token",
                &format_args!("<{} bytes>", self.access_token.len()),
            )
            .field("expires_in", &self.expires_in)
            .field("token_type", &self.token_type)
            .field("scope", &self.scope)
            .finish()
    }
}

/// The token endpoint's refusal (RFC 6749 §5.2): `invalid_grant` for an expired or revoked refresh
/// token, `invalid_request`, `invalid_client`, `unsupported_grant_type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenError {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// The form fields of a refresh-token grant, in the order Google's libraries send them. The
/// caller form-encodes them; nothing here keeps or prints them.
pub fn refresh_grant_form<'a>(
    client_id: &'a str,
    client_secret: &'a str,
    refresh_token: &'a str,
) -> [(&'static str, &'a str); 4] {
    [
        ("grant_type", "refresh_token"),
        ("client_id", client_id),
        ("client_secret", client_secret),
        ("refresh_token", refresh_token),
    ]
}

fn int64_as_string<S: Serializer>(value: &Option<i64>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => serializer.serialize_str(&v.to_string()),
        None => serializer.serialize_none(),
    }
}

/// Proto-JSON writes int64 as a string but parsers take a number too.
fn int64_from_either<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    Ok(match Option::<Value>::deserialize(deserializer)? {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_and_resource_names_follow_googles_shapes() {
        assert_eq!(
            upload_path(DEFAULT_API_VERSION, "1234567890"),
            "/v26/customers/1234567890:uploadClickConversions"
        );
        assert_eq!(
            conversion_action_resource("1234567890", "987"),
            "customers/1234567890/conversionActions/987"
        );
        assert_eq!(
            failure_type_url("v26"),
            "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure"
        );
    }

    #[test]
    fn a_conversion_serializes_camel_case_without_nulls() {
        let body = UploadClickConversionsRequest {
            conversions: vec![ClickConversion {
                gclid: Some("Cj0KCQ".into()),
                conversion_action: conversion_action_resource("1234567890", "1"),
                conversion_date_time: "2019-01-01 12:32:45-08:00".into(),
                conversion_value: Some(0.0),
                currency_code: Some("USD".into()),
                order_id: Some("o-1".into()),
                user_identifiers: vec![
                    UserIdentifier::HashedEmail("a".repeat(64)),
                    UserIdentifier::HashedPhoneNumber("b".repeat(64)),
                ],
                consent: Some(Consent {
                    ad_user_data: Some(ConsentStatus::Granted),
                    ad_personalization: None,
                }),
                ..ClickConversion::default()
            }],
            partial_failure: true,
            validate_only: false,
        };
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["partialFailure"], true);
        assert_eq!(json["validateOnly"], false);
        let c = &json["conversions"][0];
        assert_eq!(c["conversionValue"], 0.0);
        assert_eq!(
            c["userIdentifiers"][0],
            json!({"hashedEmail": "a".repeat(64)})
        );
        assert_eq!(
            c["userIdentifiers"][1],
            json!({"hashedPhoneNumber": "b".repeat(64)})
        );
        assert_eq!(c["consent"], json!({"adUserData": "GRANTED"}));
        let text = serde_json::to_string(&body).unwrap();
        assert!(!text.contains("null"), "{text}");
        assert!(!text.contains("gbraid"), "{text}");
        let back: UploadClickConversionsRequest = serde_json::from_str(&text).unwrap();
        assert_eq!(back, body);
    }

    #[test]
    fn a_partial_failure_answer_reads_into_types() {
        let answer: UploadClickConversionsResponse = serde_json::from_value(json!({
            "partialFailureError": {"code": 3, "message": "m", "details": [{
                "@type": failure_type_url("v26"),
                "errors": [{"errorCode": {"conversionUploadError": "CLICK_NOT_FOUND"}, "message": "x",
                            "location": {"fieldPathElements": [{"fieldName": "conversions", "index": 3}]}}],
                "requestId": "r1"}]},
            "results": [{"gclid": "g", "conversionAction": "customers/1/conversionActions/2"}, {}],
            "jobId": "2147483648"
        }))
        .unwrap();
        assert_eq!(answer.job_id, Some(2_147_483_648));
        assert!(answer.results[1].is_empty());
        let failure: GoogleAdsFailure =
            serde_json::from_value(answer.partial_failure_error.unwrap().details[0].clone())
                .unwrap();
        assert_eq!(
            failure.errors[0].error_code,
            ErrorCode::new("conversionUploadError", "CLICK_NOT_FOUND")
        );
        assert_eq!(
            failure.errors[0]
                .location
                .as_ref()
                .unwrap()
                .field_path_elements[0]
                .index,
            Some(3)
        );
        let written = serde_json::to_value(&failure.errors[0].error_code).unwrap();
        assert_eq!(written, json!({"conversionUploadError": "CLICK_NOT_FOUND"}));
    }

    #[test]
    fn token_answers_never_show_the_token_in_debug() {
        let token: TokenResponse = serde_json::from_value(json!({
            "access_token": "ya29.s3cret", "expires_in": 3599, "token_type": "Bearer",
            "scope": ADWORDS_SCOPE
        }))
        .unwrap();
        let shown = format!("{token:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("3599"), "{shown}");
        assert_eq!(
            refresh_grant_form("c", "s", "r")[0],
            ("grant_type", "refresh_token")
        );
    }
}
