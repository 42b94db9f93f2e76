//! Durable storage of leads, lifecycle events, conversions (the outbox) and attempts, behind the
//! [`Store`] trait so SQLite (embedded default) and PostgreSQL implementations are interchangeable.
//! The trait speaks domain types only: no SQL crosses it. What it must never hold: a raw email or
//! phone (callers pass SHA-256 hex).

pub(crate) mod click_ids;
pub mod erase;
pub mod error;
pub mod insights;
pub(crate) mod payload_codec;
pub mod postgres;
pub mod replay;
pub mod settings;
pub mod sqlite;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

pub use erase::{EraseRequest, Erased};
pub use error::StoreError;
pub use insights::{DeadLetterFilter, Insights, LeadQuery, MatchQuality, MinuteCount, ReasonCount};
pub use replay::{PageRepair, PageRepairs, ReplayChunk, ReplayFilter, ReplayFrom, ReplayOutcome};

use crate::domain::{
    Attempt, Conversion, ConversionState, Lead, LifecycleEvent, NewAttempt, NewConversion,
};

/// The boxed future every [`Store`] method returns, so the trait is dyn-compatible
/// (`Arc<dyn Store>`) without a proc-macro dependency.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// One atomic write: a lifecycle event, the lead it belongs to when it is new, and the conversions the
/// rules produced for it.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestUnit {
    /// Set for a form submission (the lead is created unless its `transaction_id` exists); `None` for
    /// a later lifecycle event, whose lead must already be stored.
    pub lead: Option<Lead>,
    /// For a later lifecycle event (`lead` is `None`): the lead its conversions were planned
    /// against, as the gateway read it (or as an earlier item of the same batch creates it). A store
    /// may then only check that the lead still exists, and answer with this one, instead of
    /// reading the whole row again inside its write.
    pub planned_with: Option<Lead>,
    /// The lifecycle event; `transaction_id` names its lead. Its `id` is ignored: the store assigns it.
    pub event: LifecycleEvent,
    /// Conversions to queue; each is skipped if (pixel, event name, event_id) is already queued.
    pub conversions: Vec<NewConversion>,
    /// When the gateway planned this unit (unix ms, its clock): stored as the conversions'
    /// `created_at_ms`, the time caps count them at, so the window a conversion was checked against
    /// and the time it counts at come from one clock. The store's own clock when `None`.
    pub queued_at_ms: Option<i64>,
}

/// The answer to an ingest. A replay (same lead, same idempotency key) gets the first answer back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IngestResult {
    /// The stored lead (on a replay, the first version).
    pub lead: Lead,
    /// Whether this request created the lead.
    pub lead_created: bool,
    /// The stored lifecycle event.
    pub event: LifecycleEvent,
    /// `false` when the idempotency key had been seen: nothing new was queued.
    pub event_created: bool,
    /// Conversions this lifecycle event queued (on a replay: those the first request queued).
    pub conversions: Vec<Conversion>,
    /// Conversions the rules asked for that were already queued by an earlier event with the same
    /// (pixel, event name, event_id): TikTok would dedup them anyway, so nothing was queued.
    pub duplicates: Vec<Conversion>,
    /// Conversions the rules planned that the gateway's ingest check refused to store at all (an
    /// `event_id` that would dedup unrelated leads). Filled by the gateway for a new event; the
    /// store always answers it empty. Those kept as `undeliverable` are in `conversions`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<crate::domain::RefusedConversion>,
}

/// Everything known about one lead, for `GET /v1/leads/{transaction_id}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeadView {
    pub lead: Lead,
    /// In the order they were received.
    pub events: Vec<LifecycleEvent>,
    pub conversions: Vec<ConversionView>,
}

/// A conversion with its delivery log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConversionView {
    #[serde(flatten)]
    pub conversion: Conversion,
    /// Oldest first.
    pub attempt_log: Vec<Attempt>,
}

