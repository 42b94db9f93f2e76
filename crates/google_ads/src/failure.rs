//! Google's refusals as values: the HTTP status, gRPC status name, message and Google Ads error
//! codes of a request-level error, ready to render in Google's envelope
//! (`{"error":{"code","message","status","details":[GoogleAdsFailure]}}`). The sandbox renders
//! these; the validator produces the `INVALID_ARGUMENT` ones. Nothing here decides *what to do*
//! about an error (see [`crate::classify`] and [`crate::rows`]).
//!
//! Sources: the Google Ads API error enums (`AuthenticationError`, `AuthorizationError`,
//! `ConversionUploadError`, `PartialFailureError`, `QuotaError`, `DateError`, …) and the REST
//! answers public clients quote. Top-level messages of the 401s are the Google front end's.

use serde_json::{Value, json};

use crate::model::{
    ErrorAnswer, ErrorCode, ErrorLocation, GoogleAdsError, GoogleAdsFailure, Status,
    failure_type_url,
};

/// The `errorCode` members the crate uses (each is an enum of the Google Ads API).
pub mod kind {
    pub const AUTHENTICATION: &str = "authenticationError";
    pub const AUTHORIZATION: &str = "authorizationError";
    pub const CONVERSION_UPLOAD: &str = "conversionUploadError";
    pub const PARTIAL_FAILURE: &str = "partialFailureError";
    pub const QUOTA: &str = "quotaError";
    pub const INTERNAL: &str = "internalError";
    pub const FIELD: &str = "fieldError";
    pub const DATE: &str = "dateError";
    pub const STRING_LENGTH: &str = "stringLengthError";
    pub const CURRENCY_CODE: &str = "currencyCodeError";
    pub const RANGE: &str = "rangeError";
    pub const REQUEST: &str = "requestError";
    pub const COLLECTION_SIZE: &str = "collectionSizeError";
}

/// A request-level refusal (anything answered with a 4xx/5xx instead of a 200).
#[derive(Debug, Clone, PartialEq)]
pub struct RequestFailure {
    pub http_status: u16,
    /// The gRPC status name: `UNAUTHENTICATED`, `PERMISSION_DENIED`, `INVALID_ARGUMENT`, …
    pub status: &'static str,
    pub message: String,
    /// The Google Ads errors (a `GoogleAdsFailure` detail); empty when Google's front end answers
    /// before the Ads API sees the request (a missing token).
    pub errors: Vec<GoogleAdsError>,
    /// A proto-JSON parse failure: rendered as `google.rpc.BadRequest` (field and description)
    /// instead of a `GoogleAdsFailure`, as Google's front end does.
    pub bad_request_field: Option<String>,
}

/// The front end's words for a request without credentials.
const MISSING_CREDENTIAL: &str = "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";
/// The front end's words for a bad, expired or revoked access token.
const INVALID_CREDENTIALS: &str = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";

impl RequestFailure {
    fn new(
        http_status: u16,
        status: &'static str,
        message: &str,
        errors: Vec<GoogleAdsError>,
    ) -> RequestFailure {
        RequestFailure {
            http_status,
            status,
            message: message.to_owned(),
            errors,
            bad_request_field: None,
        }
    }

    /// 401 without `Authorization: Bearer …`.
    pub fn missing_credential() -> RequestFailure {
        RequestFailure::new(401, "UNAUTHENTICATED", MISSING_CREDENTIAL, Vec::new())
    }

    /// 401 for an access token this service never issued (`OAUTH_TOKEN_INVALID`).
    pub fn token_invalid() -> RequestFailure {
        RequestFailure::unauthenticated(
            "OAUTH_TOKEN_INVALID",
            "Oauth token in the header is not valid.",
        )
    }

    /// 401 for an access token past its `expires_in` (`OAUTH_TOKEN_EXPIRED`): refresh it.
    pub fn token_expired() -> RequestFailure {
        RequestFailure::unauthenticated(
            "OAUTH_TOKEN_EXPIRED",
            "Oauth token in the header has expired.",
        )
    }

