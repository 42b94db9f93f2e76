//! A strict sandbox of the TikTok Events API, the Meta Conversions API and Google Ads click
//! conversions, as a library: the `signalpost sandbox` command serves it, and tests and the gateway
//! start it in-process on port 0.
//!
//! It is a product feature, not a mock: it enforces everything TikTok documents for
//! `POST /open_api/v1.3/event/track/` (and the legacy 1.0 `pixel/track` and `pixel/batch`), answers in
//! TikTok's envelope and wording, and can play TikTok's failures (faults, rate limits, revoked
//! tokens). Inspection endpoints under `/sandbox/` show what was received.
//!
//! Routes (see [`Sandbox::router`]):
//! - `POST /open_api/v1.3/event/track/`: Events API 2.0.
//! - `POST /open_api/v1.3/pixel/track/`, `POST /open_api/v1.3/pixel/batch/`: legacy Events API 1.0.
//! - `POST /{version}/{pixel_id}/events`: Meta's Conversions API (see the `meta` module for its
//!   rules); faults, latency, the rate limit and inspection are shared with TikTok's routes.
//! - `POST /token`: Google's OAuth token endpoint (refresh-token grant; access tokens live 3599 s).
//! - `POST /{version}/customers/{customer_id}:uploadClickConversions`: Google Ads click conversions
//!   (see the `google_ads` module for its rules and decisions); faults, latency, the rate limit and
//!   inspection are shared too. Accepted rows show with `destination: "google_ads"`, `pixel` = the
//!   customer id, `event` = the conversion action id, `event_id` = the `orderId`.
//! - `GET /sandbox/events[?pixel=CODE]`, `DELETE /sandbox/events`, `GET /sandbox/stats`.
//! - `GET|POST|DELETE /sandbox/faults` (`{"kind":K,"count":N}` or `{"kind":K,"seconds":S}`;
//!   `{"kind":"slow","latency_ms":"P50[:P99]",...}` delays answers instead of replacing them).
//! - `GET|POST /sandbox/pixels` (`{"code":C,"token":T}` rotates or adds; listing shows codes only;
//!   `"destination":"meta"` for a Meta pixel, `"google_ads"` for a Google Ads customer, whose
//!   `token` is the developer token).
//! - `GET /sandbox/google-ads` (customers, special clicks, access tokens issued);
//!   `POST /sandbox/google-ads/clicks` (`{"gclid":G,"state":"not_found"|"too_recent"|"normal"}`),
//!   `DELETE /sandbox/google-ads/clicks` (all back to normal);
//!   `POST /sandbox/google-ads/refresh-tokens` (`{"refresh_token":T,"revoked":true|false}`);
//!   `POST /sandbox/google-ads/expire-access-tokens` (every issued access token expires now, so a
//!   client's "401 → refresh once" path can be played).
//!
//! Decisions where TikTok's documentation leaves room (see `shared/tiktok-events-api.md`):
//! - Paths must end with a slash, as TikTok's reference insists; the slash-less path answers 404 with
//!   a message saying so, so a client that drops the slash fails here rather than in production.
//! - Check order: fault, `Access-Token` (40105), rate limit (40100), `Content-Type` (40002), JSON
//!   (40002), `event_source_id` / `pixel_code` type (40002), permission on it (40001), then the body in
//!   TikTok's parameter order; the first error rejects the whole request and names the event's index.
//! - A pixel code registered here serves as any event source (web, app, offline, crm).
//! - `null` is refused for every typed field ("field may not be null"): nothing is documented nullable.
//! - `properties.value` does not require `currency`: TikTok does not document that rule.
//! - Lenient mode (`strict: false`) relaxes only what TikTok's own material contradicts: `page.url` for
//!   web events (the reference's web example omits `page`), standard event names for CRM (the
//!   reference's CRM example sends `AddToCart`), and upper-case hex digests (TikTok's own GTM template
//!   treats `[A-Fa-f0-9]{64}` as hashed).
//! - The `hang` fault sleeps, then processes the request normally: like a slow TikTok, the event may be
//!   recorded although the client gave up, which is what makes stable `event_id`s matter.
//! - Latency ([`SandboxConfig::latency`], `--latency-ms`, the `slow` fault) is played the same way:
//!   the request is held, then processed, so a client that times out may still have been recorded.
//!   It applies to every answer of the track endpoints (faults and rejections too), never to the
//!   `/sandbox/` endpoints.

