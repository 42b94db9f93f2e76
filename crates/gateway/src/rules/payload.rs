//! Builds the TikTok event object for one conversion, exactly per DESIGN.md's field mapping, and
//! serializes it once. The JSON is stored with the conversion and later concatenated into batch bodies,
//! so the mapping is decided here and only here.

use signalpost_tiktok::model::{Event, Page, Properties, User};

use super::rule::{Rule, ValueSource};
use crate::domain::{Lead, LifecycleEvent, NewConversion};

/// Currency sent with a value when neither the rule nor the event names one.
pub const DEFAULT_CURRENCY: &str = "USD";

/// The `data[]` element for `rule` firing on `event` of `lead`.
pub fn build_event(lead: &Lead, event: &LifecycleEvent, rule: &Rule) -> Event {
    let user = User {
        email: lead.email.clone(),
        phone: lead.phone.clone(),
        external_id: lead.external_id.clone(),
        ttclid: lead.ttclid.clone(),
        ttp: lead.ttp.clone(),
        ip: lead.ip.clone(),
        user_agent: lead.user_agent.clone(),
        locale: None,
    };
    let value = match rule.value {
        ValueSource::Absent => None,
        ValueSource::Revenue => event.revenue,
        ValueSource::Constant(v) => Some(v),
    };
    let currency = rule
        .currency
        .map(|c| c.as_str().to_owned())
        .or_else(|| event.currency.clone())
        .or_else(|| value.map(|_| DEFAULT_CURRENCY.to_owned()));
    let properties = Properties {
        value,
        currency,
        content_type: rule.content_type.clone(),
        ..Default::default()
    };
    let has_properties = properties.value.is_some()
        || properties.currency.is_some()
        || properties.content_type.is_some();
    Event {
        event: rule.event.as_str().to_owned(),
        event_time: event.occurred_at,
        event_id: Some(rule.event_id.render(event)),
        user: (user != User::default()).then_some(user),
        properties: has_properties.then_some(properties),
        page: lead.landing_url.as_ref().map(|url| Page {
            url: url.clone(),
            referrer: lead.referrer.clone(),
        }),
        ..Default::default()
    }
}

