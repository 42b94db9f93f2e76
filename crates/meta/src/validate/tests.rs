//! A table of valid and invalid bodies, one row per rule.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use super::*;
use crate::error::subcode;

const NOW: i64 = 1_750_000_000;
const HASH: &str = "848a771458438fc2ec420560d769fb9b9b86851ee338ec56517baabd79d3bb4f";
const FBC: &str = "fb.1.1554763741205.AbCdEfGhIjKlMnOpQrStUvWxYz1234567890";

fn web_event() -> Value {
    json!({
        "event_name": "Purchase", "event_time": NOW - 60, "event_id": "order-1",
        "action_source": "website", "event_source_url": "https://shop.example/thanks",
        "user_data": {"em": [HASH], "ph": HASH, "client_ip_address": "203.0.113.7",
                      "client_user_agent": "Mozilla/5.0", "fbc": FBC, "fbp": "fb.1.1558571054389.1098115397",
                      "external_id": "crm-42"},
        "custom_data": {"value": 0, "currency": "usd", "content_type": "product",
                        "contents": [{"id": "p1", "quantity": 1, "item_price": 9.5}]}
    })
}

fn lead_event() -> Value {
    json!({
        "event_name": "Qualified", "event_time": NOW - 60, "action_source": "system_generated",
        "user_data": {"lead_id": 525645896321548u64},
        "custom_data": {"event_source": "crm", "lead_event_source": "signalpost"}
    })
}

fn body(events: Vec<Value>) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("data".into(), Value::Array(events));
    map
}

fn check(event: Value) -> Result<Accepted, MetaError> {
    validate_request(&body(vec![event]), &Rules::at(NOW))
}

/// Sets `pointer` (a JSON pointer) in a copy of `event`; `Value::Null` as value removes the key.
fn with(mut event: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = event.pointer_mut(parent).unwrap().as_object_mut().unwrap();
    if value.is_null() {
        target.remove(key);
    } else {
        target.insert(key.to_owned(), value);
    }
    event
}

#[test]
fn accepts_valid_events() {
    for event in [
        web_event(),
        lead_event(),
        with(
            lead_event(),
            "/user_data/lead_id",
            json!("52564589632154812"),
        ),
        with(
            with(lead_event(), "/user_data/lead_id", Value::Null),
            "/user_data/em",
            json!(HASH),
        ),
        json!({"event_name": "Lead", "event_time": NOW, "action_source": "phone_call",
               "user_data": {"ph": [HASH, HASH]}}),
        with(web_event(), "/event_time", json!(NOW + 300)),
        with(web_event(), "/event_time", json!(NOW - 7 * 86_400)),
        with(web_event(), "/data_processing_options", json!(["LDU"])),
        with(web_event(), "/data_processing_options", json!([])),
    ] {
        let accepted = check(event.clone()).unwrap_or_else(|e| panic!("{event}: {e}"));
        assert_eq!(accepted.events[0].payload, event);
    }
}

