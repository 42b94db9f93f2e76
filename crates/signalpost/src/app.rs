//! The application: everything `signalpost serve` runs, built from a [`Config`] so that integration
//! tests start exactly the same thing on port 0.
//!
//! [`Application::build`] opens the store (SQLite under `data_dir`, or the PostgreSQL database of
//! `database_url` that several nodes share), validates pixels and rules,
//! starts the delivery engine, binds the listener; [`Application::run_until_stopped`] serves until the
//! shutdown future resolves, then stops accepting, lets in-flight requests and deliveries finish, and
//! flushes the writer. With no config file (`demo` mode) it also starts an in-process TikTok sandbox
//! with a demo pixel and rules, and says so loudly, so nobody mistakes it for TikTok.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use signalpost_gateway::delivery::{DeliveryEngine, DeliveryPolicy, EngineHandle, PixelRegistry};
use signalpost_gateway::store::sqlite::OpenMode;
use signalpost_gateway::{Gateway, RuleSet};
use signalpost_sandbox::{RunningSandbox, SandboxConfig};
use signalpost_tiktok::identity::Region;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::admin::apply::ApplyReport;
use crate::admin::destinations::Destinations;
use crate::admin::vault::{KeySource, Vault};
use crate::admin::{Admin, Catalog, Live};
use crate::api_keys::ApiKeys;
use crate::app_store::AppStore;
use crate::config::{Config, PixelConfig};
use crate::console;
use crate::demo::{DEMO_PIXEL, DEMO_SITE_URL, demo_rules};
use crate::http::{self, AppState};
use crate::private_file::write_private;
use crate::wire::IdentifierPolicy;

/// How often a node checks the database for pixel, rule and key changes made elsewhere.
pub const SETTINGS_POLL: Duration = Duration::from_secs(2);

/// File in `data_dir` holding the generated API key (mode 0600) when no key is configured.
pub const API_KEY_FILE: &str = "api_key";
/// How to build the application beyond the config.
#[derive(Debug, Clone, Default)]
pub struct AppOptions {
    /// No config file was given: add the demo pixel and rules, delivered to an in-process sandbox.
    pub demo: bool,
    /// Print the generated API key (and the demo banner) to stdout. `serve` sets it; tests do not.
    pub announce: bool,
    /// Delivery tuning; the config's `[delivery]` section (engine defaults for absent keys) when
    /// absent.
    pub delivery: Option<DeliveryPolicy>,
}

impl AppOptions {
    /// What `signalpost serve` uses: demo mode exactly when no `--config` was given.
    pub fn serve(config_file_given: bool) -> Self {
        Self {
            demo: !config_file_given,
            announce: true,
            delivery: None,
        }
    }
}

/// A built, bound, not yet running application.
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    router: Router,
    /// `[server] metrics_listen`'s listener and its `/metrics`-only router.
    metrics: Option<(TcpListener, Router)>,
    header_read_timeout: Duration,
    gateway: Arc<Gateway>,
    store: AppStore,
    engine: EngineHandle,
    stop_delivery: CancellationToken,
    pixels: PixelRegistry,
    sandbox: Option<RunningSandbox>,
    generated_api_key: Option<String>,
    data_dir: PathBuf,
    live: Arc<Live>,
}

/// Applies a reloaded config to a running application (SIGHUP): the file's pixels and rules are
/// applied to the database as at start (see [`crate::admin::apply`]), then this node reloads them.
/// Server settings (listen, data_dir, keys) need a restart.
#[derive(Clone)]
pub struct Reloader {
    live: Arc<Live>,
}

impl Reloader {
    /// Applies `config` (already validated by [`Config::load`]) and reloads; on error nothing
    /// changes in the running node.
    pub async fn reload(&self, config: &Config) -> anyhow::Result<ApplyReport> {
        let report = crate::admin::apply::apply(self.live.catalog(), config)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        self.live
            .catalog()
            .set_destinations(destinations(config, self.live.demo_base_url()));
        self.live
            .reload_now()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        log_apply(&report);
        tracing::info!("configuration reloaded");
        Ok(report)
    }
}

