//! Keeps a running server in line with the catalog: the delivery engine's pixel registry, the
//! gateway's rules and the accepted API keys are rebuilt from the database whenever its settings
//! version moves (an edit through this node, another node, the CLI or a config reload), checked
//! every poll interval. The same loop writes the engine's observations back: a pixel paused because
//! TikTok refused its token is recorded (so the pause survives a restart and shows in `GET
//! /v1/pixels` on every node), and token health (paused, age, "rotate soon") is published as metrics
//! and logged once per token.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use signalpost_gateway::delivery::{PixelConfig as DeliveryPixel, PixelRegistry, PixelState};
use signalpost_gateway::store::settings::{StoredKey, StoredPixel};
use signalpost_gateway::time::now_ms;
use signalpost_gateway::{Gateway, RuleConfig, RuleSet};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::catalog::{AdminError, Catalog, redacted};
use super::destinations::Destinations;
use crate::api_keys::ApiKeys;
use crate::config::PixelConfig;
use crate::pixel_wiring::delivery_pixel;

/// Default age after which a token's health says "rotate soon".
pub const DEFAULT_TOKEN_ROTATION: Duration = Duration::from_secs(90 * 24 * 3600);

/// What the loop remembers between passes.
#[derive(Default)]
struct Seen {
    /// Settings version last loaded (`None` before the first load).
    version: Option<i64>,
    /// Stored pixels as last loaded.
    pixels: BTreeMap<String, StoredPixel>,
    /// Tokens (pixel, set-at) whose "rotate soon" was logged.
    rotate_logged: BTreeSet<(String, i64)>,
}

/// The running server's view of the catalog.
pub struct Live {
    catalog: Arc<Catalog>,
    registry: PixelRegistry,
    gateway: Arc<Gateway>,
    keys: ApiKeys,
    /// The demo pixel and rules (never stored).
    demo: Option<(PixelConfig, Vec<RuleConfig>)>,
    token_rotation: Duration,
    seen: Mutex<Seen>,
}

impl Live {
    /// A live view; call [`Live::refresh`] once before serving.
    pub fn new(
        catalog: Arc<Catalog>,
        registry: PixelRegistry,
        gateway: Arc<Gateway>,
        keys: ApiKeys,
        demo: Option<(PixelConfig, Vec<RuleConfig>)>,
        token_rotation: Duration,
    ) -> Self {
        Self {
            catalog,
            registry,
            gateway,
            keys,
            demo,
            token_rotation,
            seen: Mutex::new(Seen::default()),
        }
    }

    /// The demo pixel's destination (a host trusted like one the config file names).
    pub fn demo_base_url(&self) -> Option<&str> {
        self.demo.as_ref().and_then(|(p, _)| p.base_url.as_deref())
    }

    /// The catalog behind this view.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// How old a token may get before its health says "rotate soon".
    pub fn token_rotation(&self) -> Duration {
        self.token_rotation
    }

    /// The pixel registry the engine delivers with.
    pub fn registry(&self) -> &PixelRegistry {
        &self.registry
    }

    /// The ingest gateway this view keeps in line (its rules carry the pixels' `site_url`s).
    pub fn gateway(&self) -> &Arc<Gateway> {
        &self.gateway
    }

    /// One pass: record pause changes, reload everything if the settings moved, publish health.
    pub async fn refresh(&self) -> Result<(), AdminError> {
        let mut seen = self.seen.lock().await;
        self.record_pauses(&mut seen).await?;
        let version = self.catalog.settings().settings_version().await?;
        if seen.version != Some(version) {
            let first = seen.version.is_none();
            self.reload(&mut seen, first).await?;
            seen.version = Some(version);
        }
        self.publish_health(&mut seen);
        Ok(())
    }

    /// Reloads now, whatever the version says (after an edit through this node).
    pub async fn reload_now(&self) -> Result<(), AdminError> {
        {
            let mut seen = self.seen.lock().await;
            seen.version = Some(-1);
        }
        self.refresh().await
    }

