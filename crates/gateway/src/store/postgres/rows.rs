//! Column lists and row → domain mapping shared by the writer, the claim path and the readers, so a
//! column added in a migration is mapped in exactly one place.

use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

use crate::domain::{
    Attempt, AttemptOutcome, Conversion, ConversionState, Lead, LifecycleEvent, Trigger,
};
use crate::store::{ClaimedConversion, StoreError};

pub const LEAD_COLUMNS: &str = "transaction_id, email, phone, external_id, ip, user_agent, ttclid, \
     ttp, landing_url, referrer, source, fields, warnings, created_at, country, phone_by_region, click_ids";

pub const EVENT_COLUMNS: &str = "id, transaction_id, trigger, name, buyer, offer, revenue, currency, \
     occurred_at, idempotency_key, payout";

/// A conversion's event JSON, from its own table (see migration 11), as a column of a query on
/// `conversions`.
pub const PAYLOAD_COLUMN: &str =
    "(SELECT p.payload FROM payloads p WHERE p.conversion_id = conversions.id) AS payload";

pub const CONVERSION_COLUMNS: &str = "id, transaction_id, lifecycle_id, rule, pixel, event_name, \
     event_id, test_event_code, event_time, state, attempts, next_attempt_at_ms, last_error, \
     (SELECT p.payload FROM payloads p WHERE p.conversion_id = conversions.id) AS payload, \
     created_at_ms";

/// What a claim returns; `{c}` stands for the alias of the claimed `conversions` row.
pub const CLAIM_COLUMNS: &str = "{c}.id, {c}.claim, {c}.pixel, {c}.event_name, {c}.event_id, \
     {c}.test_event_code, {c}.event_time, {c}.attempts, {c}.retries, {c}.first_attempt_at_ms, \
     (SELECT p.payload FROM payloads p WHERE p.conversion_id = {c}.id)";

/// An attempt: a conversion `c` joined to a request `r` of its `attempt_log` (one `requests` row
/// per request sent, shared by every conversion it carried).
pub const ATTEMPT_COLUMNS: &str = "c.id, r.at_ms, r.http_status, r.code, r.message, r.request_id, \
     r.latency_ms, r.outcome, r.batch_size";

pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// One column, with a type mismatch reported as a corrupt row.
fn get<'a, T: FromSql<'a>>(row: &'a Row, idx: usize) -> Result<T, StoreError> {
    row.try_get(idx).map_err(corrupt)
}

/// The event JSON in column `idx`: a `payloads.payload` as stored (see
/// [`payload_codec`](crate::store::payload_codec)).
pub fn payload(row: &Row, idx: usize) -> Result<String, StoreError> {
    let stored: &[u8] = get(row, idx)?;
    crate::store::payload_codec::decode(stored)
}

/// An INTEGER count column as the domain's `u32`.
fn count(row: &Row, idx: usize) -> Result<u32, StoreError> {
    let n: i32 = get(row, idx)?;
    u32::try_from(n).map_err(corrupt)
}

pub fn lead(row: &Row) -> Result<Lead, StoreError> {
    let fields: &str = get(row, 11)?;
    let warnings: &str = get(row, 12)?;
    let phone_by_region: Option<&str> = get(row, 15)?;
    let click_ids: Option<&str> = get(row, 16)?;
    let phones = crate::store::phones_from_json(phone_by_region).map_err(corrupt)?;
    let mut lead = Lead {
        transaction_id: get(row, 0)?,
        email: get(row, 1)?,
        phone: get(row, 2)?,
        phone_by_region: phones.by_region,
        phone_digits: phones.digits,
        phone_digits_by_region: phones.digits_by_region,
        external_id: get(row, 3)?,
        country: get(row, 14)?,
        ip: get(row, 4)?,
        user_agent: get(row, 5)?,
        ttclid: get(row, 6)?,
        ttp: get(row, 7)?,
        landing_url: get(row, 8)?,
        referrer: get(row, 9)?,
        source: get(row, 10)?,
        fields: serde_json::from_str(fields).map_err(corrupt)?,
        warnings: serde_json::from_str(warnings).map_err(corrupt)?,
        created_at: get(row, 13)?,
        fbclid: None,
        fbc: None,
        fbp: None,
        gclid: None,
        gbraid: None,
        wbraid: None,
        meta_lead_id: None,
        tiktok_lead_id: None,
    };
    crate::store::click_ids::fill_from_json(&mut lead, click_ids)?;
    Ok(lead)
}

pub fn event(row: &Row) -> Result<LifecycleEvent, StoreError> {
    let trigger: &str = get(row, 2)?;
    Ok(LifecycleEvent {
        id: get(row, 0)?,
        transaction_id: get(row, 1)?,
        trigger: trigger.parse::<Trigger>().map_err(corrupt)?,
        name: get(row, 3)?,
        buyer: get(row, 4)?,
        offer: get(row, 5)?,
        revenue: get(row, 6)?,
        currency: get(row, 7)?,
        occurred_at: get(row, 8)?,
        idempotency_key: get(row, 9)?,
        payout: get(row, 10)?,
    })
}

pub fn conversion(row: &Row) -> Result<Conversion, StoreError> {
    let state: &str = get(row, 9)?;
    let state = state.parse::<ConversionState>().map_err(corrupt)?;
    let next: Option<i64> = get(row, 11)?;
    Ok(Conversion {
        id: get(row, 0)?,
        transaction_id: get(row, 1)?,
        lifecycle_id: get(row, 2)?,
        rule: get(row, 3)?,
        pixel: get(row, 4)?,
        event_name: get(row, 5)?,
        event_id: get(row, 6)?,
        test_event_code: get(row, 7)?,
        event_time: get(row, 8)?,
        state,
        attempts: count(row, 10)?,
        next_attempt_at_ms: match state {
            ConversionState::Pending | ConversionState::Retrying => next,
            _ => None,
        },
        last_error: get(row, 12)?,
        payload: payload(row, 13)?,
        created_at_ms: get(row, 14)?,
    })
}

pub fn claimed(row: &Row) -> Result<ClaimedConversion, StoreError> {
    Ok(ClaimedConversion {
        id: get(row, 0)?,
        claim: get(row, 1)?,
        pixel: get(row, 2)?,
        event_name: get(row, 3)?,
        event_id: get(row, 4)?,
        test_event_code: get(row, 5)?,
        event_time: get(row, 6)?,
        attempts: count(row, 7)?,
        retries: count(row, 8)?,
        first_attempt_at_ms: get(row, 9)?,
        payload: payload(row, 10)?,
    })
}

pub fn attempt(row: &Row) -> Result<Attempt, StoreError> {
    let outcome: &str = get(row, 7)?;
    let status: Option<i32> = get(row, 2)?;
    let latency: i64 = get(row, 6)?;
    let batch: i64 = get(row, 8)?;
    Ok(Attempt {
        conversion_id: get(row, 0)?,
        at_ms: get(row, 1)?,
        http_status: status.map(u16::try_from).transpose().map_err(corrupt)?,
        code: get(row, 3)?,
        message: get(row, 4)?,
        request_id: get(row, 5)?,
        latency_ms: u64::try_from(latency).unwrap_or(0),
        outcome: AttemptOutcome::from_stored(outcome),
        batch_size: u32::try_from(batch).map_err(corrupt)?,
    })
}
