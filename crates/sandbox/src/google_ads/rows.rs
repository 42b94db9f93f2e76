//! Each conversion of a valid request, judged as Google would in partial-failure mode: a row that
//! broke a rule fails with that rule's error; a click the sandbox was told about fails as told
//! (`CLICK_NOT_FOUND`, `TOO_RECENT_EVENT`); an order id or click conversion Google already has
//! fails as a duplicate; the rest are accepted (and remembered, unless `validateOnly`). Then the
//! `partialFailureError` listing every failed row.
//!
//! Duplicates, as Google's ConversionUploadError enum documents them: an order id already recorded
//! for the conversion action → `ORDER_ID_ALREADY_IN_USE` (the documented code for an order id;
//! `CLICK_CONVERSION_ALREADY_EXISTS` is the one for the same click and `conversionDateTime`); two
//! rows of one request sharing an order id → `DUPLICATE_ORDER_ID` on each ("were not processed"),
//! and the same click and time twice → `DUPLICATE_CLICK_CONVERSION_IN_REQUEST` on each.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use signalpost_google_ads::failure::kind;
use signalpost_google_ads::model::{ErrorLocation, FieldPathElement, failure_type_url};
use signalpost_google_ads::{
    CheckedRequest, ConversionSummary, ErrorCode, GoogleAdsError, GoogleAdsFailure,
};

use super::state::ClickState;
use crate::Sandbox;

/// Failed rows named one by one in the summary message; the rest are counted.
const NAMED_IN_MESSAGE: usize = 5;

/// What became of one conversion.
#[derive(Debug)]
pub(crate) enum Outcome {
    Accepted {
        summary: ConversionSummary,
        /// The conversion as parsed, for the result's echo.
        payload: Value,
    },
    Failed(GoogleAdsError),
}

impl Outcome {
    /// The row's entry of `results`: `{}` for a failed row, the echo Google gives otherwise.
    pub(crate) fn result(&self) -> Value {
        let Outcome::Accepted { summary, payload } = self else {
            return Value::Object(Map::new());
        };
        let mut result = Map::new();
        for (name, id) in [
            ("gclid", &summary.gclid),
            ("gbraid", &summary.gbraid),
            ("wbraid", &summary.wbraid),
        ] {
            if let Some(id) = id {
                result.insert(name.into(), Value::String(id.clone()));
            }
        }
        result.insert(
            "conversionAction".into(),
            Value::String(summary.conversion_action.clone()),
        );
        result.insert(
            "conversionDateTime".into(),
            Value::String(summary.conversion_date_time.clone()),
        );
        let identifiers = payload
            .get("userIdentifiers")
            .or_else(|| payload.get("user_identifiers"))
            .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()));
        if let Some(identifiers) = identifiers {
            result.insert("userIdentifiers".into(), identifiers.clone());
        }
        Value::Object(result)
    }
}

