//! Starts and stops the delivery engine: a supervisor that runs one worker per configured pixel (and
//! starts workers for pixels added by a config reload), and the worker loop itself — claim due
//! conversions, split them into requests, send as many at once as the pixel's adaptive window
//! allows ([`super::window`], at most `max_in_flight`), wait for new work.
//! Shutdown (the cancellation token) stops claiming, lets in-flight requests finish and records them.
//! A crash loses nothing: claimed rows whose lease expires are claimed again.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use tokio::time::Instant;

use super::batch::{RequestBatch, plan_requests};
use super::deliver::{Ctx, Settled, deliver};
use super::pixels::{PixelRegistry, PixelState};
use super::policy::DeliveryPolicy;
use super::send::Clients;
use super::signal::WorkSignal;
use super::stats::DeliveryStats;
use super::token_bucket::SharedBucket;
use super::window::Window;
use crate::store::Store;
use crate::time::now_ms;

/// Entry point of the engine.
pub struct DeliveryEngine;

/// A running engine.
pub struct EngineHandle {
    signal: WorkSignal,
    stats: Arc<DeliveryStats>,
    supervisor: JoinHandle<()>,
}

impl EngineHandle {
    /// Give this to [`crate::Gateway::with_work_signal`] so ingest wakes the workers.
    pub fn work_signal(&self) -> WorkSignal {
        self.signal.clone()
    }

    /// Delivery counters for `/metrics`.
    pub fn stats(&self) -> Arc<DeliveryStats> {
        self.stats.clone()
    }

    /// Waits until the engine has stopped (after its shutdown token is cancelled) and every
    /// in-flight request's result is recorded.
    pub async fn join(self) {
        if let Err(e) = self.supervisor.await {
            tracing::error!(error = %e, "delivery supervisor ended abnormally");
        }
    }

    /// Stops the engine at once without waiting for in-flight requests or recording their results,
    /// as a killed process would. Their leases expire and the conversions are sent again.
    pub fn abort(self) {
        self.supervisor.abort();
    }
}

impl DeliveryEngine {
    /// Starts delivering every pixel of `pixels` until `shutdown` is cancelled.
    pub fn start(
        store: Arc<dyn Store>,
        pixels: PixelRegistry,
        policy: DeliveryPolicy,
        shutdown: CancellationToken,
    ) -> EngineHandle {
        Self::start_with_signal(store, pixels, policy, shutdown, WorkSignal::new())
    }

    /// [`DeliveryEngine::start`] sharing an existing [`WorkSignal`] (e.g. one a [`crate::Gateway`]
    /// already holds).
    pub fn start_with_signal(
        store: Arc<dyn Store>,
        pixels: PixelRegistry,
        policy: DeliveryPolicy,
        shutdown: CancellationToken,
        signal: WorkSignal,
    ) -> EngineHandle {
        let stats = Arc::new(DeliveryStats::default());
        // Work queued by other nodes sharing the store wakes this engine's workers too.
        let remote = signal.clone();
        store.watch_remote_work(Arc::new(move |pixel: &str| remote.notify(pixel)));
        let ctx = Arc::new(Ctx {
            store,
            pixels,
            clients: Clients::new(policy.request_timeout, policy.connect_timeout),
            policy,
            stats: stats.clone(),
            failing: Default::default(),
        });
        // Aborting the supervisor must abort its workers too (crash simulation), so they live in a
        // JoinSet the supervisor owns.
        let supervisor = tokio::spawn(supervise(ctx, signal.clone(), shutdown));
        EngineHandle {
            signal,
            stats,
            supervisor,
        }
    }
}

