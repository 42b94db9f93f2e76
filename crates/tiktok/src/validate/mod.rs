//! Validation of Events API bodies, as strict as TikTok documents them. This module owns the shared
//! vocabulary: the per-request [`Rules`], the JSON [`Path`] of a field, the [`Reason`] a field is
//! refused and typed field access. It never touches the store, the clock or HTTP: the caller passes
//! `now` in, so every rule is a pure function and unit-testable.
//!
//! It lives here, beside the model, so the sandbox (whole requests: [`track`], [`legacy`]) and the
//! gateway (one planned event at ingest: [`validate_event_payload`]) apply the very same rules: a
//! conversion the gateway accepts is one the strict sandbox accepts.
//!
//! Error messages follow TikTok's style, which is marshmallow's (the schema library behind the API):
//! Events API 2.0 says `Invalid value for data.3.properties.value: not a valid number.`, the legacy 1.0
//! API says `Batch.0.properties.contents.0.content_id: Not a valid string`.

pub(crate) mod event;
pub mod legacy;
pub(crate) mod properties;
pub mod track;
pub(crate) mod user;

pub use event::validate_event_payload;

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// A JSON object.
pub(crate) type Object = Map<String, Value>;

/// The top level of a body, each value left unparsed so the events can be stored exactly as sent.
pub type TopLevel<'a> = HashMap<String, &'a RawValue>;

/// The knobs one request is validated against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// `false` relaxes only what TikTok's own examples contradict (see the crate docs).
    pub strict: bool,
    /// Unix seconds at which the request was received.
    pub now: i64,
    /// How far in the past an event time may lie, in seconds.
    pub max_past: i64,
    /// How far in the future an event time may lie (clock skew), in seconds.
    pub max_future: i64,
}

/// Why a field is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    Missing,
    Null,
    NotString,
    NotInteger,
    NotNumber,
    NotBoolean,
    NotList,
    NotObject,
    OneOf(&'static [&'static str]),
    Length {
        min: usize,
        max: usize,
    },
    /// A rule-specific explanation, lower case, without a final period.
    Other(String),
}

impl Reason {
    /// The reason in TikTok's words, lower case, without a final period (`missing data for
    /// required field`).
    pub fn text(&self) -> String {
        match self {
            Reason::Missing => "missing data for required field".to_owned(),
            Reason::Null => "field may not be null".to_owned(),
            Reason::NotString => "not a valid string".to_owned(),
            Reason::NotInteger => "not a valid integer".to_owned(),
            Reason::NotNumber => "not a valid number".to_owned(),
            Reason::NotBoolean => "not a valid boolean".to_owned(),
            Reason::NotList => "not a valid list".to_owned(),
            Reason::NotObject => "not a valid object".to_owned(),
            Reason::OneOf(choices) => format!("must be one of: {}", choices.join(", ")),
            Reason::Length { min, max } => format!("length must be between {min} and {max}"),
            Reason::Other(text) => text.clone(),
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text())
    }
}

/// A refused field: where, and why. The whole request is rejected with the first one found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Dotted path, array indexes included (`data.3.user.email.0`); empty for the body itself.
    pub path: String,
    pub reason: Reason,
}

impl Invalid {
    /// Events API 2.0 wording: `Invalid value for data.0.event_id: not a valid string.`
    pub fn v2_message(&self) -> String {
        if self.path.is_empty() {
            format!("Invalid request body: {}.", self.reason.text())
        } else {
            format!("Invalid value for {}: {}.", self.path, self.reason.text())
        }
    }

    /// Legacy 1.0 wording: `Batch.0.properties.contents.0.content_id: Not a valid string`.
    pub fn v1_message(&self) -> String {
        let reason = capitalize(&self.reason.text());
        if self.path.is_empty() {
            format!("Request body: {reason}")
        } else {
            capitalize(&format!("{}: {reason}", self.path))
        }
    }
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Where a field sits in the body. Built on the stack while walking the JSON and rendered to a string
/// only when something is refused, so a valid event costs no allocation for paths.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl<'a> Path<'a> {
    /// The member `key` of this object.
    pub(crate) fn key<'b>(&'b self, key: &'b str) -> Path<'b> {
        Path::Key(self, key)
    }

