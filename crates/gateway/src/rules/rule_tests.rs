//! Rule validation: full rules from TOML, defaults, every problem reported with its path, values,
//! rule sets and time zones.

use super::*;
use crate::rules::testing::{event, lead};
use serde_json::json;

fn parse(toml_src: &str) -> Result<Rule, String> {
    toml::from_str::<Rule>(toml_src).map_err(|e| e.to_string())
}

/// Every problem of a rule, as `path: problem`.
fn problems(toml_src: &str) -> Vec<String> {
    let cfg: RuleConfig = toml::from_str(toml_src).unwrap();
    match Rule::from_config_in(cfg, &RuleEnv::default()) {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .into_iter()
            .map(|e| format!("{}: {}", e.field, e.problem))
            .collect(),
    }
}

const SOLD: &str = r#"
    name = "sold"
    trigger = "lead_sold"
    pixel = "PIX1"
    event = "Purchase"
    value = "revenue"
    currency = "eur"
    event_id = "{transaction_id}:{offer}"
    [when]
    buyer = "acme"
    min_revenue = 5
"#;

#[test]
fn parses_a_full_rule_from_toml() {
    let rule = parse(SOLD).unwrap();
    assert_eq!(rule.trigger, Trigger::LeadSold);
    assert_eq!(rule.event.as_str(), "Purchase");
    assert!(rule.value.is_some());
    assert_eq!(rule.currency.map(|c| c.as_str()), Some("EUR"));
    assert_eq!(rule.event_id.source(), "{transaction_id}:{offer}");
    assert_eq!(rule.content_type, None);
    assert_eq!(rule.timezone, Tz::UTC);
    let (l, mut e) = (lead(), event());
    assert!(rule.when.holds(&l, &e), "acme, revenue 12.5 ≥ 5");
    e.revenue = Some(4.0);
    assert!(!rule.when.holds(&l, &e));
    e.revenue = Some(5.0);
    e.buyer = Some("globex".into());
    assert!(!rule.when.holds(&l, &e));
}

#[test]
fn defaults_event_id_to_the_transaction_id_and_value_to_absent() {
    let rule =
        parse("name='r'\ntrigger='form_submit'\npixel='P'\nevent='CompleteRegistration'").unwrap();
    assert_eq!(rule.event_id, Template::transaction_id());
    assert_eq!(rule.value, None);
    assert!(rule.when.is_empty());
    assert!(rule.caps.is_empty() && rule.schedule.is_none() && rule.settings.is_empty());
    assert_eq!(
        parse("name='r'\ntrigger='form_submit'\npixel='P'\nevent='Lead'\nvalue=0")
            .unwrap()
            .value,
        Some(Expr::Const(json!(0.0)))
    );
}

#[test]
fn errors_name_the_rule_and_the_field() {
    let base = "name='bad'\ntrigger='lead_sold'\npixel='P'\n";
    let cases = [
        (format!("{base}event='Registration'"), "event"),
        (
            format!("{base}event='Purchase'\ncurrency='BTC'"),
            "currency",
        ),
        (format!("{base}event='Purchase'\nvalue='price'"), "value"),
        (format!("{base}event='Purchase'\nvalue=-1"), "value"),
        (
            format!("{base}event='Purchase'\ncontent_type='sku'"),
            "content_type",
        ),
        (
            format!("{base}event='Purchase'\nevent_id='{{tx}}'"),
            "event_id",
        ),
        (
            format!("{base}event='Purchase'\n[when]\nname='x'"),
            "when.name",
        ),
        (
            format!("{base}event='Purchase'\ntimezone='Mars/Olympus'"),
            "timezone",
        ),
        (
            "name='bad'\ntrigger='sold'\npixel='P'\nevent='Purchase'".to_owned(),
            "trigger",
        ),
    ];
    for (src, field) in cases {
        let msg = parse(&src).unwrap_err();
        assert!(
            msg.contains("rule \"bad\"") && msg.contains(&format!("{field}:")),
            "{field}: {msg}"
        );
    }
}

