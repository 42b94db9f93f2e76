//! A table of valid and invalid bodies, one row per rule.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::datetime::format_conversion_date_time;
use crate::model::{
    ClickConversion, Consent, ConsentStatus, UploadClickConversionsRequest, UserIdentifier,
    conversion_action_resource,
};

const CUSTOMER: &str = "1234567890";
const HASH: &str = "848a771458438fc2ec420560d769fb9b9b86851ee338ec56517baabd79d3bb4f";

fn conversion() -> Value {
    json!({
        "gclid": "Cj0KCQjw-abc_123",
        "conversionAction": "customers/1234567890/conversionActions/987654321",
        "conversionDateTime": "2019-01-01 12:32:45-08:00",
        "conversionValue": 25.5,
        "currencyCode": "USD",
        "orderId": "order-1",
        "userIdentifiers": [{"hashedEmail": HASH}, {"hashedPhoneNumber": HASH, "userIdentifierSource": "FIRST_PARTY"}],
        "consent": {"adUserData": "GRANTED", "adPersonalization": "DENIED"}
    })
}

fn body(conversions: Vec<Value>) -> Value {
    json!({"conversions": conversions, "partialFailure": true})
}

/// Sets `pointer` in a copy of `value`; `Value::Null` as value removes the key.
fn with(mut value: Value, pointer: &str, new: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = value.pointer_mut(parent).unwrap().as_object_mut().unwrap();
    if new.is_null() {
        target.remove(key);
    } else {
        target.insert(key.to_owned(), new);
    }
    value
}

fn row_error(c: Value) -> ValidationError {
    let checked = validate_request(CUSTOMER, &body(vec![conversion(), c])).unwrap();
    assert!(checked.rows[0].is_ok(), "{:?}", checked.rows[0]);
    checked.rows[1].clone().unwrap_err()
}

#[test]
fn accepts_valid_conversions() {
    for c in [
        conversion(),
        with(conversion(), "/gclid", Value::Null),
        with(
            with(conversion(), "/userIdentifiers", Value::Null),
            "/consent",
            Value::Null,
        ),
        json!({"wbraid": "WBr41d", "conversionAction": "customers/1234567890/conversionActions/1",
               "conversionDateTime": "2024-02-29 23:59:59+14:00"}),
        with(conversion(), "/conversionValue", json!(0)),
        with(conversion(), "/conversionValue", json!("12.5")),
        with(conversion(), "/orderId", json!("x".repeat(64))),
        // proto names and nulls are what proto-JSON accepts
        json!({"gclid": "g", "conversion_action": "customers/1234567890/conversionActions/1",
               "conversion_date_time": "2019-01-01 12:32:45+00:00", "order_id": null, "cart_data": {"items": []}}),
    ] {
        let checked = validate_request(CUSTOMER, &body(vec![c.clone()])).unwrap();
        let summary = checked.rows[0]
            .clone()
            .unwrap_or_else(|e| panic!("{c}: {e}"));
        assert!(summary.conversion_action.ends_with(&summary.action_id));
    }
    let summary = validate_conversion(CUSTOMER, &conversion(), 0).unwrap();
    assert_eq!(summary.action_id, "987654321");
    assert_eq!(summary.event_time, 1_546_374_765);
    assert_eq!(summary.order_id.as_deref(), Some("order-1"));
    assert_eq!(summary.user_identifiers, 2);
}

