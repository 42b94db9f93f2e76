//! One group of ingest units written set-wise inside the writer's transaction: every table is touched
//! by ONE multi-row statement per group (`INSERT … SELECT FROM unnest(arrays) ON CONFLICT DO NOTHING`),
//! so a group of a thousand units costs the same handful of round trips as a group of one.
//!
//! The answers are exactly what the SQLite writer gives when it runs the same units one after another:
//! the first unit carrying a transaction id creates the lead, a later event may use a lead created
//! earlier in the group, a repeated idempotency key replays the first answer, and a conversion whose
//! (pixel, event name, event_id) is already queued is reported as a duplicate. Duplicates inside the
//! group are resolved here in arrival order; duplicates against stored rows (or another node's
//! concurrent commit) by `ON CONFLICT`. Rows are inserted sorted by their unique key so that
//! concurrent writers (other nodes, or this node's other writer tasks) take index locks in one order
//! and cannot deadlock on each other.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use deadpool_postgres::GenericClient;

use super::error::Failure;
use super::read::{self, DedupKey};
use crate::domain::{CapCheck, Conversion, ConversionState, Lead, LifecycleEvent};
use crate::store::{IngestResult, IngestUnit, StoreError};

const INSERT_LEADS: &str = "INSERT INTO leads (transaction_id, email, phone, external_id, ip, \
     user_agent, ttclid, ttp, landing_url, referrer, source, fields, warnings, created_at, country, \
     phone_by_region, click_ids, stored_at_ms) \
     SELECT t.*, $15::bigint FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
     $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], \
     $13::text[], $14::bigint[], $16::text[], $17::text[], $18::text[]) AS t \
     ON CONFLICT (transaction_id) DO NOTHING RETURNING transaction_id";

const RESERVE_IDS: &str = "SELECT \
     ARRAY(SELECT nextval('lifecycle_event_ids') FROM generate_series(1, $1::int)), \
     ARRAY(SELECT nextval('conversion_ids') FROM generate_series(1, $2::int))";

const INSERT_EVENTS: &str = "INSERT INTO lifecycle_events (id, transaction_id, trigger, name, buyer, \
     offer, revenue, currency, occurred_at, idempotency_key, payout, stored_at_ms) \
     SELECT t.*, $12::bigint FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], \
     $6::text[], $7::float8[], $8::text[], $9::bigint[], $10::text[], $11::float8[]) AS t \
     ON CONFLICT (transaction_id, idempotency_key) DO NOTHING RETURNING id";

/// The conversions, and the payloads of those inserted (a duplicate keeps the first one's), in one
/// statement; answers the ids inserted.
const INSERT_CONVERSIONS: &str = "WITH t AS (SELECT * FROM unnest($1::bigint[], $2::text[], \
     $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[], \
     $10::bytea[], $11::text[], $12::bigint[], $13::bigint[], $14::text[]) AS t(id, transaction_id, \
     lifecycle_id, rule, pixel, event_name, event_id, test_event_code, event_time, payload, state, \
     next_attempt_at_ms, created_at_ms, last_error)), \
     inserted AS (INSERT INTO conversions (id, transaction_id, lifecycle_id, rule, pixel, event_name, \
     event_id, test_event_code, event_time, state, next_attempt_at_ms, created_at_ms, last_error) \
     SELECT id, transaction_id, lifecycle_id, rule, pixel, event_name, event_id, test_event_code, \
     event_time, state, next_attempt_at_ms, created_at_ms, last_error FROM t \
     ON CONFLICT (pixel, event_name, event_id) DO NOTHING RETURNING id), \
     payloads AS (INSERT INTO payloads (conversion_id, payload) \
     SELECT t.id, t.payload FROM t JOIN inserted ON inserted.id = t.id) \
     SELECT id FROM inserted";

const NOTIFY: &str = "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p";

