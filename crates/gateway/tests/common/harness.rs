//! The delivery test harness: a store of either kind, the strict sandbox over HTTP on 127.0.0.1, a
//! gateway with the demo rules and a delivery engine that can be started, stopped or killed.
#![allow(clippy::unwrap_used, dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use super::backend::{TestDb, TestStore};
use super::{demo_rules, google_rules};
use signalpost_gateway::delivery::{
    AccessToken, DeliveryEngine, DeliveryPolicy, EngineHandle, PixelConfig, PixelRegistry,
    RetryPolicy,
};
use signalpost_gateway::destinations::{Destination, google_ads};
use signalpost_gateway::{ConversionState, Gateway, LeadView};
use signalpost_sandbox::{RunningSandbox, SandboxConfig};
use tokio_util::sync::CancellationToken;

pub const PIXEL: &str = "PIXTEST01";
/// The Meta pixel (dataset) of [`Harness::new_meta`].
pub const META_PIXEL: &str = "111222333444555";
pub const TOKEN: &str = "sandbox-token-0001";
/// The Google Ads conversion target of [`Harness::new_google_ads`]: its code, customer account,
/// conversion action and the customer's developer token.
#[allow(dead_code)]
pub const GOOGLE_PIXEL: &str = "google-sold";
pub const GOOGLE_CUSTOMER: &str = "1234567890";
pub const GOOGLE_ACTION: &str = "987654321";
pub const GOOGLE_DEVELOPER_TOKEN: &str = "dev-token-0001";
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A policy with short delays so retries happen quickly (correctness never depends on them).
pub fn fast_policy() -> DeliveryPolicy {
    DeliveryPolicy {
        linger: Duration::from_millis(5),
        poll_interval: Duration::from_millis(50),
        lease: Duration::from_secs(30),
        retry: RetryPolicy {
            base: Duration::from_millis(20),
            cap: Duration::from_millis(200),
            max_age: Duration::from_secs(3600),
        },
        request_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(2),
        requests_per_second: 0.0,
        ..DeliveryPolicy::default()
    }
}

pub struct Harness {
    pub store: TestStore,
    pub gateway: Gateway,
    pub pixels: PixelRegistry,
    pub sandbox: RunningSandbox,
    pub policy: DeliveryPolicy,
    pub engine: Option<(EngineHandle, CancellationToken)>,
    // Last: the database outlives the store's connections.
    pub db: TestDb,
}

impl Harness {
    pub async fn new(db: TestDb, sandbox: SandboxConfig, policy: DeliveryPolicy) -> Harness {
        let sandbox = SandboxConfig {
            pixels: vec![(PIXEL.into(), TOKEN.into())],
            ..sandbox
        };
        Harness::serving(db, sandbox, policy, PIXEL, |_| {
            (Destination::default(), TOKEN.into())
        })
        .await
    }

    /// [`Harness::new`] delivering to Meta: the sandbox serves [`META_PIXEL`] with [`TOKEN`], and
    /// the demo rules fire on that pixel as Meta events.
    pub async fn new_meta(db: TestDb, sandbox: SandboxConfig, policy: DeliveryPolicy) -> Harness {
        let sandbox = SandboxConfig {
            meta_pixels: vec![(META_PIXEL.into(), TOKEN.into())],
            ..sandbox
        };
        Harness::serving(db, sandbox, policy, META_PIXEL, |_| {
            (Destination::Meta(Default::default()), TOKEN.into())
        })
        .await
    }

    /// [`Harness::new`] delivering to Google Ads: the sandbox serves [`GOOGLE_CUSTOMER`] with
    /// [`GOOGLE_DEVELOPER_TOKEN`] and its own OAuth token endpoint, and the demo rules fire on
    /// [`GOOGLE_PIXEL`], a conversion target of that customer.
    #[allow(dead_code)]
    pub async fn new_google_ads(
        db: TestDb,
        sandbox: SandboxConfig,
        policy: DeliveryPolicy,
    ) -> Harness {
        let sandbox = SandboxConfig {
            google_ads: vec![(GOOGLE_CUSTOMER.into(), GOOGLE_DEVELOPER_TOKEN.into())],
            ..sandbox
        };
        Harness::serving(db, sandbox, policy, GOOGLE_PIXEL, |base_url| {
            (
                Destination::GoogleAds(google_ads::PixelSettings {
                    customer_id: GOOGLE_CUSTOMER.into(),
                    conversion_action: GOOGLE_ACTION.into(),
                    login_customer_id: None,
                    api_version: signalpost_google_ads::DEFAULT_API_VERSION.into(),
                    token_url: Some(format!("{base_url}/token")),
                    consent: None,
                }),
                google_ads::token::Secrets {
                    developer_token: GOOGLE_DEVELOPER_TOKEN.into(),
                    client_id: "client-1.apps.googleusercontent.com".into(),
                    client_secret: "client-secret-1".into(),
                    refresh_token: "1//refresh-token-1".into(),
                }
                .to_bundle(),
            )
        })
        .await
    }

