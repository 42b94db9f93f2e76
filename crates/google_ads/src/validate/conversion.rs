//! Stage 2 for one conversion: the rules Google applies to a row, each failing only that row. The
//! body has passed [`super::shape`], so types are right; values are read defensively all the same.
//!
//! Facts (ClickConversion reference, ConversionUploadError enum, the upload-clicks guide): the
//! offset in `conversionDateTime` is required; at most 5 user identifiers, each a hashed email or
//! phone (others → `UNSUPPORTED_USER_IDENTIFIER`, bad hashes → `INVALID_USER_IDENTIFIER`); gbraid
//! with wbraid → `GBRAID_WBRAID_BOTH_SET`; gbraid/wbraid with gclid or user identifiers →
//! `VALUE_MUST_BE_UNSET`; an unparseable click id → `UNPARSEABLE_GCLID` (and the braid twins).
//!
//! Decisions (Google states no rule or no code for them):
//! - `conversionAction` must name the URL's customer. Google's reference says validation *ignores*
//!   the customer part and uses the action id alone; refusing a mismatch catches a pixel configured
//!   with another account's action before it reaches Google (`fieldError: INVALID_VALUE`).
//! - A conversion needs a click id or a user identifier (`fieldError: REQUIRED`).
//! - Hashes are exactly 64 lower-case hex digits (SHA-256 as Google's guide writes it).
//! - `orderId`: at most 64 characters. Google's reference documents no length bound for
//!   `order_id`; 64 is our limit (`stringLengthError: TOO_LONG`), and an empty one is `EMPTY`.
//! - `currencyCode`: three upper-case letters (`currencyCodeError: UNSUPPORTED`); whether Google
//!   knows the code is not checked.
//! - `conversionValue` must be finite and ≥ 0 (`rangeError: TOO_LOW`, `fieldError: INVALID_VALUE`).
//! - Click ids: 1–512 URL-safe characters (`[A-Za-z0-9_-]`, as Google's click ids are); Google
//!   decodes them, which the sandbox cannot.
//! - Consent `UNSPECIFIED`/`UNKNOWN` say nothing and are refused (`fieldError: INVALID_VALUE`).

use serde_json::{Map, Value};

use super::{FieldPath, ValidationError, get};
use crate::datetime::parse_conversion_date_time;
use crate::failure::kind;
use crate::model::MAX_USER_IDENTIFIERS;

/// Longest `orderId` accepted (a decision: Google documents no bound, see the module docs).
pub const MAX_ORDER_ID_CHARS: usize = 64;
/// Longest click id accepted (a decision; real ones are around 100 characters).
const MAX_CLICK_ID_CHARS: usize = 512;

/// What the sandbox records of a valid conversion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversionSummary {
    /// `customers/{customer_id}/conversionActions/{action_id}`.
    pub conversion_action: String,
    /// The digits after `conversionActions/`.
    pub action_id: String,
    pub conversion_date_time: String,
    /// The instant `conversion_date_time` names, unix seconds.
    pub event_time: i64,
    pub gclid: Option<String>,
    pub gbraid: Option<String>,
    pub wbraid: Option<String>,
    pub order_id: Option<String>,
    pub user_identifiers: usize,
}

