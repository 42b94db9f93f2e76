//! The TikTok event a rule builds: DESIGN.md's mapping, the rule's settings, and every transform,
//! checked as JSON with TikTok's types.

use serde_json::{Value, json};

use super::*;
use crate::rules::rule::{RuleConfig, RuleEnv, parse_timezone};
use crate::rules::testing::{event, lead};

const BASE: &str = "name = 'r'\ntrigger = 'lead_sold'\npixel = 'PIX'\nevent = 'Purchase'\n";

fn rule_in(extra: &str, tz: &str) -> Rule {
    let cfg: RuleConfig = toml::from_str(&format!("{BASE}{extra}")).unwrap();
    let env = RuleEnv {
        timezone: parse_timezone(tz).unwrap(),
    };
    Rule::from_config_in(cfg, &env).unwrap()
}

fn rule(extra: &str) -> Rule {
    rule_in(extra, "UTC")
}

fn json_of(lead: &Lead, ev: &LifecycleEvent, rule: &Rule) -> (Value, Vec<String>) {
    let mut notes = Vec::new();
    let c = build_conversion(lead, ev, rule, &mut notes).unwrap();
    (serde_json::from_str(&c.payload).unwrap(), notes)
}

fn sold(revenue: Option<f64>, currency: Option<&str>) -> LifecycleEvent {
    LifecycleEvent {
        revenue,
        currency: currency.map(Into::into),
        ..event()
    }
}

#[test]
fn maps_every_field_with_tiktok_types() {
    let mut l = lead();
    l.referrer = Some("https://www.tiktok.com/".into());
    let (got, notes) = json_of(&l, &sold(Some(49.5), None), &rule("value = 'revenue'"));
    assert!(notes.is_empty());
    assert_eq!(
        got,
        json!({
            "event": "Purchase",
            "event_time": 1_700_000_123,
            "event_id": "tx-1",
            "user": {
                "email": "e".repeat(64),
                "ttclid": "E.C.P.click",
                "ip": "203.0.113.9",
                "user_agent": "Mozilla/5.0"
            },
            "properties": {"value": 49.5, "currency": "USD"},
            "page": {"url": "https://lp.example.com/?ttclid=E.C.P.click", "referrer": "https://www.tiktok.com/"}
        })
    );
}

#[test]
fn a_zero_value_is_kept() {
    let (got, _) = json_of(&lead(), &sold(Some(0.0), None), &rule("value = 'revenue'"));
    assert_eq!(got["properties"]["value"], json!(0.0));
    let (constant, _) = json_of(&lead(), &sold(None, None), &rule("value = 0"));
    assert_eq!(constant["properties"]["value"], json!(0.0));
    let (payout, _) = json_of(&lead(), &event(), &rule("value = 'payout'"));
    assert_eq!(
        payout["properties"]["value"],
        json!(0.0),
        "payout 0 is a value"
    );
}

#[test]
fn content_type_only_when_the_rule_sets_it() {
    let (without, _) = json_of(&lead(), &sold(None, None), &rule(""));
    assert!(without.get("properties").is_none(), "{without}");
    let (with, _) = json_of(
        &lead(),
        &sold(None, None),
        &rule("content_type = 'product'"),
    );
    assert_eq!(with["properties"], json!({"content_type": "product"}));
}

#[test]
fn currency_comes_from_the_rule_then_the_event_then_usd() {
    let cases = [
        ("currency = 'GBP'", Some("EUR"), Some("GBP")),
        ("", Some("EUR"), Some("EUR")),
        ("", None, Some("USD")),
    ];
    for (line, event_cur, want) in cases {
        let (got, _) = json_of(
            &lead(),
            &sold(Some(1.0), event_cur),
            &rule(&format!("value = 'revenue'\n{line}")),
        );
        assert_eq!(got["properties"]["currency"].as_str(), want);
    }
    let (no_value, _) = json_of(&lead(), &sold(None, None), &rule("value = 'revenue'"));
    assert!(
        no_value.get("properties").is_none(),
        "no value, no default currency"
    );
}