mod faults;
mod google_ads;
mod http;
mod latency;
mod meta;
mod response;
mod spec;
mod store;

// The validation rules live in the tiktok crate, shared with the gateway's ingest check.
use signalpost_tiktok::validate;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use faults::{Fault, FaultKind, FaultSpan, FaultStatus, UnknownFaultKind};
pub use google_ads::ClickState as GoogleAdsClickState;
pub use latency::{InvalidLatency, Latency, MAX_LATENCY_MS};
pub use response::{
    BAD_TOKEN_MESSAGE, CODE_BAD_TOKEN, CODE_INVALID, CODE_NO_PERMISSION, CODE_OK,
    CODE_RATE_LIMITED, CODE_SERVER_ERROR, RATE_LIMIT_MESSAGE, SERVER_ERROR_MESSAGE,
    no_permission_message, request_id,
};
/// The Google Ads API version the gateway addresses by default (`v26`).
pub use signalpost_google_ads::DEFAULT_API_VERSION as GOOGLE_ADS_DEFAULT_API_VERSION;
/// The Graph API version Meta's SDKs and the gateway address by default (`v25.0`).
pub use signalpost_meta::DEFAULT_API_VERSION as META_DEFAULT_API_VERSION;
pub use spec::{
    InvalidPixel, check_google_ads_customer, check_pixel, parse_google_ads_spec, parse_pixel_spec,
};
pub use store::{
    ApiVersion, BucketStats, DEDUP_WINDOW_SECS, Destination, DestinationStats, Origin, PixelStats,
    ReceivedEvent, Stats,
};

use faults::{Drawn, Faults, RateWindow};
use google_ads::state::GoogleState;
use store::Store;

/// How the sandbox behaves. `Default` is the strict sandbox with no pixels.
#[derive(Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    /// `(pixel code, access token)` pairs. A token may serve several pixels.
    pub pixels: Vec<(String, String)>,
    /// Meta pixels: `(pixel id, access token)` pairs (`--meta-pixel ID=TOKEN`), served on
    /// `POST /{version}/{pixel_id}/events`. Kept apart from TikTok's: a TikTok token never opens a
    /// Meta pixel.
    pub meta_pixels: Vec<(String, String)>,
    /// Google Ads customers: `(customer id, developer token)` pairs (`--google-ads ID=TOKEN`),
    /// served on `POST /{version}/customers/{customer_id}:uploadClickConversions`. Access tokens
    /// come from the sandbox's own `POST /token`.
    pub google_ads: Vec<(String, String)>,
    /// `true` (default): everything TikTok documents is enforced. `false` (`--lenient`): only the
    /// checks TikTok's own examples contradict are relaxed (see the crate docs).
    pub strict: bool,
    /// How old an `event_time` may be (default 7 days; TikTok documents no bound).
    pub max_past: Duration,
    /// How far ahead of the sandbox clock an `event_time` may be (default 5 minutes of skew).
    pub max_future: Duration,
    /// Track requests per second (all pixels together, counted in fixed one-second windows) above
    /// which the answer is code 40100. None by default.
    pub max_rps: Option<u32>,
    /// How long the `hang` fault sleeps before answering (default 60 s).
    pub hang: Duration,
    /// How long every track request is held before it is answered (`--latency-ms`). Default
    /// [`Latency::NONE`], so tests stay fast; switch it on to test anything whose behaviour depends
    /// on time. A `slow` fault overrides it while active.
    pub latency: Latency,
    /// Events kept for inspection; the oldest are dropped beyond it (counters keep counting), so a
    /// long load test cannot exhaust memory. Default 1,000,000.
    pub max_stored_events: usize,
}

