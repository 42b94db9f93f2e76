//! The delivery check: asks the sandbox what arrived and compares it with what the server acknowledged.
//! Every acknowledged (pixel, event, event_id) must have arrived; arriving more than once is allowed
//! only with the same payload (TikTok dedups on event_id, so that still counts once) and is reported;
//! one event_id under two different payloads is a failure. Only events whose event_id carries this
//! run's id are looked at, so a shared sandbox does not confuse the check.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, Instant, SystemTime};

use http::Method;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::conn::{Conn, Target};
use crate::drive::Acked;

/// What the sandbox holds for this run, checked against what was acknowledged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verification {
    pub expected: usize,
    /// Acknowledged conversions that arrived (at least once).
    pub delivered: usize,
    pub missing: usize,
    /// A few missing keys, `pixel/event/event_id`.
    pub missing_sample: Vec<String>,
    /// Extra arrivals of an event with the payload of its first arrival (harmless: TikTok dedups).
    pub duplicate_deliveries: usize,
    /// Events that arrived under two or more different payloads (a bug).
    pub conflicting: usize,
    /// Events of this run that arrived without an acknowledgement (a request that committed but
    /// whose answer was lost): allowed.
    pub unacknowledged_arrivals: usize,
    /// First and last arrival at the sandbox of this run's events.
    pub first_received: Option<SystemTime>,
    pub last_received: Option<SystemTime>,
}

impl Verification {
    /// Exactly once per event_id for everything acknowledged.
    pub fn passed(&self) -> bool {
        self.missing == 0 && self.conflicting == 0
    }
}

#[derive(Deserialize)]
struct Events<'a> {
    #[serde(borrow)]
    events: Vec<Received<'a>>,
}

#[derive(Deserialize)]
struct Received<'a> {
    #[serde(borrow)]
    pixel: Cow<'a, str>,
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(borrow, default)]
    event_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    received_at: Cow<'a, str>,
    #[serde(borrow)]
    payload: &'a RawValue,
}

/// An arrival as the check sees it.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub key: Acked,
    pub received_at: Option<SystemTime>,
    pub payload_hash: u64,
}

/// Compares arrivals with acknowledgements (pure, so it is tested without a network).
pub fn compare(acked: &[Acked], arrivals: &[Arrival]) -> Verification {
    let expected: BTreeSet<&Acked> = acked.iter().collect();
    let mut seen: HashMap<&Acked, (u64, usize, bool)> = HashMap::with_capacity(arrivals.len());
    let mut v = Verification {
        expected: expected.len(),
        ..Verification::default()
    };
    for a in arrivals {
        let entry = seen.entry(&a.key).or_insert((a.payload_hash, 0, false));
        entry.1 += 1;
        if entry.0 != a.payload_hash {
            entry.2 = true;
        }
        if let Some(t) = a.received_at {
            v.first_received = Some(v.first_received.map_or(t, |f| f.min(t)));
            v.last_received = Some(v.last_received.map_or(t, |l| l.max(t)));
        }
    }
    for (key, (_, count, conflict)) in &seen {
        v.duplicate_deliveries += count - 1;
        if *conflict {
            v.conflicting += 1;
        }
        if !expected.contains(key) {
            v.unacknowledged_arrivals += 1;
        }
    }
    for key in &expected {
        if seen.contains_key(key) {
            v.delivered += 1;
        } else {
            v.missing += 1;
            if v.missing_sample.len() < 5 {
                v.missing_sample
                    .push(format!("{}/{}/{}", key.pixel, key.event, key.event_id));
            }
        }
    }
    v
}

/// Reads the sandbox.
pub struct Sandbox {
    conn: Conn,
}

impl Sandbox {
    pub fn new(target: Target) -> Self {
        Self {
            conn: Conn::new(target),
        }
    }

    /// `accepted_events` of `GET /sandbox/stats` (duplicates included).
    pub async fn accepted_events(&mut self) -> anyhow::Result<u64> {
        self.stat("accepted_events").await
    }

    /// `evicted_events` of `GET /sandbox/stats`: events it no longer holds (beyond its cap).
    pub async fn evicted_events(&mut self) -> anyhow::Result<u64> {
        self.stat("evicted_events").await
    }