    /// A sandbox from `sandbox_config`, and the demo rules firing on `pixel` of the destination
    /// `setup` makes (with the pixel's secret) for the sandbox's base URL.
    async fn serving(
        db: TestDb,
        sandbox_config: SandboxConfig,
        policy: DeliveryPolicy,
        pixel: &str,
        setup: impl FnOnce(&str) -> (Destination, String),
    ) -> Harness {
        let store = db.open().await;
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let sandbox = signalpost_sandbox::spawn(sandbox_config, addr)
            .await
            .unwrap();
        let (destination, secret) = setup(&sandbox.base_url());
        let pixels = PixelRegistry::new([PixelConfig {
            code: pixel.into(),
            access_token: AccessToken::new(secret),
            base_url: sandbox.base_url(),
            // The sandbox on loopback: a destination the operator named.
            addresses: signalpost_gateway::delivery::AddressPolicy::Any,
            test_event_code: None,
            destination: destination.clone(),
        }]);
        let rules = match destination {
            Destination::GoogleAds(_) => google_rules(pixel),
            _ => demo_rules(pixel),
        };
        let rules = rules.with_destinations([(pixel.to_owned(), destination)].into());
        let gateway = Gateway::new(store.shared(), rules);
        Harness {
            store,
            gateway,
            pixels,
            sandbox,
            policy,
            engine: None,
            db,
        }
    }

    pub fn start_engine(&mut self) {
        let shutdown = CancellationToken::new();
        let engine = DeliveryEngine::start(
            self.store.shared(),
            self.pixels.clone(),
            self.policy.clone(),
            shutdown.clone(),
        );
        let rules = (*self.gateway.rules()).clone();
        self.gateway =
            Gateway::new(self.store.shared(), rules).with_work_signal(engine.work_signal());
        self.engine = Some((engine, shutdown));
    }

    pub async fn stop_engine(&mut self) {
        if let Some((engine, shutdown)) = self.engine.take() {
            shutdown.cancel();
            engine.join().await;
        }
    }

    pub async fn view(&self, tx: &str) -> LeadView {
        self.store.get_lead(tx).await.unwrap().unwrap()
    }

    /// Polls until every conversion of `tx` is in `state` (and there is at least `count`).
    pub async fn wait_for_states(
        &self,
        tx: &str,
        count: usize,
        state: ConversionState,
    ) -> LeadView {
        wait_until(|| async {
            let v = self.view(tx).await;
            (v.conversions.len() >= count
                && v.conversions.iter().all(|c| c.conversion.state == state))
            .then_some(v)
        })
        .await
    }

    /// Polls until the engine holds `pixel` paused. The engine records a batch's `paused` results
    /// before it marks the pixel, so a conversion can read paused a moment before its pixel does.
    pub async fn wait_for_pixel_paused(&self, pixel: &str) {
        wait_for("the pixel paused", || async {
            self.pixels
                .get(pixel)
                .is_some_and(|p| {
                    matches!(
                        p.state,
                        signalpost_gateway::delivery::PixelState::Paused { .. }
                    )
                })
                .then_some(())
        })
        .await
    }

    /// Polls until the store counts `n` delivered conversions.
    pub async fn wait_for_delivered(&self, n: u64) {
        wait_until(|| async {
            let depth = self.store.queue_depth().await.unwrap();
            let delivered: u64 = depth
                .iter()
                .filter(|d| d.state == ConversionState::Delivered)
                .map(|d| d.count)
                .sum();
            (delivered == n).then_some(())
        })
        .await;
    }

    /// The Meta events the sandbox accepted, as received.
    pub fn meta_events(&self) -> Vec<serde_json::Value> {
        self.sandbox
            .sandbox()
            .events_of(
                Some(signalpost_sandbox::Destination::Meta),
                Some(META_PIXEL),
            )
            .iter()
            .map(|e| e.payload_json())
            .collect()
    }

    pub fn sandbox_events(&self) -> Vec<serde_json::Value> {
        self.sandbox
            .events(Some(PIXEL))
            .iter()
            .map(|e| e.payload_json())
            .collect()
    }
}

pub async fn wait_until<T, F, Fut>(probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    wait_for("condition", probe).await
}

/// Polls `probe` every 20 ms until it returns a value; fails the test naming `what` after
/// [`DEADLINE`].
pub async fn wait_for<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not reached within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
