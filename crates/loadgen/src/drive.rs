//! The load itself: `connections` tasks, each with its own keep-alive connection, sending single leads
//! (followed, for a share of them, by a `lead_sold`) or batches, flat out or at a fixed total rate.
//! Latency is measured from when a request was *due* (open loop at a fixed rate), so a server that
//! stalls is charged for the requests queued behind the stall instead of hiding it (no coordinated
//! omission). Every conversion a 202 acknowledged is remembered for the delivery check.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::Histogram;
use http::Method;
use serde::Deserialize;

use crate::conn::{Conn, Target};
use crate::workload::{Kind, Workload};

/// Requests per connection that must follow a lead before its `lead_sold` is sent (a sale comes
/// later than the form, and must not always hit the row the writer just inserted).
const SOLD_LAG: usize = 32;

/// Pause after a transport error (server restarting, connection refused) before the next request, so
/// a connection does not spin while nothing listens.
const ERROR_PAUSE: Duration = Duration::from_millis(20);

/// What to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `POST /v1/leads`, and `POST /v1/leads/{id}/events` for sold leads.
    Lead,
    /// `POST /v1/batch` with `batch_size` items.
    Batch,
    /// `GET` of a static route (`LoadSpec::path`), nothing stored: the machine's HTTP ceiling to
    /// quote the other figures against.
    Static,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Lead => "lead",
            Mode::Batch => "batch",
            Mode::Static => "static",
        }
    }
}

/// How much to send and how.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    pub target: Target,
    pub mode: Mode,
    pub connections: usize,
    /// Stop after this long (whichever of duration and requests comes first).
    pub duration: Option<Duration>,
    /// Stop after this many requests in total.
    pub requests: Option<u64>,
    /// Total requests per second over all connections; `None` = as fast as answers come.
    pub rate: Option<f64>,
    pub batch_size: usize,
    pub sold_share: f64,
    /// Prefix of every transaction id of this run.
    pub run_id: String,
    /// The route of `Mode::Static`.
    pub path: String,
}

/// Latency and count of one request kind.
#[derive(Debug, Clone)]
pub struct KindStats {
    pub sent: u64,
    /// Answered with the expected success status (202 single, 200 batch).
    pub ok: u64,
    /// Microseconds, every answered request (any status).
    pub latency: Histogram<u64>,
}

impl KindStats {
    fn new() -> Self {
        Self {
            sent: 0,
            ok: 0,
            latency: new_histogram(),
        }
    }
}

/// A conversion the server acknowledged: it must arrive at TikTok.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Acked {
    pub pixel: String,
    pub event: String,
    pub event_id: String,
}

/// What a load run did.
#[derive(Debug)]
pub struct LoadOutcome {
    pub elapsed: Duration,
    pub by_kind: BTreeMap<Kind, KindStats>,
    /// Every answered request, microseconds.
    pub latency: Histogram<u64>,
    pub statuses: BTreeMap<u16, u64>,
    /// Transport errors (connection refused, reset, timeouts).
    pub errors: u64,
    pub first_error: Option<String>,
    /// Leads and lifecycle events acknowledged (a batch counts its accepted items).
    pub items_acked: u64,
    /// Batch items answered with something other than 202.
    pub items_refused: u64,
    pub acked: Vec<Acked>,
    pub first_ack: Option<SystemTime>,
    pub last_ack: Option<SystemTime>,
    pub connections_opened: u64,
}

/// A histogram of microseconds from 1 µs to one hour, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    // Constant, valid bounds: this cannot fail.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// Runs the load and returns what happened.
pub async fn run(spec: &LoadSpec) -> LoadOutcome {
    let connections = spec.connections.max(1);
    let start = Instant::now();
    let deadline = spec.duration.map(|d| start + d);
    let mut tasks = Vec::with_capacity(connections);
    for i in 0..connections {
        let quota = spec.requests.map(|total| {
            let base = total / connections as u64;
            base + u64::from((i as u64) < total % connections as u64)
        });
        let interval = spec
            .rate
            .filter(|r| *r > 0.0)
            .map(|r| Duration::from_secs_f64(connections as f64 / r));
        // Stagger the connections' schedules so a fixed rate is smooth, not bursts.
        let offset = interval.map(|iv| iv.mul_f64(i as f64 / connections as f64));
        let worker = Worker {
            conn: Conn::new(spec.target.clone()),
            workload: Workload::new(&spec.run_id, i, spec.sold_share),
            mode: spec.mode,
            path: spec.path.clone(),
            batch_size: spec.batch_size,
            deadline,
            quota,
            schedule: interval.map(|iv| (start + offset.unwrap_or_default(), iv)),
            out: Partial::new(),
        };
        tasks.push(tokio::spawn(worker.run()));
    }
    let mut outcome = LoadOutcome {
        elapsed: Duration::ZERO,
        by_kind: BTreeMap::new(),
        latency: new_histogram(),
        statuses: BTreeMap::new(),
        errors: 0,
        first_error: None,
        items_acked: 0,
        items_refused: 0,
        acked: Vec::new(),
        first_ack: None,
        last_ack: None,
        connections_opened: 0,
    };
    for task in tasks {
        match task.await {
            Ok(part) => merge(&mut outcome, part),
            Err(e) => {
                outcome.errors += 1;
                outcome
                    .first_error
                    .get_or_insert_with(|| format!("a load task failed: {e}"));
            }
        }
    }
    outcome.elapsed = start.elapsed();
    outcome
}

