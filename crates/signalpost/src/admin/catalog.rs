//! The operator's catalog: pixels, rules and API keys as stored in the database, with every input
//! validated before it is written. Used by the admin API, the console and the CLI (`apply`, `keys`,
//! `pixels`) alike; it changes only the database — [`super::live::Live`] brings a running server in
//! line with it.

use signalpost_gateway::destinations::{Destination, DestinationPatch, DestinationSpec};
use std::sync::{Arc, RwLock};

use sha2::{Digest, Sha256};
use signalpost_gateway::RuleConfig;
use signalpost_gateway::delivery::AccessToken;
use signalpost_gateway::rules::{Rule, RuleEnv};
use signalpost_gateway::store::StoreError;
use signalpost_gateway::store::settings::{
    KeyScope, SharedSettings, StoredKey, StoredPixel, StoredRule,
};
use signalpost_gateway::time::now_ms;

use super::destinations::Destinations;
use super::vault::Vault;
use crate::pixel_fields::{
    pixel_region, validate_base_url, validate_code, validate_secret, validate_site_url,
    validate_test_code,
};
use crate::wire::problem::FieldError;

/// Why a catalog operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Bad input; each error names its field.
    #[error("invalid: {}", .0.first().map(|e| e.detail.as_str()).unwrap_or(""))]
    Invalid(Vec<FieldError>),
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with what is stored (exists already, still in use).
    #[error("{detail}")]
    Conflict {
        detail: String,
        field: Option<String>,
    },
    /// A stored token does not open with this node's master key.
    #[error("pixel {0}: its stored access token cannot be decrypted with this master key")]
    Sealed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AdminError {
    fn invalid(field: &str, detail: impl Into<String>) -> Self {
        AdminError::Invalid(vec![FieldError::new(field, detail)])
    }
}

/// A pixel to add.
#[derive(Clone)]
pub struct NewPixel {
    pub code: String,
    pub access_token: String,
    pub base_url: Option<String>,
    pub test_event_code: Option<String>,
    /// The advertiser's site: `page.url` of events whose lead has no landing URL or referrer.
    pub site_url: Option<String>,
    /// The region for national phone numbers of leads without `country` (ISO alpha-2, any case).
    pub default_region: Option<String>,
    /// Where its conversions go (a TikTok web pixel when every key is absent).
    pub destination: DestinationSpec,
}

impl std::fmt::Debug for NewPixel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewPixel")
            .field("code", &self.code)
            .field("access_token", &"<token>")
            .field("base_url", &self.base_url)
            .field("test_event_code", &self.test_event_code)
            .field("site_url", &self.site_url)
            .field("default_region", &self.default_region)
            .field("destination", &self.destination)
            .finish()
    }
}

/// Changes to a pixel's settings (absent = unchanged; `Some(None)` clears).
#[derive(Clone, Default)]
pub struct PixelPatch {
    pub base_url: Option<Option<String>>,
    pub test_event_code: Option<Option<String>>,
    pub site_url: Option<Option<String>>,
    pub default_region: Option<Option<String>>,
    /// The pixel's access token, required with a new `base_url` (so that whoever points the pixel
    /// somewhere else must hold the token already); replaces the stored one when given.
    pub access_token: Option<String>,
    /// Its destination's settings (API version, action source, lead event source).
    pub destination: DestinationPatch,
}

impl std::fmt::Debug for PixelPatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PixelPatch")
            .field("base_url", &self.base_url)
            .field("test_event_code", &self.test_event_code)
            .field("site_url", &self.site_url)
            .field("default_region", &self.default_region)
            .field(
                "access_token",
                &self.access_token.as_ref().map(|_| "<token>"),
            )
            .field("destination", &self.destination)
            .finish()
    }
}

/// Why a new `base_url` without the access token is refused.
pub const BASE_URL_NEEDS_TOKEN: &str = "changing base_url requires the pixel's access token in the same request: the stored token never follows a new destination, the one given is stored and sent there instead";