#[test]
fn no_page_without_a_landing_url_and_no_user_without_signals() {
    let bare = Lead {
        email: None,
        ip: None,
        user_agent: None,
        ttclid: None,
        landing_url: None,
        ..lead()
    };
    let (got, _) = json_of(&bare, &sold(None, None), &rule(""));
    assert!(
        got.get("page").is_none() && got.get("user").is_none(),
        "{got}"
    );
}

#[test]
fn page_url_falls_back_to_the_referrer_then_the_pixels_site_url() {
    let mut site = rule("");
    site.site_url = Some("https://shop.example/".into());
    let no_landing = Lead {
        landing_url: None,
        ..lead()
    };
    let (got, _) = json_of(&no_landing, &sold(None, None), &site);
    assert_eq!(got["page"], json!({"url": "https://shop.example/"}));

    let with_referrer = Lead {
        referrer: Some("https://www.tiktok.com/".into()),
        ..no_landing.clone()
    };
    let (got, _) = json_of(&with_referrer, &sold(None, None), &site);
    assert_eq!(
        got["page"],
        json!({"url": "https://www.tiktok.com/", "referrer": "https://www.tiktok.com/"})
    );

    let (got, _) = json_of(&lead(), &sold(None, None), &site);
    assert_eq!(
        got["page"]["url"], "https://lp.example.com/?ttclid=E.C.P.click",
        "a landing URL wins"
    );
}

#[test]
fn a_numeric_transaction_id_stays_a_json_string() {
    let mut l = lead();
    l.transaction_id = "12345".into();
    let mut ev = sold(None, None);
    ev.transaction_id = "12345".into();
    let (got, _) = json_of(&l, &ev, &rule(""));
    assert_eq!(got["event_id"], json!("12345"));
}

#[test]
fn settings_fill_properties_page_and_top_level_fields_with_tiktok_types() {
    let r = rule(
        r#"
        value = "revenue"
        test_event_code = "TEST-{fields.vertical}"
        limited_data_use = true
        [properties]
        description = "{fields.vertical} lead for {buyer}"
        content_ids = ["{offer}", "{fields.sku}"]
        contents = [ { content_id = "{fields.sku}", price = "{revenue}", quantity = "{fields.score}", brand = "Acme" } ]
        order_id = { from = "fields.sku" }
        shop_id = 77
        num_items = 2
        customer_tier = "{fields.homeowner}"
        campaign = { source = "{source}", weight = 1.5 }
        [page]
        url = "https://lp.example.com/{fields.vertical}"
        "#,
    );
    let mut notes = Vec::new();
    let c = build_conversion(&lead(), &event(), &r, &mut notes).unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(c.test_event_code.as_deref(), Some("TEST-auto"));
    let got: Value = serde_json::from_str(&c.payload).unwrap();
    assert_eq!(
        got["properties"],
        json!({
            "value": 12.5,
            "currency": "USD",
            "description": "auto lead for acme",
            "content_ids": ["o-9", "12345"],
            "contents": [{"content_id": "12345", "price": 12.5, "quantity": 7, "brand": "Acme"}],
            "order_id": "12345",
            "shop_id": "77",
            "num_items": 2,
            "customer_tier": "yes",
            "campaign": {"source": "tiktok", "weight": 1.5}
        })
    );
    assert_eq!(got["page"]["url"], json!("https://lp.example.com/auto"));
    assert_eq!(got["limited_data_use"], json!(true));
    assert!(got["properties"]["contents"][0]["quantity"].is_i64());
    assert!(got["properties"]["order_id"].is_string());
}