#[test]
fn reports_every_problem_of_a_rule_at_once() {
    let got = problems(
        r#"
        name = "sold_auto"
        trigger = "lead_sold"
        pixel = "P"
        event = "Registration"
        value = "price"
        [when]
        buyr = "acme"
        all = [ { field = "fields.vertical", in = ["auto"] }, { field = "revenue", gt = "abc" } ]
        [cap]
        daily = -5
        [schedule]
        hours = "9-5"
        [properties]
        contents = [ { content_id = "{offer}", quantity = 1.5 } ]
        "#,
    );
    let want = [
        "event: ",
        "value: expected \"revenue\"",
        "when.buyr: unknown field \"buyr\"",
        "when.all[1].gt: expected a number",
        "cap.daily: expected a whole number",
        "schedule.hours: \"9-5\" is not a range",
        "properties.contents[0].quantity: expected an integer",
    ];
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for w in want {
        assert!(got.iter().any(|g| g.starts_with(w)), "{w}: {got:#?}");
    }
}

#[test]
fn a_rule_sets_value_currency_and_content_type_once() {
    let got = problems(
        r#"
        name = "r"
        trigger = "lead_sold"
        pixel = "P"
        event = "Purchase"
        value = "revenue"
        currency = "USD"
        [properties]
        value = 1
        currency = "EUR"
        "#,
    );
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got.iter()
            .any(|g| g.starts_with("properties.currency: currency is already set"))
    );
    assert!(
        got.iter()
            .any(|g| g.starts_with("properties.value: value is already set"))
    );
}

#[test]
fn value_reads_revenue_payout_fields_templates_and_transforms() {
    let base = "name='r'\ntrigger='lead_sold'\npixel='P'\nevent='Purchase'\n";
    let (l, e) = (lead(), event());
    let cases = [
        ("value = 'revenue'", Some(json!(12.5))),
        ("value = 'payout'", Some(json!(0.0))),
        ("value = 'fields.price'", Some(json!(19.999))),
        ("value = '{fields.price}'", Some(json!(19.999))),
        (
            "value = { from = 'fields.price', round = 2 }",
            Some(json!(20.0)),
        ),
        ("value = 3", Some(json!(3.0))),
        ("value = 'fields.vertical'", None),
        ("value = 'offer'", None),
    ];
    for (line, want) in cases {
        let rule = parse(&format!("{base}{line}")).unwrap();
        let got = rule.value.as_ref().and_then(|v| {
            v.eval(
                &crate::rules::transform::Ctx {
                    lead: &l,
                    event: &e,
                    tz: Tz::UTC,
                },
                "value",
                &mut Vec::new(),
            )
        });
        assert_eq!(got, want, "{line}");
    }
}

#[test]
fn rejects_unknown_keys() {
    let msg =
        parse("name='r'\ntrigger='form_submit'\npixel='P'\nevent='Lead'\nevnt='x'").unwrap_err();
    assert!(msg.contains("evnt"), "{msg}");
}

#[test]
fn rule_sets_report_duplicates_unknown_pixels_and_every_rule() {
    let rule = parse(SOLD).unwrap();
    let err = RuleSet::new(vec![rule.clone(), rule.clone()]).unwrap_err();
    assert_eq!(err.field, "name");
    let set = RuleSet::new(vec![rule]).unwrap();
    assert!(set.check_pixels(|p| p == "PIX1").is_ok());
    let err = set.check_pixels(|_| false).unwrap_err();
    assert_eq!((err.rule.as_str(), err.field.as_str()), ("sold", "pixel"));

    let cfg = |name: &str, event: &str| RuleConfig::new(name, "lead_sold", "P", event);
    let errors = RuleSet::load(
        vec![
            cfg("a", "Purchase"),
            cfg("b", "Nope Nope"),
            cfg("a", "Purchase"),
            cfg("c", "Bad Bad"),
        ],
        &RuleEnv::default(),
    )
    .unwrap_err();
    let named: Vec<_> = errors
        .iter()
        .map(|e| (e.rule.as_str(), e.field.as_str()))
        .collect();
    assert_eq!(named, [("b", "event"), ("a", "name"), ("c", "event")]);
}

#[test]
fn the_operator_time_zone_applies_unless_the_rule_names_its_own() {
    let ny = parse_timezone("America/New_York").unwrap();
    let env = RuleEnv { timezone: ny };
    let mut cfg = RuleConfig::new("r", "lead_sold", "P", "Purchase");
    assert_eq!(
        Rule::from_config_in(cfg.clone(), &env).unwrap().timezone,
        ny
    );
    cfg.timezone = Some("Europe/Paris".into());
    assert_eq!(
        Rule::from_config_in(cfg, &env).unwrap().timezone,
        parse_timezone("Europe/Paris").unwrap()
    );
    assert!(parse_timezone("EST5EDT").is_ok());
    assert!(parse_timezone("New York").unwrap_err().contains("IANA"));
}
