//! The facade the HTTP layer calls: validate what the edge handed over, resolve defaults (generated
//! transaction id, ttclid from the landing URL, times), run the rules, check that TikTok would take
//! each planned conversion (see [`crate::deliverable`]), store everything in one atomic unit, and
//! wake the delivery workers. It never sees a raw email or phone: identifiers must arrive as
//! SHA-256 hex, and anything else is refused rather than stored.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use signalpost_identity::is_canonical_sha256_hex;
use signalpost_tiktok::currency::Currency;

use crate::click_id::{self, UrlClickId, UrlClickIds};
use crate::deliverable::check_planned;
use crate::delivery::WorkSignal;
use crate::domain::{Lead, LifecycleEvent, NewLead, NewLifecycleEvent, RefusedConversion, Trigger};
use crate::error::GatewayError;
use crate::rules::{Explanation, RuleSet, explain, plan};
use crate::store::{IngestResult, IngestUnit, LeadView, Store};
use crate::time::{Clock, SystemClock};

pub use crate::domain::lifecycle::FORM_SUBMIT_KEY;
/// Longest accepted `transaction_id`, idempotency key or label.
pub const MAX_ID_LEN: usize = 512;
/// Times at or above this are taken for milliseconds and refused (year 2286 in seconds).
pub const MAX_UNIX_SECONDS: i64 = 9_999_999_999;

/// One item of `POST /v1/batch`.
// A lead (with its click ids) is larger than an event, but items are made once per request and
// moved into one Vec: boxing every lead would cost an allocation each to save a few hundred bytes
// per event item for the length of a request.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum BatchItem {
    Lead(NewLead),
    Event {
        transaction_id: String,
        event: NewLifecycleEvent,
    },
}

/// Ingest entry point shared by every HTTP handler.
pub struct Gateway {
    store: Arc<dyn Store>,
    rules: RwLock<Arc<RuleSet>>,
    signal: WorkSignal,
    clock: Arc<dyn Clock>,
    strict_delivery: bool,
}

/// A unit ready for the store, and the conversions the ingest check refused while planning it.
struct Planned {
    unit: IngestUnit,
    refused: Vec<RefusedConversion>,
}

impl Gateway {
    /// A gateway storing into `store` under `rules`.
    pub fn new(store: Arc<dyn Store>, rules: RuleSet) -> Self {
        Self {
            store,
            rules: RwLock::new(Arc::new(rules)),
            signal: WorkSignal::new(),
            clock: Arc::new(SystemClock),
            strict_delivery: false,
        }
    }

    /// `[server] strict_delivery`: refuse a whole request (422 naming the field) when one of its
    /// conversions would be refused by TikTok, instead of accepting it and keeping that conversion
    /// as `undeliverable` with a warning (the default).
    pub fn with_strict_delivery(mut self, strict: bool) -> Self {
        self.strict_delivery = strict;
        self
    }

    /// Reads "now" from `clock` (default: the system clock): default event times, cap windows and
    /// the time conversions count at for caps. Tests inject a [`crate::time::FixedClock`].
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Wakes the delivery engine's workers through `signal` (from [`crate::delivery::EngineHandle`]).
    pub fn with_work_signal(mut self, signal: WorkSignal) -> Self {
        self.signal = signal;
        self
    }