    /// Item `index` of this list.
    pub(crate) fn index<'b>(&'b self, index: usize) -> Path<'b> {
        Path::Index(self, index)
    }

    /// The dotted form, e.g. `data.0.user.email`.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        self.write_into(&mut out);
        out
    }

    fn write_into(&self, out: &mut String) {
        match self {
            Path::Root => {}
            Path::Key(parent, key) => {
                parent.write_into(out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Path::Index(parent, index) => {
                parent.write_into(out);
                if !out.is_empty() {
                    out.push('.');
                }
                let _ = write!(out, "{index}");
            }
        }
    }

    /// Refuses the field at this path.
    pub(crate) fn invalid(&self, reason: Reason) -> Invalid {
        Invalid {
            path: self.render(),
            reason,
        }
    }

    /// Refuses the field at this path with a rule-specific explanation.
    pub(crate) fn other(&self, text: impl Into<String>) -> Invalid {
        self.invalid(Reason::Other(text.into()))
    }
}

/// Looks `key` up. A JSON `null` is refused rather than read as "absent": no field of TikTok's schema
/// is documented as nullable, and a client that sends `null` has a bug worth seeing.
pub(crate) fn field<'v>(
    obj: &'v Object,
    key: &str,
    path: &Path,
) -> Result<Option<&'v Value>, Invalid> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::Null) => Err(path.key(key).invalid(Reason::Null)),
        Some(value) => Ok(Some(value)),
    }
}

/// Looks `key` up and refuses its absence.
pub(crate) fn required<'v>(obj: &'v Object, key: &str, path: &Path) -> Result<&'v Value, Invalid> {
    field(obj, key, path)?.ok_or_else(|| path.key(key).invalid(Reason::Missing))
}

pub(crate) fn as_str<'v>(value: &'v Value, path: &Path) -> Result<&'v str, Invalid> {
    value
        .as_str()
        .ok_or_else(|| path.invalid(Reason::NotString))
}

pub(crate) fn as_object<'v>(value: &'v Value, path: &Path) -> Result<&'v Object, Invalid> {
    value
        .as_object()
        .ok_or_else(|| path.invalid(Reason::NotObject))
}

pub(crate) fn as_list<'v>(value: &'v Value, path: &Path) -> Result<&'v Vec<Value>, Invalid> {
    value
        .as_array()
        .ok_or_else(|| path.invalid(Reason::NotList))
}

/// A JSON integer. `2.0` and `2e3` are refused: TikTok's integer fields take integer literals only.
/// An integer beyond `i64` saturates, which every range check downstream then refuses.
pub(crate) fn as_integer(value: &Value, path: &Path) -> Result<i64, Invalid> {
    match value {
        Value::Number(n) if n.is_i64() => {
            n.as_i64().ok_or_else(|| path.invalid(Reason::NotInteger))
        }
        Value::Number(n) if n.is_u64() => Ok(i64::MAX),
        _ => Err(path.invalid(Reason::NotInteger)),
    }
}

/// A JSON number (integer or decimal); a numeric *string* such as `"200.0"` is refused.
pub(crate) fn as_number(value: &Value, path: &Path) -> Result<f64, Invalid> {
    value
        .as_f64()
        .ok_or_else(|| path.invalid(Reason::NotNumber))
}

pub(crate) fn as_bool(value: &Value, path: &Path) -> Result<bool, Invalid> {
    value
        .as_bool()
        .ok_or_else(|| path.invalid(Reason::NotBoolean))
}

pub(crate) fn opt_str<'v>(
    obj: &'v Object,
    key: &str,
    path: &Path,
) -> Result<Option<&'v str>, Invalid> {
    field(obj, key, path)?
        .map(|v| as_str(v, &path.key(key)))
        .transpose()
}

pub(crate) fn req_str<'v>(obj: &'v Object, key: &str, path: &Path) -> Result<&'v str, Invalid> {
    as_str(required(obj, key, path)?, &path.key(key))
}

pub(crate) fn opt_object<'v>(
    obj: &'v Object,
    key: &str,
    path: &Path,
) -> Result<Option<&'v Object>, Invalid> {
    field(obj, key, path)?
        .map(|v| as_object(v, &path.key(key)))
        .transpose()
}

pub(crate) fn req_object<'v>(
    obj: &'v Object,
    key: &str,
    path: &Path,
) -> Result<&'v Object, Invalid> {
    as_object(required(obj, key, path)?, &path.key(key))
}

