//! A rule as configured (`[[rules]]` in the TOML config) and as validated. Validation happens once at
//! load, and every error names the rule and the field, so a bad config never starts a server that
//! would later send TikTok something it refuses.

use serde::{Deserialize, Serialize};
use signalpost_tiktok::currency::Currency;
use signalpost_tiktok::event_name::EventName;

use super::template::Template;
use crate::domain::Trigger;

/// A `[[rules]]` table exactly as written in the config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub name: String,
    /// `form_submit`, `lead_sold`, `offer_click`, `offer_conversion`, `buyer_routed` or `custom`.
    pub trigger: String,
    /// Pixel code of a `[[pixels]]` entry.
    pub pixel: String,
    /// TikTok event name: standard (`Purchase`) or custom.
    pub event: String,
    /// `"revenue"`, a constant number, or absent (no `properties.value`).
    #[serde(default)]
    pub value: Option<ValueConfig>,
    #[serde(default)]
    pub currency: Option<String>,
    /// `product` or `product_group`; only sent when set.
    #[serde(default)]
    pub content_type: Option<String>,
    /// Template; default `{transaction_id}`.
    #[serde(default)]
    pub event_id: Option<String>,
    #[serde(default)]
    pub test_event_code: Option<String>,
    #[serde(default)]
    pub when: WhenConfig,
}

/// The `value` key: a word or a number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ValueConfig {
    Number(f64),
    Word(String),
}

/// `[rules.when]`: every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhenConfig {
    #[serde(default)]
    pub buyer: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub offer: Option<String>,
    #[serde(default)]
    pub min_revenue: Option<f64>,
    /// The custom event's name (trigger `custom` only).
    #[serde(default)]
    pub name: Option<String>,
}

/// Where `properties.value` comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueSource {
    /// No value sent.
    Absent,
    /// The lifecycle event's revenue (no value when the event has none).
    Revenue,
    /// Always this number (0 included).
    Constant(f64),
}

/// `properties.content_type` values TikTok accepts.
pub const CONTENT_TYPES: &[&str] = &["product", "product_group"];

/// Conditions of a validated rule; `None` means "any".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conditions {
    pub buyer: Option<String>,
    pub source: Option<String>,
    pub offer: Option<String>,
    pub min_revenue: Option<f64>,
    pub name: Option<String>,
}

/// A validated rule: lifecycle trigger + conditions → one TikTok event on one pixel.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RuleConfig")]
pub struct Rule {
    pub name: String,
    pub trigger: Trigger,
    pub pixel: String,
    pub event: EventName,
    pub value: ValueSource,
    pub currency: Option<Currency>,
    pub content_type: Option<String>,
    pub event_id: Template,
    pub test_event_code: Option<String>,
    pub when: Conditions,
}

/// A rule field that does not validate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rule {rule:?}: {field}: {problem}")]
pub struct RuleError {
    /// The rule's name (or its position when it has none).
    pub rule: String,
    /// The config key at fault, e.g. `event`, `when.min_revenue`.
    pub field: &'static str,
    pub problem: String,
}

impl TryFrom<RuleConfig> for Rule {
    type Error = RuleError;

    fn try_from(cfg: RuleConfig) -> Result<Self, Self::Error> {
        Rule::from_config(cfg)
    }
}

impl Rule {
    /// Validates a config table.
    pub fn from_config(cfg: RuleConfig) -> Result<Rule, RuleError> {
        let rule_name = cfg.name.trim().to_owned();
        let err = |field: &'static str, problem: String| RuleError {
            rule: rule_name.clone(),
            field,
            problem,
        };
        if rule_name.is_empty() {
            return Err(err("name", "must not be empty".into()));
        }
        let trigger: Trigger = cfg
            .trigger
            .trim()
            .parse()
            .map_err(|e: crate::domain::UnknownTrigger| err("trigger", e.to_string()))?;
        let pixel = cfg.pixel.trim().to_owned();
        if pixel.is_empty() {
            return Err(err("pixel", "must not be empty".into()));
        }
        let event = EventName::parse(&cfg.event).map_err(|e| err("event", e.to_string()))?;
        let value = match cfg.value {
            None => ValueSource::Absent,
            Some(ValueConfig::Word(w)) if w.trim() == "revenue" => ValueSource::Revenue,
            Some(ValueConfig::Word(w)) => {
                return Err(err(
                    "value",
                    format!("expected \"revenue\" or a number, got {w:?}"),
                ));
            }
            Some(ValueConfig::Number(n)) if n.is_finite() && n >= 0.0 => ValueSource::Constant(n),
            Some(ValueConfig::Number(n)) => {
                return Err(err(
                    "value",
                    format!("must be a finite number ≥ 0, got {n}"),
                ));
            }
        };
        let currency = cfg
            .currency
            .as_deref()
            .map(Currency::parse)
            .transpose()
            .map_err(|e| err("currency", e.to_string()))?;
        let content_type = match cfg.content_type {
            None => None,
            Some(ct) if CONTENT_TYPES.contains(&ct.as_str()) => Some(ct),
            Some(ct) => {
                return Err(err(
                    "content_type",
                    format!("expected \"product\" or \"product_group\", got {ct:?}"),
                ));
            }
        };
        let event_id = match cfg.event_id.as_deref() {
            None => Template::transaction_id(),
            Some(src) => Template::parse(src).map_err(|e| err("event_id", e.to_string()))?,
        };
        let test_event_code = match cfg.test_event_code {
            Some(code) if code.trim().is_empty() => {
                return Err(err("test_event_code", "must not be empty when set".into()));
            }
            other => other.map(|c| c.trim().to_owned()),
        };
        let when = cfg.when;
        if let Some(min) = when.min_revenue
            && !min.is_finite()
        {
            return Err(err(
                "when.min_revenue",
                format!("must be a finite number, got {min}"),
            ));
        }
        if when.name.is_some() && trigger != Trigger::Custom {
            return Err(err(
                "when.name",
                format!(
                    "only applies to trigger \"custom\" (this rule's trigger is {trigger:?})",
                    trigger = trigger.as_str()
                ),
            ));
        }
        Ok(Rule {
            name: rule_name,
            trigger,
            pixel,
            event,
            value,
            currency,
            content_type,
            event_id,
            test_event_code,
            when: Conditions {
                buyer: when.buyer,
                source: when.source,
                offer: when.offer,
                min_revenue: when.min_revenue,
                name: when.name,
            },
        })
    }
}

