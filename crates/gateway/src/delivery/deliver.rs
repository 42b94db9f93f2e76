//! Delivers one request batch: drop what is too old, send the rest, and turn TikTok's answer into
//! per-conversion results under the delivery policy (delivered · retry with backoff · pause the pixel
//! on a rejected token · set aside the events an invalid batch was refused for, see [`super::isolate`]).
//! Each part's result is recorded the moment it settles, and the batch's lease is renewed while the
//! work goes on, so a slow destination never lets another worker or node reclaim a batch mid-way.
//! If recording fails the lease expires and the events are sent again (TikTok dedups by event_id, so
//! at-least-once here is exactly-once there).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use signalpost_destination::{RowAction, RowVerdict};
use tokio::task::JoinSet;

use super::batch::RequestBatch;
use super::isolate::{Isolation, Part};
use super::lease::keep_lease;
use super::pixels::PixelRegistry;
use super::policy::DeliveryPolicy;
use super::retry::NextStep;
use super::send::{Answer, Clients};
use super::stats::DeliveryStats;
use super::token_bucket::SharedBucket;
use super::window::Feedback;
use crate::destinations::Destination;
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

/// What one batch's delivery came to, for the caller's own decisions (the probe of a paused pixel).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Settled {
    /// The destination accepted the pixel's token: it delivered events or judged their content.
    pub token_accepted: bool,
    /// The destination refused the pixel's token.
    pub token_refused: bool,
    /// An answer was retryable (rate limit, 5xx, timeout, connection error).
    pub retried: bool,
    /// Of those, one said the pixel sends too much (a rate limit).
    pub throttled: bool,
}

impl Settled {
    /// What the batch says about the destination's capacity, for the pixel's window.
    pub fn feedback(self) -> Feedback {
        if self.throttled {
            Feedback::Throttled
        } else if self.retried {
            Feedback::Failed
        } else if self.token_accepted {
            Feedback::Healthy
        } else {
            Feedback::Neutral
        }
    }
}

/// Sends `batch` for `pixel` and records the results.
pub(crate) async fn deliver(
    ctx: Arc<Ctx>,
    pixel: String,
    batch: RequestBatch,
    bucket: SharedBucket,
) -> Settled {
    let now = now_ms();
    let max_age_secs = i64::try_from(ctx.policy.max_event_age.as_secs()).unwrap_or(i64::MAX);
    let (fresh, too_old): (Vec<_>, Vec<_>) = batch
        .conversions
        .into_iter()
        .partition(|c| now / 1000 - c.event_time <= max_age_secs);

    let results: Vec<DeliveryResult> = too_old
        .iter()
        .map(|c| DeliveryResult {
            conversion_id: c.id,
            claim: c.claim,
            state: ConversionState::Dead,
            next_attempt_at_ms: None,
            last_error: Some(format!(
                "too old: event_time {} is more than {}s before delivery; the destination would not attribute it",
                c.event_time, max_age_secs
            )),
            attempts: Vec::new(),
            counts_as_retry: false,
        })
        .collect();
    DeliveryStats::add(&ctx.stats.too_old, too_old.len());
    DeliveryStats::add(&ctx.stats.dead, too_old.len());

    record(&ctx, results).await;
    if fresh.is_empty() {
        return Settled::default();
    }

    let destination = ctx
        .pixels
        .get(&pixel)
        .map(|p| p.config.destination.clone())
        .unwrap_or_default();
    let open = Mutex::new(fresh.iter().map(|c| c.id).collect::<BTreeSet<i64>>());
    let lost = AtomicBool::new(false);
    let mut round = Round {
        ctx: &ctx,
        pixel: &pixel,
        destination: &destination,
        test_event_code: batch.test_event_code.as_deref(),
        conversions: &fresh,
        bucket: &bucket,
        log: vec![Vec::new(); fresh.len()],
        open: &open,
        lost: &lost,
        auth_failure: None,
        retried: false,
        throttled: false,
        delivered: false,
        judged: false,
    };
    let claim = fresh[0].claim;
    tokio::select! {
        () = round.run() => {}
        () = keep_lease(&ctx, claim, &open, &lost) => {}
    }
    if lost.load(Ordering::Relaxed) {
        tracing::warn!(
            pixel = %pixel,
            "a batch's lease was taken by another claim while it was being delivered; its unsettled events are left to that claim"
        );
    }
    let settled = Settled {
        token_accepted: round.delivered || round.judged,
        token_refused: round.auth_failure.is_some(),
        retried: round.retried,
        throttled: round.throttled,
    };
    if let Some(reason) = round.auth_failure.take() {
        pause(&ctx, &pixel, &reason).await;
    }
    note_health(&ctx, &pixel, round.retried, round.delivered).await;
    settled
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

/// The delivery of one request batch's fresh conversions: the whole batch first, then, if TikTok
/// refused it as invalid, the parts [`Isolation`] plans, up to `initial_in_flight` requests at once.
/// Each part's result is recorded as soon as it settles, so progress survives a crash.
struct Round<'a> {
    ctx: &'a Arc<Ctx>,
    pixel: &'a str,
    destination: &'a Destination,
    test_event_code: Option<&'a str>,
    conversions: &'a [ClaimedConversion],
    bucket: &'a SharedBucket,
    /// Attempts per conversion not settled yet (a refused batch carries an event several times).
    log: Vec<Vec<NewAttempt>>,
    /// Ids of the conversions not settled yet, shared with the lease keeper.
    open: &'a Mutex<BTreeSet<i64>>,
    /// Set by the lease keeper when another claim took some of the batch: send nothing more.
    lost: &'a AtomicBool,
    auth_failure: Option<String>,
    retried: bool,
    throttled: bool,
    delivered: bool,
    /// TikTok refused some content as invalid (so it accepted the token).
    judged: bool,
}