/// `unit` with every NUL character replaced by U+FFFD: PostgreSQL text cannot hold NUL (SQLite can),
/// and a stray `\u0000` in a user agent must not fail the request. Borrowed (no copy) in the normal
/// case. Payloads and JSON columns are serialized JSON, where NUL is always escaped, so they never
/// need it; transaction ids and idempotency keys are refused upstream if they hold control characters.
pub(crate) fn without_nul(unit: &IngestUnit) -> Cow<'_, IngestUnit> {
    let has = |s: &Option<String>| s.as_deref().is_some_and(|s| s.contains('\0'));
    let lead_has = unit.lead.as_ref().is_some_and(|l| {
        [
            &l.ip,
            &l.user_agent,
            &l.ttclid,
            &l.ttp,
            &l.landing_url,
            &l.referrer,
            &l.source,
        ]
        .into_iter()
        .any(has)
    });
    let e = &unit.event;
    let event_has = [&e.name, &e.buyer, &e.offer, &e.currency]
        .into_iter()
        .any(has);
    let conversion_has = unit
        .conversions
        .iter()
        .any(|c| c.event_id.contains('\0') || c.rule.contains('\0') || has(&c.test_event_code));
    if !(lead_has || event_has || conversion_has) {
        return Cow::Borrowed(unit);
    }
    let fix = |s: &mut String| {
        if s.contains('\0') {
            *s = s.replace('\0', "\u{FFFD}");
        }
    };
    let fix_opt = |s: &mut Option<String>| {
        if let Some(s) = s {
            fix(s);
        }
    };
    let mut clean = unit.clone();
    if let Some(l) = &mut clean.lead {
        for field in [
            &mut l.ip,
            &mut l.user_agent,
            &mut l.ttclid,
            &mut l.ttp,
            &mut l.landing_url,
            &mut l.referrer,
            &mut l.source,
        ] {
            fix_opt(field);
        }
    }
    let e = &mut clean.event;
    for field in [&mut e.name, &mut e.buyer, &mut e.offer, &mut e.currency] {
        fix_opt(field);
    }
    for c in &mut clean.conversions {
        fix(&mut c.event_id);
        fix(&mut c.rule);
        fix_opt(&mut c.test_event_code);
    }
    Cow::Owned(clean)
}

/// How a unit's lifecycle event is settled.
#[derive(Clone, Copy)]
enum EventFate {
    /// Its lead does not exist (and no earlier unit of the group creates it).
    Refused,
    /// Offered for insert; `slot` indexes the reserved ids.
    Offered { slot: usize },
    /// Same lead and idempotency key as unit `first` of this group.
    ReplayOf { first: usize },
}

