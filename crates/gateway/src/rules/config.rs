//! A `[[rules]]` table exactly as written in the config file. Scalar keys are typed here; the
//! structured parts (`when`, `cap`, `schedule`, `properties`, `page`) stay as JSON values so that
//! validation ([`super::rule::Rule::from_config_in`]) can report every problem at its exact path
//! (`when.all[1].gt`) instead of serde's first "invalid type".

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A `[[rules]]` table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Required; absent parses as empty so validation can say so with the rule's other problems
    /// (and `PUT /v1/rules/{name}` can take it from the URL).
    #[serde(default)]
    pub name: String,
    /// `form_submit`, `lead_sold`, `offer_click`, `offer_conversion`, `buyer_routed` or `custom`.
    pub trigger: String,
    /// Pixel code of a `[[pixels]]` entry.
    pub pixel: String,
    /// TikTok event name: standard (`Purchase`) or custom.
    pub event: String,
    /// `properties.value`: `"revenue"`, `"payout"`, a field (`"fields.price"`), a constant number
    /// (0 included), or a transform table; absent means no value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<ValueConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// `product` or `product_group`; only sent when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Template; default `{transaction_id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// The top-level `test_event_code` of the request; may be a template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_event_code: Option<String>,
    #[serde(default)]
    pub when: WhenConfig,
    /// IANA time zone of this rule's schedule, caps and local dates; `[server] timezone` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// `[rules.cap]`: `hourly`, `daily`, `weekly`, `monthly`, `total` = N.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<Value>,
    /// `[rules.schedule]`: `days`, `hours`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Value>,
    /// `[rules.properties]`: TikTok `properties` keys → literal, template or transform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<Value>,
    /// `[rules.page]`: `url`, `referrer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<Value>,
    /// The event's `limited_data_use` flag: a boolean or a transform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limited_data_use: Option<Value>,
    /// Meta pixels: where the conversion happened (`website`, `system_generated` for Conversion
    /// Leads, …), overriding the pixel's `action_source`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_source: Option<String>,
}

impl RuleConfig {
    /// A rule with only the required keys set (everything else as if absent from the file).
    pub fn new(name: &str, trigger: &str, pixel: &str, event: &str) -> Self {
        Self {
            name: name.to_owned(),
            trigger: trigger.to_owned(),
            pixel: pixel.to_owned(),
            event: event.to_owned(),
            value: None,
            currency: None,
            content_type: None,
            action_source: None,
            event_id: None,
            test_event_code: None,
            when: WhenConfig::default(),
            timezone: None,
            cap: None,
            schedule: None,
            properties: None,
            page: None,
            limited_data_use: None,
        }
    }

    /// The event id template as written, `{transaction_id}` when absent.
    pub fn event_id_template(&self) -> &str {
        self.event_id
            .as_deref()
            .map(str::trim)
            .unwrap_or("{transaction_id}")
    }

    /// Whether this rule and `other` (another rule) would give one lead's conversions on their
    /// pixel the same event id from different triggers: what a destination that keeps one
    /// conversion per event id and action (Google Ads' order id) would drop the second of.
    pub fn shares_event_ids_with(&self, other: &RuleConfig) -> bool {
        other.name.trim() != self.name.trim()
            && other.pixel.trim() == self.pixel.trim()
            && other.trigger.trim() != self.trigger.trim()
            && other.event_id_template() == self.event_id_template()
    }
}

/// The `value` key: a number, a word (field name), or a transform table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ValueConfig {
    Number(f64),
    Word(String),
    Table(Map<String, Value>),
}

/// `[rules.when]`: every condition given must hold. Each key names a field with a value (`eq`), a
/// list (`in`) or an operator table: `buyer = "acme"`, `state = ["CA", "NY"]`,
/// `"fields.vertical" = { in = ["auto", "home"] }`, `revenue = { gte = 10, lt = 500 }`. The
/// historical keys keep their meaning: `buyer`, `source`, `offer`, `name` are such fields, and
/// `min_revenue = N` is `revenue = { gte = N }`. `all` / `any` take condition lists.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WhenConfig {
    /// `revenue ≥ N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_revenue: Option<Value>,
    /// Conditions that must all hold: `[{ field = "revenue", gte = 10 }, { any = [...] }]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all: Option<Value>,
    /// Conditions of which one must hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub any: Option<Value>,
    /// Field-keyed conditions, the historical `buyer`, `source`, `offer`, `name` included.
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

impl WhenConfig {
    /// Adds `field = value` (an `eq` for a scalar, `in` for a list, or an operator table).
    pub fn with(mut self, field: &str, value: Value) -> Self {
        self.fields.insert(field.to_owned(), value);
        self
    }
}