impl Round<'_> {
    async fn run(&mut self) {
        let mut plan = Isolation::new(self.conversions.len());
        let mut sending: JoinSet<(Part, Answer)> = JoinSet::new();
        let mut isolating = false;
        let policy = &self.ctx.policy;
        let limit = policy.initial_in_flight.min(policy.max_in_flight).max(1);
        loop {
            while sending.len() < limit && !self.lost.load(Ordering::Relaxed) {
                let Some(part) = plan.next_part() else {
                    break;
                };
                sending.spawn(self.send(part));
            }
            let Some(joined) = sending.join_next().await else {
                break;
            };
            let Ok((part, answer)) = joined else {
                // A send task panicked or was cancelled: its events stay in flight and are
                // reclaimed when the lease expires.
                continue;
            };
            for &i in &part {
                self.log[i].push(answer.attempt.clone());
            }
            if answer.outcome == AttemptOutcome::Auth {
                // The token is refused: every waiting part would be refused the same way, so they
                // are held with this answer instead of being sent (requests in flight finish).
                let mut held = part;
                while let Some(waiting) = plan.next_part() {
                    held.extend(waiting);
                }
                self.settle(&held, &answer).await;
                continue;
            }
            if answer.outcome == AttemptOutcome::Delivered && !answer.rows.is_empty() {
                self.settle_rows(&part, &answer).await;
                continue;
            }
            if answer.outcome != AttemptOutcome::Invalid {
                self.settle(&part, &answer).await;
                continue;
            }
            self.judged = true;
            if !isolating {
                isolating = true;
                DeliveryStats::add(&self.ctx.stats.bisections, 1);
                tracing::info!(
                    pixel = self.pixel,
                    events = part.len(),
                    message = %answer.attempt.message,
                    destination = self.destination.name(),
                    "the destination refused a batch as invalid; setting the events it names aside and resending the rest"
                );
            }
            let named = self.destination.rejected_index(&answer.attempt.message);
            if let Some(bad) = plan.refused(part, named) {
                self.settle(&[bad], &answer).await;
            }
        }
    }

    /// A task that sends `part` (after the pixel's rate limit allows) and hands back its answer.
    fn send(&self, part: Part) -> impl Future<Output = (Part, Answer)> + Send + 'static {
        let ctx = self.ctx.clone();
        let pixel = self.pixel.to_owned();
        let bucket = self.bucket.clone();
        // The body is made now (it borrows the stored events); the pixel as it is now decides the
        // destination's URL, token and answer reading.
        let snapshot = ctx.pixels.get(&pixel);
        let body = snapshot.as_ref().map(|s| {
            s.config.destination.request_body(
                self.pixel,
                Some(s.config.access_token.expose()),
                self.test_event_code,
                part.iter().map(|&i| self.conversions[i].payload.as_str()),
            )
        });
        async move {
            let answer = match (snapshot, body) {
                (Some(snapshot), Some(body)) => {
                    let config = &snapshot.config;
                    let destination = &config.destination;
                    bucket.acquire().await;
                    let url = destination
                        .endpoint_url(&config.base_url, &pixel)
                        .map_err(|e| e.to_string());
                    let answer = ctx
                        .clients
                        .send(
                            url.as_deref().map_err(Clone::clone),
                            config.addresses,
                            destination,
                            config.access_token.expose(),
                            body,
                            part.len(),
                        )
                        .await;
                    ctx.stats.observe_latency(answer.latency);
                    answer
                }
                _ => local_failure(format!("pixel {pixel} is no longer configured"), part.len()),
            };
            (part, answer)
        }
    }

    /// Settles the events `indices` on `answer` and records them at once.
    async fn settle(&mut self, indices: &[usize], answer: &Answer) {
        // One line per answer for log collectors (`RUST_LOG=signalpost_gateway::delivery=debug`):
        // TikTok's request_id and code, never the payload or the token.
        tracing::debug!(
            pixel = self.pixel,
            events = indices.len(),
            outcome = answer.outcome.as_str(),
            http_status = answer.attempt.http_status,
            code = answer.attempt.code,
            tiktok_request_id = answer.attempt.request_id.as_deref().unwrap_or(""),
            latency_ms = answer.attempt.latency_ms,
            "batch answered"
        );
        let results = self.results_for(indices, answer);
        self.finish(results).await;
    }

    /// Settles a part the destination judged row by row (Google Ads' partial failures): each
    /// event it named by its verdict, with the destination's words for that event in its attempt
    /// log, and every other event by the answer's outcome; recorded together.
    async fn settle_rows(&mut self, part: &[usize], answer: &Answer) {
        let mut named = BTreeSet::new();
        let mut results = Vec::with_capacity(part.len());
        for verdict in &answer.rows {
            // A row the request did not have, or a second verdict on one, is ignored.
            let Some(&i) = part.get(verdict.index) else {
                continue;
            };
            if !named.insert(i) {
                continue;
            }
            let row = row_answer(answer, verdict);
            if let Some(last) = self.log[i].last_mut() {
                *last = row.attempt.clone();
            }
            results.extend(self.results_for(&[i], &row));
        }
        let rest: Vec<usize> = part
            .iter()
            .copied()
            .filter(|i| !named.contains(i))
            .collect();
        tracing::debug!(
            pixel = self.pixel,
            events = part.len(),
            refused = named.len(),
            request_id = answer.attempt.request_id.as_deref().unwrap_or(""),
            "batch answered row by row"
        );
        results.extend(self.results_for(&rest, answer));
        self.finish(results).await;
    }

    /// Records settled results, out of the lease keeper's hands first.
    async fn finish(&mut self, results: Vec<DeliveryResult>) {
        // Out of the lease keeper's hands before the write, so a renewal racing the write never
        // reads the settled rows as a lost lease.
        if let Ok(mut open) = self.open.lock() {
            for r in &results {
                open.remove(&r.conversion_id);
            }
        }
        record(self.ctx, results).await;
    }

    /// What becomes of the events `indices` after `answer` (the retry policy's decision).
    fn results_for(&mut self, indices: &[usize], answer: &Answer) -> Vec<DeliveryResult> {
        let now = now_ms();
        let mut rng = rand::rng();
        let message = describe(&answer.attempt);
        // A destination's "not yet, try at T" is neither a failure nor a rate limit: no retry
        // budget spent, the pixel's window untouched.
        let retryable = answer.outcome == AttemptOutcome::Retryable && answer.retry_after.is_none();
        if retryable && !indices.is_empty() {
            self.retried = true;
            self.throttled |= self
                .destination
                .is_throttle(answer.attempt.http_status, answer.attempt.code);
        }
        let mut results = Vec::with_capacity(indices.len());
        for &i in indices {
            let c = &self.conversions[i];
            let attempts = std::mem::take(&mut self.log[i]);
            let first_attempt = c
                .first_attempt_at_ms
                .or_else(|| attempts.first().map(|a| a.at_ms))
                .unwrap_or(now);
            let retries = c.retries + u32::from(retryable);
            let step = self.ctx.policy.retry.next_step(
                answer.outcome,
                &message,
                retries,
                first_attempt,
                now,
                &mut rng,
            );
            let step = match (step, answer.retry_after) {
                (NextStep::RetryAt(_), Some(after)) => NextStep::RetryAt(
                    now.saturating_add(i64::try_from(after.as_millis()).unwrap_or(i64::MAX)),
                ),
                (step, _) => step,
            };
            let (state, next, error) = match step {
                NextStep::Delivered => {
                    DeliveryStats::add(&self.ctx.stats.delivered, 1);
                    self.delivered = true;
                    (ConversionState::Delivered, None, None)
                }
                NextStep::RetryAt(at) => {
                    DeliveryStats::add(&self.ctx.stats.retried, 1);
                    (ConversionState::Retrying, Some(at), Some(message.clone()))
                }
                NextStep::Dead(why) => {
                    DeliveryStats::add(&self.ctx.stats.dead, 1);
                    let why = if answer.outcome == AttemptOutcome::Invalid {
                        format!("rejected by {}: {why}", self.destination.label())
                    } else {
                        why
                    };
                    (ConversionState::Dead, None, Some(why))
                }
                NextStep::Pause => {
                    DeliveryStats::add(&self.ctx.stats.paused, 1);
                    self.auth_failure.get_or_insert_with(|| message.clone());
                    let why = pause_reason(self.destination, &message);
                    (ConversionState::Paused, None, Some(why))
                }
            };
            results.push(DeliveryResult {
                conversion_id: c.id,
                claim: c.claim,
                state,
                next_attempt_at_ms: next,
                last_error: error,
                attempts,
                counts_as_retry: retryable,
            });
        }
        results
    }
}