fn log_apply(report: &ApplyReport) {
    for change in &report.changes {
        if change.what != "unchanged" {
            tracing::info!(kind = change.kind, name = %change.name, change = change.what, "config file applied");
        }
    }
}

impl Application {
    /// Opens the store, loads pixels and rules, starts delivery and binds `server.listen`.
    pub async fn build(config: Config, options: AppOptions) -> anyhow::Result<Application> {
        let server = &config.server;
        let region = Region::parse(&server.default_region)
            .map_err(|e| anyhow::anyhow!("server.default_region: {e}"))?;
        // Builds the region's phone patterns now rather than on the first lead (tens of ms).
        signalpost_tiktok::identity::warm_up_phone_metadata([region]);
        let data_dir = server.data_dir.clone();
        signalpost_gateway::store::sqlite::create_private_dir(&data_dir)
            .with_context(|| format!("server.data_dir: cannot create {}", data_dir.display()))?;
        // First, so that a second server on the same data_dir stops here, before it creates anything.
        let store =
            AppStore::open(server.database_url.as_deref(), &data_dir, OpenMode::Serve).await?;

        // Keys: configured ones, or one generated once and kept in data_dir (admin bootstrap keys);
        // keys created through the API live in the database and are added by the live view.
        let (keys, generated_api_key) = if server.api_keys.is_empty() {
            let (key, created) = load_or_create_api_key(&data_dir)?;
            (ApiKeys::new([&key]), created.then_some(key))
        } else {
            (ApiKeys::new(&server.api_keys), None)
        };

        // In demo mode, a sandbox stands in for TikTok, with a pixel and rules that are never stored.
        let (sandbox, demo) = if options.demo {
            let token = random_token();
            let sandbox = signalpost_sandbox::spawn(
                SandboxConfig {
                    pixels: vec![(DEMO_PIXEL.to_owned(), token.clone())],
                    ..SandboxConfig::default()
                },
                SocketAddr::from(([127, 0, 0, 1], 0)),
            )
            .await
            .context("cannot start the demo sandbox")?;
            let pixel = PixelConfig {
                code: DEMO_PIXEL.to_owned(),
                access_token: token,
                test_event_code: None,
                base_url: Some(sandbox.base_url()),
                site_url: Some(DEMO_SITE_URL.to_owned()),
                default_region: None,
                ..PixelConfig::default()
            };
            (Some(sandbox), Some((pixel, demo_rules())))
        } else {
            (None, None)
        };

        // Tokens are sealed at rest; a node with another master key refuses to start.
        let (vault, key_source) = Vault::load(&data_dir, &|name| std::env::var(name).ok())?;
        vault.verify(store.settings().as_ref()).await?;
        if key_source == (KeySource::File { created: true }) {
            tracing::info!(file = %data_dir.join(crate::admin::vault::MASTER_KEY_FILE).display(), "created the master key that seals access tokens (keep it with the database)");
        }
        let mut catalog = Catalog::new(store.settings(), Arc::new(vault), config.rule_env());
        if options.demo {
            catalog = catalog.with_extra_pixel(DEMO_PIXEL);
        }
        catalog.set_destinations(destinations(
            &config,
            demo.as_ref().and_then(|(p, _)| p.base_url.as_deref()),
        ));
        let catalog = Arc::new(catalog);
        // The config file is a bootstrap: applied idempotently, never undoing API edits.
        let report = crate::admin::apply::apply(&catalog, &config)
            .await
            .map_err(|e| anyhow::anyhow!("applying the config file: {e}"))?;
        log_apply(&report);

        let registry = PixelRegistry::new(Vec::new());
        let empty_rules = RuleSet::load(Vec::new(), &config.rule_env())
            .map_err(|_| anyhow::anyhow!("an empty rule set does not load"))?;
        let stop_delivery = CancellationToken::new();
        let engine = DeliveryEngine::start(
            store.shared(),
            registry.clone(),
            options
                .delivery
                .clone()
                .unwrap_or_else(|| config.delivery.policy()),
            stop_delivery.clone(),
        );
        let gateway = Arc::new(
            Gateway::new(store.shared(), empty_rules)
                .with_work_signal(engine.work_signal())
                .with_strict_delivery(server.strict_delivery),
        );
        let live = Arc::new(Live::new(
            catalog,
            registry.clone(),
            gateway.clone(),
            keys.clone(),
            demo.clone(),
            Duration::from_secs(u64::from(server.token_rotation_days) * 86_400),
        ));
        live.refresh()
            .await
            .map_err(|e| anyhow::anyhow!("loading pixels, rules and keys: {e}"))?;
        live.clone().spawn(SETTINGS_POLL, stop_delivery.clone());
        crate::retention::spawn(
            gateway.store().clone(),
            server.retention_days,
            stop_delivery.clone(),
        );

        crate::metrics::install();
        let limits = http::limits::RequestLimits::new(&config.limits, keys.clone());
        let state = AppState::new(http::AppParts {
            gateway: gateway.clone(),
            keys,
            delivery_stats: engine.stats(),
            pixels: registry.clone(),
            admin: Admin::new(live.clone()),
            identifiers: IdentifierPolicy {
                default_region: region,
                strict: server.strict_identifiers,
                // Taken from the live pixels per request: `AppParts::identifier_policy`.
                pixel_regions: Vec::new(),
            },
            limits,
            metrics_refresh: Arc::new(http::metrics::MetricsRefresh::new(
                Duration::from_secs(config.limits.metrics_refresh_secs),
                server.metrics_require_key,
                server.metrics_listen.is_some(),
            )),
        });
        let metrics = match server.metrics_listen {
            Some(addr) => {
                let listener = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("server.metrics_listen: cannot listen on {addr}"))?;
                Some((listener, http::metrics_router(state.clone())))
            }
            None => None,
        };
        let console = console::router(&state);
        let router = http::router(state, console);
        let listener = TcpListener::bind(server.listen)
            .await
            .with_context(|| format!("server.listen: cannot listen on {}", server.listen))?;
        let local_addr = listener.local_addr()?;