/// Every row rule: (conversion, path named, error code).
#[test]
fn refuses_each_broken_row_rule_naming_the_field() {
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            with(conversion(), "/conversionAction", Value::Null),
            "conversions[1].conversionAction",
            "fieldError: REQUIRED",
        ),
        (
            with(
                conversion(),
                "/conversionAction",
                json!("conversionActions/1"),
            ),
            "conversions[1].conversionAction",
            "requestError: RESOURCE_NAME_MALFORMED",
        ),
        (
            with(
                conversion(),
                "/conversionAction",
                json!("customers/123-456-7890/conversionActions/1"),
            ),
            "conversions[1].conversionAction",
            "RESOURCE_NAME_MALFORMED",
        ),
        (
            with(
                conversion(),
                "/conversionAction",
                json!("customers/1234567890/conversionActions/x"),
            ),
            "conversions[1].conversionAction",
            "RESOURCE_NAME_MALFORMED",
        ),
        (
            with(
                conversion(),
                "/conversionAction",
                json!("customers/9999999999/conversionActions/1"),
            ),
            "conversions[1].conversionAction",
            "fieldError: INVALID_VALUE",
        ),
        (
            with(conversion(), "/conversionDateTime", Value::Null),
            "conversions[1].conversionDateTime",
            "fieldError: REQUIRED",
        ),
        (
            with(
                conversion(),
                "/conversionDateTime",
                json!("2019-01-01 12:32:45"),
            ),
            "conversions[1].conversionDateTime",
            "dateError: INVALID_STRING_DATE_TIME_SECONDS_WITH_OFFSET",
        ),
        (
            with(
                conversion(),
                "/conversionDateTime",
                json!("2019-01-01T12:32:45-08:00"),
            ),
            "conversions[1].conversionDateTime",
            "INVALID_STRING_DATE_TIME_SECONDS_WITH_OFFSET",
        ),
        (
            with(
                conversion(),
                "/conversionDateTime",
                json!("2019-01-01 12:32:45Z"),
            ),
            "conversions[1].conversionDateTime",
            "INVALID_STRING_DATE_TIME_SECONDS_WITH_OFFSET",
        ),
        (
            with(
                conversion(),
                "/conversionDateTime",
                json!("2019-02-30 12:32:45+00:00"),
            ),
            "conversions[1].conversionDateTime",
            "dateError: INVALID_FIELD_VALUES_IN_DATE_TIME",
        ),
        (
            with(conversion(), "/gclid", json!("")),
            "conversions[1].gclid",
            "conversionUploadError: UNPARSEABLE_GCLID",
        ),
        (
            with(conversion(), "/gclid", json!("has space")),
            "conversions[1].gclid",
            "UNPARSEABLE_GCLID",
        ),
        (
            with(
                with(conversion(), "/gclid", Value::Null),
                "/userIdentifiers",
                Value::Null,
            ),
            "conversions[1].gclid",
            "fieldError: REQUIRED",
        ),
        (
            with(conversion(), "/gbraid", json!("b")),
            "conversions[1].gbraid",
            "fieldError: VALUE_MUST_BE_UNSET",
        ),
        (
            with(
                with(conversion(), "/gclid", Value::Null),
                "/wbraid",
                json!("w"),
            ),
            "conversions[1].wbraid",
            "VALUE_MUST_BE_UNSET",
        ),
        (
            json!({"gbraid": "b", "wbraid": "w", "conversionAction": "customers/1234567890/conversionActions/1",
                "conversionDateTime": "2019-01-01 12:32:45+00:00"}),
            "conversions[1].wbraid",
            "conversionUploadError: GBRAID_WBRAID_BOTH_SET",
        ),
        (
            with(
                conversion(),
                "/userIdentifiers",
                json!(vec![json!({"hashedEmail": HASH}); 6]),
            ),
            "conversions[1].userIdentifiers",
            "collectionSizeError: TOO_MANY",
        ),
        (
            with(
                conversion(),
                "/userIdentifiers",
                json!([{"hashedEmail": HASH.to_uppercase()}]),
            ),
            "conversions[1].userIdentifiers[0].hashedEmail",
            "conversionUploadError: INVALID_USER_IDENTIFIER",
        ),
        (
            with(
                conversion(),
                "/userIdentifiers",
                json!([{"hashedEmail": HASH}, {"hashedPhoneNumber": "+12133734253"}]),
            ),
            "conversions[1].userIdentifiers[1].hashedPhoneNumber",
            "INVALID_USER_IDENTIFIER",
        ),
        (
            with(
                conversion(),
                "/userIdentifiers",
                json!([{"userIdentifierSource": "FIRST_PARTY"}]),
            ),
            "conversions[1].userIdentifiers[0]",
            "INVALID_USER_IDENTIFIER",
        ),
        (
            with(conversion(), "/userIdentifiers", json!([{"mobileId": "m"}])),
            "conversions[1].userIdentifiers[0]",
            "conversionUploadError: UNSUPPORTED_USER_IDENTIFIER",
        ),
        (
            with(conversion(), "/currencyCode", json!("usd")),
            "conversions[1].currencyCode",
            "currencyCodeError: UNSUPPORTED",
        ),
        (
            with(conversion(), "/currencyCode", json!("US")),
            "conversions[1].currencyCode",
            "UNSUPPORTED",
        ),
        (
            with(conversion(), "/conversionValue", json!(-1)),
            "conversions[1].conversionValue",
            "rangeError: TOO_LOW",
        ),
        (
            with(conversion(), "/conversionValue", json!("NaN")),
            "conversions[1].conversionValue",
            "fieldError: INVALID_VALUE",
        ),
        (
            with(conversion(), "/conversionValue", json!("Infinity")),
            "conversions[1].conversionValue",
            "INVALID_VALUE",
        ),
        (
            with(conversion(), "/orderId", json!("x".repeat(65))),
            "conversions[1].orderId",
            "stringLengthError: TOO_LONG",
        ),
        (
            with(conversion(), "/orderId", json!("")),
            "conversions[1].orderId",
            "stringLengthError: EMPTY",
        ),
        (
            with(
                conversion(),
                "/consent",
                json!({"adUserData": "UNSPECIFIED"}),
            ),
            "conversions[1].consent.adUserData",
            "fieldError: INVALID_VALUE",
        ),
    ];
    for (c, path, code) in cases {
        let err = row_error(c.clone());
        assert_eq!(err.scope, Scope::Row(1), "{c}");
        assert_eq!(err.path.to_string(), path, "{c}: {err}");
        let shown = err.to_string();
        assert!(shown.starts_with(path), "{shown}");
        assert!(shown.contains(code), "{c}: {shown}");
        let google = err.to_google_error();
        assert_eq!(
            google.location.unwrap().field_path_elements[0].index,
            Some(1)
        );
    }
}

