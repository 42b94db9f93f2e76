//! The run's figures: a summary table for people and the same numbers as JSON for scripts
//! (the `bench/` scripts read the JSON). Latencies are in milliseconds with microsecond precision.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::drive::{LoadOutcome, LoadSpec};
use crate::verify::Verification;

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1000.0,
        }
    }
}

/// Per request kind.
#[derive(Debug, Clone, Serialize)]
pub struct KindReport {
    pub sent: u64,
    pub ok: u64,
    pub per_second: f64,
    pub latency: Latency,
}

/// Delivery as seen from the sandbox.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryReport {
    pub expected: usize,
    pub delivered: usize,
    pub missing: usize,
    pub missing_sample: Vec<String>,
    pub duplicate_deliveries: usize,
    pub conflicting: usize,
    pub unacknowledged_arrivals: usize,
    /// From the first acknowledgement (or the release of a held delivery) to the last arrival.
    pub window_secs: Option<f64>,
    /// `delivered / window_secs`.
    pub events_per_second: Option<f64>,
    /// From the end of the load to the last arrival.
    pub drain_after_load_secs: Option<f64>,
    /// Whether delivery was held (sandbox failing) during the load and released after it.
    pub held: bool,
    /// First and last arrival of this run's events at the sandbox, Unix seconds.
    pub first_received_unix: Option<f64>,
    pub last_received_unix: Option<f64>,
    pub passed: bool,
    pub waited_secs: f64,
}

/// Everything a run produced.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub run_id: String,
    pub mode: String,
    pub connections: usize,
    pub target_rate: Option<f64>,
    pub batch_size: Option<usize>,
    pub sold_share: f64,
    pub elapsed_secs: f64,
    pub requests: u64,
    pub requests_per_second: f64,
    /// Leads and events acknowledged per second (a batch's items count one by one).
    pub items_per_second: f64,
    pub items_acked: u64,
    pub items_refused: u64,
    pub conversions_acked: usize,
    pub statuses: BTreeMap<String, u64>,
    pub transport_errors: u64,
    pub first_error: Option<String>,
    pub connections_opened: u64,
    pub latency: Latency,
    pub by_kind: BTreeMap<String, KindReport>,
    pub delivery: Option<DeliveryReport>,
}

fn unix_secs(t: SystemTime) -> Option<f64> {
    secs_between(SystemTime::UNIX_EPOCH, t)
}

fn secs_between(a: SystemTime, b: SystemTime) -> Option<f64> {
    b.duration_since(a).ok().map(|d| d.as_secs_f64())
}

/// Where the delivery window starts and the load ended, for [`Report::new`].
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// When a held delivery was released (`--hold-delivery`).
    pub released: Option<SystemTime>,
    pub load_end: SystemTime,
    pub waited: Duration,
}

impl DeliveryReport {
    /// The figures of `v`, the window running from `start` to the last arrival.
    pub fn of(
        v: &Verification,
        start: Option<SystemTime>,
        load_end: Option<SystemTime>,
        held: bool,
        waited: Duration,
    ) -> Self {
        let window = match (start, v.last_received) {
            (Some(s), Some(l)) => secs_between(s, l),
            _ => None,
        };
        DeliveryReport {
            expected: v.expected,
            delivered: v.delivered,
            missing: v.missing,
            missing_sample: v.missing_sample.clone(),
            duplicate_deliveries: v.duplicate_deliveries,
            conflicting: v.conflicting,
            unacknowledged_arrivals: v.unacknowledged_arrivals,
            window_secs: window,
            events_per_second: window.filter(|w| *w > 0.0).map(|w| v.delivered as f64 / w),
            // Zero when everything had arrived before the load ended.
            drain_after_load_secs: match (load_end, v.last_received) {
                (Some(end), Some(l)) => Some(secs_between(end, l).unwrap_or(0.0)),
                _ => None,
            },
            held,
            first_received_unix: v.first_received.and_then(unix_secs),
            last_received_unix: v.last_received.and_then(unix_secs),
            passed: v.passed(),
            waited_secs: waited.as_secs_f64(),
        }
    }

    /// One line for people: counts and the verdict.
    pub fn summary(&self) -> String {
        format!(
            "delivery: {}/{} acknowledged conversions arrived, {} missing, {} duplicate deliveries (same payload), {} conflicting payloads, {} unacknowledged arrivals -> {}",
            self.delivered,
            self.expected,
            self.missing,
            self.duplicate_deliveries,
            self.conflicting,
            self.unacknowledged_arrivals,
            if self.passed { "PASS" } else { "FAIL" }
        )
    }
}