async fn supervise(ctx: Arc<Ctx>, signal: WorkSignal, shutdown: CancellationToken) {
    let mut workers = JoinSet::new();
    let mut running: HashMap<String, tokio::task::AbortHandle> = HashMap::new();
    let mut changes = ctx.pixels.subscribe();
    loop {
        running.retain(|_, handle| !handle.is_finished());
        for code in ctx.pixels.codes() {
            if let std::collections::hash_map::Entry::Vacant(slot) = running.entry(code) {
                let handle = workers.spawn(run_worker(
                    ctx.clone(),
                    slot.key().clone(),
                    signal.clone(),
                    shutdown.clone(),
                ));
                slot.insert(handle);
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            changed = changes.changed() => if changed.is_err() { break },
            Some(_) = workers.join_next(), if !workers.is_empty() => {}
        }
    }
    while workers.join_next().await.is_some() {}
    tracing::info!("delivery engine stopped");
}

async fn run_worker(ctx: Arc<Ctx>, code: String, signal: WorkSignal, shutdown: CancellationToken) {
    let policy = ctx.policy.clone();
    let notify = signal.listener(&code);
    let bucket = SharedBucket::new(policy.requests_per_second, policy.burst);
    let mut changes = ctx.pixels.subscribe();
    let mut in_flight: JoinSet<Settled> = JoinSet::new();
    let mut window = Window::new(
        policy.initial_in_flight,
        policy.max_in_flight,
        policy.window_cooldown,
    );
    ctx.stats.set_window(&code, window.limit());
    // Whether the last claim took as many conversions as a request holds: only then is the window,
    // not the supply of due conversions, what holds delivery back (more requests in flight would
    // otherwise split the same conversions into smaller batches, costing the store more work).
    let mut backlog = false;
    // A (re)start probes a paused pixel's token once: its paused rows go back to pending.
    let mut resume_store = true;
    // When a paused pixel is next probed (set while it is paused).
    let mut next_probe: Option<Instant> = None;
    tracing::debug!(pixel = %code, "delivery worker started");
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        while let Some(done) = in_flight.try_join_next() {
            absorb(&mut window, &ctx.stats, &code, done);
        }
        // Any registry change (a token replaced, a reload) re-probes the store for paused rows: the
        // worker may never have seen the pixel paused if its token was replaced quickly enough.
        if changes.has_changed().unwrap_or(false) {
            changes.mark_unchanged();
            resume_store = true;
        }
        let Some(pixel) = ctx.pixels.get(&code) else {
            break;
        };
        if matches!(pixel.state, PixelState::Paused { .. }) {
            resume_store = true;
            let probe_at = *next_probe.get_or_insert_with(|| Instant::now() + policy.pause_probe);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = changes.changed() => resume_store = true,
                Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                    absorb(&mut window, &ctx.stats, &code, done);
                }
                _ = tokio::time::sleep_until(probe_at) => {
                    next_probe = None;
                    probe_paused_pixel(&ctx, &code, &bucket).await;
                }
            }
            continue;
        }
        next_probe = None;
        if resume_store {
            match ctx.store.resume_pixel(&code).await {
                Ok(0) => resume_store = false,
                Ok(n) => {
                    resume_store = false;
                    tracing::info!(pixel = %code, resumed = n, "pixel active: paused events resumed");
                }
                Err(e) => {
                    tracing::warn!(pixel = %code, error = %e, "could not resume paused events; will retry");
                    if idle(&shutdown, policy.poll_interval).await {
                        break;
                    }
                    continue;
                }
            }
        }
        if in_flight.len() >= window.limit() {
            if backlog {
                window.note_limited();
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(done) = in_flight.join_next() => absorb(&mut window, &ctx.stats, &code, done),
            }
            continue;
        }
        // Events per request: the destination's own limit (TikTok and Meta 1,000, Google Ads
        // 2,000), within the policy's.
        let batch_events = pixel
            .config
            .destination
            .max_events()
            .min(policy.max_batch_events)
            .max(1);
        let claimed = match ctx
            .store
            .claim_due(&code, now_ms(), batch_events, policy.lease)
            .await
        {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(pixel = %code, error = %e, "claiming due conversions failed; will retry");
                if idle(&shutdown, policy.poll_interval).await {
                    break;
                }
                continue;
            }
        };
        if claimed.is_empty() {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = notify.notified() => {
                    // Let a burst of ingests accumulate into one batch.
                    if idle(&shutdown, policy.linger).await {
                        break;
                    }
                }
                _ = tokio::time::sleep(policy.poll_interval) => {}
                _ = changes.changed() => resume_store = true,
                Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                    absorb(&mut window, &ctx.stats, &code, done);
                }
            }
            continue;
        }
        backlog = claimed.len() >= batch_events;
        let requests = plan_requests(
            claimed,
            pixel.config.test_event_code.as_deref(),
            batch_events,
            policy.max_batch_bytes,
        );
        for request in requests {
            let delivery = deliver(ctx.clone(), code.clone(), request, bucket.clone());
            in_flight.spawn(delivery);
        }
    }
    // Graceful stop: no more claims; finish and record what is in flight.
    while in_flight.join_next().await.is_some() {}
    tracing::debug!(pixel = %code, "delivery worker stopped");
}

/// Adjusts the pixel's window to a finished batch (a panicked task says nothing).
fn absorb(
    window: &mut Window,
    stats: &DeliveryStats,
    code: &str,
    done: Result<Settled, tokio::task::JoinError>,
) {
    let Ok(settled) = done else {
        return;
    };
    let before = window.limit();
    window.observe(settled.feedback(), Instant::now());
    if window.limit() != before {
        stats.set_window(code, window.limit());
        tracing::debug!(pixel = %code, from = before, to = window.limit(), "delivery window changed");
    }
}

/// Sends one held conversion of a paused pixel alone, to learn whether the destination accepts the
/// pixel again: a pause can come from a refusal that heals by itself (a permission granted late, a
/// token restored on TikTok's side). If TikTok delivers the event or judges its content, the token
/// works and the pixel resumes; a refused token keeps it paused until the next probe or a new token;
/// a transient failure leaves the event to retry once the pixel resumes.
async fn probe_paused_pixel(ctx: &Arc<Ctx>, code: &str, bucket: &SharedBucket) {
    let claimed = match ctx
        .store
        .claim_probe(code, now_ms(), ctx.policy.lease)
        .await
    {
        Ok(Some(claimed)) => claimed,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(pixel = %code, error = %e, "could not claim an event to probe a paused pixel");
            return;
        }
    };
    let Some(pixel) = ctx.pixels.get(code) else {
        return;
    };
    let test_event_code = claimed
        .test_event_code
        .clone()
        .or_else(|| pixel.config.test_event_code.clone());
    let batch = RequestBatch {
        test_event_code,
        conversions: vec![claimed],
    };
    DeliveryStats::add(&ctx.stats.probes, 1);
    let settled = deliver(ctx.clone(), code.to_owned(), batch, bucket.clone()).await;
    if settled.token_accepted && ctx.pixels.resume(code) {
        tracing::info!(pixel = %code, "a probe of the paused pixel was accepted: delivery resumes");
    } else if settled.token_refused {
        tracing::info!(pixel = %code, "a probe of the paused pixel was refused again: it stays paused");
    }
}

/// Sleeps for `d` unless shutdown comes first; returns `true` on shutdown.
async fn idle(shutdown: &CancellationToken, d: std::time::Duration) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => true,
        _ = tokio::time::sleep(d) => false,
    }
}