    /// Runs [`Live::refresh`] every `every` until `stop`.
    pub fn spawn(self: Arc<Self>, every: Duration, stop: CancellationToken) {
        tokio::spawn(async move {
            let mut failing = false;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(every) => {}
                }
                match self.refresh().await {
                    Ok(()) => failing = false,
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(error = %e, "cannot refresh pixels, rules and keys from the database; will retry");
                    }
                    Err(_) => {}
                }
            }
        });
    }

    async fn reload(&self, seen: &mut Seen, first: bool) -> Result<(), AdminError> {
        let stored = self.catalog.pixels().await?;
        let destinations = self.catalog.destinations();
        let mut pixels: Vec<DeliveryPixel> = Vec::with_capacity(stored.len() + 1);
        let mut paused_at_start = Vec::new();
        for p in &stored {
            let token = match self.catalog.open_token(p) {
                Ok(token) => token,
                Err(e) => {
                    tracing::error!(pixel = %p.code, error = %e, "pixel skipped");
                    continue;
                }
            };
            pixels.push(stored_delivery_pixel(p, token, &destinations));
            if let Some(reason) = &p.paused_reason {
                paused_at_start.push((p.code.clone(), reason.clone()));
            }
        }
        let mut site_urls: BTreeMap<String, String> = stored
            .iter()
            .filter_map(|p| Some((p.code.clone(), p.site_url.clone()?)))
            .collect();
        let pixel_regions: BTreeMap<String, signalpost_tiktok::identity::Region> = stored
            .iter()
            .filter_map(|p| {
                let region = p.default_region.as_deref()?;
                Some((
                    p.code.clone(),
                    signalpost_tiktok::identity::Region::parse(region).ok()?,
                ))
            })
            .collect();
        let mut pixel_destinations: BTreeMap<
            String,
            signalpost_gateway::destinations::Destination,
        > = stored
            .iter()
            .map(|p| (p.code.clone(), stored_destination(p)))
            .collect();
        let mut rule_configs: Vec<RuleConfig> = Vec::new();
        let env = *self.catalog.rule_env();
        for (rule, cfg) in self.catalog.rule_configs().await? {
            if !rule.enabled {
                continue;
            }
            let known = pixels.iter().any(|p| p.code == cfg.pixel)
                || self.demo.as_ref().is_some_and(|(d, _)| d.code == cfg.pixel);
            if !known {
                tracing::error!(rule = %rule.name, pixel = %cfg.pixel, "rule skipped: its pixel does not exist");
                continue;
            }
            match signalpost_gateway::Rule::from_config_in(cfg.clone(), &env) {
                Ok(_) => rule_configs.push(cfg),
                Err(errors) => {
                    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
                    tracing::error!(rule = %rule.name, problems = %lines.join("; "), "rule skipped: it is not valid");
                }
            }
        }
        if let Some((pixel, rules)) = &self.demo {
            pixels.push(delivery_pixel(pixel));
            rule_configs.extend(rules.iter().cloned());
            if let Some(site_url) = &pixel.site_url {
                site_urls.insert(pixel.code.clone(), site_url.clone());
            }
        }
        let rules = RuleSet::load(rule_configs, &env)
            .map_err(|errors| {
                let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
                AdminError::Invalid(vec![crate::wire::problem::FieldError::new(
                    "rules",
                    lines.join("; "),
                )])
            })?
            .with_site_urls(site_urls)
            .with_pixel_regions(pixel_regions)
            .with_destinations(std::mem::take(&mut pixel_destinations));
        for (code, change) in self.registry.sync(pixels) {
            if let signalpost_gateway::delivery::Upsert::TokenReplaced { resumed } = change {
                tracing::info!(pixel = %code, resumed, "pixel token replaced");
            }
        }
        if first {
            // A pause recorded before a restart holds until the token is replaced.
            for (code, reason) in paused_at_start {
                self.registry.pause(&code, &reason);
            }
        }
        self.gateway.replace_rules(rules);
        self.keys
            .replace_stored(active_key_digests(self.catalog.keys().await?));
        seen.pixels = stored.into_iter().map(|p| (p.code.clone(), p)).collect();
        Ok(())
    }

    /// Writes the engine's pause/resume observations to the database.
    async fn record_pauses(&self, seen: &mut Seen) -> Result<(), AdminError> {
        let now = now_ms();
        for snapshot in self.registry.snapshot() {
            let Some(stored) = seen.pixels.get_mut(&snapshot.config.code) else {
                continue;
            };
            let paused = match &snapshot.state {
                PixelState::Paused { reason } => Some(reason.clone()),
                PixelState::Active => None,
            };
            if paused.is_some() == stored.paused_reason.is_some() {
                continue;
            }
            self.catalog
                .settings()
                .set_pixel_paused(&stored.code, stored.token_set_at_ms, paused.as_deref(), now)
                .await?;
            stored.paused_at_ms = paused.as_ref().map(|_| now);
            stored.paused_reason = paused;
        }
        Ok(())
    }

    fn publish_health(&self, seen: &mut Seen) {
        let now = now_ms();
        let states: BTreeMap<String, bool> = self
            .registry
            .snapshot()
            .into_iter()
            .map(|s| (s.config.code, matches!(s.state, PixelState::Paused { .. })))
            .collect();
        let mut to_log = Vec::new();
        for p in seen.pixels.values() {
            let age = token_age(p, now);
            let rotate = age >= self.token_rotation;
            let paused = states.get(&p.code).copied().unwrap_or(false);
            let destination = stored_destination(p);
            crate::metrics::set_pixel_health(
                &p.code,
                destination.name(),
                paused,
                age.as_secs(),
                rotate,
            );
            if rotate
                && !seen
                    .rotate_logged
                    .contains(&(p.code.clone(), p.token_set_at_ms))
            {
                to_log.push((
                    p.code.clone(),
                    p.token_set_at_ms,
                    p.token_last4.clone(),
                    age,
                ));
            }
        }
        for (code, set_at, last4, age) in to_log {
            tracing::warn!(
                pixel = %code,
                token = %redacted(&last4),
                age_days = age.as_secs() / 86_400,
                "the pixel's access token is due for rotation: generate a new one in TikTok Events Manager \
                 and set it with PUT /v1/pixels/{{code}}/token or `signalpost pixels set-token`"
            );
            seen.rotate_logged.insert((code, set_at));
        }
    }
}