    /// The store, for read endpoints and metrics.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The rules in force.
    pub fn rules(&self) -> Arc<RuleSet> {
        match self.rules.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Swaps the rules (config reload); requests in progress finish under the old set.
    pub fn replace_rules(&self, rules: RuleSet) {
        match self.rules.write() {
            Ok(mut r) => *r = Arc::new(rules),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(rules),
        }
    }

    /// A form submission: stores the lead, fires `form_submit`, queues its conversions. Re-posting a
    /// `transaction_id` returns the first answer and queues nothing.
    pub async fn submit_lead(&self, new: NewLead) -> Result<IngestResult, GatewayError> {
        let planned = self.plan_lead(new)?;
        let result = self.store.ingest(planned.unit).await?;
        self.wake(&result);
        Ok(with_refused(result, planned.refused))
    }

    /// A later lifecycle event of a stored lead. A repeated idempotency key returns the first answer.
    pub async fn submit_event(
        &self,
        transaction_id: &str,
        new: NewLifecycleEvent,
    ) -> Result<IngestResult, GatewayError> {
        let transaction_id = clean_id("transaction_id", transaction_id)?;
        let lead = self
            .store
            .find_lead(&transaction_id)
            .await?
            .ok_or_else(|| GatewayError::LeadNotFound(transaction_id.clone()))?;
        let planned = self.plan_event(&lead, new)?;
        let result = self.store.ingest(planned.unit).await?;
        self.wake(&result);
        Ok(with_refused(result, planned.refused))
    }

    /// Up to a thousand leads and events in one commit; each item is answered on its own, in order.
    /// An event may follow its lead in the same batch. The outer error means nothing was stored.
    pub async fn submit_batch(
        &self,
        items: Vec<BatchItem>,
    ) -> Result<Vec<Result<IngestResult, GatewayError>>, GatewayError> {
        // Leads this batch creates, so their events can be planned before anything is stored.
        let mut batch_leads: HashMap<String, Lead> = HashMap::new();
        let mut stored_leads: HashMap<String, Option<Lead>> = HashMap::new();
        let mut answers: Vec<Option<Result<IngestResult, GatewayError>>> = Vec::new();
        let mut units = Vec::new();
        let mut refusals = Vec::new();
        for item in items {
            let planned = match item {
                BatchItem::Lead(new) => self.plan_lead(new).inspect(|Planned { unit, .. }| {
                    if let Some(lead) = &unit.lead {
                        batch_leads
                            .entry(lead.transaction_id.clone())
                            .or_insert_with(|| lead.clone());
                    }
                }),
                BatchItem::Event {
                    transaction_id,
                    event,
                } => match clean_id("transaction_id", &transaction_id) {
                    Err(e) => Err(e),
                    Ok(id) => {
                        if !stored_leads.contains_key(&id) {
                            let found = self.store.find_lead(&id).await?;
                            stored_leads.insert(id.clone(), found);
                        }
                        let lead = stored_leads
                            .get(&id)
                            .and_then(Option::as_ref)
                            .or_else(|| batch_leads.get(&id));
                        match lead {
                            Some(lead) => self.plan_event(lead, event),
                            None => Err(GatewayError::LeadNotFound(id)),
                        }
                    }
                },
            };
            match planned {
                Ok(Planned { unit, refused }) => {
                    units.push(unit);
                    refusals.push(refused);
                    answers.push(None);
                }
                Err(e) => answers.push(Some(Err(e))),
            }
        }
        let mut stored = self.store.ingest_many(units).await?.into_iter();
        let mut refusals = refusals.into_iter();
        let mut woken = HashSet::new();
        let out = answers
            .into_iter()
            .map(|answer| match answer {
                Some(refused) => refused,
                None => match (stored.next(), refusals.next().unwrap_or_default()) {
                    (Some(Ok(result)), refused) => {
                        for c in &result.conversions {
                            if woken.insert(c.pixel.clone()) {
                                self.signal.notify(&c.pixel);
                            }
                        }
                        Ok(with_refused(result, refused))
                    }
                    (Some(Err(e)), _) => Err(e.into()),
                    (None, _) => Err(GatewayError::Store(crate::store::StoreError::Io(
                        "the store answered fewer items than it was given".into(),
                    ))),
                },
            })
            .collect();
        Ok(out)
    }

    /// The lead with its events, conversions and attempts.
    pub async fn get_lead(&self, transaction_id: &str) -> Result<Option<LeadView>, GatewayError> {
        Ok(self.store.get_lead(transaction_id).await?)
    }

    /// For every rule of the current set, what `event` of `lead` would make it do and why: fires (with
    /// the exact TikTok event), skipped (wrong trigger, each unmet condition with the actual value) or
    /// suppressed (outside its schedule, or a cap whose window is full, counted in the store now).
    /// Stores nothing (for `POST /v1/preview` and the test postback).
    pub async fn preview(
        &self,
        lead: &Lead,
        event: &LifecycleEvent,
    ) -> Result<Vec<Explanation>, GatewayError> {
        let rules = self.rules();
        let mut explanations = explain(lead, event, rules.rules(), self.clock.now_ms())
            .map_err(|e| GatewayError::invalid("payload", e.to_string()))?;
        for explanation in &mut explanations {
            let mut used = Vec::with_capacity(explanation.caps.len());
            for cap in &explanation.caps {
                used.push(
                    self.store
                        .cap_usage(&explanation.rule, cap.window_start_ms)
                        .await?,
                );
            }
            explanation.apply_cap_usage(&used);
        }
        Ok(explanations)
    }

    /// The conversions the rules plan for `event`, checked (see [`crate::deliverable`]): those TikTok
    /// would refuse are marked undeliverable or dropped and listed; under `strict_delivery` any
    /// refusal fails the whole request instead.
    fn conversions(
        &self,
        lead: &Lead,
        event: &LifecycleEvent,
        now_ms: i64,
    ) -> Result<(Vec<crate::domain::NewConversion>, Vec<RefusedConversion>), GatewayError> {
        let rules = self.rules();
        let mut planned = plan(lead, event, rules.rules(), now_ms)
            .map_err(|e| GatewayError::invalid("payload", e.to_string()))?;
        let refused = check_planned(
            &mut planned,
            rules.rules(),
            lead,
            event,
            now_ms.div_euclid(1000),
        );
        if self.strict_delivery && !refused.is_empty() {
            return Err(GatewayError::Undeliverable(refused));
        }
        Ok((planned, refused))
    }

    /// Validates a lead and plans its `form_submit` conversions (refused ones are left out or
    /// marked undeliverable; see [`Gateway::submit_lead`] for the answer that lists them).
    pub fn lead_unit(&self, new: NewLead) -> Result<IngestUnit, GatewayError> {
        self.plan_lead(new).map(|planned| planned.unit)
    }

    fn plan_lead(&self, new: NewLead) -> Result<Planned, GatewayError> {
        let now_ms = self.clock.now_ms();
        let lead = lead_from(new, now_ms.div_euclid(1000))?;
        let event = LifecycleEvent::form_submit(&lead);
        let (conversions, refused) = self.conversions(&lead, &event, now_ms)?;
        Ok(Planned {
            unit: IngestUnit {
                lead: Some(lead),
                planned_with: None,
                event,
                conversions,
                queued_at_ms: Some(now_ms),
            },
            refused,
        })
    }

    /// Validates a lifecycle event of `lead` and plans its conversions.
    pub fn event_unit(
        &self,
        lead: &Lead,
        new: NewLifecycleEvent,
    ) -> Result<IngestUnit, GatewayError> {
        self.plan_event(lead, new).map(|planned| planned.unit)
    }

    fn plan_event(&self, lead: &Lead, new: NewLifecycleEvent) -> Result<Planned, GatewayError> {
        let now_ms = self.clock.now_ms();
        let event = event_from(&lead.transaction_id, new, now_ms.div_euclid(1000))?;
        let (conversions, refused) = self.conversions(lead, &event, now_ms)?;
        Ok(Planned {
            unit: IngestUnit {
                lead: None,
                planned_with: Some(lead.clone()),
                event,
                conversions,
                queued_at_ms: Some(now_ms),
            },
            refused,
        })
    }

    /// Tells `pixel`'s delivery worker there is due work now (after a replay), instead of at its
    /// next poll.
    pub fn wake_pixel(&self, pixel: &str) {
        self.signal.notify(pixel);
    }

    fn wake(&self, result: &IngestResult) {
        let mut woken: Vec<&str> = Vec::new();
        for c in &result.conversions {
            if !woken.contains(&c.pixel.as_str()) {
                woken.push(&c.pixel);
                self.signal.notify(&c.pixel);
            }
        }
    }
}

/// The store's answer with the refusals of this request's planning attached. A repeated request
/// (nothing new stored) gets the first answer as stored: what this one planned does not apply.
fn with_refused(mut result: IngestResult, refused: Vec<RefusedConversion>) -> IngestResult {
    if result.event_created {
        result.refused = refused.into_iter().filter(|r| !r.stored).collect();
    }
    result
}

/// Resolves a validated lead as ingest would store it (generated transaction id, ttclid from the
/// landing URL, created time: `now_secs` when absent), without storing it: for previews and the test
/// postback.
pub fn lead_from(new: NewLead, now_secs: i64) -> Result<Lead, GatewayError> {
    let transaction_id = match new.transaction_id.as_deref() {
        Some(id) => clean_id("transaction_id", id)?,
        None => uuid::Uuid::now_v7().to_string(),
    };
    let email = hashed("email", new.email)?;
    let phone = hashed("phone", new.phone)?;
    let phone_by_region = regional_phones(new.phone_by_region)?;
    let phone_digits = hashed("phone_digits", new.phone_digits)?;
    let phone_digits_by_region = regional_phones(new.phone_digits_by_region)?;
    let external_id = hashed("external_id", new.external_id)?;
    let country = region("country", new.country)?;
    let landing_url = non_empty(new.landing_url);
    // A click id given explicitly wins over the landing URL's; the URL is read once, and only when
    // some id was not given.
    let mut url_ids: Option<UrlClickIds> = None;
    let mut from_url = |given: Option<String>, id: UrlClickId| {
        non_empty(given).or_else(|| {
            url_ids
                .get_or_insert_with(|| UrlClickIds::read(landing_url.as_deref()))
                .take(id)
        })
    };
    let ttclid = from_url(new.ttclid, UrlClickId::Ttclid);
    let fbclid = from_url(new.fbclid, UrlClickId::Fbclid);
    let gclid = from_url(new.gclid, UrlClickId::Gclid);
    let gbraid = from_url(new.gbraid, UrlClickId::Gbraid);
    let wbraid = from_url(new.wbraid, UrlClickId::Wbraid);
    let meta_lead_id = lead_id(
        "meta_lead_id",
        new.meta_lead_id,
        click_id::check_meta_lead_id,
    )?;
    let tiktok_lead_id = lead_id(
        "tiktok_lead_id",
        new.tiktok_lead_id,
        click_id::check_tiktok_lead_id,
    )?;
    let created_at = match new.occurred_at {
        Some(t) => check_time("occurred_at", t)?,
        None => now_secs,
    };
    Ok(Lead {
        transaction_id,
        email,
        phone,
        phone_by_region,
        phone_digits,
        phone_digits_by_region,
        external_id,
        country,
        ip: non_empty(new.ip),
        user_agent: non_empty(new.user_agent),
        ttclid,
        ttp: non_empty(new.ttp),
        fbclid,
        fbc: non_empty(new.fbc),
        fbp: non_empty(new.fbp),
        gclid,
        gbraid,
        wbraid,
        meta_lead_id,
        tiktok_lead_id,
        landing_url,
        referrer: non_empty(new.referrer),
        source: non_empty(new.source),
        fields: new.fields,
        created_at,
        warnings: new.warnings,
    })
}

/// Resolves a lifecycle event of the lead `transaction_id` as ingest would store it, without storing
/// it (previews).
pub fn event_from(
    transaction_id: &str,
    new: NewLifecycleEvent,
    now_secs: i64,
) -> Result<LifecycleEvent, GatewayError> {
    if new.trigger == Trigger::FormSubmit {
        return Err(GatewayError::invalid(
            "type",
            "form_submit is fired by submitting the lead itself (POST /v1/leads)",
        ));
    }
    let name = non_empty(new.name);
    if new.trigger == Trigger::Custom && name.is_none() {
        return Err(GatewayError::invalid("name", "a custom event needs a name"));
    }
    if let Some(r) = new.revenue
        && !(r.is_finite() && r >= 0.0)
    {
        return Err(GatewayError::invalid(
            "revenue",
            format!("must be a finite number ≥ 0, got {r}"),
        ));
    }
    if let Some(p) = new.payout
        && !(p.is_finite() && p >= 0.0)
    {
        return Err(GatewayError::invalid(
            "payout",
            format!("must be a finite number ≥ 0, got {p}"),
        ));
    }
    let currency = match non_empty(new.currency) {
        None => None,
        Some(c) => Some(
            Currency::parse(&c)
                .map_err(|e| GatewayError::invalid("currency", e.to_string()))?
                .as_str()
                .to_owned(),
        ),
    };
    let occurred_at = match new.occurred_at {
        Some(t) => check_time("occurred_at", t)?,
        None => now_secs,
    };
    let idempotency_key = match non_empty(new.idempotency_key) {
        Some(k) => Some(clean_id("idempotency_key", &k)?),
        None => None,
    };
    Ok(LifecycleEvent {
        id: 0,
        transaction_id: transaction_id.to_owned(),
        trigger: new.trigger,
        name,
        buyer: non_empty(new.buyer),
        offer: non_empty(new.offer),
        revenue: new.revenue,
        payout: new.payout,
        currency,
        occurred_at,
        idempotency_key,
    })
}

fn clean_id(field: &'static str, raw: &str) -> Result<String, GatewayError> {
    let id = raw.trim();
    if id.is_empty() {
        return Err(GatewayError::invalid(field, "must not be empty"));
    }
    if id.len() > MAX_ID_LEN {
        return Err(GatewayError::invalid(
            field,
            format!("longer than {MAX_ID_LEN} bytes"),
        ));
    }
    if id.chars().any(char::is_control) {
        return Err(GatewayError::invalid(field, "contains control characters"));
    }
    Ok(id.to_owned())
}

fn hashed(field: &'static str, value: Option<String>) -> Result<Option<String>, GatewayError> {
    match value {
        None => Ok(None),
        Some(v) if is_canonical_sha256_hex(&v) => Ok(Some(v)),
        Some(_) => Err(GatewayError::invalid(
            field,
            "must arrive as SHA-256 hex (64 lowercase hex digits): raw identifiers are never stored",
        )),
    }
}

/// A CRM lead id as stored: the edge has checked it; this keeps any other shape out of the store.
fn lead_id(
    field: &'static str,
    value: Option<String>,
    check: fn(&str) -> Result<(), String>,
) -> Result<Option<String>, GatewayError> {
    match non_empty(value) {
        None => Ok(None),
        Some(v) => check(&v)
            .map(|()| Some(v))
            .map_err(|problem| GatewayError::invalid(field, problem)),
    }
}

/// A country or region as stored: ISO 3166-1 alpha-2, upper-case (the edge has parsed it already;
/// this only keeps anything else out of the store).
fn region(field: &'static str, value: Option<String>) -> Result<Option<String>, GatewayError> {
    match non_empty(value) {
        None => Ok(None),
        Some(v) => signalpost_tiktok::identity::Region::parse(&v)
            .map(|r| Some(r.to_string()))
            .map_err(|e| GatewayError::invalid(field, e.to_string())),
    }
}

/// [`crate::domain::NewLead::phone_by_region`] checked like `phone`, keys like `country`.
fn regional_phones(
    phones: std::collections::BTreeMap<String, String>,
) -> Result<std::collections::BTreeMap<String, String>, GatewayError> {
    let mut checked = std::collections::BTreeMap::new();
    for (key, hash) in phones {
        let Some(key) = region("phone_by_region", Some(key))? else {
            continue;
        };
        if let Some(hash) = hashed("phone_by_region", Some(hash))? {
            checked.insert(key, hash);
        }
    }
    Ok(checked)
}

fn check_time(field: &'static str, t: i64) -> Result<i64, GatewayError> {
    if t < 0 {
        return Err(GatewayError::invalid(
            field,
            format!("negative unix time {t}"),
        ));
    }
    if t > MAX_UNIX_SECONDS {
        return Err(GatewayError::invalid(
            field,
            format!("{t} looks like milliseconds; send unix seconds"),
        ));
    }
    Ok(t)
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}
