//! What the operator commands (`test-postback`, `preview`, `replay`, `import`) load from a config
//! file: pixels, rules, the identifier policy and — for those that need it — the same store `serve`
//! uses. Without a config file they use what `serve` would in demo mode: the default data dir and the
//! demo rules. Opening the store while `serve` runs is safe: the tools open it with
//! [`OpenMode::Tool`], which never touches the server's leases (only `serve`, holding the data
//! directory's serve lock, recovers leases at start); SQLite in WAL mode lets both read, the writers
//! take turns on the database lock, and the engine's claims keep a row from being sent twice;
//! PostgreSQL is shared by design.

use std::path::Path;

use signalpost_gateway::delivery::{AccessToken, PixelConfig as DeliveryPixel, PixelRegistry};
use signalpost_gateway::store::sqlite::OpenMode;
use signalpost_gateway::{Gateway, RuleSet};
use signalpost_tiktok::identity::Region;

use crate::app_store::AppStore;
use crate::config::Config;
use crate::demo::{DEMO_PIXEL, DEMO_SITE_URL, demo_rules};
use crate::pixel_wiring::{
    build_rules, delivery_pixel, pixel_destinations, pixel_regions, site_urls,
};
use crate::wire::IdentifierPolicy;

/// A loaded config, ready for the operator tools.
pub struct OpsContext {
    pub config: Config,
    /// No config file: demo rules, default data dir.
    pub demo: bool,
    pub rules: RuleSet,
    pub pixels: PixelRegistry,
    pub identifiers: IdentifierPolicy,
}

impl OpsContext {
    /// Loads `path` (or the demo defaults) and validates pixels and rules as `serve` does.
    pub fn load(path: Option<&Path>) -> anyhow::Result<OpsContext> {
        let config = Config::load(path).map_err(|e| anyhow::anyhow!("config: {e}"))?;
        let demo = path.is_none();
        let rules = if demo {
            let mut configs = config.rule_configs()?;
            configs.extend(demo_rules());
            let mut sites = site_urls(&config.pixels);
            sites.insert(DEMO_PIXEL.to_owned(), DEMO_SITE_URL.to_owned());
            RuleSet::load(configs, &config.rule_env())
                .map_err(|errors| {
                    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
                    anyhow::anyhow!("rules: {}", lines.join("; "))
                })?
                .with_site_urls(sites)
                .with_pixel_regions(pixel_regions(&config.pixels))
                .with_destinations(pixel_destinations(&config.pixels))
        } else {
            build_rules(config.rule_configs()?, &config.pixels, &config.rule_env())?
        };
        let mut pixel_configs: Vec<_> = config.pixels.iter().map(delivery_pixel).collect();
        if demo {
            // The demo pixel's token and sandbox exist only inside a running demo `serve`; the tools
            // need its code (replay filters, previews), never its token.
            pixel_configs.push(DeliveryPixel {
                code: DEMO_PIXEL.to_owned(),
                access_token: AccessToken::new(""),
                base_url: String::new(),
                addresses: signalpost_gateway::delivery::AddressPolicy::PublicOnly,
                test_event_code: None,
                destination: Default::default(),
            });
        }
        let pixels = PixelRegistry::new(pixel_configs);
        let identifiers = IdentifierPolicy {
            default_region: Region::parse(&config.server.default_region)
                .map_err(|e| anyhow::anyhow!("server.default_region: {e}"))?,
            strict: config.server.strict_identifiers,
            pixel_regions: Vec::new(),
        }
        .with_pixels_of(&rules);
        Ok(OpsContext {
            config,
            demo,
            rules,
            pixels,
            identifiers,
        })
    }

    /// [`OpsContext::load`], then [`OpsContext::with_stored_settings`].
    pub async fn load_with_store(path: Option<&Path>) -> anyhow::Result<OpsContext> {
        Self::load(path)?.with_stored_settings().await
    }

