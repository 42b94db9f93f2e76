//! `custom_data`: typed members where Meta documents a type, `contents` items, and the Conversion
//! Leads markers (`event_source`, `lead_event_source`). Custom properties are free.

use serde_json::{Map, Value};

use super::{invalid, opt_str};
use crate::error::MetaError;

/// What the event-level rules need to know about `custom_data`.
#[derive(Debug, Default)]
pub(crate) struct CustomFacts {
    /// `event_source` is `crm`: a Conversion Leads event.
    pub crm: bool,
    pub has_lead_event_source: bool,
}

pub(crate) fn validate_custom_data(
    custom: &Map<String, Value>,
    index: usize,
) -> Result<CustomFacts, MetaError> {
    let at = |key: &str| format!("data[{index}][custom_data][{key}]");
    for key in ["value", "predicted_ltv"] {
        if let Some(v) = custom.get(key)
            && !v.is_number()
        {
            return Err(invalid(
                &at(key),
                "Invalid Custom Data",
                "must be a number",
                None,
            ));
        }
    }
    if let Some(v) = custom.get("num_items")
        && !(v.is_i64() || v.is_u64())
    {
        return Err(invalid(
            &at("num_items"),
            "Invalid Custom Data",
            "must be an integer",
            None,
        ));
    }
    if let Some(currency) = opt_str(custom, "currency", &|| at("currency"))?
        && !(currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_alphabetic()))
    {
        return Err(invalid(
            &at("currency"),
            "Invalid Currency Code",
            "must be a three-letter ISO 4217 code",
            None,
        ));
    }
    if let Some(kind) = opt_str(custom, "content_type", &|| at("content_type"))?
        && kind != "product"
        && kind != "product_group"
    {
        return Err(invalid(
            &at("content_type"),
            "Invalid Content Type",
            "must be product or product_group",
            None,
        ));
    }
    for key in [
        "order_id",
        "content_name",
        "content_category",
        "status",
        "search_string",
        "delivery_category",
    ] {
        opt_str(custom, key, &|| at(key))?;
    }
    if let Some(ids) = custom.get("content_ids")
        && !ids
            .as_array()
            .is_some_and(|l| l.iter().all(Value::is_string))
    {
        return Err(invalid(
            &at("content_ids"),
            "Invalid Custom Data",
            "must be an array of strings",
            None,
        ));
    }
    if let Some(contents) = custom.get("contents") {
        let Some(items) = contents.as_array() else {
            return Err(invalid(
                &at("contents"),
                "Invalid Custom Data",
                "must be an array of objects",
                None,
            ));
        };
        for (i, item) in items.iter().enumerate() {
            content(item, &format!("data[{index}][custom_data][contents][{i}]"))?;
        }
    }
    let event_source = opt_str(custom, "event_source", &|| at("event_source"))?;
    let lead_event_source = opt_str(custom, "lead_event_source", &|| at("lead_event_source"))?;
    Ok(CustomFacts {
        crm: event_source == Some("crm"),
        has_lead_event_source: lead_event_source.is_some_and(|s| !s.trim().is_empty()),
    })
}

/// One `contents` item: `id` required (a string), `quantity` an integer, `item_price` a number.
fn content(item: &Value, path: &str) -> Result<(), MetaError> {
    let Value::Object(obj) = item else {
        return Err(invalid(
            path,
            "Invalid Custom Data",
            "must be a JSON object",
            None,
        ));
    };
    match obj.get("id") {
        Some(Value::String(id)) if !id.is_empty() => {}
        None => return Err(super::missing(&format!("{path}[id]"))),
        Some(_) => {
            return Err(invalid(
                &format!("{path}[id]"),
                "Invalid Custom Data",
                "must be a non-empty string",
                None,
            ));
        }
    }
    if let Some(q) = obj.get("quantity")
        && !(q.is_i64() || q.is_u64())
    {
        return Err(invalid(
            &format!("{path}[quantity]"),
            "Invalid Custom Data",
            "must be an integer",
            None,
        ));
    }
    if let Some(p) = obj.get("item_price")
        && !p.is_number()
    {
        return Err(invalid(
            &format!("{path}[item_price]"),
            "Invalid Custom Data",
            "must be a number",
            None,
        ));
    }
    Ok(())
}
