//! Column lists and row → domain mapping shared by the writer and the readers, so a column added in a
//! migration is mapped in exactly one place.

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::domain::{
    Attempt, AttemptOutcome, Conversion, ConversionState, Lead, LifecycleEvent, Trigger,
};
use crate::store::{ClaimedConversion, StoreError};

pub const LEAD_COLUMNS: &str = "transaction_id, email, phone, external_id, ip, user_agent, ttclid, \
     ttp, landing_url, referrer, source, fields, warnings, created_at, country, phone_by_region, click_ids";

pub const EVENT_COLUMNS: &str = "id, transaction_id, trigger, name, buyer, offer, revenue, currency, occurred_at, idempotency_key, payout";

/// Read from `conversions JOIN payloads ON conversion_id = id` (see [`CONVERSIONS_WITH_PAYLOAD`]).
pub const CONVERSION_COLUMNS: &str = "id, transaction_id, lifecycle_id, rule, pixel, event_name, \
     event_id, test_event_code, event_time, state, attempts, next_attempt_at_ms, last_error, payload, \
     created_at_ms";

/// The conversions with their event JSON, which lives in its own table (written once, never updated).
pub const CONVERSIONS_WITH_PAYLOAD: &str =
    "conversions JOIN payloads ON payloads.conversion_id = conversions.id";

/// Returned by the claim's UPDATE; the payloads are read separately ([`fill_payloads`]).
pub const CLAIM_COLUMNS: &str = "id, claim, pixel, event_name, event_id, test_event_code, event_time, \
     attempts, retries, first_attempt_at_ms";

/// Read from `requests`: one row per request sent, shared by every conversion it carried.
pub const REQUEST_COLUMNS: &str =
    "id, at_ms, http_status, code, message, request_id, latency_ms, outcome, batch_size";

/// A row error from a mapping step: SQL errors stay SQL errors, bad data becomes `Corrupt`.
pub type RowResult<T> = Result<T, StoreError>;

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

pub fn lead(row: &Row<'_>) -> RowResult<Lead> {
    let fields: String = row.get(11)?;
    let warnings: String = row.get(12)?;
    let phone_by_region: Option<String> = row.get(15)?;
    let click_ids: Option<String> = row.get(16)?;
    let phones = crate::store::phones_from_json(phone_by_region.as_deref()).map_err(corrupt)?;
    let mut lead = Lead {
        transaction_id: row.get(0)?,
        email: row.get(1)?,
        phone: row.get(2)?,
        phone_by_region: phones.by_region,
        phone_digits: phones.digits,
        phone_digits_by_region: phones.digits_by_region,
        external_id: row.get(3)?,
        country: row.get(14)?,
        ip: row.get(4)?,
        user_agent: row.get(5)?,
        ttclid: row.get(6)?,
        ttp: row.get(7)?,
        landing_url: row.get(8)?,
        referrer: row.get(9)?,
        source: row.get(10)?,
        fields: serde_json::from_str(&fields).map_err(corrupt)?,
        warnings: serde_json::from_str(&warnings).map_err(corrupt)?,
        created_at: row.get(13)?,
        fbclid: None,
        fbc: None,
        fbp: None,
        gclid: None,
        gbraid: None,
        wbraid: None,
        meta_lead_id: None,
        tiktok_lead_id: None,
    };
    crate::store::click_ids::fill_from_json(&mut lead, click_ids.as_deref())?;
    Ok(lead)
}

pub fn event(row: &Row<'_>) -> RowResult<LifecycleEvent> {
    let trigger: String = row.get(2)?;
    Ok(LifecycleEvent {
        id: row.get(0)?,
        transaction_id: row.get(1)?,
        trigger: trigger.parse::<Trigger>().map_err(corrupt)?,
        name: row.get(3)?,
        buyer: row.get(4)?,
        offer: row.get(5)?,
        revenue: row.get(6)?,
        currency: row.get(7)?,
        occurred_at: row.get(8)?,
        idempotency_key: row.get(9)?,
        payout: row.get(10)?,
    })
}

pub fn conversion(row: &Row<'_>) -> RowResult<Conversion> {
    let state: String = row.get(9)?;
    let state = state.parse::<ConversionState>().map_err(corrupt)?;
    let next: Option<i64> = row.get(11)?;
    Ok(Conversion {
        id: row.get(0)?,
        transaction_id: row.get(1)?,
        lifecycle_id: row.get(2)?,
        rule: row.get(3)?,
        pixel: row.get(4)?,
        event_name: row.get(5)?,
        event_id: row.get(6)?,
        test_event_code: row.get(7)?,
        event_time: row.get(8)?,
        state,
        attempts: row.get(10)?,
        next_attempt_at_ms: match state {
            ConversionState::Pending | ConversionState::Retrying => next,
            _ => None,
        },
        last_error: row.get(12)?,
        payload: payload(row, 13)?,
        created_at_ms: row.get(14)?,
    })
}