/// Writes `units` (in arrival order) and answers each; `Err` aborts the whole transaction.
/// `channel` is the LISTEN channel told about pixels that got new work (delivered on commit).
pub(crate) async fn ingest_group(
    tx: &impl GenericClient,
    units: &[&IngestUnit],
    now: i64,
    channel: &str,
) -> Result<Vec<Result<IngestResult, StoreError>>, Failure> {
    // 1. Leads: the first unit carrying a transaction id offers it; ON CONFLICT keeps a stored one.
    let mut lead_owner: HashMap<&str, usize> = HashMap::new();
    for (i, unit) in units.iter().enumerate() {
        if let Some(lead) = &unit.lead {
            lead_owner.entry(lead.transaction_id.as_str()).or_insert(i);
        }
    }
    let mut offered: Vec<&Lead> = lead_owner
        .values()
        .filter_map(|&i| units[i].lead.as_ref())
        .collect();
    offered.sort_by(|a, b| a.transaction_id.cmp(&b.transaction_id));
    let created = insert_leads(tx, &offered, now).await?;

    // 2. Every other lead the group refers to, as stored (by us earlier or by another node).
    let mut wanted: Vec<&str> = units
        .iter()
        .map(|u| {
            u.lead
                .as_ref()
                .map_or(&u.event.transaction_id, |l| &l.transaction_id)
        })
        .filter(|tid| !created.contains(*tid))
        .map(String::as_str)
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let stored = read::leads_by_id(tx, &wanted).await?;

    // 3. Each unit's lead, in arrival order.
    let mut leads: Vec<Option<(Lead, bool)>> = Vec::with_capacity(units.len());
    for (i, unit) in units.iter().enumerate() {
        let resolved = match &unit.lead {
            Some(lead) => {
                let tid = lead.transaction_id.as_str();
                match (created.contains(tid), lead_owner.get(tid)) {
                    (true, Some(&owner)) => Some(match units[owner].lead.as_ref() {
                        Some(first) => (first.clone(), owner == i),
                        None => (lead.clone(), owner == i),
                    }),
                    _ => match stored.get(tid) {
                        Some(s) => Some((s.clone(), false)),
                        None => {
                            return Err(StoreError::Io("lead vanished during ingest".into()).into());
                        }
                    },
                }
            }
            None => {
                let tid = unit.event.transaction_id.as_str();
                match (created.contains(tid), lead_owner.get(tid)) {
                    (true, Some(&owner)) if owner < i => {
                        units[owner].lead.as_ref().map(|l| (l.clone(), false))
                    }
                    (true, _) => None,
                    (false, _) => stored.get(tid).map(|s| (s.clone(), false)),
                }
            }
        };
        leads.push(resolved);
    }

    // 4. Lifecycle events: in-group replays first, then one insert for the rest.
    let mut fates = Vec::with_capacity(units.len());
    let mut event_owner: HashMap<(&str, &str), usize> = HashMap::new();
    let mut offered_events: Vec<usize> = Vec::new();
    for (i, unit) in units.iter().enumerate() {
        if leads[i].is_none() {
            fates.push(EventFate::Refused);
            continue;
        }
        if let Some(key) = unit.event.idempotency_key.as_deref() {
            match event_owner.entry((unit.event.transaction_id.as_str(), key)) {
                Entry::Occupied(first) => {
                    fates.push(EventFate::ReplayOf {
                        first: *first.get(),
                    });
                    continue;
                }
                Entry::Vacant(slot) => {
                    slot.insert(i);
                }
            }
        }
        fates.push(EventFate::Offered {
            slot: offered_events.len(),
        });
        offered_events.push(i);
    }
    let conversions_wanted: usize = offered_events
        .iter()
        .map(|&i| units[i].conversions.len())
        .sum();
    let (event_ids, conversion_ids) =
        reserve_ids(tx, offered_events.len(), conversions_wanted).await?;
    let inserted_events = insert_events(tx, units, &offered_events, &event_ids, now).await?;

    // Offered events that lost to a stored (or concurrently committed) one are replays of it.
    let replay_keys: Vec<(&str, &str)> = offered_events
        .iter()
        .enumerate()
        .filter(|(slot, _)| !inserted_events.contains(&event_ids[*slot]))
        .filter_map(|(_, &i)| {
            let e = &units[i].event;
            e.idempotency_key
                .as_deref()
                .map(|k| (e.transaction_id.as_str(), k))
        })
        .collect();
    let stored_events = read::events_by_key(tx, &replay_keys).await?;

    // 5. Conversions of the inserted events: in-group duplicates resolved here, the rest by insert.
    let mut next_conversion = conversion_ids.iter().copied();
    let mut new_conversions: Vec<Conversion> = Vec::new();
    // Per new conversion: the rules' suppression reason and its cap checks.
    let mut suppression: Vec<(Option<String>, Vec<CapCheck>)> = Vec::new();
    // Per unit: indices into `new_conversions` this unit offered, or the key it duplicates.
    let mut unit_conversions: HashMap<usize, Vec<Result<usize, DedupKey>>> = HashMap::new();
    let mut conversion_owner: HashMap<(&str, &str, &str), usize> = HashMap::new();
    for (slot, &i) in offered_events.iter().enumerate() {
        let event_id = event_ids[slot];
        if !inserted_events.contains(&event_id) {
            continue;
        }
        let unit = units[i];
        let mine = unit_conversions.entry(i).or_default();
        for c in &unit.conversions {
            let key = (c.pixel.as_str(), c.event_name.as_str(), c.event_id.as_str());
            if conversion_owner.contains_key(&key) {
                mine.push(Err(owned_key(key)));
                continue;
            }
            let Some(id) = next_conversion.next() else {
                return Err(StoreError::Io("reserved too few conversion ids".into()).into());
            };
            conversion_owner.insert(key, new_conversions.len());
            mine.push(Ok(new_conversions.len()));
            // Refused by the gateway's ingest check: undeliverable, outside the caps (a rules
            // suppression still wins: that conversion would never be sent anyway).
            let undeliverable = c.undeliverable.clone().filter(|_| c.suppressed.is_none());
            let (state, next_attempt_at_ms, caps) = match &undeliverable {
                Some(_) => (ConversionState::Undeliverable, None, Vec::new()),
                None => (ConversionState::Pending, Some(now), c.caps.clone()),
            };
            suppression.push((c.suppressed.clone(), caps));
            new_conversions.push(Conversion {
                id,
                transaction_id: unit.event.transaction_id.clone(),
                lifecycle_id: event_id,
                rule: c.rule.clone(),
                pixel: c.pixel.clone(),
                event_name: c.event_name.clone(),
                event_id: c.event_id.clone(),
                test_event_code: c.test_event_code.clone(),
                event_time: c.event_time,
                state,
                attempts: 0,
                next_attempt_at_ms,
                last_error: undeliverable,
                payload: c.payload.clone(),
                created_at_ms: unit.queued_at_ms.unwrap_or(now),
            });
        }
    }
    apply_suppression(tx, &mut new_conversions, &suppression).await?;
    let inserted_conversions = insert_conversions(tx, &new_conversions).await?;
    let mut lost_keys: Vec<(&str, &str, &str)> = new_conversions
        .iter()
        .filter(|c| !inserted_conversions.contains(&c.id))
        .map(|c| (c.pixel.as_str(), c.event_name.as_str(), c.event_id.as_str()))
        .collect();
    lost_keys.sort_unstable();
    let stored_conversions = read::conversions_by_key(tx, &lost_keys).await?;
    let dedup_winner = |key: &DedupKey| -> Result<Conversion, StoreError> {
        let k = (key.0.as_str(), key.1.as_str(), key.2.as_str());
        if let Some(&n) = conversion_owner.get(&k)
            && inserted_conversions.contains(&new_conversions[n].id)
        {
            return Ok(new_conversions[n].clone());
        }
        stored_conversions.get(key).cloned().ok_or_else(|| {
            StoreError::Io(format!(
                "conversion {}/{}/{} was neither stored nor found",
                key.0, key.1, key.2
            ))
        })
    };

    // 6. Answers, in arrival order.
    let mut answers: Vec<Result<IngestResult, StoreError>> = Vec::with_capacity(units.len());
    for (i, unit) in units.iter().enumerate() {
        let answer = match (fates[i], leads[i].clone()) {
            (EventFate::Refused, _) | (_, None) => {
                Err(StoreError::LeadNotFound(unit.event.transaction_id.clone()))
            }
            (EventFate::ReplayOf { first }, Some((lead, lead_created))) => {
                match answers.get(first) {
                    Some(Ok(first)) => Ok(IngestResult {
                        lead,
                        lead_created,
                        event: first.event.clone(),
                        event_created: false,
                        conversions: first.conversions.clone(),
                        duplicates: Vec::new(),
                        refused: Vec::new(),
                    }),
                    _ => {
                        return Err(
                            StoreError::Io("replayed event has no first answer".into()).into()
                        );
                    }
                }
            }
            (EventFate::Offered { slot }, Some((lead, lead_created))) => {
                let id = event_ids[slot];
                if inserted_events.contains(&id) {
                    let mut conversions = Vec::new();
                    let mut duplicates = Vec::new();
                    for entry in unit_conversions.get(&i).map(Vec::as_slice).unwrap_or(&[]) {
                        match entry {
                            Ok(n) if inserted_conversions.contains(&new_conversions[*n].id) => {
                                conversions.push(new_conversions[*n].clone());
                            }
                            Ok(n) => {
                                let c = &new_conversions[*n];
                                let key = owned_key((&c.pixel, &c.event_name, &c.event_id));
                                duplicates.push(dedup_winner(&key)?);
                            }
                            Err(key) => duplicates.push(dedup_winner(key)?),
                        }
                    }
                    Ok(IngestResult {
                        lead,
                        lead_created,
                        event: LifecycleEvent {
                            id,
                            ..unit.event.clone()
                        },
                        event_created: true,
                        conversions,
                        duplicates,
                        refused: Vec::new(),
                    })
                } else {
                    let key = (
                        unit.event.transaction_id.clone(),
                        unit.event.idempotency_key.clone().unwrap_or_default(),
                    );
                    let Some((event, conversions)) = stored_events.get(&key) else {
                        return Err(StoreError::Io(
                            "lifecycle event vanished during ingest".into(),
                        )
                        .into());
                    };
                    Ok(IngestResult {
                        lead,
                        lead_created,
                        event: event.clone(),
                        event_created: false,
                        conversions: conversions.clone(),
                        duplicates: Vec::new(),
                        refused: Vec::new(),
                    })
                }
            }
        };
        answers.push(answer);
    }

    // 7. Wake every node's idle workers for these pixels (sent when the transaction commits).
    let mut pixels: Vec<&str> = new_conversions
        .iter()
        .filter(|c| inserted_conversions.contains(&c.id))
        .map(|c| c.pixel.as_str())
        .collect();
    pixels.sort_unstable();
    pixels.dedup();
    if !pixels.is_empty() {
        let stmt = tx.prepare_cached(NOTIFY).await?;
        tx.execute(&stmt, &[&channel, &pixels]).await?;
    }
    Ok(answers)
}