/// A conversion claimed for delivery: it is `in_flight` until its result is recorded or the lease
/// expires (then any worker may claim it again, so a crash loses nothing).
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedConversion {
    pub id: i64,
    /// Identifies this claim; a result recorded with a stale claim is ignored.
    pub claim: i64,
    pub pixel: String,
    pub event_name: String,
    pub event_id: String,
    pub test_event_code: Option<String>,
    pub event_time: i64,
    /// Attempts so far (all outcomes).
    pub attempts: u32,
    /// Retryable failures so far; drives the backoff.
    pub retries: u32,
    /// When the first attempt was made, unix ms; the retry budget counts from it.
    pub first_attempt_at_ms: Option<i64>,
    /// The event JSON, ready to concatenate.
    pub payload: String,
}

/// What became of one claimed conversion.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryResult {
    pub conversion_id: i64,
    /// The claim it was delivered under.
    pub claim: i64,
    /// `delivered`, `retrying`, `dead` or `paused`.
    pub state: ConversionState,
    /// For `retrying`: when to send again (unix ms).
    pub next_attempt_at_ms: Option<i64>,
    /// Why it is retrying, dead or paused.
    pub last_error: Option<String>,
    /// Requests that carried it in this round (bisection can make several); empty for "too old".
    pub attempts: Vec<NewAttempt>,
    /// Whether this round counts against the retry budget (a retryable failure).
    pub counts_as_retry: bool,
}

/// Conversions of one pixel in one state (for `/metrics`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueDepth {
    pub pixel: String,
    pub state: ConversionState,
    pub count: u64,
}

/// Told the pixel code when another process queued work for it (see [`Store::watch_remote_work`]).
pub type WorkWaker = Arc<dyn Fn(&str) + Send + Sync>;