/// What Google's proto-JSON parser refuses fails the whole request, wherever it is.
#[test]
fn refuses_unknown_fields_and_wrong_types_for_the_whole_request() {
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"conversions": [conversion()], "partialFailure": true, "extra": 1}),
            "extra",
            "Unknown name \"extra\": Cannot find field.",
        ),
        (
            body(vec![conversion(), with(conversion(), "/foo", json!(1))]),
            "conversions[1].foo",
            "Unknown name \"foo\" at 'conversions[1]'",
        ),
        (
            body(vec![with(
                conversion(),
                "/userIdentifiers",
                json!([{"hashedEmail": HASH, "x": 1}]),
            )]),
            "conversions[0].userIdentifiers[0].x",
            "at 'conversions[0].user_identifiers[0]'",
        ),
        (
            body(vec![with(conversion(), "/conversionValue", json!("abc"))]),
            "conversions[0].conversionValue",
            "Invalid value at 'conversions[0].conversion_value' (TYPE_DOUBLE), \"abc\"",
        ),
        (
            body(vec![with(conversion(), "/conversionValue", json!({}))]),
            "conversions[0].conversionValue",
            "TYPE_DOUBLE",
        ),
        (
            body(vec![with(conversion(), "/gclid", json!(5))]),
            "conversions[0].gclid",
            "TYPE_STRING",
        ),
        (
            body(vec![with(conversion(), "/orderId", json!(123))]),
            "conversions[0].orderId",
            "TYPE_STRING",
        ),
        (
            body(vec![with(
                conversion(),
                "/consent",
                json!({"adUserData": "YES"}),
            )]),
            "conversions[0].consent.adUserData",
            "ConsentStatus",
        ),
        (
            body(vec![with(
                conversion(),
                "/consent",
                json!({"adUserData": 2}),
            )]),
            "conversions[0].consent.adUserData",
            "ConsentStatus",
        ),
        (
            body(vec![with(
                conversion(),
                "/userIdentifiers",
                json!([{"hashedEmail": HASH, "hashedPhoneNumber": HASH}]),
            )]),
            "conversions[0].userIdentifiers[0].hashedPhoneNumber",
            "Multiple oneof fields",
        ),
        (
            body(vec![with(conversion(), "/userIdentifiers", json!([null]))]),
            "conversions[0].userIdentifiers[0]",
            "Invalid value",
        ),
        (
            body(vec![json!("not an object")]),
            "conversions[0]",
            "TYPE_MESSAGE",
        ),
        (
            json!({"conversions": {}, "partialFailure": true}),
            "conversions",
            "repeated",
        ),
        (
            json!({"conversions": [conversion()], "partialFailure": "true"}),
            "partialFailure",
            "TYPE_BOOL",
        ),
        (json!([conversion()]), "", "TYPE_MESSAGE"),
    ];
    for (b, path, words) in cases {
        let err = validate_request(CUSTOMER, &b).unwrap_err();
        assert_eq!(err.scope, Scope::Request, "{b}");
        assert_eq!(err.code, None, "{b}: {err}");
        assert_eq!(err.path.to_string(), path, "{b}: {err}");
        assert!(err.message.contains(words), "{b}: {}", err.message);
        let failure = err.to_request_failure();
        assert_eq!(
            (failure.http_status, failure.status),
            (400, "INVALID_ARGUMENT")
        );
    }
    // The gateway's single-conversion check reads the same shape rules.
    let err = validate_conversion(CUSTOMER, &with(conversion(), "/foo", json!(1)), 0).unwrap_err();
    assert_eq!(err.path.to_string(), "conversions[0].foo");
}