/// Checks conversion `index` of a request for `customer_id`.
pub(super) fn check(
    customer_id: &str,
    obj: &Map<String, Value>,
    index: usize,
) -> Result<ConversionSummary, ValidationError> {
    let row = FieldPath::at("conversions", index);
    let fail = |path: FieldPath, kind: &str, code: &str, message: String| {
        ValidationError::row(index, path, kind, code, message)
    };

    let (conversion_action, action_id) = conversion_action(customer_id, obj, &row, index)?;

    let date_path = row.join("conversionDateTime");
    let Some(conversion_date_time) = text(obj, "conversionDateTime") else {
        return Err(fail(
            date_path,
            kind::FIELD,
            "REQUIRED",
            "The conversion date time is required.".into(),
        ));
    };
    let event_time = parse_conversion_date_time(conversion_date_time)
        .map_err(|e| {
            fail(
                date_path,
                kind::DATE,
                e.code(),
                format!("{conversion_date_time:?} {e}."),
            )
        })?
        .timestamp();

    let gclid = text(obj, "gclid");
    let gbraid = text(obj, "gbraid");
    let wbraid = text(obj, "wbraid");
    for (name, id, code) in [
        ("gclid", gclid, "UNPARSEABLE_GCLID"),
        ("gbraid", gbraid, "UNPARSEABLE_GBRAID"),
        ("wbraid", wbraid, "UNPARSEABLE_WBRAID"),
    ] {
        if let Some(id) = id
            && !is_click_id(id)
        {
            return Err(fail(
                row.join(name),
                kind::CONVERSION_UPLOAD,
                code,
                format!(
                    "The imported {name} could not be decoded: 1 to {MAX_CLICK_ID_CHARS} URL-safe characters expected."
                ),
            ));
        }
    }
    let identifiers = get(obj, "userIdentifiers")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if gbraid.is_some() && wbraid.is_some() {
        return Err(fail(
            row.join("wbraid"),
            kind::CONVERSION_UPLOAD,
            "GBRAID_WBRAID_BOTH_SET",
            "Can't use both gbraid and wbraid parameters. Use only 1 and try again.".into(),
        ));
    }
    if let Some(braid) = [("gbraid", gbraid), ("wbraid", wbraid)]
        .into_iter()
        .find_map(|(name, id)| id.map(|_| name))
        && (gclid.is_some() || !identifiers.is_empty())
    {
        return Err(fail(
            row.join(braid),
            kind::FIELD,
            "VALUE_MUST_BE_UNSET",
            format!("{braid} must be unset when gclid or userIdentifiers are set."),
        ));
    }
    if gclid.is_none() && gbraid.is_none() && wbraid.is_none() && identifiers.is_empty() {
        return Err(fail(
            row.join("gclid"),
            kind::FIELD,
            "REQUIRED",
            "A conversion needs gclid, gbraid, wbraid or at least one user identifier.".into(),
        ));
    }
    check_identifiers(identifiers, &row, index)?;
    check_value_and_currency(obj, &row, index)?;

    let order_id = text(obj, "orderId");
    if let Some(id) = order_id {
        let chars = id.chars().count();
        if chars == 0 || chars > MAX_ORDER_ID_CHARS {
            let code = if chars == 0 { "EMPTY" } else { "TOO_LONG" };
            return Err(fail(
                row.join("orderId"),
                kind::STRING_LENGTH,
                code,
                format!("The order id must be 1 to {MAX_ORDER_ID_CHARS} characters, got {chars}."),
            ));
        }
    }
    check_consent(obj, &row, index)?;

    Ok(ConversionSummary {
        conversion_action: conversion_action.to_owned(),
        action_id: action_id.to_owned(),
        conversion_date_time: conversion_date_time.to_owned(),
        event_time,
        gclid: gclid.map(str::to_owned),
        gbraid: gbraid.map(str::to_owned),
        wbraid: wbraid.map(str::to_owned),
        order_id: order_id.map(str::to_owned),
        user_identifiers: identifiers.len(),
    })
}

/// `customers/{the URL's customer}/conversionActions/{digits}`; returns it and the action id.
fn conversion_action<'v>(
    customer_id: &str,
    obj: &'v Map<String, Value>,
    row: &FieldPath,
    index: usize,
) -> Result<(&'v str, &'v str), ValidationError> {
    let path = row.join("conversionAction");
    let Some(name) = text(obj, "conversionAction") else {
        return Err(ValidationError::row(
            index,
            path,
            kind::FIELD,
            "REQUIRED",
            "The conversion action is required.".into(),
        ));
    };
    let parsed = name
        .strip_prefix("customers/")
        .and_then(|rest| rest.split_once("/conversionActions/"))
        .filter(|(customer, action)| {
            super::is_customer_id(customer)
                && (1..=19).contains(&action.len())
                && action.bytes().all(|b| b.is_ascii_digit())
        });
    let Some((customer, action)) = parsed else {
        return Err(ValidationError::row(
            index,
            path,
            kind::REQUEST,
            "RESOURCE_NAME_MALFORMED",
            format!("{name:?} is not customers/{{customer_id}}/conversionActions/{{action_id}}."),
        ));
    };
    if customer != customer_id {
        return Err(ValidationError::row(
            index,
            path,
            kind::FIELD,
            "INVALID_VALUE",
            format!("{name:?} belongs to customer {customer}, not to {customer_id} of the URL."),
        ));
    }
    Ok((name, action))
}