/// (transform table, expected output or None when left out).
fn transform_cases() -> Vec<(&'static str, Option<Value>)> {
    vec![
        // number, with and without rounding; numeric strings read as numbers
        (
            "{ from = 'fields.price', as = 'number' }",
            Some(json!(19.999)),
        ),
        ("{ from = 'fields.price', round = 2 }", Some(json!(20.0))),
        (
            "{ from = 'fields.price', as = 'number', round = 0 }",
            Some(json!(20.0)),
        ),
        ("{ from = 'fields.age', as = 'number' }", Some(json!(34.0))),
        ("{ from = 'fields.vertical', as = 'number' }", None),
        // integer rounds half away from zero
        ("{ from = 'fields.price', as = 'integer' }", Some(json!(20))),
        ("{ from = 'revenue', as = 'integer' }", Some(json!(13))),
        // string keeps text, renders numbers without .0
        (
            "{ from = 'fields.sku', as = 'string' }",
            Some(json!("12345")),
        ),
        ("{ from = 'payout', as = 'string' }", Some(json!("0"))),
        (
            "{ template = '{state}-{zip}', as = 'string' }",
            Some(json!("CA-02134")),
        ),
        // lookup table: exact, then case-insensitive, then default, else left out
        (
            "{ from = 'fields.homeowner', map = { yes = 'Own', no = 'Rent' } }",
            Some(json!("Own")),
        ),
        (
            "{ from = 'fields.homeowner', map = { YES = 'Own' } }",
            Some(json!("Own")),
        ),
        (
            "{ from = 'fields.vertical', map = { home = 'H' }, default = 'Other' }",
            Some(json!("Other")),
        ),
        ("{ from = 'fields.vertical', map = { home = 'H' } }", None),
        (
            "{ from = 'fields.missing', default = 'n/a' }",
            Some(json!("n/a")),
        ),
        ("{ from = 'fields.missing' }", None),
        // dates to epoch seconds, local dates in the rule's zone (UTC here)
        (
            "{ from = 'fields.move_date', as = 'epoch_seconds' }",
            Some(json!(1_717_200_000)),
        ),
        (
            "{ template = '2024-06-01T12:00:00+02:00', as = 'epoch_seconds' }",
            Some(json!(1_717_236_000)),
        ),
        (
            "{ template = '06/01/2024', as = 'epoch_seconds' }",
            Some(json!(1_717_200_000)),
        ),
        (
            "{ from = 'occurred_at', as = 'epoch_seconds' }",
            Some(json!(1_700_000_123)),
        ),
        (
            "{ template = '1700000123456', as = 'epoch_seconds' }",
            Some(json!(1_700_000_123)),
        ),
        ("{ from = 'fields.vertical', as = 'epoch_seconds' }", None),
        // booleans
        (
            "{ from = 'fields.homeowner', as = 'bool' }",
            Some(json!(true)),
        ),
        ("{ from = 'fields.vertical', as = 'bool' }", None),
        // lists
        (
            "{ from = 'fields.tags', as = 'list' }",
            Some(json!(["warm", "mobile"])),
        ),
        ("{ from = 'offer', as = 'list' }", Some(json!(["o-9"]))),
        // kept as read
        ("{ from = 'fields.score' }", Some(json!(7))),
        ("{ from = 'fields.empty' }", Some(json!(""))),
    ]
}

#[test]
fn every_transform_produces_its_type_or_is_left_out_with_a_note() {
    for (spec, want) in transform_cases() {
        let r = rule(&format!("[properties]\nx = {spec}"));
        let (got, notes) = json_of(&lead(), &sold(Some(12.5), None), &r);
        let got_x = got.get("properties").and_then(|p| p.get("x")).cloned();
        assert_eq!(got_x, want, "{spec}");
        assert_eq!(notes.is_empty(), want.is_some(), "{spec}: {notes:?}");
        if want.is_none() {
            assert!(notes[0].starts_with("properties.x left out: "), "{notes:?}");
        }
    }
}

#[test]
fn local_dates_convert_in_the_rules_time_zone() {
    let r = rule_in(
        "[properties]\nmove = { from = 'fields.move_date', as = 'epoch_seconds' }",
        "America/New_York",
    );
    let (got, _) = json_of(&lead(), &event(), &r);
    // 2024-06-01 00:00 EDT = 04:00 UTC.
    assert_eq!(got["properties"]["move"], json!(1_717_214_400));
}