/// The validated rules of one config, in config order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl RuleSet {
    /// Validates every table; names must be unique (the lead record and metrics name rules).
    pub fn from_configs(configs: Vec<RuleConfig>) -> Result<RuleSet, RuleError> {
        let rules = configs
            .into_iter()
            .map(Rule::from_config)
            .collect::<Result<Vec<_>, _>>()?;
        RuleSet::new(rules)
    }

    /// Wraps already validated rules, refusing duplicate names.
    pub fn new(rules: Vec<Rule>) -> Result<RuleSet, RuleError> {
        for (i, rule) in rules.iter().enumerate() {
            if rules[..i].iter().any(|r| r.name == rule.name) {
                return Err(RuleError {
                    rule: rule.name.clone(),
                    field: "name",
                    problem: "another rule has the same name".into(),
                });
            }
        }
        Ok(RuleSet { rules })
    }

    /// Checks that every rule's pixel is configured.
    pub fn check_pixels<'a>(
        &self,
        mut known: impl FnMut(&str) -> bool + 'a,
    ) -> Result<(), RuleError> {
        match self.rules.iter().find(|r| !known(&r.pixel)) {
            Some(r) => Err(RuleError {
                rule: r.name.clone(),
                field: "pixel",
                problem: format!("no [[pixels]] entry has code {:?}", r.pixel),
            }),
            None => Ok(()),
        }
    }

    /// The rules in config order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_src: &str) -> Result<Rule, String> {
        toml::from_str::<Rule>(toml_src).map_err(|e| e.to_string())
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
        assert_eq!(rule.value, ValueSource::Revenue);
        assert_eq!(rule.currency.map(|c| c.as_str()), Some("EUR"));
        assert_eq!(rule.event_id.source(), "{transaction_id}:{offer}");
        assert_eq!(rule.when.buyer.as_deref(), Some("acme"));
        assert_eq!(rule.when.min_revenue, Some(5.0));
        assert_eq!(rule.content_type, None);
    }

    #[test]
    fn defaults_event_id_to_the_transaction_id_and_value_to_absent() {
        let rule =
            parse("name='r'\ntrigger='form_submit'\npixel='P'\nevent='CompleteRegistration'")
                .unwrap();
        assert_eq!(rule.event_id, Template::transaction_id());
        assert_eq!(rule.value, ValueSource::Absent);
        assert_eq!(
            parse("name='r'\ntrigger='form_submit'\npixel='P'\nevent='Lead'\nvalue=0")
                .unwrap()
                .value,
            ValueSource::Constant(0.0)
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
    fn rejects_unknown_keys() {
        let msg = parse("name='r'\ntrigger='form_submit'\npixel='P'\nevent='Lead'\nevnt='x'")
            .unwrap_err();
        assert!(msg.contains("evnt"), "{msg}");
    }

    #[test]
    fn rule_sets_refuse_duplicate_names_and_unknown_pixels() {
        let rule = parse(SOLD).unwrap();
        let err = RuleSet::new(vec![rule.clone(), rule.clone()]).unwrap_err();
        assert_eq!(err.field, "name");
        let set = RuleSet::new(vec![rule]).unwrap();
        assert!(set.check_pixels(|p| p == "PIX1").is_ok());
        let err = set.check_pixels(|_| false).unwrap_err();
        assert_eq!((err.rule.as_str(), err.field), ("sold", "pixel"));
    }
}