    /// Adds what the database holds: pixels and enabled rules created through the admin API or the
    /// console (with the tokens as last set there), so the tools see what `serve` sends with. A
    /// stored entry wins over the file's entry of the same code or name (it may carry a rotated
    /// token). Nothing is created when there is no database yet.
    pub async fn with_stored_settings(mut self) -> anyhow::Result<OpsContext> {
        let server = &self.config.server;
        if server.database_url.is_none()
            && !server
                .data_dir
                .join(signalpost_gateway::store::sqlite::DB_FILE)
                .exists()
        {
            return Ok(self);
        }
        let (store, catalog) = open_catalog(&self.config).await?;
        let loaded = async {
            let pixels = catalog.pixels().await?;
            let rules = catalog.rule_configs().await?;
            Ok::<_, crate::admin::AdminError>((pixels, rules))
        }
        .await;
        store.close().await;
        let (pixels, rules) = loaded.map_err(|e| anyhow::anyhow!("reading the database: {e}"))?;
        let mut sites = self.rules.site_urls().clone();
        for p in &pixels {
            match &p.site_url {
                Some(url) => sites.insert(p.code.clone(), url.clone()),
                None => sites.remove(&p.code),
            };
        }
        let mut regions = self.rules.pixel_regions().clone();
        for p in &pixels {
            match p.default_region.as_deref().map(Region::parse) {
                Some(Ok(region)) => regions.insert(p.code.clone(), region),
                _ => regions.remove(&p.code),
            };
        }
        for p in &pixels {
            let token = catalog.open_token(p).map_err(|e| anyhow::anyhow!("{e}"))?;
            self.pixels
                .upsert(crate::admin::live::stored_delivery_pixel(
                    p,
                    token,
                    &catalog.destinations(),
                ));
        }
        let mut configs: Vec<signalpost_gateway::RuleConfig> = rules
            .into_iter()
            .filter(|(stored, _)| stored.enabled)
            .map(|(_, cfg)| cfg)
            .collect();
        let mut from_file = self.config.rule_configs()?;
        if self.demo {
            from_file.extend(demo_rules());
        }
        for cfg in from_file {
            if !configs.iter().any(|c| c.name == cfg.name) {
                configs.push(cfg);
            }
        }
        self.rules = RuleSet::load(configs, &self.config.rule_env())
            .map_err(|errors| {
                let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
                anyhow::anyhow!("rules: {}", lines.join("; "))
            })?
            .with_site_urls(sites)
            .with_pixel_regions(regions)
            .with_destinations(pixel_destinations(&self.config.pixels));
        self.identifiers = self.identifiers.with_pixels_of(&self.rules);
        Ok(self)
    }

    /// Opens the store `serve` uses (SQLite under `data_dir`, or the PostgreSQL of `database_url`)
    /// and a gateway over it with these rules (and `serve`'s `strict_delivery`). Close the store
    /// when done, so its writes commit.
    pub(crate) async fn open_gateway(&self) -> anyhow::Result<(AppStore, Gateway)> {
        let server = &self.config.server;
        let store = AppStore::open(
            server.database_url.as_deref(),
            &server.data_dir,
            OpenMode::Tool,
        )
        .await?;
        let gateway = Gateway::new(store.shared(), self.rules.clone())
            .with_strict_delivery(server.strict_delivery);
        Ok((store, gateway))
    }
}

/// Opens the store of `config` and the catalog of pixels, rules and keys in it (tokens sealed with
/// the same master key `serve` uses: `SIGNALPOST_MASTER_KEY` or `data_dir/master.key`). Close the
/// store when done.
pub(crate) async fn open_catalog(
    config: &Config,
) -> anyhow::Result<(AppStore, crate::admin::Catalog)> {
    let server = &config.server;
    let store = AppStore::open(
        server.database_url.as_deref(),
        &server.data_dir,
        OpenMode::Tool,
    )
    .await?;
    let (vault, _) =
        crate::admin::vault::Vault::load(&server.data_dir, &|name| std::env::var(name).ok())?;
    vault.verify(store.settings().as_ref()).await?;
    let catalog = crate::admin::Catalog::new(
        store.settings(),
        std::sync::Arc::new(vault),
        config.rule_env(),
    );
    catalog.set_destinations(crate::admin::destinations::Destinations::from_config(
        config,
    ));
    Ok((store, catalog))
}
