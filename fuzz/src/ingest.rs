//! The ingest JSON of `POST /v1/leads` and `POST /v1/batch` (`signalpost::wire::dto`, `wire::json`,
//! `http::batch`): on any body, never panics, and either yields a lead (or batch item) that the
//! gateway's own checks accept, with identifiers only as SHA-256 hex, or a 4xx problem whose every
//! error names a field (a batch item's under `items[i]`). Only a body that is not JSON at all may
//! name none.
//!
//! Input: the first byte picks the identifier policy (default region, strict or lenient), the rest is
//! the request body, read both as a lead and as a batch envelope.

use serde_json::Value;
use signalpost::http::batch::{MAX_BATCH_ITEMS, parse};
use signalpost::wire::IdentifierPolicy;
use signalpost::wire::dto::LeadRequest;
use signalpost::wire::json::from_slice;
use signalpost::wire::problem::ApiError;
use signalpost_gateway::BatchItem;
use signalpost_gateway::gateway::{event_from, lead_from};
use signalpost_tiktok::identity::Region;

/// The clock of every check (2025-06-15T15:06:40Z), so a seed means the same thing on any day.
pub const NOW: i64 = 1_750_000_000;

/// The fields of a lead body: an error about a lead names one of these (or a path under `fields`).
const LEAD_FIELDS: &[&str] = &[
    "transaction_id",
    "email",
    "phone",
    "external_id",
    "ip",
    "user_agent",
    "landing_url",
    "referrer",
    "ttclid",
    "ttp",
    "source",
    "occurred_at",
    "fields",
];

/// Runs the lead and batch checks on one input.
pub fn check(data: &[u8]) {
    let (policy_byte, body) = match data.split_first() {
        Some((first, rest)) => (*first, rest),
        None => (0, data),
    };
    let region = ["US", "FR", "GB", "IN"][usize::from((policy_byte >> 1) & 3)];
    let policy = IdentifierPolicy {
        default_region: Region::parse(region).expect("a known region"),
        strict: policy_byte & 1 == 1,
        // Bit 3: pixels with their own regions, so the multi-region phone reading is fuzzed too.
        pixel_regions: if policy_byte & 8 == 8 {
            ["FR", "IT", "US"]
                .iter()
                .map(|r| Region::parse(r).expect("a known region"))
                .collect()
        } else {
            Vec::new()
        },
    };
    check_lead(body, &policy);
    check_batch(body, &policy);
}

fn check_lead(body: &[u8], policy: &IdentifierPolicy) {
    let request = match from_slice::<LeadRequest>(body, "") {
        Ok(request) => request,
        Err(e) => return assert_body_problem(&e, ""),
    };
    assert_object(body);
    match request.validate(policy, NOW) {
        Ok(lead) => assert_gateway_accepts_lead(lead, policy),
        Err(e) => assert_field_problem(&e, ""),
    }
}

fn check_batch(body: &[u8], policy: &IdentifierPolicy) {
    let items = match parse::items(body, policy, NOW) {
        Ok(items) => items,
        Err(e) => return assert_body_problem(&e, ""),
    };
    assert!(
        (1..=MAX_BATCH_ITEMS).contains(&items.len()),
        "a batch of {} items was read",
        items.len()
    );
    // The batch skips over items without a recursion limit; serde_json's `Value` has one (128), so
    // a batch with a deeper item may be read here and yet not be a `Value`.
    let envelope: Option<Value> = serde_json::from_slice(body).ok();
    if let Some(envelope) = &envelope {
        assert!(
            envelope.is_object(),
            "a body that is not an object was accepted: {envelope}"
        );
    }
    for (i, item) in items.into_iter().enumerate() {
        let at = format!("items[{i}]");
        let lead_is_object = envelope
            .as_ref()
            .is_none_or(|e| e["items"][i].get("lead").is_some_and(Value::is_object));
        match item {
            Ok((prefix, BatchItem::Lead(lead))) => {
                assert_eq!(prefix, format!("{at}.lead"));
                assert!(
                    lead_is_object,
                    "{at}.lead was accepted without being an object"
                );
                assert_gateway_accepts_lead(lead, policy);
            }
            Ok((
                prefix,
                BatchItem::Event {
                    transaction_id,
                    event,
                },
            )) => {
                assert_eq!(prefix, format!("{at}.event"));
                if let Err(e) = event_from(&transaction_id, event, NOW) {
                    panic!("the edge accepted {at}, the gateway refused it: {e}");
                }
            }
            Err(e) => assert_field_problem(&e, &at),
        }
    }
}

/// A lead the edge accepted: hashed identifiers only, no warnings when strict, and the gateway takes
/// it as it is.
fn assert_gateway_accepts_lead(lead: signalpost_gateway::NewLead, policy: &IdentifierPolicy) {
    for (name, value) in [
        ("email", &lead.email),
        ("phone", &lead.phone),
        ("external_id", &lead.external_id),
    ] {
        if let Some(v) = value {
            assert!(
                v.len() == 64 && v.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
                "{name} left the edge unhashed: {v:?}"
            );
        }
    }
    if policy.strict {
        assert!(
            lead.warnings.is_empty(),
            "strict mode warned instead of refusing: {:?}",
            lead.warnings
        );
    }
    for w in &lead.warnings {
        assert!(
            LEAD_FIELDS.contains(&w.field.as_str()),
            "warning names no lead field: {w:?}"
        );
    }
    for (name, value) in [("ttclid", &lead.ttclid), ("source", &lead.source)] {
        if let Some(v) = value {
            assert!(!v.is_empty() && v == v.trim(), "{name} kept as {v:?}");
        }
    }
    if let Some(at) = lead.occurred_at {
        assert!(at <= NOW + 300, "occurred_at {at} is in the future");
    }
    if let Err(e) = lead_from(lead, NOW) {
        panic!("the edge accepted a lead the gateway refuses: {e}");
    }
}

/// Only a JSON object is ever read as a request (never an array, by position).
fn assert_object(body: &[u8]) {
    let value: Value = serde_json::from_slice(body).expect("an accepted body is JSON");
    assert!(
        value.is_object(),
        "a body that is not an object was accepted: {value}"
    );
}

/// A body that could not be read as the request type: malformed JSON or JSON that is not an object
/// (400, a field only when the syntax error is inside one), or a field-named 422.
fn assert_body_problem(e: &ApiError, under: &str) {
    match e {
        ApiError::MalformedJson { .. } => assert_eq!(e.status().as_u16(), 400),
        ApiError::BadRequest { field, .. } => {
            assert_eq!(e.status().as_u16(), 400);
            assert_eq!(field, &None, "a body-level problem names a field");
        }
        _ => assert_field_problem(e, under),
    }
}

/// A 422 whose every error names a field, under `under` when given.
fn assert_field_problem(e: &ApiError, under: &str) {
    let ApiError::Invalid(errors) = e else {
        panic!("expected a field-named 422, got {e:?}");
    };
    assert_eq!(e.status().as_u16(), 422);
    assert!(!errors.is_empty(), "a 422 without errors");
    for error in errors {
        assert!(
            !error.field.is_empty(),
            "an error names no field: {error:?}"
        );
        assert!(!error.detail.is_empty(), "an error says nothing: {error:?}");
        assert!(
            error.field.starts_with(under),
            "{:?} is not under {under:?}",
            error.field
        );
    }
    let problem = serde_json::to_value(e.problem()).expect("a problem serializes");
    assert_eq!(problem["status"], Value::from(422));
    assert!(
        problem["field"].is_string(),
        "the problem names no field: {problem}"
    );
}