/// Marks the conversions the rules suppressed (schedule) or whose cap window is full as
/// `suppressed`, never to be sent. Caps are exact across nodes: each capped rule's transaction-scoped
/// advisory lock (taken in sorted order, so two groups never deadlock) serializes the count-and-insert
/// of every writer, and conversions earlier in the same group count toward later ones.
/// A capped conversion that is already stored (same pixel, event name and event_id: a duplicate
/// the insert will skip) neither takes a slot nor is judged, exactly as the SQLite writer, which
/// checks each conversion just before an INSERT OR IGNORE, counts it.
async fn apply_suppression(
    tx: &impl GenericClient,
    conversions: &mut [Conversion],
    suppression: &[(Option<String>, Vec<CapCheck>)],
) -> Result<(), Failure> {
    let mut rules: Vec<&str> = conversions
        .iter()
        .zip(suppression)
        .filter(|(_, (reason, caps))| reason.is_none() && !caps.is_empty())
        .map(|(c, _)| c.rule.as_str())
        .collect();
    rules.sort_unstable();
    rules.dedup();
    let mut usage: HashMap<(String, i64), u64> = HashMap::new();
    let mut stored = HashMap::new();
    if !rules.is_empty() {
        let lock = tx
            .prepare_cached("SELECT pg_advisory_xact_lock(hashtext('signalpost-cap:' || $1))")
            .await?;
        for rule in &rules {
            tx.execute(&lock, &[rule]).await?;
        }
        // Under the locks: whatever another writer committed for these rules is visible now.
        let mut keys: Vec<(&str, &str, &str)> = conversions
            .iter()
            .zip(suppression)
            .filter(|(_, (reason, caps))| reason.is_none() && !caps.is_empty())
            .map(|(c, _)| (c.pixel.as_str(), c.event_name.as_str(), c.event_id.as_str()))
            .collect();
        keys.sort_unstable();
        stored = read::conversions_by_key(tx, &keys).await?;
        let count = tx
            .prepare_cached(
                "SELECT COUNT(*) FROM conversions \
                 WHERE rule = $1 AND created_at_ms >= $2 AND state NOT IN ('suppressed', 'undeliverable')",
            )
            .await?;
        for (c, (reason, caps)) in conversions.iter().zip(suppression) {
            if reason.is_some() {
                continue;
            }
            for cap in caps {
                let key = (c.rule.clone(), cap.window_start_ms);
                if let Entry::Vacant(slot) = usage.entry(key) {
                    let row = tx
                        .query_one(&count, &[&c.rule, &cap.window_start_ms])
                        .await?;
                    let n: i64 = row.try_get(0).map_err(corrupt)?;
                    slot.insert(u64::try_from(n).unwrap_or(0));
                }
            }
        }
    }
    for (c, (reason, caps)) in conversions.iter_mut().zip(suppression) {
        if reason.is_none()
            && !caps.is_empty()
            && stored.contains_key(&owned_key((&c.pixel, &c.event_name, &c.event_id)))
        {
            continue;
        }
        let reason = match reason {
            Some(reason) => Some(reason.clone()),
            None => caps
                .iter()
                .find(|cap| {
                    cap.limit == 0
                        || usage
                            .get(&(c.rule.clone(), cap.window_start_ms))
                            .is_some_and(|&n| n >= cap.limit)
                })
                .map(CapCheck::reason),
        };
        match reason {
            Some(reason) => {
                c.state = ConversionState::Suppressed;
                c.next_attempt_at_ms = None;
                c.last_error = Some(reason);
            }
            None => {
                for cap in caps {
                    *usage
                        .entry((c.rule.clone(), cap.window_start_ms))
                        .or_insert(0) += 1;
                }
            }
        }
    }
    Ok(())
}

