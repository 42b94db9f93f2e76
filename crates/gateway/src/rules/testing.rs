//! Fixtures shared by the rules' unit tests: one lead and one lifecycle event with every kind of
//! field set, so each test states only what it changes.

use serde_json::json;

use crate::domain::{Lead, LifecycleEvent, Trigger};

/// A lead from TikTok with custom fields (vertical, address, homeowner flag, a date, tags).
pub fn lead() -> Lead {
    Lead {
        transaction_id: "tx-1".into(),
        email: Some("e".repeat(64)),
        phone: None,
        phone_by_region: Default::default(),
        phone_digits: None,
        phone_digits_by_region: Default::default(),
        external_id: None,
        country: None,
        ip: Some("203.0.113.9".into()),
        user_agent: Some("Mozilla/5.0".into()),
        ttclid: Some("E.C.P.click".into()),
        ttp: None,
        fbclid: None,
        fbc: None,
        fbp: None,
        gclid: None,
        gbraid: None,
        wbraid: None,
        meta_lead_id: None,
        tiktok_lead_id: None,
        landing_url: Some("https://lp.example.com/?ttclid=E.C.P.click".into()),
        referrer: None,
        source: Some("tiktok".into()),
        fields: json!({
            "vertical": "auto",
            "state": "CA",
            "zip": "02134",
            "homeowner": "yes",
            "age": "34",
            "score": 7,
            "price": "19.999",
            "move_date": "2024-06-01",
            "tags": ["warm", "mobile"],
            "sku": 12345,
            "empty": "",
            "nothing": null
        }),
        created_at: 1_700_000_000,
        warnings: vec![],
    }
}

/// A `lead_sold` to buyer acme for offer o-9, revenue 12.5, payout 0.
pub fn event() -> LifecycleEvent {
    LifecycleEvent {
        id: 1,
        transaction_id: "tx-1".into(),
        trigger: Trigger::LeadSold,
        name: None,
        buyer: Some("acme".into()),
        offer: Some("o-9".into()),
        revenue: Some(12.5),
        payout: Some(0.0),
        currency: None,
        occurred_at: 1_700_000_123,
        idempotency_key: Some("k-7".into()),
    }
}