/// The `last_error` of a conversion held because its pixel is paused.
fn pause_reason(destination: &Destination, message: &str) -> String {
    format!(
        "paused: {} rejected the pixel's access token ({message}); replace the token to resume",
        destination.label()
    )
}

/// `40002: Invalid value for event_id` / `HTTP 503: ...` / `timeout`.
fn describe(a: &NewAttempt) -> String {
    match (a.code, a.http_status) {
        (Some(code), _) => format!("{code}: {}", a.message),
        // A 2xx without a code said what it had to say in the message (a row's own verdict).
        (None, Some(status)) if !(200..300).contains(&status) => {
            format!("HTTP {status}: {}", a.message)
        }
        (None, _) => a.message.clone(),
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
        rows: Vec::new(),
        retry_after: None,
    }
}

/// The answer for one event of a request answered row by row: the request's attempt, in the
/// destination's words for that event (`CLICK_NOT_FOUND: …`).
fn row_answer(answer: &Answer, verdict: &RowVerdict) -> Answer {
    let (outcome, retry_after) = match verdict.action {
        RowAction::Delivered => (AttemptOutcome::Delivered, None),
        RowAction::RetryAfter(after) => (AttemptOutcome::Retryable, Some(after)),
        RowAction::Dead => (AttemptOutcome::Invalid, None),
    };
    Answer {
        outcome,
        attempt: NewAttempt {
            message: format!("{}: {}", verdict.code, verdict.message),
            outcome,
            ..answer.attempt.clone()
        },
        latency: answer.latency,
        rows: Vec::new(),
        retry_after,
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
    let destination = ctx
        .pixels
        .get(pixel)
        .map(|p| p.config.destination)
        .unwrap_or_default();
    let newly = ctx.pixels.pause(pixel, reason);
    let held = ctx
        .store
        .pause_pixel(pixel, &pause_reason(&destination, reason))
        .await;
    if newly {
        let token = ctx
            .pixels
            .get(pixel)
            .map(|p| p.config.access_token.redacted())
            .unwrap_or_default();
        let remedy = match destination {
            Destination::TikTok(_) => {
                "generate a new Events API access token for this pixel in TikTok Events Manager"
            }
            Destination::Meta(_) => {
                "generate a new Conversions API access token for this dataset in Meta Events Manager"
            }
            Destination::GoogleAds(_) => {
                "check the developer token's access level and the OAuth client, then issue a new refresh token for an account with access to the customer"
            }
        };
        tracing::error!(
            pixel,
            destination = destination.name(),
            token = %token,
            reason,
            held = held.as_ref().ok().copied(),
            "{} rejected the access token: delivery for this pixel is paused and its events are kept. \
             Remedy: {remedy} and set it with PUT /v1/pixels/{{code}}/token, `signalpost pixels set-token`, \
             the console, or a changed access_token in the config file (SIGHUP); paused events then resume.",
            destination.label()
        );
    }
}