#[test]
fn typed_keys_refuse_literals_of_the_wrong_type_at_load() {
    let cases = [
        ("price = 'abc'", "properties.price: expected a number"),
        ("quantity = 1.5", "properties.quantity: expected an integer"),
        (
            "num_items = true",
            "properties.num_items: expected an integer",
        ),
        (
            "content_ids = { a = 1 }",
            "properties.content_ids: expected a list of strings",
        ),
        (
            "contents = 'x'",
            "properties.contents: expected a list of content tables",
        ),
        (
            "contents = [ 'x' ]",
            "properties.contents[0]: expected a content table",
        ),
        (
            "content_type = 'sku'",
            "properties.content_type: expected \"product\"",
        ),
        ("currency = 'BTC'", "properties.currency: "),
        ("order_id = true", "properties.order_id: expected a string"),
        (
            "price = { from = 'revenue', as = 'string' }",
            "properties.price.as: TikTok expects a number",
        ),
        (
            "content_id = { from = 'offer', as = 'number' }",
            "properties.content_id.as: TikTok expects a string",
        ),
        (
            "x = { from = 'revenue', as = 'money' }",
            "properties.x.as: unknown conversion",
        ),
        ("x = { from = 'nope' }", "properties.x.from: unknown field"),
        (
            "x = { from = 'revenue', template = '{offer}' }",
            "properties.x: give from or template",
        ),
        (
            "x = { from = 'revenue', round = 2, as = 'string' }",
            "properties.x.round: round only applies",
        ),
        (
            "x = { from = 'revenue', map = { a = [1] } }",
            "properties.x.map.a: expected a string",
        ),
        (
            "price = { from = 'offer', map = { a = 'cheap' } }",
            "properties.price.map.a: ",
        ),
        (
            "x = { from = 'revenue', colour = 'red' }",
            "properties.x.colour: unknown key",
        ),
        ("x = '{nope}'", "properties.x: unknown placeholder {nope}"),
    ];
    for (line, want) in cases {
        let cfg: RuleConfig = toml::from_str(&format!("{BASE}[properties]\n{line}")).unwrap();
        let errs: Vec<String> = Rule::from_config_in(cfg, &RuleEnv::default())
            .unwrap_err()
            .into_iter()
            .map(|e| format!("{}: {}", e.field, e.problem))
            .collect();
        assert!(errs.iter().any(|e| e.starts_with(want)), "{line}: {errs:?}");
    }
    let cfg: RuleConfig = toml::from_str(&format!("{BASE}[page]\nurl = 'x'\ntitle = 'y'")).unwrap();
    let errs = Rule::from_config_in(cfg, &RuleEnv::default()).unwrap_err();
    assert_eq!(errs[0].field, "page.title");
}

#[test]
fn a_computed_currency_or_content_type_tiktok_refuses_is_left_out() {
    let r = rule(
        "[properties]\ncurrency = '{fields.vertical}'\ncontent_type = '{fields.vertical}'\nvalue = 1",
    );
    let (got, notes) = json_of(&lead(), &event(), &r);
    assert_eq!(got["properties"], json!({"value": 1.0, "currency": "USD"}));
    assert_eq!(notes.len(), 2, "{notes:?}");
}

#[test]
fn an_incomplete_template_is_left_out_but_the_event_id_renders_empty() {
    let r = rule(
        "event_id = '{transaction_id}:{fields.missing}'\n[properties]\ndescription = 'for {fields.missing}'",
    );
    let (got, notes) = json_of(&lead(), &event(), &r);
    assert_eq!(got["event_id"], json!("tx-1:"));
    assert!(got.get("properties").is_none(), "{got}");
    assert_eq!(
        notes,
        ["properties.description left out: fields.missing is missing"]
    );
}

#[test]
fn a_pixel_with_its_own_region_gets_the_phone_read_there_and_others_the_default_reading() {
    let mut l = lead();
    l.phone = Some("a".repeat(64));
    l.phone_by_region.insert("FR".into(), "f".repeat(64));
    let mut fr = rule("");
    fr.phone_region = Some("FR".into());
    let (got, _) = json_of(&l, &sold(None, None), &fr);
    assert_eq!(got["user"]["phone"], json!("f".repeat(64)));
    let (got, _) = json_of(&l, &sold(None, None), &rule(""));
    assert_eq!(got["user"]["phone"], json!("a".repeat(64)));
    // A region the lead has no separate reading for: the phone as read by default.
    let mut de = rule("");
    de.phone_region = Some("DE".into());
    let (got, _) = json_of(&l, &sold(None, None), &de);
    assert_eq!(got["user"]["phone"], json!("a".repeat(64)));
}
