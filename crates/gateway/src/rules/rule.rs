//! A validated rule, and the rule set of one config. Validation happens once at load and reports
//! every problem of every rule, each naming the rule and the config path at fault
//! (`when.all[1].gt`), so a bad config never starts a server that would later send TikTok something it
//! refuses, and `signalpost check` can list everything wrong at once.

use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::Value;
use signalpost_tiktok::currency::Currency;
use signalpost_tiktok::event_name::EventName;

use super::cap::Caps;
use super::condition::{Condition, parse_when};
use super::issues::Issues;
use super::schedule::Schedule;
use super::settings::Settings;
use super::template::Template;
use super::transform::{self, Expr, Ty};
use crate::domain::Trigger;

pub use super::config::{RuleConfig, ValueConfig, WhenConfig};

/// `properties.content_type` values TikTok accepts.
pub const CONTENT_TYPES: &[&str] = &["product", "product_group"];

/// What rules are validated against beyond their own table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleEnv {
    /// The operator's time zone (`[server] timezone`): caps, schedules and local dates use it unless a
    /// rule names its own.
    pub timezone: Tz,
}

impl Default for RuleEnv {
    fn default() -> Self {
        Self { timezone: Tz::UTC }
    }
}

/// Parses an IANA time-zone name (`America/New_York`, `UTC`).
pub fn parse_timezone(name: &str) -> Result<Tz, String> {
    name.trim().parse::<Tz>().map_err(|_| {
        format!("{name:?} is not an IANA time zone name (like \"America/New_York\" or \"UTC\")")
    })
}

/// A validated rule: lifecycle trigger + conditions → one TikTok event on one pixel.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RuleConfig")]
pub struct Rule {
    pub name: String,
    pub trigger: Trigger,
    pub pixel: String,
    pub event: EventName,
    /// `properties.value`; `None` sends no value.
    pub value: Option<Expr>,
    pub currency: Option<Currency>,
    pub content_type: Option<String>,
    pub event_id: Template,
    pub test_event_code: Option<Template>,
    /// `[rules.when]` as one `all` (empty: always).
    pub when: Condition,
    pub caps: Caps,
    pub schedule: Option<Schedule>,
    /// The zone of the schedule, caps and local dates.
    pub timezone: Tz,
    /// `[rules.properties]`, `[rules.page]`, `limited_data_use`.
    pub settings: Settings,
}

/// A rule problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rule {rule:?}: {field}: {problem}")]
pub struct RuleError {
    /// The rule's name (empty when it has none).
    pub rule: String,
    /// The config path at fault inside the rule, e.g. `event`, `when.all[1].gt`, `cap.daily`.
    pub field: String,
    pub problem: String,
}

impl TryFrom<RuleConfig> for Rule {
    type Error = RuleError;

    fn try_from(cfg: RuleConfig) -> Result<Self, Self::Error> {
        Rule::from_config(cfg)
    }
}

impl Rule {
    /// Validates a config table in UTC; the first problem is the error.
    pub fn from_config(cfg: RuleConfig) -> Result<Rule, RuleError> {
        Rule::from_config_in(cfg, &RuleEnv::default()).map_err(|mut errors| errors.remove(0))
    }

    /// Validates a config table; on failure, every problem found (never an empty list).
    pub fn from_config_in(cfg: RuleConfig, env: &RuleEnv) -> Result<Rule, Vec<RuleError>> {
        let mut issues = Issues::default();
        let name = cfg.name.trim().to_owned();
        if name.is_empty() {
            issues.push("name", "must not be empty");
        }
        let trigger = cfg
            .trigger
            .trim()
            .parse::<Trigger>()
            .map_err(|e| issues.push("trigger", e.to_string()))
            .ok();
        let pixel = cfg.pixel.trim().to_owned();
        if pixel.is_empty() {
            issues.push("pixel", "must not be empty");
        }
        let event = EventName::parse(&cfg.event)
            .map_err(|e| issues.push("event", e.to_string()))
            .ok();
        let value = cfg.value.as_ref().and_then(|v| parse_value(v, &mut issues));
        let currency = cfg
            .currency
            .as_deref()
            .map(Currency::parse)
            .transpose()
            .map_err(|e| issues.push("currency", e.to_string()))
            .ok()
            .flatten();
        let content_type = match cfg.content_type.clone() {
            Some(ct) if !CONTENT_TYPES.contains(&ct.as_str()) => {
                issues.push(
                    "content_type",
                    format!("expected \"product\" or \"product_group\", got {ct:?}"),
                );
                None
            }
            other => other,
        };
        let event_id = match cfg.event_id.as_deref() {
            None => Some(Template::transaction_id()),
            Some(src) => Template::parse(src)
                .map_err(|e| issues.push("event_id", e.to_string()))
                .ok(),
        };
        let test_event_code = match cfg.test_event_code.as_deref().map(str::trim) {
            None => None,
            Some("") => {
                issues.push("test_event_code", "must not be empty when set");
                None
            }
            Some(src) => Template::parse(src)
                .map_err(|e| issues.push("test_event_code", e.to_string()))
                .ok(),
        };
        let when = &cfg.when;
        if when.fields.contains_key("name") && trigger.is_some_and(|t| t != Trigger::Custom) {
            issues.push(
                "when.name",
                format!(
                    "only applies to trigger \"custom\" (this rule's trigger is {:?})",
                    cfg.trigger.trim()
                ),
            );
        }
        let condition = parse_when(
            when.min_revenue.as_ref(),
            &when.fields,
            when.all.as_ref(),
            when.any.as_ref(),
            &mut issues,
        );
        let timezone = match cfg.timezone.as_deref() {
            None => env.timezone,
            Some(tz) => parse_timezone(tz).unwrap_or_else(|e| {
                issues.push("timezone", e);
                env.timezone
            }),
        };
        let caps = cfg
            .cap
            .as_ref()
            .map(|v| Caps::parse(v, &mut issues))
            .unwrap_or_default();
        let schedule = cfg
            .schedule
            .as_ref()
            .and_then(|v| Schedule::parse(v, &mut issues));
        let settings = Settings::parse(
            cfg.properties.as_ref(),
            cfg.page.as_ref(),
            cfg.limited_data_use.as_ref(),
            &mut issues,
        );
        for (key, set_on_rule) in [
            ("value", cfg.value.is_some()),
            ("currency", cfg.currency.is_some()),
            ("content_type", cfg.content_type.is_some()),
        ] {
            if set_on_rule && settings.sets_property(key) {
                issues.push(
                    format!("properties.{key}"),
                    format!("{key} is already set by the rule's own {key} key; set it once"),
                );
            }
        }
        match (trigger, event, event_id, issues.is_empty()) {
            (Some(trigger), Some(event), Some(event_id), true) => Ok(Rule {
                name,
                trigger,
                pixel,
                event,
                value,
                currency,
                content_type,
                event_id,
                test_event_code,
                when: condition,
                caps,
                schedule,
                timezone,
                settings,
            }),
            _ => Err(issues
                .into_vec()
                .into_iter()
                .map(|i| RuleError {
                    rule: name.clone(),
                    field: i.path,
                    problem: i.problem,
                })
                .collect()),
        }
    }
}