fn owned_key(key: (&str, &str, &str)) -> DedupKey {
    (key.0.to_owned(), key.1.to_owned(), key.2.to_owned())
}

/// Inserts `leads` (distinct, sorted); returns the transaction ids actually created.
async fn insert_leads(
    tx: &impl GenericClient,
    leads: &[&Lead],
    now: i64,
) -> Result<HashSet<String>, Failure> {
    if leads.is_empty() {
        return Ok(HashSet::new());
    }
    let to_json =
        |v: Result<String, serde_json::Error>| v.map_err(|e| StoreError::Io(e.to_string()));
    let fields = leads
        .iter()
        .map(|l| to_json(serde_json::to_string(&l.fields)))
        .collect::<Result<Vec<_>, _>>()?;
    let warnings = leads
        .iter()
        .map(|l| to_json(serde_json::to_string(&l.warnings)))
        .collect::<Result<Vec<_>, _>>()?;
    let col = |f: fn(&Lead) -> &Option<String>| -> Vec<Option<&str>> {
        leads.iter().map(|l| f(l).as_deref()).collect()
    };
    let tids: Vec<&str> = leads.iter().map(|l| l.transaction_id.as_str()).collect();
    let email = col(|l| &l.email);
    let phone = col(|l| &l.phone);
    let external_id = col(|l| &l.external_id);
    let ip = col(|l| &l.ip);
    let user_agent = col(|l| &l.user_agent);
    let ttclid = col(|l| &l.ttclid);
    let ttp = col(|l| &l.ttp);
    let landing_url = col(|l| &l.landing_url);
    let referrer = col(|l| &l.referrer);
    let source = col(|l| &l.source);
    let created_at: Vec<i64> = leads.iter().map(|l| l.created_at).collect();
    let country = col(|l| &l.country);
    let phones = leads
        .iter()
        .map(|l| crate::store::phones_to_json(l))
        .collect::<Result<Vec<_>, _>>()?;
    let click_ids = leads
        .iter()
        .map(|l| crate::store::click_ids::to_json(l))
        .collect::<Result<Vec<_>, _>>()?;
    let stmt = tx.prepare_cached(INSERT_LEADS).await?;
    let rows = tx
        .query(
            &stmt,
            &[
                &tids,
                &email,
                &phone,
                &external_id,
                &ip,
                &user_agent,
                &ttclid,
                &ttp,
                &landing_url,
                &referrer,
                &source,
                &fields,
                &warnings,
                &created_at,
                &now,
                &country,
                &phones,
                &click_ids,
            ],
        )
        .await?;
    rows.iter()
        .map(|r| r.try_get::<_, String>(0).map_err(corrupt))
        .collect()
}

