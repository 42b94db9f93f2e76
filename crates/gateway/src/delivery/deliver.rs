//! Delivers one request batch: drop what is too old, send the rest, and turn TikTok's answer into
//! per-conversion results under the delivery policy (delivered · retry with backoff · pause the pixel
//! on a rejected token · bisect an invalid batch down to the offending events). Results are recorded in
//! one store call; if that fails the lease expires and the batch is sent again (TikTok dedups by
//! event_id, so at-least-once here is exactly-once there).

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use super::batch::{RequestBatch, track_body};
use super::bisect::Bisection;
use super::pixels::PixelRegistry;
use super::policy::DeliveryPolicy;
use super::retry::NextStep;
use super::send::{Answer, Clients};
use super::stats::DeliveryStats;
use super::token_bucket::SharedBucket;
use crate::domain::{AttemptOutcome, ConversionState, NewAttempt};
use crate::store::{ClaimedConversion, DeliveryResult, Store, StoreError};
use crate::time::now_ms;

/// What every delivery task shares.
pub(crate) struct Ctx {
    pub store: Arc<dyn Store>,
    pub pixels: PixelRegistry,
    pub policy: DeliveryPolicy,
    pub clients: Clients,
    pub stats: Arc<DeliveryStats>,
    /// Pixels whose destination last answered with a retryable failure. The first accepted request
    /// after that brings the pixel's waiting retries forward (see `Store::expedite_retries`).
    pub failing: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

/// Sends `batch` for `pixel` and records the results.
pub(crate) async fn deliver(
    ctx: Arc<Ctx>,
    pixel: String,
    batch: RequestBatch,
    bucket: SharedBucket,
) {
    let now = now_ms();
    let max_age_secs = i64::try_from(ctx.policy.max_event_age.as_secs()).unwrap_or(i64::MAX);
    let (fresh, too_old): (Vec<_>, Vec<_>) = batch
        .conversions
        .into_iter()
        .partition(|c| now / 1000 - c.event_time <= max_age_secs);

    let mut results: Vec<DeliveryResult> = too_old
        .iter()
        .map(|c| DeliveryResult {
            conversion_id: c.id,
            claim: c.claim,
            state: ConversionState::Dead,
            next_attempt_at_ms: None,
            last_error: Some(format!(
                "too old: event_time {} is more than {}s before delivery; TikTok would not attribute it",
                c.event_time, max_age_secs
            )),
            attempts: Vec::new(),
            counts_as_retry: false,
        })
        .collect();
    DeliveryStats::add(&ctx.stats.too_old, too_old.len());
    DeliveryStats::add(&ctx.stats.dead, too_old.len());

    let mut auth_failure = None;
    if !fresh.is_empty() {
        let mut round = Round {
            ctx: &ctx,
            pixel: &pixel,
            test_event_code: batch.test_event_code.as_deref(),
            conversions: &fresh,
            bucket: &bucket,
            log: vec![Vec::new(); fresh.len()],
            results: Vec::with_capacity(fresh.len()),
            auth_failure: None,
        };
        round.run().await;
        auth_failure = round.auth_failure.take();
        results.append(&mut round.results);
    }

    let retried = results.iter().any(|r| r.counts_as_retry);
    let delivered = results
        .iter()
        .any(|r| r.state == ConversionState::Delivered);
    record(&ctx, results).await;

    if let Some(reason) = auth_failure {
        pause(&ctx, &pixel, &reason).await;
    }
    note_health(&ctx, &pixel, retried, delivered).await;
}

/// Remembers a pixel whose destination fails; when it accepts a request again, the conversions
/// waiting out their backoff are made due now, so a backlog built up during an outage drains at
/// full speed instead of trickling in over the next retry cap.
async fn note_health(ctx: &Ctx, pixel: &str, retried: bool, delivered: bool) {
    let recovered = {
        let mut failing = match ctx.failing.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if retried {
            failing.insert(pixel.to_owned());
            false
        } else {
            delivered && failing.remove(pixel)
        }
    };
    if recovered {
        match ctx.store.expedite_retries(pixel, now_ms()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                pixel,
                expedited = n,
                "the destination accepts events again: waiting retries are due now"
            ),
            Err(e) => {
                tracing::warn!(pixel, error = %e, "could not bring waiting retries forward; they keep their schedule")
            }
        }
    }
}

struct Round<'a> {
    ctx: &'a Ctx,
    pixel: &'a str,
    test_event_code: Option<&'a str>,
    conversions: &'a [ClaimedConversion],
    bucket: &'a SharedBucket,
    /// Attempts per conversion (bisection sends some several times).
    log: Vec<Vec<NewAttempt>>,
    results: Vec<DeliveryResult>,
    auth_failure: Option<String>,
}

