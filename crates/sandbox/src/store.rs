//! What the sandbox received: accepted events of every destination (bounded, oldest evicted first),
//! the destinations' 48-hour dedup index and the counters behind `/sandbox/stats`. Owns no validation and no HTTP; callers build
//! records outside the lock and hand them over in one call per request, so the lock is held only for
//! pushes and counter updates.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::ser::{SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use signalpost_meta::ActionSource;
use signalpost_tiktok::model::EventSource;

/// TikTok and Meta both deduplicate identical (pixel, event, event_id) within 48 hours.
pub const DEDUP_WINDOW_SECS: i64 = 48 * 3_600;

/// Dedup entries older than the window are swept once per this many insertions.
const PRUNE_EVERY: u32 = 1 << 16;

/// Which API version an event came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ApiVersion {
    /// Events API 2.0, `event/track`.
    #[serde(rename = "v2")]
    V2,
    /// Legacy Events API 1.0, `pixel/track` and `pixel/batch`.
    #[serde(rename = "v1")]
    V1,
}

/// Which destination's API a request came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Destination {
    /// TikTok Events API (2.0 `event/track`, legacy 1.0).
    Tiktok,
    /// Meta Conversions API (`/{version}/{pixel_id}/events`).
    Meta,
    /// Google Ads click conversions (`/v{N}/customers/{id}:uploadClickConversions`).
    GoogleAds,
}

impl Destination {
    /// The name used in inspection and stats: `tiktok`, `meta`, `google_ads`.
    pub fn as_str(self) -> &'static str {
        match self {
            Destination::Tiktok => "tiktok",
            Destination::Meta => "meta",
            Destination::GoogleAds => "google_ads",
        }
    }

    /// Reads `tiktok`, `meta` or `google_ads`.
    pub fn parse(name: &str) -> Option<Destination> {
        match name {
            "tiktok" => Some(Destination::Tiktok),
            "meta" => Some(Destination::Meta),
            "google_ads" => Some(Destination::GoogleAds),
            _ => None,
        }
    }
}

/// What only one destination's events carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A TikTok event: `web`, `app`, `offline` or `crm` (1.0 events are web events), and the API
    /// version it came through.
    Tiktok {
        event_source: EventSource,
        api: ApiVersion,
    },
    /// A Meta event: its `action_source` and the Graph API version of the path (`v25.0`).
    Meta {
        action_source: ActionSource,
        api_version: String,
    },
    /// A Google Ads click conversion: the API version of the path (`v26`) and the conversion
    /// action's resource name (`customers/1234567890/conversionActions/987`).
    GoogleAds {
        api_version: String,
        conversion_action: String,
    },
}

/// One accepted event, as `GET /sandbox/events` shows it.
#[derive(Debug, Clone)]
pub struct ReceivedEvent {
    /// TikTok: `event_source_id` (2.0) or `pixel_code` (1.0). Meta: the pixel (dataset) id.
    /// Google Ads: the customer id (the account, as a pixel is for the others; the action is in
    /// `event`).
    pub pixel: String,
    /// The event name as sent (TikTok's `event`, Meta's `event_name`); for Google Ads, the
    /// conversion action id.
    pub event: String,
    /// TikTok's and Meta's `event_id`; Google Ads' `orderId`.
    pub event_id: Option<String>,
    /// The request's top-level `test_event_code`; such events live in their own dedup bucket.
    pub test_event_code: Option<String>,
    pub received_at: DateTime<Utc>,
    /// The destination and what only its events carry.
    pub origin: Origin,
    /// Unix seconds: `event_time`, or the 1.0 `timestamp` (receive time when absent).
    pub event_time: i64,
    /// Whether an identical (pixel, event, event_id) was accepted in the same bucket within 48 h.
    /// TikTok still answers such an event with success; it just does not count it twice.
    pub duplicate: bool,
    /// The event object exactly as received (the whole body for 1.0 `pixel/track`).
    pub payload: Box<RawValue>,
}

