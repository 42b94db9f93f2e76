//! What a 200's `partialFailureError` means for each conversion of the request
//! (shared/google-ads-conversions.md, "Row errors and what to do"). A pure function of the body and
//! the number of rows sent: no I/O, no clock.
//!
//! Failures are counted from `details[*].errors[*]`, not from `details[]` (one `GoogleAdsFailure`
//! holds every failed row; counting details undercounts, the bug users report of other
//! connectors). An error's row is the `index` of its first `fieldPathElements` entry named
//! `conversions`; an error without one (or with an index outside the request) is request-wide.
//! Everything read from the network is bounded: at most one failure per row (the most decisive),
//! messages and codes truncated, request-wide errors capped.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

/// How long to wait before sending a "too recent" row again (Google: "retry after 6 hours").
pub const TOO_RECENT_RETRY: Duration = Duration::from_secs(6 * 3600);

/// Longest message kept per error.
const MESSAGE_CHARS: usize = 500;
/// Longest error kind or code kept (Google's are under 90 characters).
const CODE_CHARS: usize = 100;
/// Request-wide errors kept.
const REQUEST_WIDE_KEPT: usize = 16;
/// Details looked at (Google sends one).
const DETAILS_READ: usize = 16;

/// What to do with one conversion Google refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowAction {
    /// Google already has it (a duplicate): count it as delivered.
    Delivered,
    /// Too early (the click or the conversion action is under ~6 hours old): send again later.
    RetryAfter(Duration),
    /// The request held too many conversions: send it again in smaller requests.
    Split,
    /// Sending it again cannot help.
    Dead,
}

impl RowAction {
    /// The action for Google's error `code` (its kind does not change the meaning).
    pub fn for_code(code: &str) -> RowAction {
        match code {
            "CLICK_CONVERSION_ALREADY_EXISTS" | "ORDER_ID_ALREADY_IN_USE" => RowAction::Delivered,
            "TOO_RECENT_EVENT" | "TOO_RECENT_CONVERSION_ACTION" => {
                RowAction::RetryAfter(TOO_RECENT_RETRY)
            }
            "TOO_MANY_CONVERSIONS_IN_REQUEST" => RowAction::Split,
            // EXPIRED_EVENT, CONVERSION_PRECEDES_EVENT, UNPARSEABLE_GCLID, CLICK_NOT_FOUND,
            // NO_CONVERSION_ACTION_FOUND, DUPLICATE_ORDER_ID (a second row of this very request),
            // validation errors, and anything unfamiliar.
            _ => RowAction::Dead,
        }
    }

    /// Which of two errors on one row decides: one saying Google has the conversion wins, then one
    /// saying it never will, then a split, then "later".
    fn rank(self) -> u8 {
        match self {
            RowAction::Delivered => 3,
            RowAction::Dead => 2,
            RowAction::Split => 1,
            RowAction::RetryAfter(_) => 0,
        }
    }
}

/// One refused conversion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowFailure {
    /// Its index in the request's `conversions`.
    pub index: usize,
    /// Google's error enum value, e.g. `CLICK_NOT_FOUND`.
    pub error_code: String,
    /// The enum it belongs to, e.g. `conversionUploadError`.
    pub error_kind: String,
    pub message: String,
    pub action: RowAction,
    /// `CLICK_NOT_FOUND`: no matching click, which Google calls ignorable; dead, but reported as
    /// "not attributable" rather than as an error.
    pub not_attributable: bool,
}

/// An error that names no row of the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestWideError {
    pub error_code: String,
    pub error_kind: String,
    pub message: String,
}

/// Every failure of a partial-failure answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowFailures {
    /// At most one per row, by index; every index is below the number of rows sent.
    pub rows: Vec<RowFailure>,
    /// Errors naming no row (or a row the request did not have), at most 16.
    pub request_wide: Vec<RequestWideError>,
}

impl RowFailures {
    /// The failure of row `index`, if it failed.
    pub fn get(&self, index: usize) -> Option<&RowFailure> {
        self.rows
            .binary_search_by_key(&index, |f| f.index)
            .ok()
            .and_then(|i| self.rows.get(i))
    }
}