/// A key just created: the only time the plain key exists outside the client.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub stored: StoredKey,
    pub key: String,
}

/// Database-level administration of pixels, rules and keys.
pub struct Catalog {
    settings: SharedSettings,
    vault: Arc<Vault>,
    env: RuleEnv,
    /// Pixels that exist outside the database (the demo pixel) and may be named by rules.
    extra_pixels: Vec<String>,
    /// Where API and console edits may point a pixel (replaced when the config file is reloaded).
    destinations: RwLock<Arc<Destinations>>,
}

impl Catalog {
    /// A catalog over `settings`, sealing tokens with `vault`, validating rules in `env`.
    pub fn new(settings: SharedSettings, vault: Arc<Vault>, env: RuleEnv) -> Self {
        Self {
            settings,
            vault,
            env,
            extra_pixels: Vec::new(),
            destinations: RwLock::new(Arc::new(Destinations::default())),
        }
    }

    /// The destination policy of the config file in force.
    pub fn destinations(&self) -> Arc<Destinations> {
        match self.destinations.read() {
            Ok(d) => d.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the destination policy (at start and when the config file is reloaded).
    pub fn set_destinations(&self, destinations: Destinations) {
        let destinations = Arc::new(destinations);
        match self.destinations.write() {
            Ok(mut d) => *d = destinations,
            Err(poisoned) => *poisoned.into_inner() = destinations,
        }
    }

    /// Lets rules name `code` although it is not stored (the demo pixel).
    pub fn with_extra_pixel(mut self, code: &str) -> Self {
        self.extra_pixels.push(code.to_owned());
        self
    }

    /// The settings store.
    pub fn settings(&self) -> &SharedSettings {
        &self.settings
    }

    /// The rule environment (operator time zone).
    pub fn rule_env(&self) -> &RuleEnv {
        &self.env
    }

    /// The plain token of a stored pixel (for the delivery engine only).
    pub fn open_token(&self, pixel: &StoredPixel) -> Result<AccessToken, AdminError> {
        self.vault
            .open(&pixel.code, &pixel.sealed_token)
            .map(AccessToken::new)
            .map_err(|_| AdminError::Sealed(pixel.code.clone()))
    }

    // ---- pixels ----

    /// Every stored pixel, by code.
    pub async fn pixels(&self) -> Result<Vec<StoredPixel>, AdminError> {
        Ok(self.settings.list_pixels().await?)
    }

    /// One stored pixel.
    pub async fn pixel(&self, code: &str) -> Result<StoredPixel, AdminError> {
        self.pixels()
            .await?
            .into_iter()
            .find(|p| p.code == code)
            .ok_or_else(|| AdminError::NotFound(format!("no pixel with code {code:?}")))
    }

    /// Adds a pixel; refused when the code exists.
    pub async fn create_pixel(&self, new: NewPixel) -> Result<StoredPixel, AdminError> {
        let mut errors = Vec::new();
        collect(&mut errors, validate_code(&new.code));
        // An invalid destination is reported below; its secret is then read as a token.
        let kind = new.destination.resolve().unwrap_or_default();
        collect(&mut errors, validate_secret(&kind, &new.access_token));
        // A Google Ads token endpoint is a destination too: the same host rule as base_url.
        if let Some(token_url) = &new.destination.token_url {
            collect(
                &mut errors,
                self.destinations()
                    .check(token_url)
                    .map_err(|e| FieldError::new("token_url", e.detail)),
            );
        }
        match validate_base_url(new.base_url.as_deref()) {
            Ok(()) => {
                if let Some(base_url) = &new.base_url {
                    collect(&mut errors, self.destinations().check(base_url));
                }
            }
            Err(e) => errors.push(e),
        }
        collect(
            &mut errors,
            validate_test_code(new.test_event_code.as_deref()),
        );
        collect(&mut errors, validate_site_url(new.site_url.as_deref()));
        let default_region = pixel_region(new.default_region.as_deref())
            .map_err(|e| errors.push(e))
            .ok()
            .flatten();
        let destination = match new.destination.resolve() {
            Ok(destination) => destination.to_stored(),
            Err(problems) => {
                errors.extend(
                    problems
                        .into_iter()
                        .map(|(field, problem)| FieldError::new(field, problem)),
                );
                None
            }
        };
        if !errors.is_empty() {
            return Err(AdminError::Invalid(errors));
        }
        if self.extra_pixels.contains(&new.code)
            || self.pixels().await?.iter().any(|p| p.code == new.code)
        {
            return Err(AdminError::Conflict {
                detail: format!("a pixel with code {:?} exists already", new.code),
                field: Some("code".into()),
            });
        }
        let now = now_ms();
        let pixel = StoredPixel {
            sealed_token: self.vault.seal(&new.code, &new.access_token),
            token_last4: last4(&new.access_token),
            token_set_at_ms: now,
            code: new.code,
            base_url: new.base_url,
            test_event_code: new.test_event_code,
            site_url: new.site_url,
            default_region,
            destination,
            paused_reason: None,
            paused_at_ms: None,
            config_digest: None,
            created_at_ms: now,
            updated_at_ms: now,
        };
        self.settings.put_pixel(pixel.clone()).await?;
        Ok(pixel)
    }

    /// Changes a pixel's base URL, destination settings, default test code, site URL or region.
    /// Nothing is stored unless every change is valid.
    pub async fn update_pixel(
        &self,
        code: &str,
        patch: PixelPatch,
    ) -> Result<StoredPixel, AdminError> {
        let mut pixel = self.pixel(code).await?;
        if let Some(Some(token_url)) = &patch.destination.token_url {
            // A Google Ads token endpoint is a destination too: the same host rule as base_url.
            self.destinations()
                .check(token_url)
                .map_err(|e| AdminError::Invalid(vec![FieldError::new("token_url", e.detail)]))?;
        }
        if !patch.destination.is_empty() {
            let current = Destination::from_stored(pixel.destination.as_deref())
                .map_err(|e| AdminError::invalid("destination", e))?;
            let changed = patch.destination.apply(&current).map_err(|problems| {
                AdminError::Invalid(
                    problems
                        .into_iter()
                        .map(|(field, problem)| FieldError::new(field, problem))
                        .collect(),
                )
            })?;
            pixel.destination = changed.to_stored();
        }
        if let Some(site_url) = patch.site_url {
            validate_site_url(site_url.as_deref()).map_err(|e| AdminError::Invalid(vec![e]))?;
            pixel.site_url = site_url;
        }
        if let Some(region) = patch.default_region {
            pixel.default_region =
                pixel_region(region.as_deref()).map_err(|e| AdminError::Invalid(vec![e]))?;
        }
        if let Some(base_url) = patch.base_url {
            validate_base_url(base_url.as_deref()).map_err(|e| AdminError::Invalid(vec![e]))?;
            // Pointing the pixel back at TikTok's API (null) cannot lead the token away.
            if let Some(new) = base_url.as_deref()
                && pixel.base_url.as_deref() != Some(new)
            {
                self.destinations()
                    .check(new)
                    .map_err(|e| AdminError::Invalid(vec![e]))?;
                if patch.access_token.is_none() {
                    return Err(AdminError::invalid("access_token", BASE_URL_NEEDS_TOKEN));
                }
            }
            pixel.base_url = base_url;
        }
        if let Some(token) = &patch.access_token {
            let kind = Destination::from_stored(pixel.destination.as_deref()).unwrap_or_default();
            validate_secret(&kind, token).map_err(|e| AdminError::Invalid(vec![e]))?;
            self.replace_token(&mut pixel, token, now_ms());
        }
        if let Some(test_code) = patch.test_event_code {
            validate_test_code(test_code.as_deref()).map_err(|e| AdminError::Invalid(vec![e]))?;
            pixel.test_event_code = test_code;
        }
        pixel.updated_at_ms = now_ms();
        self.settings.put_pixel(pixel.clone()).await?;
        Ok(pixel)
    }

    /// Replaces a pixel's access token (it is then no longer paused).
    pub async fn set_token(&self, code: &str, token: &str) -> Result<StoredPixel, AdminError> {
        let mut pixel = self.pixel(code).await?;
        let kind = Destination::from_stored(pixel.destination.as_deref()).unwrap_or_default();
        validate_secret(&kind, token).map_err(|e| AdminError::Invalid(vec![e]))?;
        let now = now_ms();
        self.replace_token(&mut pixel, token, now);
        pixel.updated_at_ms = now;
        self.settings.put_pixel(pixel.clone()).await?;
        Ok(pixel)
    }

    /// Seals `token` as the pixel's new token at `now`; a pixel paused for its old token is no longer
    /// paused.
    fn replace_token(&self, pixel: &mut StoredPixel, token: &str, now: i64) {
        pixel.sealed_token = self.vault.seal(&pixel.code, token);
        pixel.token_last4 = last4(token);
        // Strictly increasing, so an observation about the old token never matches the new one.
        pixel.token_set_at_ms = now.max(pixel.token_set_at_ms + 1);
        pixel.paused_reason = None;
        pixel.paused_at_ms = None;
    }

    /// Deletes a pixel no rule names.
    pub async fn delete_pixel(&self, code: &str) -> Result<(), AdminError> {
        let users: Vec<String> = self
            .rule_configs()
            .await?
            .into_iter()
            .filter(|(_, cfg)| cfg.pixel == code)
            .map(|(stored, _)| stored.name)
            .collect();
        if !users.is_empty() {
            return Err(AdminError::Conflict {
                detail: format!(
                    "pixel {code:?} is used by rule(s) {}; delete or change them first",
                    users.join(", ")
                ),
                field: None,
            });
        }
        if self.settings.delete_pixel(code).await? {
            Ok(())
        } else {
            Err(AdminError::NotFound(format!("no pixel with code {code:?}")))
        }
    }

    /// Stores a pixel exactly as given (config apply).
    pub(crate) async fn put_pixel(&self, pixel: StoredPixel) -> Result<(), AdminError> {
        Ok(self.settings.put_pixel(pixel).await?)
    }

    /// Seals `token` for `code`.
    pub(crate) fn seal(&self, code: &str, token: &str) -> Vec<u8> {
        self.vault.seal(code, token)
    }

    // ---- rules ----

    /// Every stored rule, oldest first.
    pub async fn rules(&self) -> Result<Vec<StoredRule>, AdminError> {
        Ok(self.settings.list_rules().await?)
    }

    /// Stored rules with their parsed configs (a row that no longer parses is skipped with a log).
    pub async fn rule_configs(&self) -> Result<Vec<(StoredRule, RuleConfig)>, AdminError> {
        let mut out = Vec::new();
        for stored in self.rules().await? {
            match serde_json::from_str::<RuleConfig>(&stored.config) {
                Ok(cfg) => out.push((stored, cfg)),
                Err(e) => {
                    tracing::error!(rule = %stored.name, error = %e, "a stored rule does not parse; it is ignored")
                }
            }
        }
        Ok(out)
    }

    /// One stored rule.
    pub async fn rule(&self, name: &str) -> Result<StoredRule, AdminError> {
        self.rules()
            .await?
            .into_iter()
            .find(|r| r.name == name)
            .ok_or_else(|| AdminError::NotFound(format!("no rule named {name:?}")))
    }

    /// Checks a rule config: the gateway's rule validation (every problem at its path) and that its
    /// pixel exists.
    pub async fn validate_rule(&self, cfg: &RuleConfig) -> Result<(), AdminError> {
        let mut errors: Vec<FieldError> = match Rule::from_config_in(cfg.clone(), &self.env) {
            Ok(_) => Vec::new(),
            Err(problems) => problems
                .into_iter()
                .map(|p| FieldError::new(p.field, p.problem))
                .collect(),
        };
        let pixel = cfg.pixel.trim();
        if !pixel.is_empty()
            && !errors.iter().any(|e| e.field == "pixel")
            && !self.extra_pixels.iter().any(|p| p == pixel)
            && !self.pixels().await?.iter().any(|p| p.code == pixel)
        {
            errors.push(FieldError::new(
                "pixel",
                format!("no pixel has code {pixel:?}; add it first (POST /v1/pixels)"),
            ));
        }
        if errors.is_empty()
            && let Some(problem) = self.order_id_collision(cfg).await?
        {
            errors.push(problem);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(AdminError::Invalid(errors))
        }
    }

    /// A stored rule `cfg` would collide with on a Google Ads pixel: Google keeps one conversion
    /// per order id (the event id) and conversion action, so two rules there, fired by different
    /// triggers with the same event id template, would lose the second conversion of each lead
    /// (answered as a duplicate, counted delivered). The config file's check is the same.
    async fn order_id_collision(&self, cfg: &RuleConfig) -> Result<Option<FieldError>, AdminError> {
        let pixel = cfg.pixel.trim();
        let google = self.pixels().await?.iter().any(|p| {
            p.code == pixel
                && matches!(
                    Destination::from_stored(p.destination.as_deref()),
                    Ok(Destination::GoogleAds(_))
                )
        });
        if !google {
            return Ok(None);
        }
        let mine = cfg.event_id_template();
        let other = self.rules().await?.into_iter().find_map(|stored| {
            let other: RuleConfig = serde_json::from_str(&stored.config).ok()?;
            cfg.shares_event_ids_with(&other).then_some(stored.name)
        });
        Ok(other.map(|name| {
            FieldError::new(
                "event_id",
                format!(
                    "rule {name:?} sends to the same Google Ads conversion action with the same event id \
                     {mine:?}, on another trigger: Google keeps one conversion per order id and action, \
                     so give this rule its own event_id (e.g. \"{{transaction_id}}-{}\")",
                    cfg.trigger.trim()
                ),
            )
        }))
    }

    /// Adds a rule; refused when the name exists.
    pub async fn create_rule(&self, cfg: RuleConfig) -> Result<StoredRule, AdminError> {
        self.validate_rule(&cfg).await?;
        let name = cfg.name.trim().to_owned();
        if self.rules().await?.iter().any(|r| r.name == name) {
            return Err(AdminError::Conflict {
                detail: format!(
                    "a rule named {name:?} exists already; PUT /v1/rules/{name} replaces it"
                ),
                field: Some("name".into()),
            });
        }
        let now = now_ms();
        let rule = StoredRule {
            config: rule_json(&cfg)?,
            name,
            enabled: true,
            config_digest: None,
            created_at_ms: now,
            updated_at_ms: now,
        };
        self.settings.put_rule(rule.clone()).await?;
        Ok(rule)
    }

    /// Replaces the rule `name` (created when absent); the body's name must match when given.
    pub async fn replace_rule(
        &self,
        name: &str,
        mut cfg: RuleConfig,
    ) -> Result<StoredRule, AdminError> {
        if cfg.name.trim().is_empty() {
            cfg.name = name.to_owned();
        } else if cfg.name.trim() != name {
            return Err(AdminError::invalid(
                "name",
                format!(
                    "the body names rule {:?} but the URL names {name:?}; rename by deleting and creating",
                    cfg.name
                ),
            ));
        }
        self.validate_rule(&cfg).await?;
        let now = now_ms();
        let existing = self.rules().await?.into_iter().find(|r| r.name == name);
        let rule = StoredRule {
            name: name.to_owned(),
            config: rule_json(&cfg)?,
            enabled: existing.as_ref().is_none_or(|r| r.enabled),
            config_digest: existing.as_ref().and_then(|r| r.config_digest.clone()),
            created_at_ms: existing.as_ref().map_or(now, |r| r.created_at_ms),
            updated_at_ms: now,
        };
        self.settings.put_rule(rule.clone()).await?;
        Ok(rule)
    }

    /// Enables or disables a rule (a disabled rule is kept but never fires).
    pub async fn set_rule_enabled(
        &self,
        name: &str,
        enabled: bool,
    ) -> Result<StoredRule, AdminError> {
        let mut rule = self.rule(name).await?;
        rule.enabled = enabled;
        rule.updated_at_ms = now_ms();
        self.settings.put_rule(rule.clone()).await?;
        Ok(rule)
    }

    /// Deletes a rule (its queued conversions are kept and still delivered).
    pub async fn delete_rule(&self, name: &str) -> Result<(), AdminError> {
        if self.settings.delete_rule(name).await? {
            Ok(())
        } else {
            Err(AdminError::NotFound(format!("no rule named {name:?}")))
        }
    }

    /// Stores a rule exactly as given (config apply).
    pub(crate) async fn put_rule(&self, rule: StoredRule) -> Result<(), AdminError> {
        Ok(self.settings.put_rule(rule).await?)
    }

    // ---- keys ----

    /// Every stored key, revoked ones included.
    pub async fn keys(&self) -> Result<Vec<StoredKey>, AdminError> {
        Ok(self.settings.list_keys().await?)
    }

    /// Creates a key of `scope`; the plain key is in the answer and nowhere else.
    pub async fn create_key(&self, scope: KeyScope, label: &str) -> Result<CreatedKey, AdminError> {
        let label = label.trim();
        if label.chars().count() > 100 {
            return Err(AdminError::invalid("label", "at most 100 characters"));
        }
        if label.chars().any(char::is_control) {
            return Err(AdminError::invalid(
                "label",
                "must not contain control characters",
            ));
        }
        let key = format!("sp_{}", hex::encode(rand::random::<[u8; 32]>()));
        let stored = StoredKey {
            id: format!("key_{}", hex::encode(rand::random::<[u8; 8]>())),
            digest: hex::encode(Sha256::digest(key.as_bytes())),
            prefix: key.chars().take(10).collect(),
            scope,
            label: label.to_owned(),
            created_at_ms: now_ms(),
            revoked_at_ms: None,
        };
        self.settings.insert_key(stored.clone()).await?;
        Ok(CreatedKey { stored, key })
    }

    /// Revokes a key: it stops working at once on this node, within the settings poll on others.
    pub async fn revoke_key(&self, id: &str) -> Result<(), AdminError> {
        if self.settings.revoke_key(id, now_ms()).await? {
            Ok(())
        } else if self.keys().await?.iter().any(|k| k.id == id) {
            Err(AdminError::Conflict {
                detail: format!("key {id:?} is already revoked"),
                field: None,
            })
        } else {
            Err(AdminError::NotFound(format!("no key with id {id:?}")))
        }
    }
}

fn collect(errors: &mut Vec<FieldError>, result: Result<(), FieldError>) {
    if let Err(e) = result {
        errors.push(e);
    }
}

/// The rule config as stored (compact JSON).
fn rule_json(cfg: &RuleConfig) -> Result<String, AdminError> {
    serde_json::to_string(cfg)
        .map_err(|e| AdminError::Store(StoreError::Io(format!("cannot encode the rule: {e}"))))
}

/// The last four characters of a token (for `tt_…last4`).
pub fn last4(token: &str) -> String {
    let chars: Vec<char> = token.chars().collect();
    if chars.len() < 12 {
        return String::new();
    }
    chars[chars.len() - 4..].iter().collect()
}

/// A token as displayed: `tt_…last4`.
pub fn redacted(last4: &str) -> String {
    format!("tt_…{last4}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_show_only_their_last_four_characters_and_short_ones_none() {
        assert_eq!(last4("0123456789abcdef"), "cdef");
        assert_eq!(last4("short"), "");
        assert_eq!(redacted("cdef"), "tt_…cdef");
    }
}
