//! Configuration: built-in defaults → TOML file (with `${ENV}` interpolation in string values) →
//! `SIGNALPOST_*` environment variables. Validated at load; every error names the key at fault.
//! Access tokens are only ever held here and in the pixel registry, never printed.

mod delivery;
mod limits;

use signalpost_gateway::destinations::{Destination, DestinationSpec, google_ads};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use signalpost_gateway::rules::{Rule, RuleConfig, RuleEnv, RuleError, Tz, parse_timezone};

pub use delivery::DeliveryConfig;
pub use limits::LimitsConfig;

/// Shortest API key accepted in `[server] api_keys`: bootstrap keys are admin keys, so they must be
/// as hard to guess as the 256-bit keys the server generates (32 characters of hex or base64 carry
/// at least 128 bits).
pub const MIN_BOOTSTRAP_KEY_CHARS: usize = 32;

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub pixels: Vec<PixelConfig>,
    /// Rules stay raw TOML here so each error can name `rules[i]`; [`Config::rule_configs`] types
    /// them and [`Config::load`] validates them (with the gateway's rule rules) before anything starts.
    #[serde(default)]
    pub rules: Vec<toml::Value>,
    /// `[delivery]`: engine tuning (retry schedule, lease, timeouts); defaults when absent.
    #[serde(default)]
    pub delivery: DeliveryConfig,
    /// `[limits]`: timeouts, concurrency and per-key rate limits; defaults when absent.
    #[serde(default)]
    pub limits: LimitsConfig,
}

/// `[server]`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub api_keys: Vec<String>,
    pub default_region: String,
    pub timezone: String,
    pub strict_identifiers: bool,
    /// Refuse a whole request (422 naming the field) when TikTok would refuse one of its
    /// conversions, instead of accepting it with a warning and keeping that conversion as
    /// `undeliverable` (default false).
    pub strict_delivery: bool,
    /// Age in days after which a pixel's access token health says "rotate soon" (default 90).
    pub token_rotation_days: u32,
    /// Whether `GET /metrics` needs an ingest or admin key (default false).
    pub metrics_require_key: bool,
    /// Serve `GET /metrics` on this address only (no key: reachable only where the operator's
    /// network lets scrapers in), and not on `listen` (default: on `listen`).
    pub metrics_listen: Option<SocketAddr>,
    /// Days a settled lead (and all it led to) is kept; 0 keeps everything (default 90).
    pub retention_days: u32,
    /// Hosts a pixel's `base_url` may name when it is set through the admin API or the console
    /// (`https://` only). Default: TikTok's API host. Hosts named in `[[pixels]]` here are always
    /// allowed, as written.
    pub allowed_destination_hosts: Vec<String>,
    /// How `serve` writes its logs to stderr: `human` (default) or `json`, one object a line, for
    /// log collectors. `SIGNALPOST_LOG_FORMAT` overrides it.
    pub log_format: LogFormat,
}

/// `[server] log_format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Lines for people (tracing's default format).
    #[default]
    Human,
    /// One JSON object a line: `timestamp`, `level`, `target`, `message` and the event's fields.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "human" | "text" | "" => Ok(LogFormat::Human),
            "json" => Ok(LogFormat::Json),
            other => Err(format!(
                "{other:?} is not a log format; expected human or json"
            )),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("signalpost-data"),
            database_url: None,
            api_keys: Vec::new(),
            default_region: "US".into(),
            timezone: "UTC".into(),
            strict_identifiers: false,
            strict_delivery: false,
            token_rotation_days: 90,
            metrics_require_key: false,
            metrics_listen: None,
            retention_days: 90,
            allowed_destination_hosts: vec![
                crate::destination_hosts::TIKTOK_HOST.to_owned(),
                crate::destination_hosts::META_HOST.to_owned(),
                crate::destination_hosts::GOOGLE_ADS_HOST.to_owned(),
                crate::destination_hosts::GOOGLE_OAUTH_HOST.to_owned(),
            ],
            log_format: LogFormat::Human,
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("database_url", &self.database_url.as_ref().map(|_| "<set>"))
            .field("api_keys", &format_args!("[{} keys]", self.api_keys.len()))
            .field("default_region", &self.default_region)
            .field("timezone", &self.timezone)
            .field("strict_identifiers", &self.strict_identifiers)
            .field("strict_delivery", &self.strict_delivery)
            .field("token_rotation_days", &self.token_rotation_days)
            .field("metrics_require_key", &self.metrics_require_key)
            .field("metrics_listen", &self.metrics_listen)
            .field("retention_days", &self.retention_days)
            .field("allowed_destination_hosts", &self.allowed_destination_hosts)
            .field("log_format", &self.log_format)
            .finish()
    }
}

