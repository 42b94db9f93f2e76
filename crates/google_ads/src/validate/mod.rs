//! Validation of `uploadClickConversions` bodies, as strict as Google documents them, shared by the
//! sandbox (whole requests: [`validate_request`]) and the gateway's ingest check (one planned
//! conversion: [`validate_conversion`]). Pure functions over parsed JSON: no HTTP, no store, no
//! clock.
//!
//! Google reads a body in two stages, and so does this module:
//! 1. Proto-JSON parsing ([`shape`]): an unknown field, a wrong JSON type, an unknown enum name or
//!    two members of one `oneof` fail the *whole request* with 400 `INVALID_ARGUMENT` and a
//!    `google.rpc.BadRequest` ("Invalid JSON payload received. Unknown name …"). Documented
//!    behaviour of Google's REST front end; `null` reads as absent, and the original proto names
//!    (`partial_failure`) are accepted beside the camelCase ones, as proto-JSON requires.
//! 2. The Ads API's checks: request-wide ones (`partialFailure` must be true, 1–2,000
//!    conversions, `jobId`) fail the request with a `GoogleAdsFailure`; everything about one
//!    conversion ([`conversion`]) fails only that row, reported in `partialFailureError` of an
//!    HTTP 200 (Google does this in partial-failure mode: a malformed `conversionDateTime` comes
//!    back as a row error, the batch still 200).
//!
//! Every error names its field (`conversions[3].userIdentifiers[0].hashedEmail`) and carries the
//! Google Ads error code Google uses for it; see each rule for which codes are documented facts
//! and which are our choice where Google's reference names none.

mod conversion;
mod path;
mod shape;

use std::fmt;

use serde_json::{Map, Value};

pub use conversion::ConversionSummary;
pub use path::FieldPath;

use crate::failure::{RequestFailure, kind};
use crate::model::{ErrorCode, GoogleAdsError, MAX_CONVERSIONS_PER_REQUEST};

/// Whether an error fails the whole request or one conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Request,
    /// The conversion at this index of `conversions`.
    Row(usize),
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub scope: Scope,
    /// The field at fault, JSON names: `conversions[3].conversionDateTime`.
    pub path: FieldPath,
    /// The Google Ads error code; `None` for a proto-JSON parse failure (Google answers those
    /// with `google.rpc.BadRequest`, no Ads code).
    pub code: Option<ErrorCode>,
    /// What is wrong, in Google's words where it has some.
    pub message: String,
}

impl ValidationError {
    pub(crate) fn row(
        index: usize,
        path: FieldPath,
        kind: &str,
        code: &str,
        message: String,
    ) -> Self {
        ValidationError {
            scope: Scope::Row(index),
            path,
            code: Some(ErrorCode::new(kind, code)),
            message,
        }
    }

    pub(crate) fn request(path: FieldPath, kind: &str, code: &str, message: String) -> Self {
        ValidationError {
            scope: Scope::Request,
            path,
            code: Some(ErrorCode::new(kind, code)),
            message,
        }
    }

    pub(crate) fn payload(path: FieldPath, message: String) -> Self {
        ValidationError {
            scope: Scope::Request,
            path,
            code: None,
            message,
        }
    }

    /// This error as one entry of a `GoogleAdsFailure` (location in proto names).
    pub fn to_google_error(&self) -> GoogleAdsError {
        GoogleAdsError {
            error_code: self
                .code
                .clone()
                .unwrap_or_else(|| ErrorCode::new(kind::REQUEST, "INVALID_INPUT")),
            message: self.message.clone(),
            location: (!self.path.is_empty()).then(|| self.path.location()),
        }
    }