/// Reserves ids for `events` lifecycle events and `conversions` conversions, ascending, so ids follow
/// arrival order within the group.
async fn reserve_ids(
    tx: &impl GenericClient,
    events: usize,
    conversions: usize,
) -> Result<(Vec<i64>, Vec<i64>), Failure> {
    if events == 0 {
        return Ok((Vec::new(), Vec::new()));
    }
    let count = |n: usize| i32::try_from(n).map_err(|_| StoreError::Io("group too large".into()));
    let stmt = tx.prepare_cached(RESERVE_IDS).await?;
    let row = tx
        .query_one(&stmt, &[&count(events)?, &count(conversions)?])
        .await?;
    let mut event_ids: Vec<i64> = row.try_get(0).map_err(corrupt)?;
    let mut conversion_ids: Vec<i64> = row.try_get(1).map_err(corrupt)?;
    event_ids.sort_unstable();
    conversion_ids.sort_unstable();
    Ok((event_ids, conversion_ids))
}

/// Inserts the offered events with their reserved ids; returns the ids actually inserted.
async fn insert_events(
    tx: &impl GenericClient,
    units: &[&IngestUnit],
    offered: &[usize],
    ids: &[i64],
    now: i64,
) -> Result<HashSet<i64>, Failure> {
    if offered.is_empty() {
        return Ok(HashSet::new());
    }
    let mut order: Vec<usize> = (0..offered.len()).collect();
    order.sort_by(|&a, &b| {
        let (ea, eb) = (&units[offered[a]].event, &units[offered[b]].event);
        (&ea.transaction_id, &ea.idempotency_key).cmp(&(&eb.transaction_id, &eb.idempotency_key))
    });
    let events: Vec<&LifecycleEvent> = order.iter().map(|&s| &units[offered[s]].event).collect();
    let id: Vec<i64> = order.iter().map(|&s| ids[s]).collect();
    let tid: Vec<&str> = events.iter().map(|e| e.transaction_id.as_str()).collect();
    let trigger: Vec<&str> = events.iter().map(|e| e.trigger.as_str()).collect();
    let name: Vec<Option<&str>> = events.iter().map(|e| e.name.as_deref()).collect();
    let buyer: Vec<Option<&str>> = events.iter().map(|e| e.buyer.as_deref()).collect();
    let offer: Vec<Option<&str>> = events.iter().map(|e| e.offer.as_deref()).collect();
    let revenue: Vec<Option<f64>> = events.iter().map(|e| e.revenue).collect();
    let currency: Vec<Option<&str>> = events.iter().map(|e| e.currency.as_deref()).collect();
    let occurred: Vec<i64> = events.iter().map(|e| e.occurred_at).collect();
    let key: Vec<Option<&str>> = events
        .iter()
        .map(|e| e.idempotency_key.as_deref())
        .collect();
    let payout: Vec<Option<f64>> = events.iter().map(|e| e.payout).collect();
    let stmt = tx.prepare_cached(INSERT_EVENTS).await?;
    let rows = tx
        .query(
            &stmt,
            &[
                &id, &tid, &trigger, &name, &buyer, &offer, &revenue, &currency, &occurred, &key,
                &payout, &now,
            ],
        )
        .await?;
    rows.iter()
        .map(|r| r.try_get::<_, i64>(0).map_err(corrupt))
        .collect()
}