/// `[[pixels]]`: a pixel (TikTok pixel or CRM event set, Meta dataset) and the token to deliver its
/// events with.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PixelConfig {
    pub code: String,
    /// TikTok and Meta: the token. Google Ads pixels take the four credential keys below instead.
    #[serde(default)]
    pub access_token: String,
    #[serde(default)]
    pub test_event_code: Option<String>,
    #[serde(default)]
    pub base_url: Option<String>,
    /// The advertiser's site: `page.url` of events whose lead has no landing URL or referrer.
    #[serde(default)]
    pub site_url: Option<String>,
    /// The region (ISO 3166-1 alpha-2) for national phone numbers of this pixel's leads when they
    /// have no `country`; absent: `[server] default_region`.
    #[serde(default)]
    pub default_region: Option<String>,
    /// `tiktok` (default) or `meta`.
    #[serde(default)]
    pub destination: Option<String>,
    /// TikTok: `web` (default) or `crm` (`code` is then a CRM event set id).
    #[serde(default)]
    pub event_source: Option<String>,
    /// Meta: Graph API version (default: the current one).
    #[serde(default)]
    pub api_version: Option<String>,
    /// Meta: `website` (default), `system_generated` (Conversion Leads), …
    #[serde(default)]
    pub action_source: Option<String>,
    /// CRM events: the name of the system the lead stages come from (default `signalpost`).
    #[serde(default)]
    pub lead_event_source: Option<String>,
    /// Google Ads: the advertiser's account (10 digits).
    #[serde(default)]
    pub customer_id: Option<String>,
    /// Google Ads: the conversion action's id.
    #[serde(default)]
    pub conversion_action: Option<String>,
    /// Google Ads: the manager account acting for the customer.
    #[serde(default)]
    pub login_customer_id: Option<String>,
    /// Google Ads: the OAuth token endpoint (default Google's).
    #[serde(default)]
    pub token_url: Option<String>,
    /// Google Ads: `granted` or `denied` for conversions whose lead says nothing.
    #[serde(default)]
    pub consent: Option<String>,
    /// Google Ads credentials (secrets: sealed with the pixel, never shown).
    #[serde(default)]
    pub developer_token: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub refresh_token: Option<String>,
}

impl PixelConfig {
    /// The destination keys of this entry.
    pub fn destination_spec(&self) -> DestinationSpec {
        DestinationSpec {
            destination: self.destination.clone(),
            event_source: self.event_source.clone(),
            api_version: self.api_version.clone(),
            action_source: self.action_source.clone(),
            lead_event_source: self.lead_event_source.clone(),
            customer_id: self.customer_id.clone(),
            conversion_action: self.conversion_action.clone(),
            login_customer_id: self.login_customer_id.clone(),
            token_url: self.token_url.clone(),
            consent: self.consent.clone(),
        }
    }

    /// The secret delivery uses: the access token, or a Google Ads pixel's credential bundle.
    pub fn secret(&self) -> String {
        match self.google_ads_secrets() {
            Some(secrets) => secrets.to_bundle(),
            None => self.access_token.clone(),
        }
    }