impl ReceivedEvent {
    /// The destination whose API received the event.
    pub fn destination(&self) -> Destination {
        match self.origin {
            Origin::Tiktok { .. } => Destination::Tiktok,
            Origin::Meta { .. } => Destination::Meta,
            Origin::GoogleAds { .. } => Destination::GoogleAds,
        }
    }

    /// The payload parsed, for callers who want to look inside.
    pub fn payload_json(&self) -> serde_json::Value {
        serde_json::from_str(self.payload.get()).unwrap_or(serde_json::Value::Null)
    }

    /// Whether the event counts as a test event (a non-empty `test_event_code`).
    pub fn is_test(&self) -> bool {
        self.test_event_code
            .as_deref()
            .is_some_and(|c| !c.is_empty())
    }

    /// The key TikTok deduplicates on, when the event has an `event_id`.
    fn dedup_key(&self) -> Option<String> {
        // Pixel codes and event names hold no newline (names are validated; codes are configured),
        // so the joined key is unambiguous even if the event_id contains one.
        let id = self.event_id.as_deref()?;
        Some(format!(
            "{}\n{}\n{}\n{id}",
            self.destination().as_str(),
            self.pixel,
            self.event
        ))
    }
}

impl Serialize for ReceivedEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("ReceivedEvent", 11)?;
        s.serialize_field("destination", &self.destination())?;
        s.serialize_field("pixel", &self.pixel)?;
        s.serialize_field("event", &self.event)?;
        s.serialize_field("event_id", &self.event_id)?;
        s.serialize_field("test_event_code", &self.test_event_code)?;
        s.serialize_field(
            "received_at",
            &self
                .received_at
                .to_rfc3339_opts(SecondsFormat::Micros, true),
        )?;
        match &self.origin {
            Origin::Tiktok { event_source, api } => {
                s.serialize_field("event_source", event_source)?;
                s.serialize_field("api", api)?;
            }
            Origin::Meta {
                action_source,
                api_version,
            } => {
                s.serialize_field("action_source", action_source)?;
                s.serialize_field("api", api_version)?;
            }
            Origin::GoogleAds {
                api_version,
                conversion_action,
            } => {
                s.serialize_field("conversion_action", conversion_action)?;
                s.serialize_field("api", api_version)?;
            }
        }
        s.serialize_field("event_time", &self.event_time)?;
        s.serialize_field("duplicate", &self.duplicate)?;
        s.serialize_field("payload", &self.payload)?;
        s.end()
    }
}

/// A snapshot of stored events that serializes as a JSON list without copying the events.
pub(crate) struct EventList(pub Vec<Arc<ReceivedEvent>>);

impl Serialize for EventList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for event in &self.0 {
            seq.serialize_element(event.as_ref())?;
        }
        seq.end()
    }
}

/// Accepted events and duplicates of one bucket (live or test).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BucketStats {
    pub accepted_events: u64,
    pub duplicates: u64,
}

/// Counters for one pixel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PixelStats {
    pub requests: u64,
    pub accepted_events: u64,
    pub rejected_requests: u64,
    pub duplicates: u64,
    pub live: BucketStats,
    pub test: BucketStats,
}

/// Counters for one destination.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DestinationStats {
    pub requests: u64,
    pub accepted_events: u64,
    pub rejected_requests: u64,
    pub duplicates: u64,
}

