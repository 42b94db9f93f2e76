//! `leads.click_ids` (migration 9 on both stores): a lead's Meta and Google click ids, Meta's cookies
//! and the CRM lead ids, as one compact JSON object holding only the ids present (`NULL` when none,
//! as for most TikTok-only leads). One column instead of eight: no store reads, filters or indexes
//! them one by one (rules read the decoded lead), both stores already keep `phone_by_region` this
//! way, the ingest statements keep their shape, and a destination adding an id adds a key, not a
//! migration and a column to every writer. `ttclid` and `ttp` keep their own columns (lead search
//! and match-quality counts filter on `ttclid`).

use serde::{Deserialize, Serialize};

use crate::domain::Lead;
use crate::store::StoreError;

/// The stored object; keys are the lead fields' names.
#[derive(Debug, Default, Serialize, Deserialize)]
struct ClickIds {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fbclid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fbc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fbp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gclid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gbraid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wbraid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    meta_lead_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tiktok_lead_id: Option<String>,
}

/// The column's value for `lead`: `None` when it has none of these ids.
pub(crate) fn to_json(lead: &Lead) -> Result<Option<String>, StoreError> {
    let ids = ClickIds {
        fbclid: lead.fbclid.clone(),
        fbc: lead.fbc.clone(),
        fbp: lead.fbp.clone(),
        gclid: lead.gclid.clone(),
        gbraid: lead.gbraid.clone(),
        wbraid: lead.wbraid.clone(),
        meta_lead_id: lead.meta_lead_id.clone(),
        tiktok_lead_id: lead.tiktok_lead_id.clone(),
    };
    let none = [
        &ids.fbclid,
        &ids.fbc,
        &ids.fbp,
        &ids.gclid,
        &ids.gbraid,
        &ids.wbraid,
        &ids.meta_lead_id,
        &ids.tiktok_lead_id,
    ]
    .iter()
    .all(|v| v.is_none());
    if none {
        return Ok(None);
    }
    serde_json::to_string(&ids)
        .map(Some)
        .map_err(|e| StoreError::Io(e.to_string()))
}

/// Fills `lead`'s ids from the stored column (`None`: it had none).
pub(crate) fn fill_from_json(lead: &mut Lead, text: Option<&str>) -> Result<(), StoreError> {
    let Some(text) = text else { return Ok(()) };
    let ids: ClickIds = serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("leads.click_ids: {e}")))?;
    lead.fbclid = ids.fbclid;
    lead.fbc = ids.fbc;
    lead.fbp = ids.fbp;
    lead.gclid = ids.gclid;
    lead.gbraid = ids.gbraid;
    lead.wbraid = ids.wbraid;
    lead.meta_lead_id = ids.meta_lead_id;
    lead.tiktok_lead_id = ids.tiktok_lead_id;
    Ok(())
}