/// At most five identifiers, each exactly one hashed email or phone of 64 lower-case hex digits.
fn check_identifiers(
    identifiers: &[Value],
    row: &FieldPath,
    index: usize,
) -> Result<(), ValidationError> {
    let list = row.join("userIdentifiers");
    if identifiers.len() > MAX_USER_IDENTIFIERS {
        return Err(ValidationError::row(
            index,
            list,
            kind::COLLECTION_SIZE,
            "TOO_MANY",
            format!(
                "The maximum number of user identifiers for each conversion is {MAX_USER_IDENTIFIERS}, got {}.",
                identifiers.len()
            ),
        ));
    }
    for (i, identifier) in identifiers.iter().enumerate() {
        let at = list.indexed(i);
        let Value::Object(obj) = identifier else {
            continue;
        };
        if ["mobileId", "thirdPartyUserId", "addressInfo"]
            .iter()
            .any(|k| get(obj, k).is_some())
        {
            return Err(ValidationError::row(
                index,
                at,
                kind::CONVERSION_UPLOAD,
                "UNSUPPORTED_USER_IDENTIFIER",
                "The provided user identifiers are not supported. Use only hashed email or phone number and try again.".into(),
            ));
        }
        let hashed = [
            ("hashedEmail", text(obj, "hashedEmail")),
            ("hashedPhoneNumber", text(obj, "hashedPhoneNumber")),
        ]
        .into_iter()
        .find_map(|(name, value)| value.map(|v| (name, v)));
        let Some((name, hash)) = hashed else {
            return Err(ValidationError::row(
                index,
                at,
                kind::CONVERSION_UPLOAD,
                "INVALID_USER_IDENTIFIER",
                "A user identifier needs hashedEmail or hashedPhoneNumber.".into(),
            ));
        };
        if !is_sha256_hex(hash) {
            return Err(ValidationError::row(
                index,
                at.join(name),
                kind::CONVERSION_UPLOAD,
                "INVALID_USER_IDENTIFIER",
                "Make sure you hash user provided data using SHA-256 (64 lower-case hex digits) and normalize it according to the guidelines.".into(),
            ));
        }
    }
    Ok(())
}

fn check_value_and_currency(
    obj: &Map<String, Value>,
    row: &FieldPath,
    index: usize,
) -> Result<(), ValidationError> {
    if let Some(value) = get(obj, "conversionValue") {
        let number = match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.parse::<f64>().ok(),
            _ => None,
        };
        let path = row.join("conversionValue");
        match number {
            Some(v) if v.is_finite() && v >= 0.0 => {}
            Some(v) if v.is_finite() => {
                return Err(ValidationError::row(
                    index,
                    path,
                    kind::RANGE,
                    "TOO_LOW",
                    format!("The conversion value must be at least 0, got {v}."),
                ));
            }
            _ => {
                return Err(ValidationError::row(
                    index,
                    path,
                    kind::FIELD,
                    "INVALID_VALUE",
                    "The conversion value must be a finite number.".into(),
                ));
            }
        }
    }
    if let Some(code) = text(obj, "currencyCode")
        && !(code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()))
    {
        return Err(ValidationError::row(
            index,
            row.join("currencyCode"),
            kind::CURRENCY_CODE,
            "UNSUPPORTED",
            format!("{code:?} is not an ISO 4217 currency code (three upper-case letters)."),
        ));
    }
    Ok(())
}

fn check_consent(
    obj: &Map<String, Value>,
    row: &FieldPath,
    index: usize,
) -> Result<(), ValidationError> {
    let Some(Value::Object(consent)) = get(obj, "consent") else {
        return Ok(());
    };
    for name in ["adUserData", "adPersonalization"] {
        if let Some(status) = text(consent, name)
            && status != "GRANTED"
            && status != "DENIED"
        {
            return Err(ValidationError::row(
                index,
                row.join("consent").join(name),
                kind::FIELD,
                "INVALID_VALUE",
                format!("Consent must be GRANTED or DENIED, got {status}."),
            ));
        }
    }
    Ok(())
}

/// A string member (absent, `null` or another type: `None`; the shape check refused other types).
fn text<'v>(obj: &'v Map<String, Value>, name: &str) -> Option<&'v str> {
    get(obj, name).and_then(Value::as_str)
}

fn is_click_id(id: &str) -> bool {
    (1..=MAX_CLICK_ID_CHARS).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Exactly 64 lower-case hex digits.
pub(crate) fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