    /// A Google Ads pixel's four credential keys, when the entry is one.
    pub fn google_ads_secrets(&self) -> Option<google_ads::token::Secrets> {
        (self.destination.as_deref().map(str::trim) == Some("google_ads")).then(|| {
            google_ads::token::Secrets::from_parts(
                self.developer_token.as_deref(),
                self.client_id.as_deref(),
                self.client_secret.as_deref(),
                self.refresh_token.as_deref(),
            )
        })
    }

    /// The destination of this entry; TikTok for an invalid one (which [`Config::problems`]
    /// reports before anything starts).
    pub fn destination(&self) -> Destination {
        self.destination_spec().resolve().unwrap_or_default()
    }
}

impl std::fmt::Debug for PixelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PixelConfig")
            .field("code", &self.code)
            .field("access_token", &redact_token(&self.access_token))
            .field("test_event_code", &self.test_event_code)
            .field("base_url", &self.base_url)
            .field("site_url", &self.site_url)
            .field("default_region", &self.default_region)
            .field("destination", &self.destination_spec())
            .finish()
    }
}

/// Shows a token as `tt_…last4` so operators can tell tokens apart without exposing them.
pub fn redact_token(token: &str) -> String {
    let chars: Vec<char> = token.chars().collect();
    if chars.len() < 12 {
        return "tt_…".into();
    }
    let last4: String = chars[chars.len() - 4..].iter().collect();
    format!("tt_…{last4}")
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{key}: environment variable {var} is not set")]
    MissingEnv { key: String, var: String },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
    /// A `[[rules]]` problem: `rules[2] "sold_auto": when.all[1].gt: expected a number`.
    #[error("{}", rule_problem_line(*.index, rule, field, problem))]
    Rule {
        /// Position in `[[rules]]` (absent for rules the config did not list, such as demo rules).
        index: Option<usize>,
        /// The rule's name (empty when it has none).
        rule: String,
        /// The path at fault inside the rule (`when.all[1].gt`); empty when the table as a whole
        /// does not parse.
        field: String,
        problem: String,
    },
}

fn rule_problem_line(index: Option<usize>, rule: &str, field: &str, problem: &str) -> String {
    let mut out = match index {
        Some(i) => format!("rules[{i}]"),
        None => "rules".to_owned(),
    };
    if !rule.is_empty() {
        out.push_str(&format!(" {rule:?}"));
    }
    out.push_str(": ");
    if !field.is_empty() {
        out.push_str(field);
        out.push_str(": ");
    }
    out.push_str(problem);
    out
}

