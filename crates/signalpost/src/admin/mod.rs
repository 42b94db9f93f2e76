//! Administration: pixels, rules and API keys stored in the database ([`catalog`]), access tokens
//! sealed at rest ([`vault`]), the config file applied as a bootstrap ([`apply`]), and the running
//! server kept in line with the database ([`live`]). [`Admin`] is what the HTTP API and the console
//! call: each edit goes to the database, then this node reloads at once (other nodes within their
//! poll interval).

pub mod apply;
pub mod catalog;
pub mod destinations;
pub mod live;
pub mod vault;
pub mod views;

use std::sync::Arc;

use signalpost_gateway::RuleConfig;
use signalpost_gateway::delivery::PixelState;
use signalpost_gateway::store::settings::KeyScope;
use signalpost_gateway::time::now_ms;

pub use catalog::{AdminError, Catalog, NewPixel, PixelPatch};
pub use live::Live;
use views::{KeyView, NewKeyView, PixelView, RuleView, TokenRotated};

/// The admin operations of a running server.
#[derive(Clone)]
pub struct Admin {
    live: Arc<Live>,
}

impl Admin {
    /// Admin over a live view.
    pub fn new(live: Arc<Live>) -> Self {
        Self { live }
    }

    fn catalog(&self) -> &Catalog {
        self.live.catalog()
    }

    /// The destination policy in force (whose answers Test Postback may show in full).
    pub fn destinations(&self) -> Arc<destinations::Destinations> {
        self.catalog().destinations()
    }

    /// What rules are validated against (the operator's time zone).
    pub fn rule_env(&self) -> signalpost_gateway::rules::RuleEnv {
        *self.catalog().rule_env()
    }

    async fn reload(&self) -> Result<(), AdminError> {
        self.live.reload_now().await
    }

    /// Every pixel with its health (the demo pixel included, marked as such).
    pub async fn list_pixels(&self) -> Result<Vec<PixelView>, AdminError> {
        let now = now_ms();
        let registry = self.live.registry();
        let mut out: Vec<PixelView> = self
            .catalog()
            .pixels()
            .await?
            .iter()
            .map(|p| {
                PixelView::stored(
                    p,
                    registry.get(&p.code).map(|s| s.state),
                    self.live.token_rotation(),
                    now,
                )
            })
            .collect();
        let rules = self.live.gateway().rules();
        for snapshot in registry.snapshot() {
            if !out.iter().any(|p| p.code == snapshot.config.code) {
                out.push(PixelView::demo(
                    &snapshot,
                    rules.site_url(&snapshot.config.code),
                ));
            }
        }
        Ok(out)
    }

    /// One pixel with its health.
    pub async fn get_pixel(&self, code: &str) -> Result<PixelView, AdminError> {
        self.list_pixels()
            .await?
            .into_iter()
            .find(|p| p.code == code)
            .ok_or_else(|| AdminError::NotFound(format!("no pixel with code {code:?}")))
    }

    /// Adds a pixel.
    pub async fn create_pixel(&self, new: NewPixel) -> Result<PixelView, AdminError> {
        let code = new.code.clone();
        self.catalog().create_pixel(new).await?;
        self.reload().await?;
        self.get_pixel(&code).await
    }

    /// Changes a pixel's destination, default test code or site URL.
    pub async fn update_pixel(
        &self,
        code: &str,
        patch: PixelPatch,
    ) -> Result<PixelView, AdminError> {
        self.catalog().update_pixel(code, patch).await?;
        self.reload().await?;
        self.get_pixel(code).await
    }

    /// Replaces a pixel's token; a paused pixel resumes and its held events are sent.
    pub async fn set_token(&self, code: &str, token: &str) -> Result<TokenRotated, AdminError> {
        let was_paused = self
            .live
            .registry()
            .get(code)
            .is_some_and(|p| matches!(p.state, PixelState::Paused { .. }));
        self.catalog().set_token(code, token).await?;
        self.reload().await?;
        let pixel = self.get_pixel(code).await?;
        if was_paused {
            tracing::info!(pixel = %code, token = %pixel.token, "access token replaced: paused events resume");
        } else {
            tracing::info!(pixel = %code, token = %pixel.token, "access token replaced");
        }
        Ok(TokenRotated {
            resumed: was_paused,
            pixel,
        })
    }

    /// Deletes a pixel no rule names.
    pub async fn delete_pixel(&self, code: &str) -> Result<(), AdminError> {
        self.catalog().delete_pixel(code).await?;
        self.reload().await
    }

    /// Every stored rule.
    pub async fn list_rules(&self) -> Result<Vec<RuleView>, AdminError> {
        Ok(self
            .catalog()
            .rule_configs()
            .await?
            .into_iter()
            .map(|(stored, cfg)| RuleView::new(&stored, cfg))
            .collect())
    }

    /// One rule.
    pub async fn get_rule(&self, name: &str) -> Result<RuleView, AdminError> {
        self.list_rules()
            .await?
            .into_iter()
            .find(|r| r.name == name)
            .ok_or_else(|| AdminError::NotFound(format!("no rule named {name:?}")))
    }

    /// Adds a rule.
    pub async fn create_rule(&self, cfg: RuleConfig) -> Result<RuleView, AdminError> {
        let stored = self.catalog().create_rule(cfg).await?;
        self.reload().await?;
        self.get_rule(&stored.name).await
    }

    /// Replaces (or creates) the rule `name`.
    pub async fn replace_rule(&self, name: &str, cfg: RuleConfig) -> Result<RuleView, AdminError> {
        self.catalog().replace_rule(name, cfg).await?;
        self.reload().await?;
        self.get_rule(name).await
    }

    /// Enables or disables a rule.
    pub async fn set_rule_enabled(
        &self,
        name: &str,
        enabled: bool,
    ) -> Result<RuleView, AdminError> {
        self.catalog().set_rule_enabled(name, enabled).await?;
        self.reload().await?;
        self.get_rule(name).await
    }

    /// Deletes a rule.
    pub async fn delete_rule(&self, name: &str) -> Result<(), AdminError> {
        self.catalog().delete_rule(name).await?;
        self.reload().await
    }

    /// Every stored key (never the key itself).
    pub async fn list_keys(&self) -> Result<Vec<KeyView>, AdminError> {
        Ok(self
            .catalog()
            .keys()
            .await?
            .iter()
            .map(KeyView::new)
            .collect())
    }

    /// Creates a key; the answer is the only place the key is ever shown.
    pub async fn create_key(&self, scope: KeyScope, label: &str) -> Result<NewKeyView, AdminError> {
        let created = self.catalog().create_key(scope, label).await?;
        self.reload().await?;
        tracing::info!(id = %created.stored.id, scope = scope.as_str(), "API key created");
        Ok(NewKeyView::new(&created))
    }

    /// Revokes a key.
    pub async fn revoke_key(&self, id: &str) -> Result<(), AdminError> {
        self.catalog().revoke_key(id).await?;
        self.reload().await?;
        tracing::info!(id = %id, "API key revoked");
        Ok(())
    }
}