pub(crate) fn opt_list<'v>(
    obj: &'v Object,
    key: &str,
    path: &Path,
) -> Result<Option<&'v Vec<Value>>, Invalid> {
    field(obj, key, path)?
        .map(|v| as_list(v, &path.key(key)))
        .transpose()
}

pub(crate) fn opt_integer(obj: &Object, key: &str, path: &Path) -> Result<Option<i64>, Invalid> {
    field(obj, key, path)?
        .map(|v| as_integer(v, &path.key(key)))
        .transpose()
}

pub(crate) fn opt_number(obj: &Object, key: &str, path: &Path) -> Result<Option<f64>, Invalid> {
    field(obj, key, path)?
        .map(|v| as_number(v, &path.key(key)))
        .transpose()
}

pub(crate) fn opt_bool(obj: &Object, key: &str, path: &Path) -> Result<Option<bool>, Invalid> {
    field(obj, key, path)?
        .map(|v| as_bool(v, &path.key(key)))
        .transpose()
}

/// An optional string restricted to `choices` (compared exactly, case included).
pub(crate) fn opt_one_of<'v>(
    obj: &'v Object,
    key: &str,
    path: &Path,
    choices: &'static [&'static str],
) -> Result<Option<&'v str>, Invalid> {
    match opt_str(obj, key, path)? {
        Some(s) if !choices.contains(&s) => Err(path.key(key).invalid(Reason::OneOf(choices))),
        other => Ok(other),
    }
}

/// Parses the body as a JSON object whose values stay raw. Returns a 40002-ready message on failure.
pub fn parse_top(body: &[u8]) -> Result<TopLevel<'_>, BodyError> {
    serde_json::from_slice::<TopLevel<'_>>(body).map_err(|err| {
        if err.is_data() {
            BodyError::NotObject
        } else {
            BodyError::Malformed(err.to_string())
        }
    })
}

/// Parses one raw top-level member into a `Value` (small members only: the events are parsed one by
/// one elsewhere).
pub(crate) fn top_value(top: &TopLevel<'_>, key: &str) -> Result<Option<Value>, Invalid> {
    let Some(raw) = top.get(key) else {
        return Ok(None);
    };
    let path = Path::Root;
    match serde_json::from_str::<Value>(raw.get()) {
        Ok(Value::Null) => Err(path.key(key).invalid(Reason::Null)),
        Ok(value) => Ok(Some(value)),
        // The body already parsed as JSON, so its members do too; answer sanely if not.
        Err(err) => Err(path.key(key).other(format!("not valid JSON ({err})"))),
    }
}

/// A required top-level string member (`event_source_id`, `pixel_code`).
pub(crate) fn top_str(top: &TopLevel<'_>, key: &str) -> Result<String, Invalid> {
    match top_value(top, key)? {
        None => Err(Path::Root.key(key).invalid(Reason::Missing)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(Path::Root.key(key).invalid(Reason::NotString)),
    }
}

/// An optional top-level string member (`test_event_code`, `partner_name`).
pub(crate) fn top_opt_str(top: &TopLevel<'_>, key: &str) -> Result<Option<String>, Invalid> {
    match top_value(top, key)? {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Path::Root.key(key).invalid(Reason::NotString)),
    }
}

/// A top-level list of 1..=`max` items, each left raw.
pub(crate) fn top_list<'a>(
    top: &TopLevel<'a>,
    key: &str,
    max: usize,
) -> Result<Vec<&'a RawValue>, Invalid> {
    let path = Path::Root;
    let Some(raw) = top.get(key) else {
        return Err(path.key(key).invalid(Reason::Missing));
    };
    let items: Vec<&'a RawValue> = match serde_json::from_str(raw.get()) {
        Ok(items) => items,
        Err(_) if raw.get().trim() == "null" => return Err(path.key(key).invalid(Reason::Null)),
        Err(_) => return Err(path.key(key).invalid(Reason::NotList)),
    };
    if items.is_empty() || items.len() > max {
        return Err(path.key(key).invalid(Reason::Length { min: 1, max }));
    }
    Ok(items)
}

/// Parses one raw list item into a `Value` for validation.
pub(crate) fn item_value(raw: &RawValue, path: &Path) -> Result<Value, Invalid> {
    serde_json::from_str(raw.get()).map_err(|err| path.other(format!("not valid JSON ({err})")))
}