#[test]
fn refuses_request_wide_rules_with_googles_codes() {
    let many = vec![conversion(); 2001];
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            CUSTOMER,
            json!({"conversions": [conversion()]}),
            "partialFailureError: PARTIAL_FAILURE_MODE_REQUIRED",
        ),
        (
            CUSTOMER,
            json!({"conversions": [conversion()], "partialFailure": false}),
            "PARTIAL_FAILURE_MODE_REQUIRED",
        ),
        (
            CUSTOMER,
            json!({"conversions": [], "partialFailure": true}),
            "fieldError: REQUIRED_NONEMPTY_LIST",
        ),
        (
            CUSTOMER,
            json!({"partialFailure": true}),
            "REQUIRED_NONEMPTY_LIST",
        ),
        (
            CUSTOMER,
            body(many),
            "conversionUploadError: TOO_MANY_CONVERSIONS_IN_REQUEST",
        ),
        (
            CUSTOMER,
            json!({"conversions": [conversion()], "partialFailure": true, "jobId": -1}),
            "conversionUploadError: INVALID_JOB_ID",
        ),
        (
            CUSTOMER,
            json!({"conversions": [conversion()], "partialFailure": true, "jobId": "2147483648"}),
            "INVALID_JOB_ID",
        ),
        (
            CUSTOMER,
            json!({"conversions": [conversion()], "partialFailure": true, "customerId": "1111111111"}),
            "fieldError: INVALID_VALUE",
        ),
        (
            "123-456-7890",
            body(vec![conversion()]),
            "requestError: INVALID_CUSTOMER_ID",
        ),
        ("123456789", body(vec![conversion()]), "INVALID_CUSTOMER_ID"),
    ];
    for (customer, b, code) in cases {
        let err = validate_request(customer, &b).unwrap_err();
        assert_eq!(err.scope, Scope::Request);
        assert!(err.to_string().contains(code), "{err}");
        let failure = err.to_request_failure();
        assert_eq!(failure.errors.len(), 1, "{err}");
    }
    let ok = json!({"conversions": vec![conversion(); 2000], "partial_failure": true, "validateOnly": true,
                    "jobId": 7, "debugEnabled": false, "customerId": CUSTOMER});
    let checked = validate_request(CUSTOMER, &ok).unwrap();
    assert!(checked.validate_only);
    assert_eq!(checked.rows.len(), 2000);
}

