//! A validated rule, and the rule set of one config. Validation happens once at load and reports
//! every problem of every rule, each naming the rule and the config path at fault
//! (`when.all[1].gt`), so a bad config never starts a server that would later send TikTok something it
//! refuses, and `signalpost check` can list everything wrong at once.

use std::collections::BTreeMap;

use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::Value;
use signalpost_tiktok::currency::Currency;
use signalpost_tiktok::event_name::EventName;
use signalpost_tiktok::identity::Region;

use signalpost_meta::ActionSource;

use crate::destinations::Destination;

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
    /// The `site_url` of the rule's pixel, the last resort for `page.url` (see
    /// [`super::payload::page_url`]). Not part of the rule's config: [`RuleSet::with_site_urls`]
    /// binds it from the pixels when the rules are loaded.
    pub site_url: Option<String>,
    /// The `default_region` of the rule's pixel (ISO alpha-2, upper-case): its events take the
    /// lead's phone as read there ([`crate::domain::Lead::phone_by_region`]) when the lead has such
    /// a reading. Bound like `site_url`, by [`RuleSet::with_pixel_regions`].
    pub phone_region: Option<String>,
    /// Meta pixels: the rule's `action_source`, overriding the pixel's.
    pub action_source: Option<ActionSource>,
    /// The destination of the rule's pixel (TikTok unless bound otherwise by
    /// [`RuleSet::with_destinations`]): it shapes the rule's events.
    pub destination: Destination,
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
        let action_source = match cfg.action_source.as_deref().map(str::trim) {
            None => None,
            Some(text) => match ActionSource::parse(text) {
                Some(source) => Some(source),
                None => {
                    let names: Vec<&str> = ActionSource::ALL.iter().map(|s| s.as_str()).collect();
                    issues.push(
                        "action_source",
                        format!("expected one of {}, got {text:?}", names.join(", ")),
                    );
                    None
                }
            },
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
                site_url: None,
                phone_region: None,
                action_source,
                destination: Destination::default(),
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

/// The validated rules of one config, in config order, bound to the `site_url`s of their pixels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleSet {
    rules: Vec<Rule>,
    /// Pixel code → its `site_url`, for pixels that have one.
    site_urls: BTreeMap<String, String>,
    /// Pixel code → its `default_region`, for pixels that have one.
    pixel_regions: BTreeMap<String, Region>,
    /// Pixel code → its destination, for pixels that are not TikTok web pixels.
    destinations: BTreeMap<String, Destination>,
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
            Ok(RuleSet {
                rules,
                ..RuleSet::default()
            })
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
        Ok(RuleSet {
            rules,
            ..RuleSet::default()
        })
    }

    /// Binds every rule to its pixel's `site_url` (pixel code → URL; pixels without one are absent),
    /// so events of leads without a landing URL or referrer still carry `page.url`. Loaders call it
    /// with the pixels they load the rules against; replacing the map rebinds every rule.
    pub fn with_site_urls(mut self, site_urls: BTreeMap<String, String>) -> RuleSet {
        for rule in &mut self.rules {
            rule.site_url = site_urls.get(&rule.pixel).cloned();
        }
        self.site_urls = site_urls;
        self
    }

    /// The `site_url` of pixel `code`, if it has one.
    pub fn site_url(&self, code: &str) -> Option<&str> {
        self.site_urls.get(code).map(String::as_str)
    }

    /// Every pixel's `site_url` (pixel code → URL).
    pub fn site_urls(&self) -> &BTreeMap<String, String> {
        &self.site_urls
    }

    /// Binds every rule to its pixel's `default_region` (pixel code → region; pixels without one
    /// are absent), so each pixel's events carry the lead's phone as read in that region.
    pub fn with_pixel_regions(mut self, regions: BTreeMap<String, Region>) -> RuleSet {
        for rule in &mut self.rules {
            rule.phone_region = regions.get(&rule.pixel).map(Region::to_string);
        }
        self.pixel_regions = regions;
        self
    }

    /// Binds every rule to its pixel's destination (pixel code → destination; absent pixels are
    /// TikTok web pixels), so each rule's events are shaped for where they go.
    pub fn with_destinations(mut self, destinations: BTreeMap<String, Destination>) -> RuleSet {
        for rule in &mut self.rules {
            rule.destination = destinations.get(&rule.pixel).cloned().unwrap_or_default();
        }
        self.destinations = destinations;
        self
    }

    /// The destination of pixel `code` (TikTok when none was bound).
    pub fn destination(&self, code: &str) -> Destination {
        self.destinations.get(code).cloned().unwrap_or_default()
    }

    /// The `default_region` of pixel `code`, if it has one.
    pub fn pixel_region(&self, code: &str) -> Option<Region> {
        self.pixel_regions.get(code).copied()
    }

    /// Every pixel's `default_region` (pixel code → region).
    pub fn pixel_regions(&self) -> &BTreeMap<String, Region> {
        &self.pixel_regions
    }

    /// The distinct regions of [`RuleSet::pixel_regions`], in pixel-code order: what the edge reads
    /// a national phone number with besides the server's default.
    pub fn distinct_pixel_regions(&self) -> Vec<Region> {
        let mut out: Vec<Region> = Vec::new();
        for region in self.pixel_regions.values() {
            if !out.contains(region) {
                out.push(*region);
            }
        }
        out
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
#[path = "rule_tests.rs"]
mod tests;