/// Why the body is not even a JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    Malformed(String),
    NotObject,
}

impl BodyError {
    pub fn message(&self) -> String {
        match self {
            BodyError::Malformed(detail) => format!("Invalid JSON in request body: {detail}."),
            BodyError::NotObject => "Invalid request body: expected a JSON object.".to_owned(),
        }
    }
}

/// Spells a number of seconds the way a person would (`7 days`, `5 minutes`).
pub(crate) fn human_duration(seconds: i64) -> String {
    let (n, unit) = if seconds != 0 && seconds % 86_400 == 0 {
        (seconds / 86_400, "day")
    } else if seconds != 0 && seconds % 3_600 == 0 {
        (seconds / 3_600, "hour")
    } else if seconds != 0 && seconds % 60 == 0 {
        (seconds / 60, "minute")
    } else {
        (seconds, "second")
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_render_dotted_with_indexes() {
        let root = Path::Root;
        let data = root.key("data");
        let first = data.index(3);
        let props = first.key("properties");
        assert_eq!(props.key("value").render(), "data.3.properties.value");
        assert_eq!(root.render(), "");
    }

    #[test]
    fn messages_follow_tiktoks_two_styles() {
        let err = Invalid {
            path: "data.0.event_id".into(),
            reason: Reason::NotString,
        };
        assert_eq!(
            err.v2_message(),
            "Invalid value for data.0.event_id: not a valid string."
        );
        let err = Invalid {
            path: "batch.0.properties.contents.0.content_id".into(),
            reason: Reason::NotString,
        };
        assert_eq!(
            err.v1_message(),
            "Batch.0.properties.contents.0.content_id: Not a valid string"
        );
    }

    #[test]
    fn integers_refuse_decimals_and_strings() {
        let p = Path::Root;
        assert_eq!(as_integer(&json!(12), &p), Ok(12));
        assert_eq!(as_integer(&json!(u64::MAX), &p), Ok(i64::MAX));
        for bad in [json!(1.5), json!(2.0), json!("12"), json!(true)] {
            assert_eq!(
                as_integer(&bad, &p).map_err(|e| e.reason),
                Err(Reason::NotInteger),
                "{bad}"
            );
        }
    }

    #[test]
    fn numbers_accept_integers_and_decimals_but_not_numeric_strings() {
        let p = Path::Root;
        assert_eq!(as_number(&json!(200), &p), Ok(200.0));
        assert_eq!(as_number(&json!(0.5), &p), Ok(0.5));
        assert_eq!(
            as_number(&json!("200.0"), &p).map_err(|e| e.reason),
            Err(Reason::NotNumber)
        );
    }

    #[test]
    fn null_is_refused_not_treated_as_absent() {
        let obj = json!({"event_id": null});
        let obj = obj.as_object().unwrap();
        let err = opt_str(obj, "event_id", &Path::Root).unwrap_err();
        assert_eq!(err.reason, Reason::Null);
        assert_eq!(opt_str(obj, "other", &Path::Root), Ok(None));
    }

    #[test]
    fn top_level_parsing_tells_malformed_from_non_object() {
        assert!(matches!(
            parse_top(b"{\"a\":"),
            Err(BodyError::Malformed(_))
        ));
        assert_eq!(parse_top(b"[1,2]").unwrap_err(), BodyError::NotObject);
        let top = parse_top(br#"{"data":[{"a":1}, 2], "x":"y"}"#).unwrap();
        let items = top_list(&top, "data", 1000).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].get(), r#"{"a":1}"#);
        assert_eq!(
            top_list(&top, "x", 1000).unwrap_err().reason,
            Reason::NotList
        );
    }

    #[test]
    fn lists_must_hold_between_one_and_max_items() {
        let top = parse_top(br#"{"empty":[],"three":[1,2,3]}"#).unwrap();
        let length = Reason::Length { min: 1, max: 2 };
        assert_eq!(top_list(&top, "empty", 2).unwrap_err().reason, length);
        assert_eq!(top_list(&top, "three", 2).unwrap_err().reason, length);
        assert_eq!(
            top_list(&top, "missing", 2).unwrap_err().reason,
            Reason::Missing
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(7 * 86_400), "7 days");
        assert_eq!(human_duration(300), "5 minutes");
        assert_eq!(human_duration(3_600), "1 hour");
        assert_eq!(human_duration(90), "90 seconds");
    }
}
