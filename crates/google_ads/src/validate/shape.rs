//! Stage 1: what Google's proto-JSON parser accepts, as a schema of the request's messages. A
//! failure here fails the whole request (400 `INVALID_ARGUMENT`, `google.rpc.BadRequest`), in the
//! front end's words. Proto-JSON rules applied (protobuf's JSON mapping, documented): unknown
//! fields are errors; `null` means absent; camelCase and the original snake_case names are both
//! accepted; int64/int32 take a number or a decimal string; doubles take a number or a string
//! (`"NaN"`, `"Infinity"` included); enums take their names; at most one member of a `oneof`.
//!
//! Decisions: enums given as numbers are refused (every client library sends names, and a number
//! hides which value was meant); messages Google never documents field by field
//! (`cartData`, `customVariables`, `externalAttributionData`, `addressInfo`, …) are only checked to
//! be objects. `customerType` and other fields newer than this schema would be refused as unknown:
//! add them here when Google documents them.

use serde_json::{Map, Value};

use super::path::snake_case;
use super::{FieldPath, ValidationError};

/// The JSON kind a field takes.
enum Kind {
    Str,
    Bool,
    Int,
    Double,
    Enum(&'static str, &'static [&'static str]),
    Message(&'static [Field]),
    /// A message whose members are not checked here.
    AnyMessage,
    List(&'static Kind),
}

struct Field {
    name: &'static str,
    kind: Kind,
    /// The `oneof` group the field belongs to, if any.
    oneof: Option<&'static str>,
}

const fn f(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        oneof: None,
    }
}

const fn one(name: &'static str, kind: Kind, group: &'static str) -> Field {
    Field {
        name,
        kind,
        oneof: Some(group),
    }
}

const CONSENT_STATUS: Kind = Kind::Enum(
    "ConsentStatus",
    &["UNSPECIFIED", "UNKNOWN", "GRANTED", "DENIED"],
);

const CONSENT: &[Field] = &[
    f("adUserData", CONSENT_STATUS),
    f("adPersonalization", CONSENT_STATUS),
];

const USER_IDENTIFIER: &[Field] = &[
    f(
        "userIdentifierSource",
        Kind::Enum(
            "UserIdentifierSource",
            &["UNSPECIFIED", "UNKNOWN", "FIRST_PARTY", "THIRD_PARTY"],
        ),
    ),
    one("hashedEmail", Kind::Str, "identifier"),
    one("hashedPhoneNumber", Kind::Str, "identifier"),
    one("mobileId", Kind::Str, "identifier"),
    one("thirdPartyUserId", Kind::Str, "identifier"),
    one("addressInfo", Kind::AnyMessage, "identifier"),
];

const CLICK_CONVERSION: &[Field] = &[
    f("gclid", Kind::Str),
    f("gbraid", Kind::Str),
    f("wbraid", Kind::Str),
    f("conversionAction", Kind::Str),
    f("conversionDateTime", Kind::Str),
    f("conversionValue", Kind::Double),
    f("currencyCode", Kind::Str),
    f("orderId", Kind::Str),
    f("externalAttributionData", Kind::AnyMessage),
    f("customVariables", Kind::List(&Kind::AnyMessage)),
    f("cartData", Kind::AnyMessage),
    f(
        "userIdentifiers",
        Kind::List(&Kind::Message(USER_IDENTIFIER)),
    ),
    f(
        "conversionEnvironment",
        Kind::Enum(
            "ConversionEnvironment",
            &["UNSPECIFIED", "UNKNOWN", "APP", "WEB"],
        ),
    ),
    f("consent", Kind::Message(CONSENT)),
    f("userIpAddress", Kind::Str),
    one("sessionAttributesEncoded", Kind::Str, "session_attributes"),
    one(
        "sessionAttributesKeyValuePairs",
        Kind::AnyMessage,
        "session_attributes",
    ),
];

const REQUEST: &[Field] = &[
    f("customerId", Kind::Str),
    f("conversions", Kind::List(&Kind::Message(CLICK_CONVERSION))),
    f("partialFailure", Kind::Bool),
    f("validateOnly", Kind::Bool),
    f("jobId", Kind::Int),
    f("debugEnabled", Kind::Bool),
];

/// The whole body.
pub(super) fn check_request(body: &Value) -> Result<(), ValidationError> {
    check(body, &Kind::Message(REQUEST), &FieldPath::root())
}

/// One conversion, as item `index` of `conversions`.
pub(super) fn check_conversion(conversion: &Value, index: usize) -> Result<(), ValidationError> {
    check(
        conversion,
        &Kind::Message(CLICK_CONVERSION),
        &FieldPath::at("conversions", index),
    )
}

fn check(value: &Value, kind: &Kind, path: &FieldPath) -> Result<(), ValidationError> {
    let ok = match (kind, value) {
        (_, Value::Null) => true,
        (Kind::Str, Value::String(_)) | (Kind::Bool, Value::Bool(_)) => true,
        (Kind::Int, Value::Number(n)) => n.is_i64() || n.is_u64(),
        (Kind::Int, Value::String(s)) => is_integer(s),
        (Kind::Double, Value::Number(_)) => true,
        (Kind::Double, Value::String(s)) => s.trim() == s && s.parse::<f64>().is_ok(),
        (Kind::Enum(_, names), Value::String(s)) => names.contains(&s.as_str()),
        (Kind::Message(fields), Value::Object(obj)) => return check_message(obj, fields, path),
        (Kind::AnyMessage, Value::Object(_)) => true,
        (Kind::List(item), Value::Array(items)) => {
            for (i, v) in items.iter().enumerate() {
                let item_path = path.indexed(i);
                if v.is_null() {
                    return Err(invalid_value(&item_path, item, v));
                }
                check(v, item, &item_path)?;
            }
            return Ok(());
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(invalid_value(path, kind, value))
    }
}

fn check_message(
    obj: &Map<String, Value>,
    fields: &'static [Field],
    path: &FieldPath,
) -> Result<(), ValidationError> {
    let mut oneof_set: Vec<(&'static str, &'static str)> = Vec::new();
    for (key, value) in obj {
        let Some(field) = fields
            .iter()
            .find(|f| f.name == key || snake_case(f.name) == *key)
        else {
            let at = path.proto_string();
            let message = if at.is_empty() {
                format!("Invalid JSON payload received. Unknown name {key:?}: Cannot find field.")
            } else {
                format!(
                    "Invalid JSON payload received. Unknown name {key:?} at '{at}': Cannot find field."
                )
            };
            return Err(ValidationError::payload(path.join(key), message));
        };
        if let (Some(group), false) = (field.oneof, value.is_null()) {
            if let Some((_, first)) = oneof_set.iter().find(|(g, _)| *g == group) {
                return Err(ValidationError::payload(
                    path.join(field.name),
                    format!(
                        "Invalid JSON payload received. Multiple oneof fields set at '{}': {} and {} are in oneof {group}.",
                        path.proto_string(),
                        snake_case(first),
                        snake_case(field.name)
                    ),
                ));
            }
            oneof_set.push((group, field.name));
        }
        check(value, &field.kind, &path.join(field.name))?;
    }
    Ok(())
}

/// `Invalid value at 'conversions[0].conversion_value' (TYPE_DOUBLE), "abc"`: the front end's
/// wording for a value of the wrong type.
fn invalid_value(path: &FieldPath, kind: &Kind, value: &Value) -> ValidationError {
    let expected = match kind {
        Kind::Str => "TYPE_STRING".to_owned(),
        Kind::Bool => "TYPE_BOOL".to_owned(),
        Kind::Int => "TYPE_INT64".to_owned(),
        Kind::Double => "TYPE_DOUBLE".to_owned(),
        Kind::Enum(name, _) => format!("type.googleapis.com/google.ads.googleads.{name}"),
        Kind::Message(_) | Kind::AnyMessage => "TYPE_MESSAGE".to_owned(),
        Kind::List(_) => "repeated".to_owned(),
    };
    let mut shown = value.to_string();
    if shown.chars().count() > 60 {
        shown = shown.chars().take(60).collect::<String>() + "…";
    }
    ValidationError::payload(
        path.clone(),
        format!(
            "Invalid value at '{}' ({expected}), {shown}",
            path.proto_string()
        ),
    )
}

/// A decimal integer as proto-JSON writes int64 (`"-12"`, `"2147483648"`).
fn is_integer(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty() && digits.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit())
}