/// Inserts `conversions` (distinct keys) in key order; returns the ids actually inserted.
async fn insert_conversions(
    tx: &impl GenericClient,
    conversions: &[Conversion],
) -> Result<HashSet<i64>, Failure> {
    if conversions.is_empty() {
        return Ok(HashSet::new());
    }
    let mut sorted: Vec<&Conversion> = conversions.iter().collect();
    sorted.sort_by(|a, b| {
        (&a.pixel, &a.event_name, &a.event_id).cmp(&(&b.pixel, &b.event_name, &b.event_id))
    });
    let id: Vec<i64> = sorted.iter().map(|c| c.id).collect();
    let tid: Vec<&str> = sorted.iter().map(|c| c.transaction_id.as_str()).collect();
    let lifecycle: Vec<i64> = sorted.iter().map(|c| c.lifecycle_id).collect();
    let rule: Vec<&str> = sorted.iter().map(|c| c.rule.as_str()).collect();
    let pixel: Vec<&str> = sorted.iter().map(|c| c.pixel.as_str()).collect();
    let name: Vec<&str> = sorted.iter().map(|c| c.event_name.as_str()).collect();
    let event_id: Vec<&str> = sorted.iter().map(|c| c.event_id.as_str()).collect();
    let test_code: Vec<Option<&str>> = sorted
        .iter()
        .map(|c| c.test_event_code.as_deref())
        .collect();
    let event_time: Vec<i64> = sorted.iter().map(|c| c.event_time).collect();
    // Compressed here, on the request's worker (see `store::payload_codec`).
    let payload: Vec<Vec<u8>> = sorted
        .iter()
        .map(|c| crate::store::payload_codec::encode(&c.payload))
        .collect::<Result<_, _>>()?;
    let state: Vec<&str> = sorted.iter().map(|c| c.state.as_str()).collect();
    let next_attempt: Vec<Option<i64>> = sorted.iter().map(|c| c.next_attempt_at_ms).collect();
    let created: Vec<i64> = sorted.iter().map(|c| c.created_at_ms).collect();
    let last_error: Vec<Option<&str>> = sorted.iter().map(|c| c.last_error.as_deref()).collect();
    let stmt = tx.prepare_cached(INSERT_CONVERSIONS).await?;
    let rows = tx
        .query(
            &stmt,
            &[
                &id,
                &tid,
                &lifecycle,
                &rule,
                &pixel,
                &name,
                &event_id,
                &test_code,
                &event_time,
                &payload,
                &state,
                &next_attempt,
                &created,
                &last_error,
            ],
        )
        .await?;
    rows.iter()
        .map(|r| r.try_get::<_, i64>(0).map_err(corrupt))
        .collect()
}

fn corrupt(e: impl std::fmt::Display) -> Failure {
    StoreError::Corrupt(e.to_string()).into()
}