/// Everything `GET /sandbox/stats` reports. Requests whose pixel could not be read (faults, bad
/// tokens, malformed bodies) count in the totals but under no pixel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Requests to the track endpoints (2.0 and 1.0), whatever the answer.
    pub requests: u64,
    /// Events accepted, duplicates included (TikTok answers them with success).
    pub accepted_events: u64,
    /// Requests answered with anything but code 0 (business errors, faults, rate limits).
    pub rejected_requests: u64,
    /// Accepted events that repeated an (pixel, event, event_id) of their bucket within 48 h.
    pub duplicates: u64,
    /// Events without `test_event_code`.
    pub live: BucketStats,
    /// Events with `test_event_code`; deduplicated separately from live ones.
    pub test: BucketStats,
    /// Answers by TikTok code (`"0"`, `"40002"`, …), Meta answer (`"meta_ok"`, `"meta_190"`,
    /// `"meta_100/2804003"`), Google Ads answer (`"google_ok"`, `"google_partial_failure"`,
    /// `"google_401"`) or HTTP fault (`"http_502"`).
    pub by_code: BTreeMap<String, u64>,
    /// Requests, events, rejections and duplicates per destination (`tiktok`, `meta`,
    /// `google_ads`).
    pub by_destination: BTreeMap<String, DestinationStats>,
    pub by_pixel: BTreeMap<String, PixelStats>,
    /// Events currently kept for inspection.
    pub stored_events: u64,
    /// Events dropped from inspection to respect `max_stored_events` (still counted above).
    pub evicted_events: u64,
    /// The most Events API requests handled at once (those held by latency included) since start or
    /// the last clear: how many a client keeps in flight.
    pub peak_concurrent_requests: u64,
}

/// Received events, dedup index and counters.
#[derive(Debug)]
pub(crate) struct Store {
    events: VecDeque<Arc<ReceivedEvent>>,
    max_events: usize,
    live_seen: HashMap<String, i64>,
    test_seen: HashMap<String, i64>,
    inserts_since_prune: u32,
    stats: Stats,
}

impl Store {
    pub(crate) fn new(max_events: usize) -> Self {
        Self {
            events: VecDeque::new(),
            max_events,
            live_seen: HashMap::new(),
            test_seen: HashMap::new(),
            inserts_since_prune: 0,
            stats: Stats::default(),
        }
    }

    /// Records an accepted request and its events (all of one pixel), marking duplicates.
    /// `now` is the receive time in Unix seconds; `label` the answer's key in `by_code`.
    pub(crate) fn accept(
        &mut self,
        destination: Destination,
        pixel: &str,
        label: &str,
        events: Vec<ReceivedEvent>,
        now: i64,
    ) {
        let mut live = BucketStats::default();
        let mut test = BucketStats::default();
        for mut event in events {
            let is_test = event.is_test();
            if let Some(key) = event.dedup_key() {
                let seen = if is_test {
                    &mut self.test_seen
                } else {
                    &mut self.live_seen
                };
                event.duplicate = match seen.entry(key) {
                    Entry::Occupied(first) if now - *first.get() < DEDUP_WINDOW_SECS => true,
                    Entry::Occupied(mut stale) => {
                        stale.insert(now);
                        false
                    }
                    Entry::Vacant(slot) => {
                        slot.insert(now);
                        self.inserts_since_prune += 1;
                        false
                    }
                };
            }
            let bucket = if is_test { &mut test } else { &mut live };
            bucket.accepted_events += 1;
            bucket.duplicates += u64::from(event.duplicate);
            self.push(Arc::new(event));
        }
        self.maybe_prune(now);

        let accepted = live.accepted_events + test.accepted_events;
        let duplicates = live.duplicates + test.duplicates;
        self.count_request(destination, Some(pixel), label);
        let totals = &mut self.stats;
        let per = totals
            .by_destination
            .entry(destination.as_str().to_owned())
            .or_default();
        per.accepted_events += accepted;
        per.duplicates += duplicates;
        totals.accepted_events += accepted;
        totals.duplicates += duplicates;
        add(&mut totals.live, live);
        add(&mut totals.test, test);
        let per = totals.by_pixel.entry(pixel.to_owned()).or_default();
        per.accepted_events += accepted;
        per.duplicates += duplicates;
        add(&mut per.live, live);
        add(&mut per.test, test);
    }