/// Durable storage for the gateway. Every write is acknowledged only after it is committed. The
/// console's reads are the [`Insights`] supertrait.
pub trait Store: Insights + Send + Sync + 'static {
    /// Stores one unit atomically. Fails with [`StoreError::LeadNotFound`] when `unit.lead` is `None`
    /// and the lead does not exist, and with [`StoreError::Backpressure`] when the writer is saturated.
    fn ingest(&self, unit: IngestUnit) -> StoreFuture<'_, IngestResult>;

    /// Stores many units in one commit (for `/v1/batch`); each unit gets its own answer, in order.
    /// A unit may refer to a lead created by an earlier unit of the same call.
    fn ingest_many(
        &self,
        units: Vec<IngestUnit>,
    ) -> StoreFuture<'_, Vec<Result<IngestResult, StoreError>>>;

    /// The lead alone (rule matching for a later lifecycle event needs it).
    fn find_lead<'a>(&'a self, transaction_id: &'a str) -> StoreFuture<'a, Option<Lead>>;

    /// The lead with its lifecycle events, conversions and every attempt.
    fn get_lead<'a>(&'a self, transaction_id: &'a str) -> StoreFuture<'a, Option<LeadView>>;

    /// Claims up to `limit` conversions of `pixel` that are due at `now_ms` (pending, retrying, or
    /// in_flight with an expired lease), marking them in_flight until `now_ms + lease`.
    fn claim_due<'a>(
        &'a self,
        pixel: &'a str,
        now_ms: i64,
        limit: usize,
        lease: Duration,
    ) -> StoreFuture<'a, Vec<ClaimedConversion>>;

    /// Records delivery results and their attempts in one transaction. A result whose claim is
    /// stale (the lease expired and another claim holds the row) still has its attempts logged, and
    /// its state applied when it is final (delivered or dead) and the row is not final yet (or is
    /// dead and the answer is delivered): TikTok's verdict on an event does not depend on which
    /// claim sent it.
    fn record_results(&self, results: Vec<DeliveryResult>) -> StoreFuture<'_, ()>;

    /// Extends to `until_ms` the lease of those of `ids` still `in_flight` under `claim`; returns how
    /// many it extended. A delivery that takes longer than a lease (bisection against a slow
    /// destination) renews while it works, so no other worker or node reclaims its batch.
    fn renew_lease(&self, claim: i64, ids: Vec<i64>, until_ms: i64) -> StoreFuture<'_, u64>;

    /// Claims one held conversion of `pixel` alone (in_flight until `now_ms + lease`): the oldest
    /// `paused` one, else the oldest `pending` one (queued while the pixel was paused), so the engine
    /// can probe whether the destination accepts the pixel again; `None` when it holds nothing.
    fn claim_probe<'a>(
        &'a self,
        pixel: &'a str,
        now_ms: i64,
        lease: Duration,
    ) -> StoreFuture<'a, Option<ClaimedConversion>>;

    /// Moves the pixel's pending and retrying conversions to `paused`; returns how many.
    fn pause_pixel<'a>(&'a self, pixel: &'a str, reason: &'a str) -> StoreFuture<'a, u64>;

    /// Moves the pixel's paused conversions back to `pending`, due now; returns how many.
    fn resume_pixel<'a>(&'a self, pixel: &'a str) -> StoreFuture<'a, u64>;

    /// Makes the pixel's `retrying` conversions that are due later than `now_ms` due at `now_ms`
    /// (their retry counts and budgets unchanged); returns how many. The engine calls it when a
    /// destination that was failing accepts a request again, so a backlog built up during an outage
    /// drains at once instead of each conversion waiting out its own backoff.
    fn expedite_retries<'a>(&'a self, pixel: &'a str, now_ms: i64) -> StoreFuture<'a, u64>;

    /// How many conversions of `rule` count toward a cap whose window starts at `window_start_ms`:
    /// those with `created_at_ms >= window_start_ms` and a state other than `suppressed` or
    /// `undeliverable` (neither is ever sent without an operator; the count
    /// [`crate::domain::CapCheck`] compares with its limit). For previews; ingest checks caps itself.
    fn cap_usage<'a>(&'a self, rule: &'a str, window_start_ms: i64) -> StoreFuture<'a, u64>;

    /// Conversion counts per pixel and state.
    fn queue_depth(&self) -> StoreFuture<'_, Vec<QueueDepth>>;

    /// Pixels that have conversions due at `now_ms` (pending/retrying due, or expired leases).
    fn pixels_with_due_work(&self, now_ms: i64) -> StoreFuture<'_, Vec<String>>;

    /// Re-queues one chunk of the conversions `filter` selects (see [`replay`]): of those in state
    /// `filter.from` with an id above `chunk.after_id`, the first `chunk.limit` in id order become
    /// `pending`, due now, with their event_id, payload and attempt log unchanged (except: replaying
    /// `undeliverable` ones puts the pixel's `site_url` from [`ReplayFilter::page_repairs`] into a
    /// payload that names no page, see [`PageRepair::apply`]), a fresh retry
    /// budget (`retries` 0, no first-attempt time, no claim, no `last_error`), and one attempt-log
    /// entry with outcome `replayed` whose message is [`replay::replay_message`] (it keeps the old
    /// `last_error`); the attempt counter is not incremented (no request was made). The whole chunk
    /// is one transaction. With `chunk.dry_run` nothing changes and only `matched`/`last_id` are
    /// filled. Callers loop with `after_id = last_id` until `last_id` is `None`.
    fn replay<'a>(
        &'a self,
        filter: &'a ReplayFilter,
        chunk: ReplayChunk,
    ) -> StoreFuture<'a, ReplayOutcome>;

    /// Deletes every lead `who` matches, with its lifecycle events, conversions (payloads included)
    /// and attempt log, in one transaction; see [`erase`]. A conversion being delivered at that
    /// moment is deleted too: the delivery's outcome then finds nothing to record.
    fn erase<'a>(&'a self, who: &'a EraseRequest) -> StoreFuture<'a, Erased>;

    /// Retention: deletes up to `limit` leads stored before `cutoff_ms` whose lifecycle events are
    /// all older too and none of whose conversions still waits for delivery (pending, in flight,
    /// retrying or paused), with everything they led to, in one short transaction. Callers repeat
    /// until nothing is deleted.
    fn purge_expired(&self, cutoff_ms: i64, limit: usize) -> StoreFuture<'_, Erased>;

    /// Calls `waker` with a pixel code whenever another process sharing this store (another node on
    /// the same PostgreSQL database) queues work for that pixel, so this process's idle delivery
    /// workers pick it up at once instead of at their next poll. The delivery engine registers here
    /// when it starts. A store owned by a single process (SQLite) has nothing to forward: ingest in
    /// the same process already wakes the workers directly.
    fn watch_remote_work(&self, waker: WorkWaker) {
        let _ = waker;
    }

    /// The schema version the database holds, next to the one this build writes: readiness
    /// (`GET /readyz`) reports a node whose database was moved on by a newer build (another node of
    /// a rolling upgrade, or a restored backup) instead of letting it serve a schema it does not know.
    fn schema_version(&self) -> StoreFuture<'_, SchemaVersion>;

    /// Bytes available on the file system that holds the store when it is a local file (SQLite), so
    /// readiness can take a node whose disk is full out of rotation before its writes fail; `None`
    /// for a store on another server (PostgreSQL reports a full disk as a failed write).
    fn free_space(&self) -> Option<u64> {
        None
    }
}