/// `value = "revenue" | "payout" | "<field>" | N | { from = ..., round = 2, ... }`.
fn parse_value(v: &ValueConfig, issues: &mut Issues) -> Option<Expr> {
    let hint = "expected \"revenue\", \"payout\", a field such as \"fields.price\", a number, or a table like { from = \"fields.price\", round = 2 }";
    match v {
        ValueConfig::Number(n) if n.is_finite() && *n >= 0.0 => {
            serde_json::Number::from_f64(*n).map(|n| Expr::Const(Value::Number(n)))
        }
        ValueConfig::Number(n) => {
            issues.push("value", format!("must be a finite number ≥ 0, got {n}"));
            None
        }
        ValueConfig::Word(w) if w.contains('{') => {
            transform::parse(&Value::String(w.clone()), Ty::Number, "value", issues)
        }
        ValueConfig::Word(w) => match super::field::FieldPath::parse(w) {
            Ok(_) => {
                let mut table = serde_json::Map::new();
                table.insert("from".into(), Value::String(w.trim().to_owned()));
                transform::parse(&Value::Object(table), Ty::Number, "value", issues)
            }
            Err(_) => {
                issues.push("value", format!("{hint}, got {w:?}"));
                None
            }
        },
        ValueConfig::Table(t) => {
            transform::parse(&Value::Object(t.clone()), Ty::Number, "value", issues)
        }
    }
}

/// The validated rules of one config, in config order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl RuleSet {
    /// Validates every table in UTC; the first problem is the error.
    pub fn from_configs(configs: Vec<RuleConfig>) -> Result<RuleSet, RuleError> {
        RuleSet::load(configs, &RuleEnv::default()).map_err(|mut errors| errors.remove(0))
    }

    /// Validates every table under `env`; on failure, every problem of every rule (duplicate names
    /// included), in config order.
    pub fn load(configs: Vec<RuleConfig>, env: &RuleEnv) -> Result<RuleSet, Vec<RuleError>> {
        let mut rules = Vec::with_capacity(configs.len());
        let mut errors = Vec::new();
        let mut names: Vec<String> = Vec::with_capacity(configs.len());
        for cfg in configs {
            let name = cfg.name.trim().to_owned();
            if !name.is_empty() && names.contains(&name) {
                errors.push(duplicate(&name));
            }
            names.push(name);
            match Rule::from_config_in(cfg, env) {
                Ok(rule) => rules.push(rule),
                Err(e) => errors.extend(e),
            }
        }
        if errors.is_empty() {
            Ok(RuleSet { rules })
        } else {
            Err(errors)
        }
    }

    /// Wraps already validated rules, refusing duplicate names.
    pub fn new(rules: Vec<Rule>) -> Result<RuleSet, RuleError> {
        for (i, rule) in rules.iter().enumerate() {
            if rules[..i].iter().any(|r| r.name == rule.name) {
                return Err(duplicate(&rule.name));
            }
        }
        Ok(RuleSet { rules })
    }

    /// Checks that every rule's pixel is configured; the first problem is the error.
    pub fn check_pixels<'a>(&self, known: impl FnMut(&str) -> bool + 'a) -> Result<(), RuleError> {
        match self.unknown_pixels(known).into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// A problem for every rule whose pixel is not configured.
    pub fn unknown_pixels<'a>(&self, mut known: impl FnMut(&str) -> bool + 'a) -> Vec<RuleError> {
        self.rules
            .iter()
            .filter(|r| !known(&r.pixel))
            .map(|r| RuleError {
                rule: r.name.clone(),
                field: "pixel".into(),
                problem: format!("no [[pixels]] entry has code {:?}", r.pixel),
            })
            .collect()
    }

    /// The rules in config order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
}

fn duplicate(name: &str) -> RuleError {
    RuleError {
        rule: name.to_owned(),
        field: "name".into(),
        problem: "another rule has the same name".into(),
    }
}

#[cfg(test)]
mod tests {
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
            parse("name='r'\ntrigger='form_submit'\npixel='P'\nevent='CompleteRegistration'")
                .unwrap();
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
        let msg = parse("name='r'\ntrigger='form_submit'\npixel='P'\nevent='Lead'\nevnt='x'")
            .unwrap_err();
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
}