/// Judges every row of `checked` (whose conversions are `conversions`) for `customer`.
pub(crate) fn judge(
    sandbox: &Sandbox,
    customer: &str,
    checked: &CheckedRequest,
    conversions: &[Value],
) -> Vec<Outcome> {
    let order_key = |s: &ConversionSummary| {
        s.order_id
            .as_ref()
            .map(|o| format!("{customer}\n{}\n{o}", s.action_id))
    };
    let click_key = |s: &ConversionSummary| {
        s.gclid
            .as_ref()
            .map(|g| format!("{customer}\n{}\n{g}\n{}", s.action_id, s.event_time))
    };
    let mut orders_in_request: HashMap<String, usize> = HashMap::new();
    let mut clicks_in_request: HashMap<String, usize> = HashMap::new();
    for summary in checked.rows.iter().flatten() {
        if let Some(key) = order_key(summary) {
            *orders_in_request.entry(key).or_default() += 1;
        }
        if let Some(key) = click_key(summary) {
            *clicks_in_request.entry(key).or_default() += 1;
        }
    }
    let mut state = sandbox.google();
    let mut outcomes = Vec::with_capacity(checked.rows.len());
    for (index, row) in checked.rows.iter().enumerate() {
        let summary = match row {
            Ok(summary) => summary,
            Err(err) => {
                outcomes.push(Outcome::Failed(err.to_google_error()));
                continue;
            }
        };
        let (order, click) = (order_key(summary), click_key(summary));
        let refusal = match summary.gclid.as_deref().map(|g| state.click(g)) {
            Some(ClickState::NotFound) => Some(("CLICK_NOT_FOUND", "gclid", "The email address or phone number for this event can't be matched to a click. This may be because it didn't come from a Google Ads campaign, and you can safely ignore this warning.")),
            Some(ClickState::TooRecent) => Some(("TOO_RECENT_EVENT", "gclid", "The click associated with the given identifier or iOS URL parameter occurred less than 6 hours ago. Retry after 6 hours have passed.")),
            _ => None,
        }
        .or_else(|| {
            let key = order.as_ref()?;
            if orders_in_request.get(key).copied().unwrap_or(0) > 1 {
                Some(("DUPLICATE_ORDER_ID", "orderId", "Imported events include multiple conversions with the same order ID and were not processed. Make sure order IDs are unique and try again."))
            } else if state.order_used(key) {
                Some(("ORDER_ID_ALREADY_IN_USE", "orderId", "The imported event includes an order ID that was previously recorded, so the event was not processed."))
            } else {
                None
            }
        })
        .or_else(|| {
            let key = click.as_ref()?;
            if clicks_in_request.get(key).copied().unwrap_or(0) > 1 {
                Some(("DUPLICATE_CLICK_CONVERSION_IN_REQUEST", "gclid", "Multiple events have the same click and conversion_date_time. Make sure your conversion_date_time is correctly configured and try again."))
            } else if state.click_conversion_exists(key) {
                Some(("CLICK_CONVERSION_ALREADY_EXISTS", "gclid", "The imported event has the same click and conversion_date_time as an existing conversion. Use a unique conversion_date_time or order ID for each unique event and try again."))
            } else {
                None
            }
        });
        match refusal {
            Some((code, field, message)) => outcomes.push(Outcome::Failed(GoogleAdsError {
                error_code: ErrorCode::new(kind::CONVERSION_UPLOAD, code),
                message: message.to_owned(),
                location: Some(location(index, field)),
            })),
            None => {
                if !checked.validate_only {
                    state.remember(order, click);
                }
                outcomes.push(Outcome::Accepted {
                    summary: summary.clone(),
                    payload: conversions.get(index).cloned().unwrap_or(Value::Null),
                });
            }
        }
    }
    outcomes
}

/// `partialFailureError` (google.rpc.Status, code 3) listing every failed row, or `None` when no
/// row failed. One `GoogleAdsFailure` holds all the errors, as Google sends it.
pub(crate) fn partial_failure(
    outcomes: &[Outcome],
    version: &str,
    request_id: &str,
) -> Option<Value> {
    let errors: Vec<GoogleAdsError> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Failed(e) => Some(e.clone()),
            Outcome::Accepted { .. } => None,
        })
        .collect();
    if errors.is_empty() {
        return None;
    }
    let mut lines: Vec<String> = errors
        .iter()
        .take(NAMED_IN_MESSAGE)
        .map(|e| format!("{}, at {}", e.message, path_text(e.location.as_ref())))
        .collect();
    if errors.len() > NAMED_IN_MESSAGE {
        lines.push(format!(
            "and {} more errors",
            errors.len() - NAMED_IN_MESSAGE
        ));
    }
    let failure = GoogleAdsFailure {
        type_url: failure_type_url(version),
        errors,
        request_id: request_id.to_owned(),
    };
    Some(json!({
        "code": 3,
        "message": lines.join("\n"),
        "details": [failure],
    }))
}

/// `conversions[index].field` as `fieldPathElements` (proto names).
fn location(index: usize, json_field: &str) -> ErrorLocation {
    let field = match json_field {
        "orderId" => "order_id",
        other => other,
    };
    ErrorLocation {
        field_path_elements: vec![
            FieldPathElement {
                field_name: "conversions".into(),
                index: Some(index as u64),
            },
            FieldPathElement {
                field_name: field.into(),
                index: None,
            },
        ],
    }
}

/// `conversions[3].gclid` from a location.
fn path_text(location: Option<&ErrorLocation>) -> String {
    let Some(location) = location else {
        return "the request".to_owned();
    };
    location
        .field_path_elements
        .iter()
        .map(|e| match e.index {
            Some(i) => format!("{}[{i}]", e.field_name),
            None => e.field_name.clone(),
        })
        .collect::<Vec<_>>()
        .join(".")
}