/// What [`Store::schema_version`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SchemaVersion {
    /// The version recorded in the database (0 when none is).
    pub found: i64,
    /// The version this build migrates to and knows how to read and write.
    pub expected: i64,
}

impl SchemaVersion {
    /// Whether the database is at exactly this build's version.
    pub fn is_current(&self) -> bool {
        self.found == self.expected
    }

    /// Why the schema is not current, for an operator; `None` when it is.
    pub fn problem(&self) -> Option<String> {
        let SchemaVersion { found, expected } = *self;
        match found.cmp(&expected) {
            std::cmp::Ordering::Equal => None,
            std::cmp::Ordering::Greater => Some(format!(
                "the database schema is version {found}, newer than this build's {expected}: \
                 a newer signalpost has migrated it; upgrade this node"
            )),
            std::cmp::Ordering::Less => Some(format!(
                "the database schema is version {found}, older than this build's {expected}: \
                 restart this node to migrate it"
            )),
        }
    }
}

/// Key of the digits-only reading of `phone` in the stored readings.
const DIGITS_KEY: &str = "digits";
/// Prefix of the digits-only readings of `phone_by_region` in the stored readings.
const DIGITS_PREFIX: &str = "digits:";

/// `leads.phone_by_region` as stored: one JSON object holding the lead's other phone readings —
/// region → E.164 hash (`phone_by_region`), `"digits"` → `phone_digits`, `"digits:REGION"` →
/// `phone_digits_by_region` — or NULL when there are none.
pub(crate) fn phones_to_json(lead: &Lead) -> Result<Option<String>, StoreError> {
    if lead.phone_by_region.is_empty()
        && lead.phone_digits.is_none()
        && lead.phone_digits_by_region.is_empty()
    {
        return Ok(None);
    }
    let mut all: std::collections::BTreeMap<String, &str> = lead
        .phone_by_region
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str()))
        .collect();
    if let Some(digits) = &lead.phone_digits {
        all.insert(DIGITS_KEY.to_owned(), digits);
    }
    for (region, digits) in &lead.phone_digits_by_region {
        all.insert(format!("{DIGITS_PREFIX}{region}"), digits);
    }
    serde_json::to_string(&all)
        .map(Some)
        .map_err(|e| StoreError::Io(e.to_string()))
}

/// The stored phone readings read back (see [`phones_to_json`]); rows written before the digits
/// readings existed hold regions only.
#[derive(Debug, Default)]
pub(crate) struct PhoneReadings {
    pub by_region: std::collections::BTreeMap<String, String>,
    pub digits: Option<String>,
    pub digits_by_region: std::collections::BTreeMap<String, String>,
}

pub(crate) fn phones_from_json(text: Option<&str>) -> Result<PhoneReadings, serde_json::Error> {
    let Some(text) = text else {
        return Ok(PhoneReadings::default());
    };
    let all: std::collections::BTreeMap<String, String> = serde_json::from_str(text)?;
    let mut readings = PhoneReadings::default();
    for (key, hash) in all {
        if key == DIGITS_KEY {
            readings.digits = Some(hash);
        } else if let Some(region) = key.strip_prefix(DIGITS_PREFIX) {
            readings.digits_by_region.insert(region.to_owned(), hash);
        } else {
            readings.by_region.insert(key, hash);
        }
    }
    Ok(readings)
}