    /// 401 for a revoked access token (`OAUTH_TOKEN_REVOKED`).
    pub fn token_revoked() -> RequestFailure {
        RequestFailure::unauthenticated(
            "OAUTH_TOKEN_REVOKED",
            "Oauth token in the header has been revoked.",
        )
    }

    fn unauthenticated(code: &str, message: &str) -> RequestFailure {
        RequestFailure::new(
            401,
            "UNAUTHENTICATED",
            INVALID_CREDENTIALS,
            vec![error(kind::AUTHENTICATION, code, message, None)],
        )
    }

    /// 403: the user behind the token may not use this customer (`USER_PERMISSION_DENIED`).
    pub fn user_permission_denied(customer_id: &str) -> RequestFailure {
        RequestFailure::permission_denied(
            "USER_PERMISSION_DENIED",
            &format!(
                "User doesn't have permission to access customer {customer_id}. Note: If you're accessing a client customer, the manager's customer id must be set in the 'login-customer-id' header."
            ),
        )
    }

    /// 403: the developer token may not be used here (`DEVELOPER_TOKEN_PROHIBITED`).
    pub fn developer_token_prohibited() -> RequestFailure {
        RequestFailure::permission_denied(
            "DEVELOPER_TOKEN_PROHIBITED",
            "Developer token is not allowed with the project sent in the request.",
        )
    }

    /// 403: a test-access developer token used on a production account
    /// (`DEVELOPER_TOKEN_NOT_APPROVED`).
    pub fn developer_token_not_approved() -> RequestFailure {
        RequestFailure::permission_denied(
            "DEVELOPER_TOKEN_NOT_APPROVED",
            "The developer token is only approved for use with test accounts. To access non-test accounts, apply for Basic or Standard access.",
        )
    }

    fn permission_denied(code: &str, message: &str) -> RequestFailure {
        RequestFailure::new(
            403,
            "PERMISSION_DENIED",
            "The caller does not have permission",
            vec![error(kind::AUTHORIZATION, code, message, None)],
        )
    }

    /// 429: throttled (`RESOURCE_TEMPORARILY_EXHAUSTED`); retry later.
    pub fn rate_limited() -> RequestFailure {
        RequestFailure::new(
            429,
            "RESOURCE_EXHAUSTED",
            "Resource has been exhausted (e.g. check quota).",
            vec![error(
                kind::QUOTA,
                "RESOURCE_TEMPORARILY_EXHAUSTED",
                "Too many requests. Retry in 30 seconds.",
                None,
            )],
        )
    }

    /// 500: Google's own transient failure (`INTERNAL_ERROR`).
    pub fn internal() -> RequestFailure {
        RequestFailure::new(
            500,
            "INTERNAL",
            "Internal error encountered.",
            vec![error(
                kind::INTERNAL,
                "INTERNAL_ERROR",
                "An internal error has occurred.",
                None,
            )],
        )
    }

    /// 404 for a path the API does not serve (an unknown or sunset version, another method).
    pub fn not_found(path: &str) -> RequestFailure {
        RequestFailure::new(
            404,
            "NOT_FOUND",
            &format!("The requested URL {path} was not found on this server."),
            Vec::new(),
        )
    }

    /// 400 with Google Ads errors (`partialFailure` false, too many conversions, a bad header).
    pub fn invalid_argument(errors: Vec<GoogleAdsError>) -> RequestFailure {
        RequestFailure::new(
            400,
            "INVALID_ARGUMENT",
            "Request contains an invalid argument.",
            errors,
        )
    }

    /// 400 for a body Google's proto-JSON parser refuses (unknown field, wrong JSON type, unknown
    /// enum name), e.g. `Invalid JSON payload received. Unknown name "foo" at 'conversions[0]':
    /// Cannot find field.`
    pub fn bad_payload(field: Option<&str>, message: String) -> RequestFailure {
        RequestFailure {
            http_status: 400,
            status: "INVALID_ARGUMENT",
            message,
            errors: Vec::new(),
            bad_request_field: Some(field.unwrap_or_default().to_owned()),
        }
    }