/// What `--check-acked` found: no load, only the delivery check over acknowledgement files.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub run_id: String,
    pub files: usize,
    pub delivery: DeliveryReport,
}

impl Report {
    pub fn new(
        spec: &LoadSpec,
        out: &LoadOutcome,
        verification: Option<&Verification>,
        timing: Timing,
    ) -> Self {
        let secs = out.elapsed.as_secs_f64().max(1e-9);
        let requests: u64 = out.by_kind.values().map(|k| k.sent).sum();
        let by_kind = out
            .by_kind
            .iter()
            .map(|(kind, k)| {
                (
                    kind.as_str().to_owned(),
                    KindReport {
                        sent: k.sent,
                        ok: k.ok,
                        per_second: k.sent as f64 / secs,
                        latency: Latency::of(&k.latency),
                    },
                )
            })
            .collect();
        let delivery = verification.map(|v| {
            DeliveryReport::of(
                v,
                timing.released.or(out.first_ack),
                Some(timing.load_end),
                timing.released.is_some(),
                timing.waited,
            )
        });
        Report {
            run_id: spec.run_id.clone(),
            mode: spec.mode.as_str().to_owned(),
            connections: spec.connections,
            target_rate: spec.rate,
            batch_size: (spec.mode == crate::drive::Mode::Batch).then_some(spec.batch_size),
            sold_share: spec.sold_share,
            elapsed_secs: secs,
            requests,
            requests_per_second: requests as f64 / secs,
            items_per_second: out.items_acked as f64 / secs,
            items_acked: out.items_acked,
            items_refused: out.items_refused,
            conversions_acked: out.acked.len(),
            statuses: out
                .statuses
                .iter()
                .map(|(s, n)| (s.to_string(), *n))
                .collect(),
            transport_errors: out.errors,
            first_error: out.first_error.clone(),
            connections_opened: out.connections_opened,
            latency: Latency::of(&out.latency),
            by_kind,
            delivery,
        }
    }

    /// The summary table.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "loadgen run {}: mode {}, {} connections, {}{}",
            self.run_id,
            self.mode,
            self.connections,
            self.target_rate
                .map_or("flat out".to_owned(), |r| format!("{r:.0} req/s target")),
            self.batch_size
                .map_or(String::new(), |b| format!(", {b} items per batch")),
        );
        let _ = writeln!(
            t,
            "{:<12} {:>9} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9}",
            "kind", "sent", "ok", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
        );
        let mut row = |name: &str, sent: u64, ok: u64, rate: f64, l: &Latency| {
            let _ = writeln!(
                t,
                "{name:<12} {sent:>9} {ok:>9} {rate:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
            );
        };
        for (name, k) in &self.by_kind {
            row(name, k.sent, k.ok, k.per_second, &k.latency);
        }
        let ok: u64 = self.by_kind.values().map(|k| k.ok).sum();
        row(
            "all",
            self.requests,
            ok,
            self.requests_per_second,
            &self.latency,
        );
        let _ = writeln!(
            t,
            "elapsed {:.2} s; items acknowledged {} ({:.0}/s), refused {}; conversions acknowledged {}; statuses {:?}; transport errors {}",
            self.elapsed_secs,
            self.items_acked,
            self.items_per_second,
            self.items_refused,
            self.conversions_acked,
            self.statuses,
            self.transport_errors,
        );
        if let Some(e) = &self.first_error {
            let _ = writeln!(t, "first error: {e}");
        }
        if let Some(d) = &self.delivery {
            let _ = writeln!(t, "{}", d.summary());
            if let (Some(w), Some(r)) = (d.window_secs, d.events_per_second) {
                let _ = writeln!(
                    t,
                    "delivery rate: {r:.0} events/s over {w:.2} s from {} to the last arrival; last arrival {:.2} s after the load ended",
                    if d.held {
                        "the release of the held delivery"
                    } else {
                        "the first acknowledgement"
                    },
                    d.drain_after_load_secs.unwrap_or(f64::NAN),
                );
            }
            if !d.missing_sample.is_empty() {
                let _ = writeln!(t, "missing, e.g.: {}", d.missing_sample.join(", "));
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_reported_in_milliseconds() {
        let mut h = crate::drive::new_histogram();
        for us in 1..=1000u64 {
            h.record(us * 10).unwrap();
        }
        let l = Latency::of(&h);
        assert_eq!(l.count, 1000);
        assert!((l.p50_ms - 5.0).abs() < 0.01, "{l:?}");
        assert!((l.p99_ms - 9.9).abs() < 0.01, "{l:?}");
        assert!((l.max_ms - 10.0).abs() < 0.01, "{l:?}");
    }
}