    /// Records a request answered with anything but success.
    pub(crate) fn reject(&mut self, destination: Destination, pixel: Option<&str>, label: &str) {
        self.count_request(destination, pixel, label);
        self.stats.rejected_requests += 1;
        if let Some(per) = self.stats.by_destination.get_mut(destination.as_str()) {
            per.rejected_requests += 1;
        }
        if let Some(per) = pixel.and_then(|p| self.stats.by_pixel.get_mut(p)) {
            per.rejected_requests += 1;
        }
    }

    fn count_request(&mut self, destination: Destination, pixel: Option<&str>, label: &str) {
        self.stats.requests += 1;
        self.stats
            .by_destination
            .entry(destination.as_str().to_owned())
            .or_default()
            .requests += 1;
        match self.stats.by_code.get_mut(label) {
            Some(n) => *n += 1,
            None => {
                self.stats.by_code.insert(label.to_owned(), 1);
            }
        }
        if let Some(pixel) = pixel {
            match self.stats.by_pixel.get_mut(pixel) {
                Some(per) => per.requests += 1,
                None => {
                    let per = PixelStats {
                        requests: 1,
                        ..PixelStats::default()
                    };
                    self.stats.by_pixel.insert(pixel.to_owned(), per);
                }
            }
        }
    }

    fn push(&mut self, event: Arc<ReceivedEvent>) {
        if self.max_events == 0 {
            self.stats.evicted_events += 1;
            return;
        }
        if self.events.len() >= self.max_events {
            self.events.pop_front();
            self.stats.evicted_events += 1;
        }
        self.events.push_back(event);
    }

    fn maybe_prune(&mut self, now: i64) {
        if self.inserts_since_prune < PRUNE_EVERY {
            return;
        }
        self.inserts_since_prune = 0;
        let fresh = |_: &String, first: &mut i64| now - *first < DEDUP_WINDOW_SECS;
        self.live_seen.retain(fresh);
        self.test_seen.retain(fresh);
    }

    /// The stored events (of one pixel and one destination, if given), oldest first; cheap: only
    /// `Arc`s are cloned.
    pub(crate) fn snapshot(
        &self,
        pixel: Option<&str>,
        destination: Option<Destination>,
    ) -> Vec<Arc<ReceivedEvent>> {
        self.events
            .iter()
            .filter(|e| pixel.is_none_or(|p| e.pixel == p))
            .filter(|e| destination.is_none_or(|d| e.destination() == d))
            .cloned()
            .collect()
    }

    pub(crate) fn stats(&self) -> Stats {
        let mut stats = self.stats.clone();
        stats.stored_events = self.events.len() as u64;
        stats
    }

    /// Forgets every event, the dedup index and all counters.
    pub(crate) fn clear(&mut self) -> usize {
        let cleared = self.events.len();
        *self = Store::new(self.max_events);
        cleared
    }
}