/// Tokens are redacted: a config may end up in logs.
impl fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let codes: Vec<&str> = self.pixels.iter().map(|(code, _)| code.as_str()).collect();
        let meta: Vec<&str> = self.meta_pixels.iter().map(|(id, _)| id.as_str()).collect();
        let google: Vec<&str> = self.google_ads.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("SandboxConfig")
            .field("pixels", &codes)
            .field("meta_pixels", &meta)
            .field("google_ads", &google)
            .field("strict", &self.strict)
            .field("max_past", &self.max_past)
            .field("max_future", &self.max_future)
            .field("max_rps", &self.max_rps)
            .field("hang", &self.hang)
            .field("latency", &format_args!("{}", self.latency))
            .field("max_stored_events", &self.max_stored_events)
            .finish()
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            pixels: Vec::new(),
            meta_pixels: Vec::new(),
            google_ads: Vec::new(),
            strict: true,
            max_past: Duration::from_secs(7 * 86_400),
            max_future: Duration::from_secs(300),
            max_rps: None,
            hang: Duration::from_secs(60),
            latency: Latency::NONE,
            max_stored_events: 1_000_000,
        }
    }
}

/// The sandbox's shared state. Cheap to clone (one `Arc`); every clone sees the same events.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

/// Shows pixel codes, never tokens.
impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("strict", &self.inner.strict)
            .field("pixels", &self.pixels())
            .field("meta_pixels", &self.meta_pixels())
            .field("google_ads", &self.google_ads_customers())
            .finish_non_exhaustive()
    }
}

struct Inner {
    strict: bool,
    max_past: Duration,
    max_future: Duration,
    max_rps: Option<u32>,
    hang: Duration,
    latency: Latency,
    /// pixel code → its one valid token.
    pixels: RwLock<HashMap<String, String>>,
    /// Meta pixel id → its one valid token.
    meta_pixels: RwLock<HashMap<String, String>>,
    store: Mutex<Store>,
    /// Google Ads customers, issued tokens, told clicks and accepted order ids.
    google: Mutex<GoogleState>,
    faults: Mutex<Faults>,
    rate: Mutex<RateWindow>,
    /// Events API requests being handled now (held by latency included), and the most at once.
    concurrent: AtomicU64,
    peak_concurrent: AtomicU64,
}