        let app = Application {
            listener,
            local_addr,
            router,
            metrics,
            header_read_timeout: config.limits.header_read_timeout(),
            gateway,
            store,
            engine,
            stop_delivery,
            pixels: registry,
            sandbox,
            generated_api_key,
            data_dir,
            live,
        };
        app.announce(&options);
        Ok(app)
    }

    fn announce(&self, options: &AppOptions) {
        if let Some(sandbox) = &self.sandbox {
            tracing::warn!(
                sandbox = %sandbox.base_url(),
                pixel = DEMO_PIXEL,
                "SANDBOX MODE: no config file, conversions go to an in-process SANDBOX, not to TikTok"
            );
        }
        if let Some(addr) = self.metrics_addr() {
            tracing::info!(metrics = %addr, "metrics served on their own address");
        }
        tracing::info!(listen = %self.local_addr, data_dir = %self.data_dir.display(), store = %self.store.describe(), "signalpost ready");
        if !options.announce {
            return;
        }
        if let Some(key) = &self.generated_api_key {
            println!(
                "signalpost: generated an API key (stored in {}; shown only this once):\n\n    {key}\n\nSend it as `Authorization: Bearer <key>`.",
                self.data_dir.join(API_KEY_FILE).display()
            );
        }
        if let Some(sandbox) = &self.sandbox {
            println!(
                "signalpost: *** SANDBOX MODE *** no config file given: pixel {DEMO_PIXEL} delivers to the in-process sandbox at {} (inspect it at {}/sandbox/events), NOT to TikTok.",
                sandbox.base_url(),
                sandbox.base_url()
            );
        }
        println!("signalpost: listening on http://{}", self.local_addr);
    }

    /// The bound port (the real one when the config asked for port 0).
    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address of `[server] metrics_listen`'s listener, when there is one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics
            .as_ref()
            .and_then(|(listener, _)| listener.local_addr().ok())
    }

    /// The API key generated by this start, if one was (it is printed once and never again).
    pub fn generated_api_key(&self) -> Option<&str> {
        self.generated_api_key.as_deref()
    }

    /// The in-process sandbox of demo mode.
    pub fn sandbox(&self) -> Option<&RunningSandbox> {
        self.sandbox.as_ref()
    }

    /// The ingest facade (for in-process callers such as the CLI's test postback).
    pub fn gateway(&self) -> &Arc<Gateway> {
        &self.gateway
    }

    /// The pixels the engine delivers to; replacing a paused pixel's token resumes it (config reload).
    pub fn pixels(&self) -> &PixelRegistry {
        &self.pixels
    }

    /// A handle that applies a reloaded config (SIGHUP) while the application runs.
    pub fn reloader(&self) -> Reloader {
        Reloader {
            live: self.live.clone(),
        }
    }

    /// Serves until `shutdown` resolves; then stops accepting, finishes in-flight requests and
    /// deliveries, and commits everything the writer holds before returning.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stop = CancellationToken::new();
        let metrics = self.metrics.map(|(listener, router)| {
            let stop = stop.clone();
            let timeout = self.header_read_timeout;
            tokio::spawn(async move {
                http::serve::serve(listener, router, timeout, stop.cancelled_owned()).await
            })
        });
        let served = {
            let stop = stop.clone();
            http::serve::serve(
                self.listener,
                self.router,
                self.header_read_timeout,
                async move {
                    shutdown.await;
                    stop.cancel();
                },
            )
            .await
        };
        stop.cancel();
        if let Some(task) = metrics {
            match task.await {
                Ok(Err(e)) => tracing::warn!(error = %e, "the metrics listener failed"),
                Err(e) => tracing::warn!(error = %e, "the metrics listener failed"),
                Ok(Ok(())) => {}
            }
        }
        tracing::info!("HTTP server stopped; finishing deliveries and flushing the store");
        self.stop_delivery.cancel();
        self.engine.join().await;
        self.store.close().await;
        if let Some(sandbox) = self.sandbox {
            let _ = sandbox.shutdown().await;
        }
        served.context("the HTTP server failed")
    }
}