impl Round<'_> {
    async fn run(&mut self) {
        let all = 0..self.conversions.len();
        let first = self.send(all.clone()).await;
        if first.outcome != AttemptOutcome::Invalid || all.len() == 1 {
            self.settle(all, &first);
            return;
        }
        DeliveryStats::add(&self.ctx.stats.bisections, 1);
        tracing::info!(
            pixel = self.pixel,
            events = all.len(),
            message = %first.attempt.message,
            "TikTok refused a batch as invalid; bisecting to find the offending events"
        );
        let mut bisection = Bisection::after_rejected_batch(all.len());
        while let Some(slice) = bisection.next_slice() {
            let answer = self.send(slice.clone()).await;
            if answer.outcome == AttemptOutcome::Invalid {
                if slice.len() == 1 {
                    self.settle(slice.clone(), &answer);
                }
                bisection.rejected(slice);
            } else {
                self.settle(slice, &answer);
            }
        }
    }

    async fn send(&mut self, slice: Range<usize>) -> Answer {
        let events = &self.conversions[slice.clone()];
        let answer = match self.ctx.pixels.get(self.pixel) {
            None => local_failure(
                format!("pixel {} is no longer configured", self.pixel),
                events.len(),
            ),
            Some(pixel) => {
                let body = track_body(
                    self.pixel,
                    self.test_event_code,
                    events.iter().map(|c| c.payload.as_str()),
                );
                self.bucket.acquire().await;
                let answer = self
                    .ctx
                    .clients
                    .send(
                        &pixel.config.base_url,
                        pixel.config.access_token.expose(),
                        body,
                        events.len(),
                    )
                    .await;
                self.ctx.stats.observe_latency(answer.latency);
                answer
            }
        };
        for entry in &mut self.log[slice] {
            entry.push(answer.attempt.clone());
        }
        answer
    }

    fn settle(&mut self, slice: Range<usize>, answer: &Answer) {
        let now = now_ms();
        let mut rng = rand::rng();
        let message = describe(&answer.attempt);
        for i in slice {
            let c = &self.conversions[i];
            let attempts = std::mem::take(&mut self.log[i]);
            let first_attempt = c
                .first_attempt_at_ms
                .or_else(|| attempts.first().map(|a| a.at_ms))
                .unwrap_or(now);
            let retryable = answer.outcome == AttemptOutcome::Retryable;
            let retries = c.retries + u32::from(retryable);
            let step = self.ctx.policy.retry.next_step(
                answer.outcome,
                &message,
                retries,
                first_attempt,
                now,
                &mut rng,
            );
            let (state, next, error) = match step {
                NextStep::Delivered => {
                    DeliveryStats::add(&self.ctx.stats.delivered, 1);
                    (ConversionState::Delivered, None, None)
                }
                NextStep::RetryAt(at) => {
                    DeliveryStats::add(&self.ctx.stats.retried, 1);
                    (ConversionState::Retrying, Some(at), Some(message.clone()))
                }
                NextStep::Dead(why) => {
                    DeliveryStats::add(&self.ctx.stats.dead, 1);
                    (ConversionState::Dead, None, Some(why))
                }
                NextStep::Pause => {
                    DeliveryStats::add(&self.ctx.stats.paused, 1);
                    let why = format!(
                        "paused: TikTok rejected the pixel's access token ({message}); replace the token to resume"
                    );
                    self.auth_failure.get_or_insert_with(|| message.clone());
                    (ConversionState::Paused, None, Some(why))
                }
            };
            self.results.push(DeliveryResult {
                conversion_id: c.id,
                claim: c.claim,
                state,
                next_attempt_at_ms: next,
                last_error: error,
                attempts,
                counts_as_retry: retryable,
            });
        }
    }
}

/// `40002: Invalid value for event_id` / `HTTP 503: ...` / `timeout`.
fn describe(a: &NewAttempt) -> String {
    match (a.code, a.http_status) {
        (Some(code), _) => format!("{code}: {}", a.message),
        (None, Some(status)) => format!("HTTP {status}: {}", a.message),
        (None, None) => a.message.clone(),
    }
}

fn local_failure(message: String, batch_size: usize) -> Answer {
    Answer {
        outcome: AttemptOutcome::Retryable,
        attempt: NewAttempt {
            at_ms: now_ms(),
            http_status: None,
            code: None,
            message,
            request_id: None,
            latency_ms: 0,
            outcome: AttemptOutcome::Retryable,
            batch_size: u32::try_from(batch_size).unwrap_or(u32::MAX),
        },
        latency: Duration::ZERO,
    }
}

/// Records results, retrying briefly when the store pushes back. Giving up is safe: the lease expires
/// and the conversions are sent again.
async fn record(ctx: &Ctx, results: Vec<DeliveryResult>) {
    if results.is_empty() {
        return;
    }
    let mut delay = Duration::from_millis(50);
    for attempt in 1..=5 {
        match ctx.store.record_results(results.clone()).await {
            Ok(()) => return,
            Err(StoreError::Closed) => break,
            Err(e) if attempt < 5 => {
                tracing::warn!(error = %e, "recording delivery results failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(e) => {
                tracing::error!(error = %e, "recording delivery results failed; the lease will expire and the batch will be sent again");
            }
        }
    }
}

async fn pause(ctx: &Ctx, pixel: &str, reason: &str) {
    let newly = ctx.pixels.pause(pixel, reason);
    let held = ctx
        .store
        .pause_pixel(pixel, &format!("paused: TikTok rejected the pixel's access token ({reason}); replace the token to resume"))
        .await;
    if newly {
        let token = ctx
            .pixels
            .get(pixel)
            .map(|p| p.config.access_token.redacted())
            .unwrap_or_default();
        tracing::error!(
            pixel,
            token = %token,
            reason,
            held = held.as_ref().ok().copied(),
            "TikTok rejected the access token: delivery for this pixel is paused and its events are kept. \
             Remedy: generate a new Events API access token for this pixel in TikTok Events Manager and set it \
             with PUT /v1/pixels/{{code}}/token, `signalpost pixels set-token`, the console, or a changed \
             access_token in the config file (SIGHUP); paused events then resume."
        );
    }
}