/// Locks a mutex, recovering from poisoning: every critical section leaves the data consistent, so a
/// panic elsewhere must not take the sandbox down.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Sandbox {
    /// Builds a sandbox. Pixel entries are taken as given (the CLI checks them with [`check_pixel`]);
    /// a later entry for the same code replaces the earlier token.
    pub fn new(config: SandboxConfig) -> Self {
        let pixels = config.pixels.into_iter().collect();
        let meta_pixels = config.meta_pixels.into_iter().collect();
        Sandbox {
            inner: Arc::new(Inner {
                strict: config.strict,
                max_past: config.max_past,
                max_future: config.max_future,
                max_rps: config.max_rps,
                hang: config.hang,
                latency: config.latency,
                pixels: RwLock::new(pixels),
                meta_pixels: RwLock::new(meta_pixels),
                store: Mutex::new(Store::new(config.max_stored_events)),
                google: Mutex::new(GoogleState::new(
                    config.google_ads,
                    config.max_stored_events,
                )),
                faults: Mutex::new(Faults::default()),
                rate: Mutex::new(RateWindow::new()),
                concurrent: AtomicU64::new(0),
                peak_concurrent: AtomicU64::new(0),
            }),
        }
    }

    /// The HTTP routes (track endpoints and inspection), ready to serve or to nest.
    pub fn router(&self) -> axum::Router {
        http::router(self.clone())
    }

    /// Builds a sandbox and serves it on `addr` (port 0 picks a free port).
    pub async fn spawn(config: SandboxConfig, addr: SocketAddr) -> io::Result<RunningSandbox> {
        Sandbox::new(config).serve(addr).await
    }

    /// Serves this sandbox on `addr` in a background task until the handle is shut down or dropped.
    pub async fn serve(self, addr: SocketAddr) -> io::Result<RunningSandbox> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = self.router();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(RunningSandbox {
            addr,
            sandbox: self,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Accepted events, oldest first, of one pixel or all (every destination).
    pub fn events(&self, pixel: Option<&str>) -> Vec<ReceivedEvent> {
        self.events_of(None, pixel)
    }

    /// Accepted events, oldest first, of one destination or all, and one pixel or all.
    pub fn events_of(
        &self,
        destination: Option<Destination>,
        pixel: Option<&str>,
    ) -> Vec<ReceivedEvent> {
        let snapshot = lock(&self.inner.store).snapshot(pixel, destination);
        snapshot.iter().map(|e| ReceivedEvent::clone(e)).collect()
    }

    /// The counters `GET /sandbox/stats` shows.
    pub fn stats(&self) -> Stats {
        let mut stats = lock(&self.inner.store).stats();
        stats.peak_concurrent_requests = self.inner.peak_concurrent.load(Ordering::Relaxed);
        stats
    }

    /// Forgets all events, the dedup index (Google Ads' accepted order ids and clicks too) and the
    /// counters. Returns how many events were dropped.
    pub fn clear(&self) -> usize {
        self.google().forget_conversions();
        self.inner.peak_concurrent.store(
            self.inner.concurrent.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        lock(&self.inner.store).clear()
    }

    /// Injects a fault into the track endpoints.
    pub fn inject(&self, fault: Fault) -> FaultStatus {
        lock(&self.inner.faults).inject(fault, Instant::now())
    }

    /// Faults still active.
    pub fn faults(&self) -> Vec<FaultStatus> {
        lock(&self.inner.faults).list(Instant::now())
    }

    /// Removes every active fault.
    pub fn clear_faults(&self) {
        lock(&self.inner.faults).clear();
    }

    /// Makes `token` the only valid token of pixel `code`, registering the pixel if new. The previous
    /// token then gets 40105 (or 40001 if it still serves another pixel), as after a rotation.
    pub fn set_token(&self, code: &str, token: &str) -> Result<(), InvalidPixel> {
        check_pixel(code, token)?;
        self.inner
            .pixels
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(code.to_owned(), token.to_owned());
        Ok(())
    }

    /// Makes `token` the only valid token of Meta pixel `id`, registering the pixel if new. The
    /// previous token then gets code 190, as after a rotation.
    pub fn set_meta_token(&self, id: &str, token: &str) -> Result<(), InvalidPixel> {
        check_pixel(id, token)?;
        self.inner
            .meta_pixels
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_owned(), token.to_owned());
        Ok(())
    }

    /// Registered Meta pixel ids, sorted (tokens are never listed).
    pub fn meta_pixels(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.read_meta_pixels().keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Registered pixel codes, sorted (tokens are never listed).
    pub fn pixels(&self) -> Vec<String> {
        let mut codes: Vec<String> = self.read_pixels().keys().cloned().collect();
        codes.sort();
        codes
    }

    /// Whether the sandbox runs in strict mode.
    pub fn is_strict(&self) -> bool {
        self.inner.strict
    }

    /// The latency every track request gets when no `slow` fault applies.
    pub fn latency(&self) -> Latency {
        self.inner.latency
    }

    fn read_pixels(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, String>> {
        self.inner
            .pixels
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn read_meta_pixels(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, String>> {
        self.inner
            .meta_pixels
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether any Meta pixel accepts `token`.
    fn meta_token_known(&self, token: &str) -> bool {
        self.read_meta_pixels().values().any(|t| t == token)
    }

    /// Whether `token` may send events to Meta pixel `id`.
    fn meta_token_allows(&self, token: &str, id: &str) -> bool {
        self.read_meta_pixels().get(id).is_some_and(|t| t == token)
    }

    /// Whether any pixel accepts `token`.
    fn token_known(&self, token: &str) -> bool {
        self.read_pixels().values().any(|t| t == token)
    }

    /// Whether `token` may operate `pixel`.
    fn token_allows(&self, token: &str, pixel: &str) -> bool {
        self.read_pixels().get(pixel).is_some_and(|t| t == token)
    }

    /// Counts one Events API request as being handled until the guard drops.
    pub(crate) fn enter_request(&self) -> RequestGuard {
        let now = self.inner.concurrent.fetch_add(1, Ordering::Relaxed) + 1;
        self.inner.peak_concurrent.fetch_max(now, Ordering::Relaxed);
        RequestGuard(self.clone())
    }

    fn take_fault(&self) -> Drawn {
        lock(&self.inner.faults).take(Instant::now())
    }

    /// How long to hold one request: a draw from the `slow` fault's latency when one applies (the
    /// fault wins), from the configured latency otherwise.
    fn draw_delay(&self, slow: Option<Latency>) -> Duration {
        let latency = slow.unwrap_or(self.inner.latency);
        if latency.is_none() {
            return Duration::ZERO;
        }
        latency.sample(&mut rand::rng())
    }

    fn admit_rate(&self) -> bool {
        match self.inner.max_rps {
            None => true,
            Some(max) => lock(&self.inner.rate).admit(Instant::now(), max),
        }
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.inner.store)
    }

    fn google(&self) -> MutexGuard<'_, GoogleState> {
        lock(&self.inner.google)
    }

    /// The time window of Meta's rules (its other rules have no knob).
    fn meta_rules(&self, now: i64) -> signalpost_meta::validate::Rules {
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        signalpost_meta::validate::Rules {
            now,
            max_past: secs(self.inner.max_past),
            max_future: secs(self.inner.max_future),
        }
    }

    fn rules(&self, now: i64) -> validate::Rules {
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        validate::Rules {
            strict: self.inner.strict,
            now,
            max_past: secs(self.inner.max_past),
            max_future: secs(self.inner.max_future),
        }
    }
}

/// A sandbox served in the background. Dropping it stops the server; [`RunningSandbox::shutdown`]
/// stops it gracefully and waits.
#[derive(Debug)]
pub struct RunningSandbox {
    /// The bound address (the real port when 0 was asked for).
    pub addr: SocketAddr,
    sandbox: Sandbox,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl RunningSandbox {
    /// `http://HOST:PORT`, with loopback standing in for an unspecified bind address.
    pub fn base_url(&self) -> String {
        let ip = match self.addr.ip() {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}", SocketAddr::new(ip, self.addr.port()))
    }

    /// The shared state, for in-process inspection and control.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Stops accepting connections, lets in-flight requests finish (up to 5 s) and returns the
    /// server's result.
    pub async fn shutdown(mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let Some(mut task) = self.task.take() else {
            return Ok(());
        };
        match tokio::time::timeout(Duration::from_secs(5), &mut task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(io::Error::other(join)),
            Err(_) => {
                task.abort();
                Ok(())
            }
        }
    }
}

impl std::ops::Deref for RunningSandbox {
    type Target = Sandbox;

    fn deref(&self) -> &Sandbox {
        &self.sandbox
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Builds a sandbox and serves it on `addr`; same as [`Sandbox::spawn`].
pub async fn spawn(config: SandboxConfig, addr: SocketAddr) -> io::Result<RunningSandbox> {
    Sandbox::spawn(config, addr).await
}

/// One Events API request being handled (see [`Sandbox::enter_request`]).
pub(crate) struct RequestGuard(Sandbox);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.inner.concurrent.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_uses_loopback_for_unspecified_addresses() {
        let running = |addr: &str| RunningSandbox {
            addr: addr.parse().unwrap(),
            sandbox: Sandbox::new(SandboxConfig::default()),
            stop: None,
            task: None,
        };
        assert_eq!(running("0.0.0.0:8080").base_url(), "http://127.0.0.1:8080");
        assert_eq!(running("[::]:9").base_url(), "http://[::1]:9");
        assert_eq!(running("127.0.0.3:80").base_url(), "http://127.0.0.3:80");
    }

    #[test]
    fn debug_output_never_shows_tokens() {
        let config = SandboxConfig {
            pixels: vec![("PIXCODE".into(), "s3cret-token".into())],
            google_ads: vec![("1234567890".into(), "s3cret-dev-token".into())],
            ..SandboxConfig::default()
        };
        let shown = format!("{config:?} {:?}", Sandbox::new(config.clone()));
        assert!(shown.contains("PIXCODE"), "{shown}");
        assert!(shown.contains("1234567890"), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn rotating_a_token_revokes_the_old_one() {
        let sandbox = Sandbox::new(SandboxConfig {
            pixels: vec![("P".into(), "old".into())],
            ..SandboxConfig::default()
        });
        assert!(sandbox.token_allows("old", "P"));
        sandbox.set_token("P", "new").unwrap();
        assert!(!sandbox.token_known("old"));
        assert!(sandbox.token_allows("new", "P"));
        assert!(!sandbox.token_allows("new", "Q"));
        assert_eq!(sandbox.pixels(), ["P"]);
    }
}