/// Every rule: (event, path or text the user message must name, subcode).
#[test]
fn refuses_each_broken_rule_in_metas_shape() {
    let cases: Vec<(Value, &str, Option<i64>)> = vec![
        (
            with(web_event(), "/event_name", Value::Null),
            "data[0][event_name] is required",
            None,
        ),
        (
            with(web_event(), "/event_name", json!("")),
            "data[0][event_name]",
            None,
        ),
        (
            with(web_event(), "/event_time", Value::Null),
            "data[0][event_time] is required",
            None,
        ),
        (
            with(web_event(), "/event_time", json!("1750000000")),
            "data[0][event_time]",
            None,
        ),
        (
            with(web_event(), "/event_time", json!(1.5)),
            "data[0][event_time]",
            None,
        ),
        (
            with(web_event(), "/event_time", json!(NOW - 7 * 86_400 - 1)),
            "too far in the past",
            Some(subcode::EVENT_TOO_OLD),
        ),
        (
            with(web_event(), "/event_time", json!(NOW + 301)),
            "in the future",
            None,
        ),
        (
            with(web_event(), "/event_time", json!(NOW * 1000)),
            "milliseconds",
            None,
        ),
        (
            with(web_event(), "/action_source", Value::Null),
            "data[0][action_source] is required",
            None,
        ),
        (
            with(web_event(), "/action_source", json!("Website")),
            "data[0][action_source]",
            None,
        ),
        (
            with(web_event(), "/action_source", json!("web")),
            "must be one of",
            None,
        ),
        (
            with(web_event(), "/event_source_url", Value::Null),
            "data[0][event_source_url] is required",
            None,
        ),
        (
            with(web_event(), "/event_source_url", json!("shop.example/x")),
            "data[0][event_source_url]",
            None,
        ),
        (
            with(web_event(), "/user_data/client_user_agent", Value::Null),
            "client_user_agent] is required",
            None,
        ),
        (
            with(web_event(), "/user_data", Value::Null),
            "data[0][user_data] is required",
            None,
        ),
        (
            with(web_event(), "/user_data", json!([])),
            "data[0][user_data]",
            None,
        ),
        (
            json!({"event_name": "Lead", "event_time": NOW, "action_source": "chat", "user_data": {}}),
            "at least one customer information parameter",
            None,
        ),
        (
            with(web_event(), "/user_data/em", json!("alice@example.com")),
            "[user_data][em] must be hashed",
            None,
        ),
        (
            with(web_event(), "/user_data/em", json!([HASH.to_uppercase()])),
            "[user_data][em] must be hashed",
            None,
        ),
        (
            with(web_event(), "/user_data/ph", json!("+12133734253")),
            "[user_data][ph] must be hashed",
            None,
        ),
        (
            with(web_event(), "/user_data/em", json!([])),
            "[user_data][em]",
            None,
        ),
        (
            with(web_event(), "/user_data/em", json!(7)),
            "[user_data][em]",
            None,
        ),
        (
            with(
                web_event(),
                "/user_data/client_ip_address",
                json!("not-an-ip"),
            ),
            "[client_ip_address]",
            None,
        ),
        (
            with(web_event(), "/user_data/client_user_agent", json!(HASH)),
            "[client_user_agent] must be sent unhashed",
            None,
        ),
        (
            with(web_event(), "/user_data/fbc", json!("AbCdEf")),
            "[user_data][fbc]",
            Some(subcode::INVALID_FBC),
        ),
        (
            with(
                web_event(),
                "/user_data/fbc",
                json!("fb.1.155476374120.AbC"),
            ),
            "[user_data][fbc]",
            Some(subcode::INVALID_FBC),
        ),
        (
            with(web_event(), "/user_data/fbc", json!("fb.1.1554763741205.")),
            "[user_data][fbc]",
            Some(subcode::INVALID_FBC),
        ),
        (
            with(
                web_event(),
                "/user_data/fbp",
                json!("fb.1.1558571054389.abc"),
            ),
            "[user_data][fbp]",
            None,
        ),
        (
            with(lead_event(), "/user_data/lead_id", json!(12345)),
            "[user_data][lead_id]",
            None,
        ),
        (
            with(lead_event(), "/user_data/lead_id", json!("52564589632154a")),
            "[user_data][lead_id]",
            None,
        ),
        (
            with(lead_event(), "/action_source", json!("website")),
            "client_user_agent",
            None,
        ),
        (
            with(lead_event(), "/action_source", json!("other")),
            "must be system_generated",
            None,
        ),
        (
            with(lead_event(), "/custom_data/lead_event_source", Value::Null),
            "[lead_event_source] is required",
            None,
        ),
        (
            with(web_event(), "/custom_data/value", json!("12.5")),
            "[custom_data][value] must be a number",
            None,
        ),
        (
            with(web_event(), "/custom_data/currency", json!("dollars")),
            "[custom_data][currency]",
            None,
        ),
        (
            with(web_event(), "/custom_data/content_type", json!("products")),
            "[custom_data][content_type]",
            None,
        ),
        (
            with(
                web_event(),
                "/custom_data/contents",
                json!([{"quantity": 1}]),
            ),
            "[contents][0][id] is required",
            None,
        ),
        (
            with(
                web_event(),
                "/custom_data/contents",
                json!([{"id": "a", "quantity": 1.5}]),
            ),
            "[contents][0][quantity]",
            None,
        ),
        (
            with(web_event(), "/custom_data", json!("x")),
            "data[0][custom_data]",
            None,
        ),
        (
            with(web_event(), "/data_processing_options", json!(["XYZ"])),
            "[data_processing_options]",
            None,
        ),
        (
            with(web_event(), "/opt_out", json!("yes")),
            "[opt_out]",
            None,
        ),
        (
            with(web_event(), "/event_id", json!(42)),
            "[event_id] must be a string",
            None,
        ),
        (json!("not an event"), "data[0]", None),
    ];
    for (event, needle, sub) in cases {
        let err = check(event.clone()).expect_err(&event.to_string());
        let answer = serde_json::to_value(err.to_answer("T")).unwrap();
        assert_eq!(err.http_status, 400, "{event}");
        assert_eq!(answer["error"]["code"], 100, "{event}");
        assert_eq!(answer["error"]["type"], "OAuthException", "{event}");
        assert_eq!(err.subcode, sub, "{event}: {err}");
        let said = format!(
            "{} {}",
            err.message,
            err.user_msg.clone().unwrap_or_default()
        );
        assert!(said.contains(needle), "{event}: {said:?} lacks {needle:?}");
        assert!(err.user_title.is_some(), "{event}");
    }
}