    /// The answer body in API `version`, with Google's `requestId` in the failure detail.
    pub fn to_answer(&self, version: &str, request_id: &str) -> ErrorAnswer {
        let details = match (&self.bad_request_field, self.errors.is_empty()) {
            (Some(field), _) => {
                let mut violation = json!({ "description": self.message });
                if !field.is_empty() {
                    violation["field"] = Value::String(field.clone());
                }
                vec![json!({
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [violation],
                })]
            }
            (None, true) => Vec::new(),
            (None, false) => {
                let failure = GoogleAdsFailure {
                    type_url: failure_type_url(version),
                    errors: self.errors.clone(),
                    request_id: request_id.to_owned(),
                };
                serde_json::to_value(failure).into_iter().collect()
            }
        };
        ErrorAnswer {
            error: Status {
                code: i64::from(self.http_status),
                message: self.message.clone(),
                status: Some(self.status.to_owned()),
                details,
            },
        }
    }

    /// The key the sandbox counts this answer under: `google_401`, `google_400`.
    pub fn label(&self) -> String {
        format!("google_{}", self.http_status)
    }
}

impl std::fmt::Display for RequestFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.http_status, self.status)?;
        for e in &self.errors {
            write!(f, " ({}: {})", e.error_code, e.message)?;
        }
        if self.errors.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for RequestFailure {}

/// One Google Ads error.
pub fn error(
    kind: &str,
    code: &str,
    message: &str,
    location: Option<ErrorLocation>,
) -> GoogleAdsError {
    GoogleAdsError {
        error_code: ErrorCode::new(kind, code),
        message: message.to_owned(),
        location,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn renders_googles_error_envelope_with_the_failure_detail() {
        let answer =
            serde_json::to_value(RequestFailure::token_expired().to_answer("v26", "R1")).unwrap();
        let error = &answer["error"];
        assert_eq!(error["code"], 401);
        assert_eq!(error["status"], "UNAUTHENTICATED");
        let detail = &error["details"][0];
        assert_eq!(
            detail["@type"],
            "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure"
        );
        assert_eq!(
            detail["errors"][0]["errorCode"]["authenticationError"],
            "OAUTH_TOKEN_EXPIRED"
        );
        assert_eq!(detail["requestId"], "R1");
        assert_eq!(RequestFailure::token_expired().label(), "google_401");
    }

    #[test]
    fn front_end_answers_carry_no_ads_failure() {
        let answer =
            serde_json::to_value(RequestFailure::missing_credential().to_answer("v26", "R"))
                .unwrap();
        assert!(answer["error"].get("details").is_none(), "{answer}");
        let bad = RequestFailure::bad_payload(Some("conversions[0]"), "Unknown name".into());
        let answer = serde_json::to_value(bad.to_answer("v26", "R")).unwrap();
        let detail = &answer["error"]["details"][0];
        assert_eq!(detail["@type"], "type.googleapis.com/google.rpc.BadRequest");
        assert_eq!(detail["fieldViolations"][0]["field"], "conversions[0]");
    }

    #[test]
    fn statuses_match_the_http_codes() {
        for (failure, http, status) in [
            (
                RequestFailure::user_permission_denied("1"),
                403,
                "PERMISSION_DENIED",
            ),
            (
                RequestFailure::developer_token_prohibited(),
                403,
                "PERMISSION_DENIED",
            ),
            (RequestFailure::rate_limited(), 429, "RESOURCE_EXHAUSTED"),
            (RequestFailure::internal(), 500, "INTERNAL"),
            (RequestFailure::not_found("/v1/x"), 404, "NOT_FOUND"),
            (
                RequestFailure::invalid_argument(Vec::new()),
                400,
                "INVALID_ARGUMENT",
            ),
        ] {
            assert_eq!((failure.http_status, failure.status), (http, status));
        }
    }
}
