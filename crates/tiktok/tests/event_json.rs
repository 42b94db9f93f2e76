//! `Event::to_json_vec` (hand-written writer) must write exactly what `serde_json::to_vec` writes,
//! for any event: every field, strings with quotes, backslashes, control and non-ASCII
//! characters, any float (NaN and infinities become `null`), free-form extra properties.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serde_json::{Map, Value};
use signalpost_tiktok::model::{Ad, Content, Event, Lead, Page, Properties, User};

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            3 => prop::char::range(' ', '~'),
            1 => prop::char::range('\0', '\u{7f}'),
            1 => any::<char>(),
            1 => prop::sample::select(vec!['"', '\\', '\n', '\u{1f}']),
        ],
        0..80,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    prop::option::of(text())
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        (0i64..100_000).prop_map(|cents| cents as f64 / 100.0),
        Just(0.0),
        Just(-0.0),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(1e21),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        float().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn extra() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(text(), value(), 0..3).prop_map(|m| m.into_iter().collect())
}

fn user() -> impl Strategy<Value = User> {
    (
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
    )
        .prop_map(
            |(email, phone, external_id, ttclid, ttp, ip, user_agent, locale)| User {
                email,
                phone,
                external_id,
                ttclid,
                ttp,
                ip,
                user_agent,
                locale,
            },
        )
}

fn content() -> impl Strategy<Value = Content> {
    (
        opt_text(),
        prop::option::of(float()),
        prop::option::of(any::<i64>()),
        opt_text(),
        opt_text(),
        opt_text(),
    )
        .prop_map(
            |(content_id, price, quantity, content_category, content_name, brand)| Content {
                content_id,
                price,
                quantity,
                content_category,
                content_name,
                brand,
            },
        )
}

fn properties() -> impl Strategy<Value = Properties> {
    (
        (
            prop::option::of(float()),
            opt_text(),
            opt_text(),
            prop::option::of(prop::collection::vec(content(), 0..3)),
            prop::option::of(prop::collection::vec(text(), 0..3)),
            prop::option::of(any::<i64>()),
        ),
        (opt_text(), opt_text(), opt_text(), opt_text(), extra()),
    )
        .prop_map(
            |(
                (value, currency, content_type, contents, content_ids, num_items),
                (description, order_id, shop_id, search_string, extra),
            )| Properties {
                value,
                currency,
                content_type,
                contents,
                content_ids,
                num_items,
                description,
                order_id,
                shop_id,
                search_string,
                extra,
            },
        )
}

fn event() -> impl Strategy<Value = Event> {
    (
        (text(), any::<i64>(), opt_text()),
        prop::option::of(user()),
        prop::option::of(properties()),
        prop::option::of((text(), opt_text()).prop_map(|(url, referrer)| Page { url, referrer })),
        prop::option::of(any::<bool>()),
        prop::option::of(
            (opt_text(), extra()).prop_map(|(callback, extra)| Ad { callback, extra }),
        ),
        prop::option::of(
            (text(), opt_text()).prop_map(|(lead_id, lead_event_source)| Lead {
                lead_id,
                lead_event_source,
            }),
        ),
    )
        .prop_map(
            |(
                (event, event_time, event_id),
                user,
                properties,
                page,
                limited_data_use,
                ad,
                lead,
            )| {
                Event {
                    event,
                    event_time,
                    event_id,
                    user,
                    properties,
                    page,
                    limited_data_use,
                    ad,
                    lead,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn writes_exactly_what_serde_json_writes(event in event()) {
        let expected = serde_json::to_vec(&event).unwrap();
        let actual = event.to_json_vec().unwrap();
        prop_assert_eq!(String::from_utf8_lossy(&actual), String::from_utf8_lossy(&expected));
    }
}