/// The conversion `rule` produces for `event`, payload serialized.
pub fn build_conversion(
    lead: &Lead,
    event: &LifecycleEvent,
    rule: &Rule,
) -> Result<NewConversion, serde_json::Error> {
    let tiktok_event = build_event(lead, event, rule);
    let payload = serde_json::to_string(&tiktok_event)?;
    Ok(NewConversion {
        rule: rule.name.clone(),
        pixel: rule.pixel.clone(),
        event_name: tiktok_event.event,
        event_id: tiktok_event.event_id.unwrap_or_default(),
        test_event_code: rule.test_event_code.clone(),
        event_time: tiktok_event.event_time,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Trigger;
    use crate::rules::rule::{RuleConfig, ValueConfig, WhenConfig};
    use serde_json::{Value, json};

    fn rule(
        value: Option<ValueConfig>,
        currency: Option<&str>,
        content_type: Option<&str>,
    ) -> Rule {
        Rule::from_config(RuleConfig {
            name: "r".into(),
            trigger: "lead_sold".into(),
            pixel: "PIX".into(),
            event: "Purchase".into(),
            value,
            currency: currency.map(Into::into),
            content_type: content_type.map(Into::into),
            event_id: None,
            test_event_code: None,
            when: WhenConfig::default(),
        })
        .unwrap()
    }

    fn lead() -> Lead {
        Lead {
            transaction_id: "tx-42".into(),
            email: Some("e".repeat(64)),
            phone: Some("f".repeat(64)),
            external_id: None,
            ip: Some("203.0.113.9".into()),
            user_agent: Some("Mozilla/5.0".into()),
            ttclid: Some("E.C.P.click".into()),
            ttp: Some("ttp-cookie".into()),
            landing_url: Some("https://lp.example.com/?ttclid=E.C.P.click".into()),
            referrer: Some("https://www.tiktok.com/".into()),
            source: None,
            fields: Value::Null,
            created_at: 1_700_000_000,
            warnings: vec![],
        }
    }

    fn sold(revenue: Option<f64>, currency: Option<&str>) -> LifecycleEvent {
        LifecycleEvent {
            id: 3,
            transaction_id: "tx-42".into(),
            trigger: Trigger::LeadSold,
            name: None,
            buyer: None,
            offer: None,
            revenue,
            currency: currency.map(Into::into),
            occurred_at: 1_700_000_123,
            idempotency_key: None,
        }
    }

    fn json_of(lead: &Lead, ev: &LifecycleEvent, rule: &Rule) -> Value {
        let c = build_conversion(lead, ev, rule).unwrap();
        serde_json::from_str(&c.payload).unwrap()
    }

    #[test]
    fn maps_every_field_with_tiktok_types() {
        let got = json_of(
            &lead(),
            &sold(Some(49.5), None),
            &rule(Some(ValueConfig::Word("revenue".into())), None, None),
        );
        assert_eq!(
            got,
            json!({
                "event": "Purchase",
                "event_time": 1_700_000_123,
                "event_id": "tx-42",
                "user": {
                    "email": "e".repeat(64),
                    "phone": "f".repeat(64),
                    "ttclid": "E.C.P.click",
                    "ttp": "ttp-cookie",
                    "ip": "203.0.113.9",
                    "user_agent": "Mozilla/5.0"
                },
                "properties": {"value": 49.5, "currency": "USD"},
                "page": {"url": "https://lp.example.com/?ttclid=E.C.P.click", "referrer": "https://www.tiktok.com/"}
            })
        );
        assert!(got["event_id"].is_string());
        assert!(got["event_time"].is_i64());
    }

    #[test]
    fn a_zero_value_is_kept() {
        let got = json_of(
            &lead(),
            &sold(Some(0.0), None),
            &rule(Some(ValueConfig::Word("revenue".into())), None, None),
        );
        assert_eq!(got["properties"]["value"], json!(0.0));
        let constant = json_of(
            &lead(),
            &sold(None, None),
            &rule(Some(ValueConfig::Number(0.0)), None, None),
        );
        assert_eq!(constant["properties"]["value"], json!(0.0));
    }

    #[test]
    fn content_type_only_when_the_rule_sets_it() {
        let without = json_of(&lead(), &sold(None, None), &rule(None, None, None));
        assert!(without.get("properties").is_none(), "{without}");
        let with = json_of(
            &lead(),
            &sold(None, None),
            &rule(None, None, Some("product")),
        );
        assert_eq!(with["properties"], json!({"content_type": "product"}));
    }

    #[test]
    fn currency_comes_from_the_rule_then_the_event_then_usd() {
        let revenue = || Some(ValueConfig::Word("revenue".into()));
        let cases = [
            (Some("GBP"), Some("EUR"), Some("GBP")),
            (None, Some("EUR"), Some("EUR")),
            (None, None, Some("USD")),
        ];
        for (rule_cur, event_cur, want) in cases {
            let got = json_of(
                &lead(),
                &sold(Some(1.0), event_cur),
                &rule(revenue(), rule_cur, None),
            );
            assert_eq!(got["properties"]["currency"].as_str(), want);
        }
        let no_value = json_of(&lead(), &sold(None, None), &rule(revenue(), None, None));
        assert!(
            no_value.get("properties").is_none(),
            "no value, no default currency"
        );
    }

    #[test]
    fn no_page_without_a_landing_url_and_no_user_without_signals() {
        let bare = Lead {
            email: None,
            phone: None,
            ip: None,
            user_agent: None,
            ttclid: None,
            ttp: None,
            landing_url: None,
            ..lead()
        };
        let got = json_of(&bare, &sold(None, None), &rule(None, None, None));
        assert!(
            got.get("page").is_none() && got.get("user").is_none(),
            "{got}"
        );
    }

    #[test]
    fn a_numeric_transaction_id_stays_a_json_string() {
        let mut l = lead();
        l.transaction_id = "12345".into();
        let mut ev = sold(None, None);
        ev.transaction_id = "12345".into();
        let got = json_of(&l, &ev, &rule(None, None, None));
        assert_eq!(got["event_id"], json!("12345"));
    }
}