impl Config {
    /// Loads `path` (when given), then applies the environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with_env(path, &|name| std::env::var(name).ok())
    }

    /// Like [`Config::load`] with an explicit environment (tests pass their own).
    pub fn load_with_env(
        path: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let config = Self::read_with_env(path, env)?;
        config.validate()?;
        Ok(config)
    }

    /// Reads, interpolates and applies the environment without validating (so a caller can list
    /// every problem with [`Config::problems`]); syntax and `${VAR}` errors are still errors.
    pub fn read_with_env(
        path: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                Self::parse(&text, env).map_err(|err| match err {
                    ConfigError::Parse { message, .. } => ConfigError::Parse {
                        path: path.to_owned(),
                        message,
                    },
                    other => other,
                })?
            }
            None => Config::default(),
        };
        config.apply_env(env)?;
        Ok(config)
    }

    /// Parses TOML text, interpolating `${VAR}` in string values.
    pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut value: toml::Value = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::new(),
            message: e.to_string(),
        })?;
        interpolate(&mut value, "", env)?;
        value
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse {
                path: PathBuf::new(),
                message: e.to_string(),
            })
    }

    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let s = &mut self.server;
        if let Some(v) = env("SIGNALPOST_LISTEN") {
            s.listen = v.parse().map_err(|_| ConfigError::Invalid {
                key: "SIGNALPOST_LISTEN".into(),
                message: format!("{v:?} is not an address like 127.0.0.1:8080"),
            })?;
        }
        if let Some(v) = env("SIGNALPOST_DATA_DIR") {
            s.data_dir = PathBuf::from(v);
        }
        if let Some(v) = env("SIGNALPOST_DATABASE_URL").filter(|v| !v.is_empty()) {
            s.database_url = Some(v);
        }
        if let Some(v) = env("SIGNALPOST_LOG_FORMAT") {
            s.log_format = v.parse().map_err(|message| ConfigError::Invalid {
                key: "SIGNALPOST_LOG_FORMAT".into(),
                message,
            })?;
        }
        if let Some(v) = env("SIGNALPOST_API_KEYS") {
            s.api_keys.extend(
                v.split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(str::to_owned),
            );
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        match self.problems().into_iter().next() {
            Some(first) => Err(first),
            None => Ok(()),
        }
    }

    /// Every problem of the configuration, in file order (server, pixels, then each rule with all of
    /// its problems); empty when it is valid. `signalpost check` prints them all.
    pub fn problems(&self) -> Vec<ConfigError> {
        let mut problems = Vec::new();
        if let Err(e) = signalpost_tiktok::identity::Region::parse(&self.server.default_region) {
            problems.push(invalid("server.default_region".into(), e.to_string()));
        }
        if let Err(e) = self.timezone() {
            problems.push(e);
        }
        if let Err((key, message)) = self.delivery.validate() {
            problems.push(invalid(key, message));
        }
        for (key, message) in self.limits.problems() {
            problems.push(invalid(key.into(), message));
        }
        if self.server.token_rotation_days == 0 {
            problems.push(invalid(
                "server.token_rotation_days".into(),
                "must be at least 1 (days after which a token should be replaced)",
            ));
        }
        for (i, host) in self.server.allowed_destination_hosts.iter().enumerate() {
            if let Some(problem) = crate::destination_hosts::host_entry_problem(host) {
                problems.push(invalid(
                    format!("server.allowed_destination_hosts[{i}]"),
                    problem,
                ));
            }
        }
        for (i, key) in self.server.api_keys.iter().enumerate() {
            if key.chars().count() < MIN_BOOTSTRAP_KEY_CHARS {
                problems.push(invalid(
                    format!("server.api_keys[{i}]"),
                    format!(
                        "an API key must be at least {MIN_BOOTSTRAP_KEY_CHARS} characters \
                         (generate one with: openssl rand -hex 24)"
                    ),
                ));
            }
        }
        let mut seen = BTreeMap::new();
        for (i, pixel) in self.pixels.iter().enumerate() {
            let key = format!("pixels[{i}]");
            if pixel.code.trim().is_empty() {
                problems.push(invalid(format!("{key}.code"), "must not be empty"));
            }
            match pixel.google_ads_secrets() {
                Some(secrets) => {
                    if let Err(field) = secrets.check() {
                        problems.push(invalid(
                            format!("{key}.{field}"),
                            "required for google_ads pixels: visible ASCII without spaces",
                        ));
                    }
                    if !pixel.access_token.is_empty() {
                        problems.push(invalid(
                            format!("{key}.access_token"),
                            "google_ads pixels take developer_token, client_id, client_secret and refresh_token instead",
                        ));
                    }
                }
                None => {
                    if pixel.access_token.trim().is_empty() {
                        problems.push(invalid(format!("{key}.access_token"), "must not be empty"));
                    }
                    for (field, set) in [
                        ("developer_token", pixel.developer_token.is_some()),
                        ("client_id", pixel.client_id.is_some()),
                        ("client_secret", pixel.client_secret.is_some()),
                        ("refresh_token", pixel.refresh_token.is_some()),
                    ] {
                        if set {
                            problems.push(invalid(
                                format!("{key}.{field}"),
                                "applies to google_ads pixels only",
                            ));
                        }
                    }
                }
            }
            if let Err(e) = crate::pixel_fields::validate_site_url(pixel.site_url.as_deref()) {
                problems.push(invalid(format!("{key}.site_url"), e.detail));
            }
            if let Err(e) = crate::pixel_fields::pixel_region(pixel.default_region.as_deref()) {
                problems.push(invalid(format!("{key}.default_region"), e.detail));
            }
            if let Err(spec_problems) = pixel.destination_spec().resolve() {
                for (field, problem) in spec_problems {
                    problems.push(invalid(format!("{key}.{field}"), problem));
                }
            }
            if let Some(prev) = seen.insert(pixel.code.clone(), i) {
                problems.push(invalid(
                    format!("{key}.code"),
                    format!(
                        "pixel {:?} is already defined at pixels[{prev}]",
                        pixel.code
                    ),
                ));
            }
        }
        let env = self.rule_env();
        let mut names: BTreeMap<String, usize> = BTreeMap::new();
        for (i, raw) in self.rules.iter().enumerate() {
            let named = raw_rule_name(raw);
            if !named.is_empty()
                && let Some(first) = names.insert(named.clone(), i)
            {
                problems.push(ConfigError::Rule {
                    index: Some(i),
                    rule: named.clone(),
                    field: "name".into(),
                    problem: format!("rules[{first}] has the same name"),
                });
            }
            let cfg = match self.rule_config(i, raw) {
                Ok(cfg) => cfg,
                Err(e) => {
                    problems.push(e);
                    continue;
                }
            };
            if let Some(problem) = self.order_id_collision(i, &cfg) {
                problems.push(problem);
            }
            let pixel = cfg.pixel.trim().to_owned();
            match Rule::from_config_in(cfg, &env) {
                Ok(_) if !pixel.is_empty() && !self.pixels.iter().any(|p| p.code == pixel) => {
                    problems.push(ConfigError::Rule {
                        index: Some(i),
                        rule: named,
                        field: "pixel".into(),
                        problem: format!("no [[pixels]] entry has code {pixel:?}"),
                    });
                }
                Ok(_) => {}
                Err(errors) => {
                    problems.extend(errors.into_iter().map(|e| rule_problem(Some(i), e)))
                }
            }
        }
        problems
    }

    /// Rule `i` against the rules before it: Google Ads deduplicates by order id (the event id) per
    /// conversion action, so two rules on one Google Ads pixel, fired by different triggers, with
    /// the same event id template would have Google keep the first conversion of each lead and
    /// answer the second as a duplicate (counted delivered, never attributed).
    fn order_id_collision(&self, i: usize, cfg: &RuleConfig) -> Option<ConfigError> {
        let google = self.pixels.iter().any(|p| {
            p.code == cfg.pixel.trim() && matches!(p.destination(), Destination::GoogleAds(_))
        });
        if !google {
            return None;
        }
        let first = self.rules[..i].iter().position(|raw| {
            raw.clone()
                .try_into()
                .is_ok_and(|other: RuleConfig| cfg.shares_event_ids_with(&other))
        })?;
        let mine = cfg.event_id_template();
        Some(ConfigError::Rule {
            index: Some(i),
            rule: cfg.name.trim().to_owned(),
            field: "event_id".into(),
            problem: format!(
                "rules[{first}] sends to the same Google Ads conversion action with the same event id \
                 {mine:?}, on another trigger: Google keeps one conversion per order id and action, so \
                 give each rule its own event_id (e.g. \"{{transaction_id}}-{}\")",
                cfg.trigger.trim()
            ),
        })
    }

    /// `[server] timezone` as an IANA zone.
    pub fn timezone(&self) -> Result<Tz, ConfigError> {
        parse_timezone(&self.server.timezone)
            .map_err(|message| invalid("server.timezone".into(), message))
    }

    /// What rules are validated and run against: the operator's time zone (UTC when
    /// `[server] timezone` is invalid, which [`Config::problems`] reports).
    pub fn rule_env(&self) -> RuleEnv {
        RuleEnv {
            timezone: self.timezone().unwrap_or(Tz::UTC),
        }
    }
}