    async fn stat(&mut self, name: &str) -> anyhow::Result<u64> {
        let reply = self.conn.send(Method::GET, "/sandbox/stats", None).await?;
        let stats: serde_json::Value = serde_json::from_slice(&reply.body)?;
        stats[name]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("/sandbox/stats has no {name}"))
    }

    /// Plays a fault: `{"kind": kind, "seconds": seconds}`.
    pub async fn inject_fault(&mut self, kind: &str, seconds: u64) -> anyhow::Result<()> {
        let body = format!(r#"{{"kind":"{kind}","seconds":{seconds}}}"#);
        let reply = self
            .conn
            .send(Method::POST, "/sandbox/faults", Some(body))
            .await?;
        anyhow::ensure!(
            reply.status.is_success(),
            "the sandbox refused the fault: {}",
            String::from_utf8_lossy(&reply.body)
        );
        Ok(())
    }

    pub async fn clear_faults(&mut self) -> anyhow::Result<()> {
        self.conn
            .send(Method::DELETE, "/sandbox/faults", None)
            .await?;
        Ok(())
    }

    /// This run's arrivals for `pixel` (event ids starting with `run_id-`).
    pub async fn arrivals(&mut self, pixel: &str, run_id: &str) -> anyhow::Result<Vec<Arrival>> {
        let path = format!("/sandbox/events?pixel={pixel}");
        let reply = self.conn.send(Method::GET, &path, None).await?;
        anyhow::ensure!(
            reply.status.is_success(),
            "GET {path}: HTTP {}",
            reply.status
        );
        let events: Events<'_> = serde_json::from_slice(&reply.body)?;
        let prefix = format!("{run_id}-");
        let mut out = Vec::new();
        for e in events.events {
            let Some(event_id) = e.event_id else { continue };
            if !event_id.starts_with(&prefix) {
                continue;
            }
            let mut hasher = DefaultHasher::new();
            e.payload.get().hash(&mut hasher);
            out.push(Arrival {
                key: Acked {
                    pixel: e.pixel.into_owned(),
                    event: e.event.into_owned(),
                    event_id: event_id.into_owned(),
                },
                received_at: chrono::DateTime::parse_from_rfc3339(&e.received_at)
                    .ok()
                    .map(SystemTime::from),
                payload_hash: hasher.finish(),
            });
        }
        Ok(out)
    }
}

/// Waits until the sandbox has received what was acknowledged (or `timeout` passes, or nothing new
/// arrives for `stall`), then checks it.
pub async fn verify(
    sandbox: &mut Sandbox,
    acked: &[Acked],
    run_id: &str,
    baseline_accepted: u64,
    timeout: Duration,
    stall: Duration,
) -> anyhow::Result<(Verification, Duration)> {
    let start = Instant::now();
    let want = acked.len() as u64;
    let pixels: BTreeSet<&str> = acked.iter().map(|a| a.pixel.as_str()).collect();
    let mut last_count = 0;
    let mut last_change = Instant::now();
    loop {
        let accepted = sandbox
            .accepted_events()
            .await?
            .saturating_sub(baseline_accepted);
        if accepted != last_count {
            last_count = accepted;
            last_change = Instant::now();
        }
        let settled = accepted >= want || last_change.elapsed() >= stall;
        if settled || start.elapsed() >= timeout {
            let mut arrivals = Vec::new();
            for pixel in &pixels {
                arrivals.extend(sandbox.arrivals(pixel, run_id).await?);
            }
            let v = compare(acked, &arrivals);
            if v.missing == 0 || start.elapsed() >= timeout || last_change.elapsed() >= stall {
                // The sandbox keeps a bounded number of events and drops the oldest: what it
                // dropped would read as "missing", so the check cannot tell lost from evicted.
                let evicted = sandbox.evicted_events().await?;
                anyhow::ensure!(
                    v.missing == 0 || evicted == 0,
                    "cannot check delivery: {} acknowledged conversions are not in the sandbox, \
                     but it dropped its {evicted} oldest events (it keeps at most \
                     max_stored_events, 1,000,000 by default); send fewer events per check or \
                     clear the sandbox (DELETE /sandbox/events) between checks",
                    v.missing
                );
                return Ok((v, start.elapsed()));
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> Acked {
        Acked {
            pixel: "P".into(),
            event: "Lead".into(),
            event_id: id.into(),
        }
    }

    fn arrival(id: &str, hash: u64) -> Arrival {
        Arrival {
            key: key(id),
            received_at: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(hash)),
            payload_hash: hash,
        }
    }

    #[test]
    fn reports_missing_duplicates_and_conflicts_apart() {
        let acked = vec![key("a"), key("b"), key("c"), key("d")];
        let arrivals = vec![
            arrival("a", 1),
            arrival("b", 2),
            arrival("b", 2),
            arrival("c", 3),
            arrival("c", 4),
            arrival("x", 5),
        ];
        let v = compare(&acked, &arrivals);
        assert_eq!(v.expected, 4);
        assert_eq!(v.delivered, 3);
        assert_eq!(v.missing, 1);
        assert_eq!(v.missing_sample, vec!["P/Lead/d".to_owned()]);
        assert_eq!(v.duplicate_deliveries, 2);
        assert_eq!(v.conflicting, 1);
        assert_eq!(v.unacknowledged_arrivals, 1);
        assert!(!v.passed());
        assert_eq!(
            v.last_received,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(5))
        );
    }

    #[test]
    fn same_payload_repeats_pass() {
        let v = compare(&[key("a")], &[arrival("a", 9), arrival("a", 9)]);
        assert!(v.passed());
        assert_eq!(v.duplicate_deliveries, 1);
    }
}