/// Reads the `partialFailureError` of a 200 to a request of `rows` conversions. A body without one
/// (or not JSON) has no failures.
pub fn row_failures(body: &[u8], rows: usize) -> RowFailures {
    let Ok(Value::Object(top)) = serde_json::from_slice::<Value>(body) else {
        return RowFailures::default();
    };
    let details = top
        .get("partialFailureError")
        .and_then(|p| p.get("details"))
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let mut by_row: BTreeMap<usize, RowFailure> = BTreeMap::new();
    let mut request_wide = Vec::new();
    let errors = details
        .iter()
        .take(DETAILS_READ)
        .filter_map(|d| d.get("errors").and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_object);
    for error in errors {
        let (kind, code) = error_code(error);
        let message = text(error.get("message"), MESSAGE_CHARS);
        match row_index(error).filter(|i| *i < rows) {
            Some(index) => {
                let action = RowAction::for_code(&code);
                let failure = RowFailure {
                    index,
                    not_attributable: code == "CLICK_NOT_FOUND",
                    error_code: code,
                    error_kind: kind,
                    message,
                    action,
                };
                match by_row.get(&index) {
                    Some(kept) if kept.action.rank() >= action.rank() => {}
                    _ => {
                        by_row.insert(index, failure);
                    }
                }
            }
            None if request_wide.len() < REQUEST_WIDE_KEPT => {
                request_wide.push(RequestWideError {
                    error_code: code,
                    error_kind: kind,
                    message,
                });
            }
            None => {}
        }
    }
    RowFailures {
        rows: by_row.into_values().collect(),
        request_wide,
    }
}

/// `(kind, code)` of `errorCode` (`("", "UNKNOWN")` when Google sent none readable).
fn error_code(error: &Map<String, Value>) -> (String, String) {
    error
        .get("errorCode")
        .and_then(Value::as_object)
        .and_then(|c| c.iter().find_map(|(k, v)| Some((k, v.as_str()?))))
        .map_or_else(
            || (String::new(), "UNKNOWN".to_owned()),
            |(k, v)| (truncated(k, CODE_CHARS), truncated(v, CODE_CHARS)),
        )
}