impl Config {
    /// The `[[rules]]` tables, typed. Errors name `rules[i]` and the rule.
    pub fn rule_configs(&self) -> Result<Vec<RuleConfig>, ConfigError> {
        self.rules
            .iter()
            .enumerate()
            .map(|(i, value)| self.rule_config(i, value))
            .collect()
    }

    fn rule_config(&self, i: usize, value: &toml::Value) -> Result<RuleConfig, ConfigError> {
        value
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Rule {
                index: Some(i),
                rule: raw_rule_name(value),
                field: String::new(),
                problem: e.message().to_owned(),
            })
    }
}

/// The `name` of a raw rule table, trimmed (empty when absent or not a string).
fn raw_rule_name(value: &toml::Value) -> String {
    value
        .get("name")
        .and_then(toml::Value::as_str)
        .map(str::trim)
        .unwrap_or_default()
        .to_owned()
}

/// A gateway rule problem as a config problem of `rules[index]`.
pub fn rule_problem(index: Option<usize>, e: RuleError) -> ConfigError {
    ConfigError::Rule {
        index,
        rule: e.rule,
        field: e.field,
        problem: e.problem,
    }
}

fn invalid(key: String, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

/// Replaces `${VAR}` in every string value; `$${` escapes a literal `${`.
fn interpolate(
    value: &mut toml::Value,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    match value {
        toml::Value::String(s) if s.contains("${") => {
            *s = interpolate_str(s, path, env)?;
        }
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate(item, &format!("{path}[{i}]"), env)?;
            }
        }
        toml::Value::Table(table) => {
            for (k, v) in table.iter_mut() {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                interpolate(v, &child, env)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn interpolate_str(
    s: &str,
    key: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find("${") {
        if rest[..pos].ends_with('$') {
            out.push_str(&rest[..pos - 1]);
            out.push_str("${");
            rest = &rest[pos + 2..];
            continue;
        }
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 2..];
        let Some(end) = after.find('}') else {
            return Err(invalid(key.to_owned(), "unterminated ${ in value"));
        };
        let var = &after[..end];
        let value = env(var).ok_or_else(|| ConfigError::MissingEnv {
            key: key.to_owned(),
            var: var.to_owned(),
        })?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TT_TOKEN" => Some("secret-token-1234".into()),
            "SIGNALPOST_API_KEYS" => Some("key-from-env-0123456789abcdefghijkl, ".into()),
            _ => None,
        }
    }

    #[test]
    fn interpolates_env_in_strings_and_reads_every_section() {
        let text = r#"
            [server]
            listen = "0.0.0.0:9000"
            api_keys = ["key-from-file-0123456789abcdefghijk"]
            [[pixels]]
            code = "PIX1"
            access_token = "${TT_TOKEN}"
            [[rules]]
            name = "sold"
            trigger = "lead_sold"
            pixel = "PIX1"
            event = "Purchase"
        "#;
        let config = Config::parse(text, &env).unwrap();
        assert_eq!(config.pixels[0].access_token, "secret-token-1234");
        assert_eq!(config.server.listen.port(), 9000);
        assert_eq!(config.rules.len(), 1);
    }

    #[test]
    fn names_the_key_of_a_missing_env_var() {
        let text = "[[pixels]]\ncode = \"P\"\naccess_token = \"${NOPE}\"\n";
        let err = Config::parse(text, &env).unwrap_err().to_string();
        assert_eq!(
            err,
            "pixels[0].access_token: environment variable NOPE is not set"
        );
    }

    #[test]
    fn dollar_escape_keeps_a_literal() {
        assert_eq!(interpolate_str("a$${b}", "k", &env).unwrap(), "a${b}");
    }

    #[test]
    fn rejects_unknown_keys_and_duplicate_pixels() {
        assert!(Config::parse("[server]\nlisten_addr = \"x\"\n", &env).is_err());
        let dup = "[[pixels]]\ncode=\"P\"\naccess_token=\"t\"\n[[pixels]]\ncode=\"P\"\naccess_token=\"u\"\n";
        let config = Config::parse(dup, &env).unwrap();
        let err = config.validate().unwrap_err().to_string();
        assert!(err.starts_with("pixels[1].code"), "{err}");
    }

    #[test]
    fn rule_errors_name_the_rule_position_and_field() {
        let text = r#"
            [[pixels]]
            code = "PIX1"
            access_token = "${TT_TOKEN}"
            [[rules]]
            name = "ok"
            trigger = "form_submit"
            pixel = "PIX1"
            event = "CompleteRegistration"
            [[rules]]
            name = "bad"
            trigger = "lead_sold"
            pixel = "PIX1"
            event = "Registration"
        "#;
        let err = Config::parse(text, &env)
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("rules[1] \"bad\": event: "), "{err}");
        let unknown_pixel = text.replace(
            "pixel = \"PIX1\"\n            event = \"Registration\"",
            "pixel = \"NOPE\"\n            event = \"Purchase\"",
        );
        let err = Config::parse(&unknown_pixel, &env)
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("rules[1] \"bad\": pixel: "), "{err}");
        let typo = "[[rules]]\nname = \"x\"\ntriger = \"lead_sold\"\n";
        let err = Config::parse(typo, &env)
            .unwrap()
            .rule_configs()
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("rules[0] \"x\": unknown field `triger`"),
            "{err}"
        );
    }

    #[test]
    fn a_google_ads_pixel_takes_its_four_credentials_and_bundles_them_as_its_secret() {
        let text = r#"
[[pixels]]
code = "g"
destination = "google_ads"
customer_id = "123-456-7890"
conversion_action = "555"
developer_token = "dev"
client_id = "cid"
client_secret = "csecret"
refresh_token = "1//rt"
"#;
        let config = Config::parse(text, &env).unwrap();
        config.validate().unwrap();
        let pixel = &config.pixels[0];
        let secret = pixel.secret();
        let secrets = google_ads::token::Secrets::from_bundle(&secret).unwrap();
        assert_eq!(secrets.refresh_token, "1//rt");
        assert!(!format!("{pixel:?}").contains("csecret"), "{pixel:?}");
        let Destination::GoogleAds(settings) = pixel.destination() else {
            panic!("google ads")
        };
        assert_eq!(settings.customer_id, "1234567890", "dashes dropped");

        for (broken, key) in [
            (
                text.replace("refresh_token = \"1//rt\"\n", ""),
                "pixels[0].refresh_token",
            ),
            (
                text.replace("conversion_action = \"555\"\n", ""),
                "pixels[0].conversion_action",
            ),
            (
                text.replace("123-456-7890", "12345"),
                "pixels[0].customer_id",
            ),
            (
                format!("{text}access_token = \"t\"\n"),
                "pixels[0].access_token",
            ),
        ] {
            let err = Config::parse(&broken, &env)
                .unwrap()
                .validate()
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(key), "{key}: {err}");
        }
        let tiktok = "[[pixels]]\ncode = \"P\"\naccess_token = \"t\"\nrefresh_token = \"x\"\n";
        let err = Config::parse(tiktok, &env)
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("pixels[0].refresh_token"), "{err}");
    }

    #[test]
    fn two_rules_on_one_google_ads_action_need_their_own_event_ids() {
        let base = r#"
[[pixels]]
code = "g"
destination = "google_ads"
customer_id = "1234567890"
conversion_action = "5"
developer_token = "d"
client_id = "c"
client_secret = "s"
refresh_token = "r"

[[rules]]
name = "reg"
trigger = "form_submit"
pixel = "g"
event = "CompleteRegistration"

[[rules]]
name = "sold"
trigger = "lead_sold"
pixel = "g"
event = "Purchase"
"#;
        let err = Config::parse(base, &env)
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("rules[1] \"sold\": event_id: rules[0]"),
            "{err}"
        );
        let fixed = format!("{base}event_id = \"{{transaction_id}}-sold\"\n");
        Config::parse(&fixed, &env).unwrap().validate().unwrap();
    }

    #[test]
    fn a_pixel_default_region_must_be_a_region_named_by_its_key() {
        let text = "[[pixels]]\ncode = \"P\"\naccess_token = \"t\"\ndefault_region = \"FRA\"\n";
        let err = Config::parse(text, &env)
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("pixels[0].default_region: "), "{err}");
        let ok = text.replace("FRA", " fr ");
        Config::parse(&ok, &env).unwrap().validate().unwrap();
    }

    #[test]
    fn a_pixel_site_url_must_be_an_absolute_http_url_named_by_its_key() {
        let text = "[[pixels]]\ncode = \"P\"\naccess_token = \"t\"\nsite_url = \"shop.example\"\n";
        let err = Config::parse(text, &env)
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("pixels[0].site_url: "), "{err}");
        let ok = text.replace("shop.example", "https://shop.example/");
        let config = Config::parse(&ok, &env).unwrap();
        config.validate().unwrap();
        assert_eq!(
            config.pixels[0].site_url.as_deref(),
            Some("https://shop.example/")
        );
        let strict = Config::parse("[server]\nstrict_delivery = true\n", &env).unwrap();
        assert!(strict.server.strict_delivery);
        assert!(!Config::default().server.strict_delivery);
    }

    #[test]
    fn unknown_default_region_is_refused_at_load() {
        let err = Config::parse("[server]\ndefault_region = \"XX\"\n", &env)
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("server.default_region"), "{err}");
    }

    #[test]
    fn retention_defaults_to_90_days_and_0_keeps_everything() {
        assert_eq!(Config::default().server.retention_days, 90);
        let keep = Config::parse("[server]\nretention_days = 0\n", &env).unwrap();
        assert_eq!(keep.server.retention_days, 0);
        assert!(Config::parse("[server]\nretention_days = -1\n", &env).is_err());
    }

    #[test]
    fn bootstrap_keys_shorter_than_32_characters_are_refused_at_load() {
        let short = "k".repeat(MIN_BOOTSTRAP_KEY_CHARS - 1);
        let err = Config::parse(&format!("[server]\napi_keys = [\"{short}\"]\n"), &env)
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("server.api_keys[0]"), "{err}");
        assert!(err.contains("at least 32 characters"), "{err}");
        assert!(!err.contains(&short), "the key is not echoed: {err}");
        let long = "k".repeat(MIN_BOOTSTRAP_KEY_CHARS);
        let config = Config::parse(&format!("[server]\napi_keys = [\"{long}\"]\n"), &env).unwrap();
        assert!(config.validate().is_ok());
    }

    #[test]
    fn env_api_keys_are_added_and_tokens_never_debug_printed() {
        let config = Config::load_with_env(None, &env).unwrap();
        assert_eq!(
            config.server.api_keys,
            vec!["key-from-env-0123456789abcdefghijkl".to_owned()]
        );
        let pixel = PixelConfig {
            code: "P".into(),
            access_token: "abcdefghijklmnop1234".into(),
            test_event_code: None,
            base_url: None,
            site_url: None,
            default_region: None,
            ..PixelConfig::default()
        };
        let shown = format!("{pixel:?}");
        assert!(!shown.contains("abcdefghijklmnop"), "{shown}");
        assert!(shown.contains("tt_…1234"), "{shown}");
    }
}