fn merge(into: &mut LoadOutcome, part: Partial) {
    for (kind, stats) in part.by_kind {
        let entry = into.by_kind.entry(kind).or_insert_with(KindStats::new);
        entry.sent += stats.sent;
        entry.ok += stats.ok;
        let _ = entry.latency.add(&stats.latency);
        let _ = into.latency.add(&stats.latency);
    }
    for (status, n) in part.statuses {
        *into.statuses.entry(status).or_default() += n;
    }
    into.errors += part.errors;
    if into.first_error.is_none() {
        into.first_error = part.first_error;
    }
    into.items_acked += part.items_acked;
    into.items_refused += part.items_refused;
    for ((pixel, event), ids) in part.acked {
        into.acked.extend(ids.into_iter().map(|id| Acked {
            pixel: pixel.clone(),
            event: event.clone(),
            event_id: id.into(),
        }));
    }
    into.first_ack = min_opt(into.first_ack, part.first_ack);
    into.last_ack = into.last_ack.max(part.last_ack);
    into.connections_opened += part.conn_opened;
}

fn min_opt(a: Option<SystemTime>, b: Option<SystemTime>) -> Option<SystemTime> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// (pixel, TikTok event name).
type PixelEvent = (String, String);

/// One connection's share of the outcome.
struct Partial {
    by_kind: BTreeMap<Kind, KindStats>,
    statuses: BTreeMap<u16, u64>,
    errors: u64,
    first_error: Option<String>,
    items_acked: u64,
    items_refused: u64,
    /// (pixel, event) → event ids; a run has only a handful of (pixel, event) pairs.
    acked: Vec<(PixelEvent, Vec<Box<str>>)>,
    first_ack: Option<SystemTime>,
    last_ack: Option<SystemTime>,
    conn_opened: u64,
}

impl Partial {
    fn new() -> Self {
        Self {
            by_kind: BTreeMap::new(),
            statuses: BTreeMap::new(),
            errors: 0,
            first_error: None,
            items_acked: 0,
            items_refused: 0,
            acked: Vec::new(),
            first_ack: None,
            last_ack: None,
            conn_opened: 0,
        }
    }

    fn ack(&mut self, conversions: &[ConvRef<'_>]) {
        for c in conversions {
            let slot = match self
                .acked
                .iter()
                .position(|((p, e), _)| p == &c.pixel && e == &c.event)
            {
                Some(i) => i,
                None => {
                    self.acked
                        .push(((c.pixel.to_string(), c.event.to_string()), Vec::new()));
                    self.acked.len() - 1
                }
            };
            self.acked[slot].1.push(c.event_id.as_ref().into());
        }
        let now = SystemTime::now();
        self.first_ack.get_or_insert(now);
        self.last_ack = Some(now);
    }
}

#[derive(Deserialize)]
struct ConvRef<'a> {
    #[serde(borrow)]
    pixel: Cow<'a, str>,
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(borrow)]
    event_id: Cow<'a, str>,
}

/// The part of an ingest answer the check needs.
#[derive(Deserialize)]
struct SingleAnswer<'a> {
    #[serde(borrow, default)]
    conversions: Vec<ConvRef<'a>>,
}

#[derive(Deserialize)]
struct BatchAnswer<'a> {
    #[serde(borrow)]
    items: Vec<ItemAnswer<'a>>,
}

#[derive(Deserialize)]
struct ItemAnswer<'a> {
    status: u16,
    #[serde(borrow, default)]
    conversions: Vec<ConvRef<'a>>,
}

struct Worker {
    conn: Conn,
    workload: Workload,
    mode: Mode,
    path: String,
    batch_size: usize,
    deadline: Option<Instant>,
    quota: Option<u64>,
    /// Next due time and interval, at a fixed rate.
    schedule: Option<(Instant, Duration)>,
    out: Partial,
}