#[test]
fn a_payload_error_anywhere_beats_row_errors_elsewhere() {
    let bad_row = with(conversion(), "/conversionDateTime", json!("yesterday"));
    let bad_shape = with(conversion(), "/bogus", json!(true));
    let err =
        validate_request(CUSTOMER, &body(vec![bad_row, conversion(), bad_shape])).unwrap_err();
    assert_eq!(err.path.to_string(), "conversions[2].bogus");
}

#[test]
fn customer_ids_are_ten_digits() {
    for (id, ok) in [
        ("1234567890", true),
        ("123-456-7890", false),
        ("123456789", false),
        ("12345678901", false),
        ("123456789x", false),
        ("", false),
    ] {
        assert_eq!(is_customer_id(id), ok, "{id}");
    }
}

fn built_conversion() -> impl Strategy<Value = ClickConversion> {
    let hash = "[0-9a-f]{64}";
    (
        "[A-Za-z0-9_-]{1,120}",
        1u64..10_000_000_000,
        0i64..4_102_444_800,
        prop::sample::select(vec![
            "UTC",
            "America/Los_Angeles",
            "Asia/Kolkata",
            "Pacific/Chatham",
        ]),
        proptest::option::of(0.0f64..1e9),
        proptest::option::of("[A-Z]{3}"),
        proptest::option::of("[ -~]{1,64}"),
        proptest::collection::vec((any::<bool>(), hash), 0..=5),
        any::<bool>(),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(
            |(gclid, action, secs, zone, value, currency, order_id, ids, with_gclid, consent)| {
                let zone: chrono_tz::Tz = zone.parse().unwrap_or(chrono_tz::UTC);
                let user_identifiers: Vec<UserIdentifier> = ids
                    .into_iter()
                    .map(|(email, h)| {
                        if email {
                            UserIdentifier::HashedEmail(h)
                        } else {
                            UserIdentifier::HashedPhoneNumber(h)
                        }
                    })
                    .collect();
                ClickConversion {
                    // A conversion needs a click id or an identifier.
                    gclid: (with_gclid || user_identifiers.is_empty()).then_some(gclid),
                    conversion_action: conversion_action_resource(CUSTOMER, &action.to_string()),
                    conversion_date_time: format_conversion_date_time(secs, &zone)
                        .unwrap_or_default(),
                    conversion_value: value,
                    currency_code: currency,
                    order_id,
                    user_identifiers,
                    consent: consent.map(|granted| Consent {
                        ad_user_data: Some(if granted {
                            ConsentStatus::Granted
                        } else {
                            ConsentStatus::Denied
                        }),
                        ad_personalization: None,
                    }),
                    ..ClickConversion::default()
                }
            },
        )
}

proptest! {
    #[test]
    fn a_request_built_from_the_model_always_validates(conversions in proptest::collection::vec(built_conversion(), 1..20)) {
        let request = UploadClickConversionsRequest { conversions, partial_failure: true, validate_only: false };
        let json = serde_json::to_value(&request).unwrap();
        let checked = validate_request(CUSTOMER, &json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (row, c) in checked.rows.iter().zip(&request.conversions) {
            let summary = row.clone().map_err(|e| TestCaseError::fail(format!("{e}: {c:?}")))?;
            prop_assert_eq!(&summary.conversion_action, &c.conversion_action);
        }
    }

    #[test]
    fn never_panics_on_any_json(text in "\\PC{0,200}") {
        if let Ok(value) = serde_json::from_str::<Value>(&text) {
            let _ = validate_request(CUSTOMER, &value);
            let _ = validate_conversion(CUSTOMER, &value, 0);
        }
    }
}