/// The event JSON in column `index` of `row`: a `payloads.payload` as stored (see
/// [`payload_codec`](crate::store::payload_codec)), text from before the codec or a blob.
pub fn payload(row: &Row<'_>, index: usize) -> RowResult<String> {
    match row.get_ref(index)? {
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => crate::store::payload_codec::decode(bytes),
        other => Err(corrupt(format!(
            "a stored payload is {:?}, not text or a blob",
            other.data_type()
        ))),
    }
}

pub fn claimed(row: &Row<'_>) -> RowResult<ClaimedConversion> {
    Ok(ClaimedConversion {
        id: row.get(0)?,
        claim: row.get(1)?,
        pixel: row.get(2)?,
        event_name: row.get(3)?,
        event_id: row.get(4)?,
        test_event_code: row.get(5)?,
        event_time: row.get(6)?,
        attempts: row.get(7)?,
        retries: row.get(8)?,
        first_attempt_at_ms: row.get(9)?,
        payload: String::new(),
    })
}

/// Fills in the payload of each claimed conversion (sorted by id) with one statement.
pub fn fill_payloads(conn: &Connection, claimed: &mut [ClaimedConversion]) -> RowResult<()> {
    if claimed.is_empty() {
        return Ok(());
    }
    let ids = serde_json::to_string(&claimed.iter().map(|c| c.id).collect::<Vec<_>>())
        .map_err(|e| StoreError::Io(e.to_string()))?;
    let mut stmt = conn.prepare_cached(
        "SELECT conversion_id, payload FROM payloads \
         WHERE conversion_id IN (SELECT value FROM json_each(?1)) ORDER BY conversion_id",
    )?;
    let mut rows = stmt.query(params![ids])?;
    let mut next = claimed.iter_mut();
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        let Some(conversion) = next.by_ref().find(|c| c.id == id) else {
            return Err(corrupt(format!(
                "payload of conversion {id} was not asked for"
            )));
        };
        conversion.payload = payload(row, 1)?;
    }
    match claimed.iter().find(|c| c.payload.is_empty()) {
        Some(missing) => Err(corrupt(format!("conversion {} has no payload", missing.id))),
        None => Ok(()),
    }
}

/// One request's row as an attempt of `conversion_id` (one of the conversions it carried).
pub fn attempt(row: &Row<'_>, conversion_id: i64) -> RowResult<Attempt> {
    let outcome: String = row.get(7)?;
    let latency: i64 = row.get(6)?;
    Ok(Attempt {
        conversion_id,
        at_ms: row.get(1)?,
        http_status: row.get(2)?,
        code: row.get(3)?,
        message: row.get(4)?,
        request_id: row.get(5)?,
        latency_ms: u64::try_from(latency).unwrap_or(0),
        outcome: AttemptOutcome::from_stored(&outcome),
        batch_size: row.get(8)?,
    })
}

/// Reads one lead by key.
pub fn find_lead(conn: &Connection, transaction_id: &str) -> RowResult<Option<Lead>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {LEAD_COLUMNS} FROM leads WHERE transaction_id = ?1"
    ))?;
    let mut rows = stmt.query(params![transaction_id])?;
    match rows.next()? {
        Some(row) => Ok(Some(lead(row)?)),
        None => Ok(None),
    }
}

/// Whether the lead is stored: a lookup in the primary key's index alone, no row read.
pub fn lead_exists(conn: &Connection, transaction_id: &str) -> RowResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM leads WHERE transaction_id = ?1")?
        .exists(params![transaction_id])?)
}

/// Reads the conversion holding TikTok's dedup key (pixel, event name, event_id).
pub fn find_conversion_by_key(
    conn: &Connection,
    pixel: &str,
    event_name: &str,
    event_id: &str,
) -> RowResult<Option<Conversion>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {CONVERSION_COLUMNS} FROM {CONVERSIONS_WITH_PAYLOAD} \
         WHERE pixel = ?1 AND event_name = ?2 AND event_id = ?3"
    ))?;
    let mut rows = stmt.query(params![pixel, event_name, event_id])?;
    match rows.next()? {
        Some(row) => Ok(Some(conversion(row)?)),
        None => Ok(None),
    }
}

/// Reads the lifecycle event with this idempotency key.
pub fn find_event_by_key(
    conn: &Connection,
    transaction_id: &str,
    key: &str,
) -> RowResult<Option<LifecycleEvent>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS} FROM lifecycle_events \
         WHERE transaction_id = ?1 AND idempotency_key = ?2"
    ))?;
    let found = stmt
        .query_row(params![transaction_id, key], |row| Ok(event(row)))
        .optional()?;
    found.transpose()
}

/// The conversions one lifecycle event queued, oldest first.
pub fn conversions_of_event(
    conn: &Connection,
    transaction_id: &str,
    lifecycle_id: i64,
) -> RowResult<Vec<Conversion>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {CONVERSION_COLUMNS} FROM {CONVERSIONS_WITH_PAYLOAD} \
         WHERE lifecycle_id = ?2 AND transaction_id = ?1 ORDER BY id"
    ))?;
    let mut rows = stmt.query(params![transaction_id, lifecycle_id])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(conversion(row)?);
    }
    Ok(out)
}