impl Worker {
    async fn run(mut self) -> Partial {
        let mut sold_queue: VecDeque<String> = VecDeque::new();
        let mut sent = 0u64;
        loop {
            if self.quota.is_some_and(|q| sent >= q) {
                break;
            }
            let due = match &mut self.schedule {
                Some((next, interval)) => {
                    let due = *next;
                    *next += *interval;
                    tokio::time::sleep_until(due.into()).await;
                    due
                }
                None => Instant::now(),
            };
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            sent += 1;
            match self.mode {
                Mode::Lead => {
                    if sold_queue.len() > SOLD_LAG
                        && let Some(tx) = sold_queue.pop_front()
                    {
                        let path = format!("/v1/leads/{tx}/events");
                        self.single(Kind::Sold, &path, Workload::sold_body(&tx), due)
                            .await;
                        continue;
                    }
                    let (tx, sold) = self.workload.next_lead();
                    let acked = self
                        .single(Kind::Lead, "/v1/leads", Workload::lead_body(&tx), due)
                        .await;
                    if acked && sold {
                        sold_queue.push_back(tx);
                    }
                }
                Mode::Batch => {
                    let (body, _, _) = self.workload.batch_body(self.batch_size);
                    self.batch(body, due).await;
                }
                Mode::Static => self.get_static(due).await,
            }
        }
        self.out.conn_opened = self.conn.opened;
        self.out
    }

    fn record(&mut self, kind: Kind, status: Option<u16>, due: Instant, ok: bool) {
        let stats = self.out.by_kind.entry(kind).or_insert_with(KindStats::new);
        stats.sent += 1;
        if let Some(status) = status {
            let micros = u64::try_from(due.elapsed().as_micros()).unwrap_or(u64::MAX);
            stats.latency.saturating_record(micros.max(1));
            *self.out.statuses.entry(status).or_default() += 1;
        }
        if ok {
            stats.ok += 1;
        }
    }

    fn error(&mut self, e: anyhow::Error) {
        self.out.errors += 1;
        self.out.first_error.get_or_insert_with(|| format!("{e:#}"));
    }

    /// Sends one lead or event; `true` when it was acknowledged (202).
    async fn single(&mut self, kind: Kind, path: &str, body: String, due: Instant) -> bool {
        match self.conn.send(Method::POST, path, Some(body)).await {
            Ok(reply) => {
                let ok = reply.status.as_u16() == 202;
                self.record(kind, Some(reply.status.as_u16()), due, ok);
                if ok {
                    self.out.items_acked += 1;
                    match serde_json::from_slice::<SingleAnswer<'_>>(&reply.body) {
                        Ok(answer) => self.out.ack(&answer.conversions),
                        Err(e) => self.error(anyhow::anyhow!("unreadable 202 answer: {e}")),
                    }
                }
                ok
            }
            Err(e) => {
                self.record(kind, None, due, false);
                self.error(e);
                tokio::time::sleep(ERROR_PAUSE).await;
                false
            }
        }
    }

    /// One `GET` of the static route; any 200 counts.
    async fn get_static(&mut self, due: Instant) {
        let path = std::mem::take(&mut self.path);
        match self.conn.send(Method::GET, &path, None).await {
            Ok(reply) => {
                let ok = reply.status.as_u16() == 200;
                self.record(Kind::Static, Some(reply.status.as_u16()), due, ok);
            }
            Err(e) => {
                self.record(Kind::Static, None, due, false);
                self.error(e);
                tokio::time::sleep(ERROR_PAUSE).await;
            }
        }
        self.path = path;
    }

    async fn batch(&mut self, body: String, due: Instant) {
        match self.conn.send(Method::POST, "/v1/batch", Some(body)).await {
            Ok(reply) => {
                let ok = reply.status.as_u16() == 200;
                self.record(Kind::Batch, Some(reply.status.as_u16()), due, ok);
                if !ok {
                    return;
                }
                match serde_json::from_slice::<BatchAnswer<'_>>(&reply.body) {
                    Ok(answer) => {
                        for item in &answer.items {
                            if item.status == 202 {
                                self.out.items_acked += 1;
                                self.out.ack(&item.conversions);
                            } else {
                                self.out.items_refused += 1;
                            }
                        }
                    }
                    Err(e) => self.error(anyhow::anyhow!("unreadable batch answer: {e}")),
                }
            }
            Err(e) => {
                self.record(Kind::Batch, None, due, false);
                self.error(e);
                tokio::time::sleep(ERROR_PAUSE).await;
            }
        }
    }
}