fn add(into: &mut BucketStats, from: BucketStats) {
    into.accepted_events += from.accepted_events;
    into.duplicates += from.duplicates;
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn event(name: &str, id: Option<&str>, test: Option<&str>) -> ReceivedEvent {
        ReceivedEvent {
            pixel: "PIX".into(),
            event: name.into(),
            event_id: id.map(Into::into),
            test_event_code: test.map(Into::into),
            received_at: Utc::now(),
            origin: Origin::Tiktok {
                event_source: EventSource::Web,
                api: ApiVersion::V2,
            },
            event_time: NOW,
            duplicate: false,
            payload: RawValue::from_string("{}".into()).unwrap(),
        }
    }

    #[test]
    fn counts_duplicates_per_bucket_within_48_hours() {
        let mut store = Store::new(100);
        store.accept(
            Destination::Tiktok,
            "PIX",
            "0",
            vec![event("Purchase", Some("1"), None)],
            NOW,
        );
        store.accept(
            Destination::Tiktok,
            "PIX",
            "0",
            vec![
                event("Purchase", Some("1"), None),      // live duplicate
                event("Lead", Some("1"), None),          // other name: not a duplicate
                event("Purchase", Some("1"), Some("T")), // test bucket: first of its kind
                event("Purchase", None, None),           // no event_id: never a duplicate
            ],
            NOW + 10,
        );
        store.accept(
            Destination::Tiktok,
            "PIX",
            "0",
            vec![event("Purchase", Some("1"), Some("T"))],
            NOW + 20,
        );
        store.accept(
            Destination::Tiktok,
            "PIX",
            "0",
            vec![event("Purchase", Some("1"), None)],
            NOW + DEDUP_WINDOW_SECS + 1,
        );
        let stats = store.stats();
        assert_eq!(stats.requests, 4);
        assert_eq!(stats.accepted_events, 7);
        assert_eq!(stats.duplicates, 2);
        assert_eq!(
            stats.live,
            BucketStats {
                accepted_events: 5,
                duplicates: 1
            }
        );
        assert_eq!(
            stats.test,
            BucketStats {
                accepted_events: 2,
                duplicates: 1
            }
        );
        assert_eq!(stats.by_pixel["PIX"].duplicates, 2);
        let dups: Vec<bool> = store
            .snapshot(None, None)
            .iter()
            .map(|e| e.duplicate)
            .collect();
        assert_eq!(dups, [false, true, false, false, false, true, false]);
    }

    #[test]
    fn evicts_the_oldest_events_beyond_the_cap_but_keeps_counting() {
        let mut store = Store::new(2);
        for id in ["a", "b", "c"] {
            store.accept(
                Destination::Tiktok,
                "PIX",
                "0",
                vec![event("Lead", Some(id), None)],
                NOW,
            );
        }
        let ids: Vec<_> = store
            .snapshot(Some("PIX"), None)
            .iter()
            .map(|e| e.event_id.clone().unwrap_or_default())
            .collect();
        assert_eq!(ids, ["b", "c"]);
        let stats = store.stats();
        assert_eq!(
            (
                stats.accepted_events,
                stats.stored_events,
                stats.evicted_events
            ),
            (3, 2, 1)
        );
    }

    #[test]
    fn rejections_count_by_code_and_pixel_and_clear_resets_everything() {
        let mut store = Store::new(10);
        store.reject(Destination::Tiktok, None, "40105");
        store.reject(Destination::Tiktok, Some("PIX"), "40002");
        store.accept(
            Destination::Tiktok,
            "PIX",
            "0",
            vec![event("Lead", Some("a"), None)],
            NOW,
        );
        let stats = store.stats();
        assert_eq!((stats.requests, stats.rejected_requests), (3, 2));
        assert_eq!(stats.by_code["40105"], 1);
        assert_eq!(stats.by_code["0"], 1);
        assert_eq!(stats.by_pixel["PIX"].rejected_requests, 1);
        assert_eq!(stats.by_pixel["PIX"].requests, 2);
        assert_eq!(store.clear(), 1);
        assert_eq!(store.stats(), Stats::default());
        store.accept(
            Destination::Tiktok,
            "PIX",
            "0",
            vec![event("Lead", Some("a"), None)],
            NOW,
        );
        assert_eq!(store.stats().duplicates, 0, "dedup index is cleared too");
    }

    #[test]
    fn serializes_the_inspection_record_with_the_raw_payload() {
        let mut e = event("Lead", Some("a"), Some("TEST1"));
        e.payload = RawValue::from_string(r#"{"z":1, "a":2.50}"#.into()).unwrap();
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["pixel"], "PIX");
        assert_eq!(json["test_event_code"], "TEST1");
        assert_eq!(json["payload"]["a"], 2.5);
        let text = serde_json::to_string(&e).unwrap();
        assert!(text.contains(r#""payload":{"z":1, "a":2.50}"#), "{text}");
    }
}