/// A stored pixel as the delivery engine holds it: TikTok's production API unless `base_url` is
/// set, and allowed to reach non-public addresses only when the config file names its host.
pub fn stored_delivery_pixel(
    p: &StoredPixel,
    token: signalpost_gateway::delivery::AccessToken,
    destinations: &Destinations,
) -> DeliveryPixel {
    let destination = stored_destination(p);
    DeliveryPixel {
        code: p.code.clone(),
        access_token: token,
        base_url: p
            .base_url
            .clone()
            .unwrap_or_else(|| destination.default_base_url().to_owned()),
        addresses: destinations.addresses_for(p.base_url.as_deref()),
        test_event_code: p.test_event_code.clone(),
        destination,
    }
}

/// A stored pixel's destination; a TikTok web pixel when the stored value cannot be read (logged:
/// only a hand-edited database gets there).
pub fn stored_destination(p: &StoredPixel) -> signalpost_gateway::destinations::Destination {
    signalpost_gateway::destinations::Destination::from_stored(p.destination.as_deref())
        .unwrap_or_else(|e| {
            tracing::error!(pixel = %p.code, error = %e, "pixel destination unreadable; using TikTok");
            Default::default()
        })
}

/// How long ago the pixel's token was set.
pub fn token_age(pixel: &StoredPixel, now_ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(now_ms - pixel.token_set_at_ms).unwrap_or(0))
}

/// Digests and scopes of the keys that are not revoked.
fn active_key_digests(
    keys: Vec<StoredKey>,
) -> Vec<([u8; 32], signalpost_gateway::store::settings::KeyScope)> {
    keys.into_iter()
        .filter(|k| k.revoked_at_ms.is_none())
        .filter_map(|k| {
            let bytes = hex::decode(&k.digest).ok()?;
            let digest = <[u8; 32]>::try_from(bytes.as_slice()).ok()?;
            Some((digest, k.scope))
        })
        .collect()
}