/// The index of the first `conversions` element of the error's location.
fn row_index(error: &Map<String, Value>) -> Option<usize> {
    let elements = error
        .get("location")?
        .get("fieldPathElements")?
        .as_array()?;
    let first = elements.first()?;
    if first.get("fieldName")?.as_str()? != "conversions" {
        return None;
    }
    match first.get("index")? {
        Value::Number(n) => usize::try_from(n.as_u64()?).ok(),
        // int32 as proto-JSON may write it.
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn text(value: Option<&Value>, max: usize) -> String {
    value
        .and_then(Value::as_str)
        .map(|s| truncated(s, max))
        .unwrap_or_default()
}

fn truncated(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn error(code: &str, index: Option<Value>) -> Value {
        let mut e =
            json!({"errorCode": {"conversionUploadError": code}, "message": format!("m {code}")});
        if let Some(index) = index {
            e["location"] = json!({"fieldPathElements": [{"fieldName": "conversions", "index": index},
                                                         {"fieldName": "gclid"}]});
        }
        e
    }

    fn body(errors: Vec<Value>) -> Vec<u8> {
        json!({"results": [], "partialFailureError": {"code": 3, "message": "m",
               "details": [{"@type": "t", "errors": errors, "requestId": "r"}]}})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn maps_each_documented_row_error_to_its_action() {
        use RowAction::*;
        let six_hours = RetryAfter(Duration::from_secs(21_600));
        for (code, action) in [
            ("CLICK_CONVERSION_ALREADY_EXISTS", Delivered),
            ("ORDER_ID_ALREADY_IN_USE", Delivered),
            ("TOO_RECENT_EVENT", six_hours),
            ("TOO_RECENT_CONVERSION_ACTION", six_hours),
            ("TOO_MANY_CONVERSIONS_IN_REQUEST", Split),
            ("EXPIRED_EVENT", Dead),
            ("CONVERSION_PRECEDES_EVENT", Dead),
            ("UNPARSEABLE_GCLID", Dead),
            ("NO_CONVERSION_ACTION_FOUND", Dead),
            ("INVALID_CONVERSION_ACTION_TYPE", Dead),
            ("CLICK_NOT_FOUND", Dead),
            ("DUPLICATE_ORDER_ID", Dead),
            ("SOMETHING_NEW", Dead),
        ] {
            let found = row_failures(&body(vec![error(code, Some(json!(2)))]), 3);
            assert_eq!(found.rows.len(), 1, "{code}");
            let failure = &found.rows[0];
            assert_eq!((failure.index, failure.action), (2, action), "{code}");
            assert_eq!(failure.error_code, code);
            assert_eq!(failure.error_kind, "conversionUploadError");
            assert_eq!(failure.message, format!("m {code}"));
            assert_eq!(failure.not_attributable, code == "CLICK_NOT_FOUND");
        }
    }

    #[test]
    fn counts_errors_not_details_and_keeps_request_order() {
        let found = row_failures(
            &body(vec![
                error("CLICK_NOT_FOUND", Some(json!(7))),
                error("EXPIRED_EVENT", Some(json!(0))),
                error("TOO_RECENT_EVENT", Some(json!("3"))),
            ]),
            10,
        );
        let indexes: Vec<usize> = found.rows.iter().map(|f| f.index).collect();
        assert_eq!(indexes, [0, 3, 7]);
        assert_eq!(
            found.get(7).map(|f| f.error_code.as_str()),
            Some("CLICK_NOT_FOUND")
        );
        assert!(found.get(1).is_none());
        assert!(found.request_wide.is_empty());
    }

    #[test]
    fn errors_without_a_valid_row_are_request_wide() {
        let found = row_failures(
            &body(vec![
                error("TOO_MANY_CONVERSIONS_IN_REQUEST", None),
                error("CLICK_NOT_FOUND", Some(json!(5))),
                error("CLICK_NOT_FOUND", Some(json!(-1))),
                json!({"errorCode": {"fieldError": "REQUIRED"}, "message": "m",
                       "location": {"fieldPathElements": [{"fieldName": "partial_failure"}]}}),
            ]),
            5,
        );
        assert!(found.rows.is_empty());
        let codes: Vec<&str> = found
            .request_wide
            .iter()
            .map(|e| e.error_code.as_str())
            .collect();
        assert_eq!(
            codes,
            [
                "TOO_MANY_CONVERSIONS_IN_REQUEST",
                "CLICK_NOT_FOUND",
                "CLICK_NOT_FOUND",
                "REQUIRED"
            ]
        );
    }

    #[test]
    fn one_row_keeps_its_most_decisive_error() {
        let found = row_failures(
            &body(vec![
                error("TOO_RECENT_EVENT", Some(json!(1))),
                error("UNPARSEABLE_GCLID", Some(json!(1))),
                error("CLICK_CONVERSION_ALREADY_EXISTS", Some(json!(1))),
                error("EXPIRED_EVENT", Some(json!(1))),
            ]),
            2,
        );
        assert_eq!(found.rows.len(), 1);
        assert_eq!(found.rows[0].action, RowAction::Delivered);
    }

    #[test]
    fn a_success_or_junk_has_no_failures() {
        for body in [
            &br#"{"results":[{},{}]}"#[..],
            b"",
            b"<html>",
            b"[]",
            br#"{"partialFailureError":{"details":"x"}}"#,
        ] {
            assert_eq!(row_failures(body, 2), RowFailures::default());
        }
    }

    #[test]
    fn bounds_what_it_keeps_from_the_network() {
        let mut e = error("CLICK_NOT_FOUND", Some(json!(0)));
        e["message"] = json!("x".repeat(10_000));
        e["errorCode"] = json!({"conversionUploadError": "Y".repeat(10_000)});
        let mut errors = vec![e];
        errors.extend((0..100).map(|_| error("X", None)));
        let found = row_failures(&body(errors), 1);
        assert!(found.rows[0].message.chars().count() <= MESSAGE_CHARS + 1);
        assert!(found.rows[0].error_code.chars().count() <= CODE_CHARS + 1);
        assert_eq!(found.request_wide.len(), REQUEST_WIDE_KEPT);
    }

    proptest! {
        #[test]
        fn never_returns_an_index_outside_the_request(
            rows in 0usize..50,
            indexes in proptest::collection::vec(proptest::option::of(-5i64..100), 0..200),
            codes in proptest::collection::vec(prop::sample::select(vec!["CLICK_NOT_FOUND", "TOO_RECENT_EVENT", "ORDER_ID_ALREADY_IN_USE", "X"]), 1..5),
        ) {
            let errors = indexes
                .iter()
                .enumerate()
                .map(|(i, index)| error(codes[i % codes.len()], index.map(|n| json!(n))))
                .collect();
            let found = row_failures(&body(errors), rows);
            prop_assert!(found.rows.len() <= rows);
            prop_assert!(found.rows.iter().all(|f| f.index < rows));
            prop_assert!(found.rows.windows(2).all(|w| w[0].index < w[1].index));
            prop_assert!(found.request_wide.len() <= REQUEST_WIDE_KEPT);
        }

        #[test]
        fn never_panics_on_bytes(body in proptest::collection::vec(any::<u8>(), 0..400), rows in 0usize..10) {
            let found = row_failures(&body, rows);
            prop_assert!(found.rows.len() <= rows);
        }
    }
}