/// The destination policy of `config`; the demo sandbox (`demo_base_url`) is trusted like a host
/// the config file names.
fn destinations(config: &Config, demo_base_url: Option<&str>) -> Destinations {
    let mut destinations = Destinations::from_config(config);
    if let Some(url) = demo_base_url {
        destinations.trust(url);
    }
    destinations
}

/// Reads `data_dir/api_key`, or creates it (0600) with a fresh key. Returns the key and whether it
/// was created now.
fn load_or_create_api_key(data_dir: &Path) -> anyhow::Result<(String, bool)> {
    let path = data_dir.join(API_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let key = text.trim().to_owned();
            if key.len() < 16 {
                anyhow::bail!(
                    "{}: the stored API key is too short; delete the file to generate a new one",
                    path.display()
                );
            }
            tracing::info!(file = %path.display(), "using the API key stored in data_dir");
            Ok((key, false))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = format!("sp_{}", random_token());
            write_private(&path, &key)
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok((key, true))
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// 32 random bytes as hex (256 bits: keys and demo tokens).
fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_is_created_once_with_private_permissions_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (first, created) = load_or_create_api_key(dir.path()).unwrap();
        assert!(created);
        assert!(first.len() >= 32);
        let (second, created_again) = load_or_create_api_key(dir.path()).unwrap();
        assert!(!created_again);
        assert_eq!(first, second);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(API_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