#[test]
fn data_holds_one_to_a_thousand_events_and_any_old_one_fails_all() {
    let rules = Rules::at(NOW);
    assert!(
        validate_request(&Map::new(), &rules)
            .unwrap_err()
            .message
            .contains("The parameter data is required")
    );
    let err = validate_request(&body(vec![]), &rules).unwrap_err();
    assert!(err.user_msg.unwrap().contains("between 1 and 1000"));
    assert!(validate_request(&body(vec![web_event(); 1001]), &rules).is_err());
    assert_eq!(
        validate_request(&body(vec![web_event(); 1000]), &rules)
            .unwrap()
            .events
            .len(),
        1000
    );
    let old = with(web_event(), "/event_time", json!(NOW - 8 * 86_400));
    let err = validate_request(&body(vec![web_event(), web_event(), old]), &rules).unwrap_err();
    assert_eq!(err.subcode, Some(subcode::EVENT_TOO_OLD));
    assert!(err.user_msg.unwrap().contains("data[2][event_time]"));
}

/// The Python SDK's form encoding: `data` a JSON string, its items JSON strings.
#[test]
fn accepts_data_and_events_as_json_strings() {
    let event = web_event();
    let items = Value::Array(vec![Value::String(event.to_string())]);
    let mut map = Map::new();
    map.insert("data".into(), Value::String(items.to_string()));
    map.insert("test_event_code".into(), json!("TEST12345"));
    let accepted = validate_request(&map, &Rules::at(NOW)).unwrap();
    assert_eq!(accepted.events[0].payload, event);
    assert_eq!(accepted.events[0].event_id.as_deref(), Some("order-1"));
    assert_eq!(accepted.test_event_code.as_deref(), Some("TEST12345"));
    map.insert("data".into(), json!("[not json"));
    assert!(validate_request(&map, &Rules::at(NOW)).is_err());
    map.insert("data".into(), json!(["{broken"]));
    assert!(
        validate_request(&map, &Rules::at(NOW))
            .unwrap_err()
            .user_msg
            .unwrap()
            .contains("data[0]")
    );
}

#[test]
fn test_event_codes_are_short_and_alphanumeric() {
    for (code, ok) in [
        (json!("TEST12345"), true),
        (Value::Null, true),
        (json!(""), false),
        (json!("TEST 1"), false),
        (json!(12345), false),
        (json!("T".repeat(65)), false),
    ] {
        let mut map = body(vec![web_event()]);
        map.insert("test_event_code".into(), code.clone());
        assert_eq!(
            validate_request(&map, &Rules::at(NOW)).is_ok(),
            ok,
            "{code}"
        );
    }
}

#[test]
fn never_panics_on_hostile_shapes() {
    for event in [
        json!(null),
        json!([]),
        json!({"event_time": u64::MAX, "event_name": "x", "action_source": "app", "user_data": {"em": HASH}}),
        json!({"event_time": i64::MIN, "event_name": "x", "action_source": "app", "user_data": {"em": HASH}}),
    ] {
        assert!(check(event).is_err());
    }
}

/// Any JSON at all, nested a few levels.
fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,20}".prop_map(Value::from),
        Just(Value::from(HASH)),
        Just(Value::from("website")),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("event_name".to_owned()),
                    Just("event_time".to_owned()),
                    Just("action_source".to_owned()),
                    Just("user_data".to_owned()),
                    Just("custom_data".to_owned()),
                    Just("em".to_owned()),
                    Just("fbc".to_owned()),
                    Just("lead_id".to_owned()),
                    Just("contents".to_owned()),
                    "[a-z_]{1,8}",
                ],
                inner,
                0..6,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest::proptest! {
    /// Hostile bodies never panic; every refusal is Meta's code 100 over HTTP 400.
    #[test]
    fn never_panics_and_always_answers_in_metas_shape(data in any_json(), code in any_json()) {
        let mut map = Map::new();
        map.insert("data".into(), data);
        map.insert("test_event_code".into(), code);
        if let Err(err) = validate_request(&map, &Rules::at(NOW)) {
            proptest::prop_assert_eq!(err.code, 100);
            proptest::prop_assert_eq!(err.http_status, 400);
        }
    }
}