    /// The 400 Google answers when this error fails the whole request.
    pub fn to_request_failure(&self) -> RequestFailure {
        match self.code {
            None => {
                let field = self.path.parent().proto_string();
                RequestFailure::bad_payload(
                    (!field.is_empty()).then_some(field.as_str()),
                    self.message.clone(),
                )
            }
            Some(_) => RequestFailure::invalid_argument(vec![self.to_google_error()]),
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)?;
        } else {
            write!(f, "{}: {}", self.path, self.message)?;
        }
        if let Some(code) = &self.code {
            write!(f, " ({code})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationError {}

/// A request that passed the request-wide checks: each conversion's verdict, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedRequest {
    pub validate_only: bool,
    pub rows: Vec<Result<ConversionSummary, ValidationError>>,
}

/// A Google Ads customer id: exactly 10 digits, no dashes (`123-456-7890` is the UI's spelling,
/// not the API's).
pub fn is_customer_id(id: &str) -> bool {
    id.len() == 10 && id.bytes().all(|b| b.is_ascii_digit())
}

/// Validates a whole body for `customer_id` (the path's). `Err` fails the request; row problems
/// are in [`CheckedRequest::rows`].
pub fn validate_request(
    customer_id: &str,
    body: &Value,
) -> Result<CheckedRequest, ValidationError> {
    if !is_customer_id(customer_id) {
        return Err(ValidationError::request(
            FieldPath::field("customerId"),
            kind::REQUEST,
            "INVALID_CUSTOMER_ID",
            format!("Customer ID {customer_id:?} is invalid: 10 digits without dashes."),
        ));
    }
    shape::check_request(body)?;
    let Value::Object(top) = body else {
        // `check_request` refuses anything but an object.
        return Err(ValidationError::payload(
            FieldPath::root(),
            "Invalid JSON payload received.".into(),
        ));
    };
    if let Some(id) = get(top, "customerId").and_then(Value::as_str)
        && id != customer_id
    {
        return Err(ValidationError::request(
            FieldPath::field("customerId"),
            kind::FIELD,
            "INVALID_VALUE",
            format!("customerId {id:?} differs from the customer of the URL ({customer_id})."),
        ));
    }
    if get(top, "partialFailure").and_then(Value::as_bool) != Some(true) {
        return Err(ValidationError::request(
            FieldPath::field("partialFailure"),
            kind::PARTIAL_FAILURE,
            "PARTIAL_FAILURE_MODE_REQUIRED",
            "The partial failure field was false in the request. This method requires this field be set to true.".into(),
        ));
    }
    let conversions = get(top, "conversions")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if conversions.is_empty() {
        return Err(ValidationError::request(
            FieldPath::field("conversions"),
            kind::FIELD,
            "REQUIRED_NONEMPTY_LIST",
            "The conversions to upload are required (1 to 2,000).".into(),
        ));
    }
    if conversions.len() > MAX_CONVERSIONS_PER_REQUEST {
        return Err(ValidationError::request(
            FieldPath::field("conversions"),
            kind::CONVERSION_UPLOAD,
            "TOO_MANY_CONVERSIONS_IN_REQUEST",
            format!(
                "Upload fewer than 2001 events in a single request (got {}).",
                conversions.len()
            ),
        ));
    }
    check_job_id(top)?;
    let rows = conversions
        .iter()
        .enumerate()
        .map(|(index, c)| match c {
            Value::Object(obj) => conversion::check(customer_id, obj, index),
            // `check_request` refuses non-object conversions.
            _ => Err(ValidationError::payload(
                FieldPath::at("conversions", index),
                "Invalid JSON payload received.".into(),
            )),
        })
        .collect();
    Ok(CheckedRequest {
        validate_only: get(top, "validateOnly").and_then(Value::as_bool) == Some(true),
        rows,
    })
}

/// Validates one conversion (its JSON as the payload builder wrote it) as row `index` of a
/// request for `customer_id`: the gateway's ingest check. Any error means Google would refuse it.
pub fn validate_conversion(
    customer_id: &str,
    conversion: &Value,
    index: usize,
) -> Result<ConversionSummary, ValidationError> {
    shape::check_conversion(conversion, index)?;
    match conversion {
        Value::Object(obj) => conversion::check(customer_id, obj, index),
        _ => Err(ValidationError::payload(
            FieldPath::at("conversions", index),
            "Invalid JSON payload received.".into(),
        )),
    }
}

/// `jobId`: optional, a non-negative number below 2^31 (UploadClickConversionsRequest reference;
/// `INVALID_JOB_ID` is the documented code).
fn check_job_id(top: &Map<String, Value>) -> Result<(), ValidationError> {
    let Some(job) = get(top, "jobId") else {
        return Ok(());
    };
    let value = match job {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse::<i64>().ok(),
        _ => None,
    };
    if value.is_some_and(|v| (0..1 << 31).contains(&v)) {
        return Ok(());
    }
    Err(ValidationError::request(
        FieldPath::field("jobId"),
        kind::CONVERSION_UPLOAD,
        "INVALID_JOB_ID",
        "The provided job id in the request is not within the allowed range [0, 2^31).".into(),
    ))
}

/// A member by its JSON name or its proto name (proto-JSON accepts both); `null` reads as absent.
pub(crate) fn get<'v>(obj: &'v Map<String, Value>, json_name: &str) -> Option<&'v Value> {
    obj.get(json_name)
        .or_else(|| obj.get(&path::snake_case(json_name)))
        .filter(|v| !v.is_null())
}

#[cfg(test)]
mod tests;
