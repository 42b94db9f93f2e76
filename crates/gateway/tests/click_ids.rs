//! Click ids and CRM lead ids on both stores (a real SQLite file; a real PostgreSQL schema when
//! `SIGNALPOST_TEST_DATABASE_URL` is set): taken from the landing URL with their case kept, an
//! explicit value winning; stored in `leads.click_ids` and read back equal (single and batch, after
//! a reopen); a rule condition on `fbclid`; a malformed lead id refused before the store; erasure
//! leaves none behind.
#![allow(clippy::unwrap_used)]

mod common;

use common::backend::TestDb;
use common::{demo_rules, lead, rules};
use signalpost_gateway::store::EraseRequest;
use signalpost_gateway::{BatchItem, Gateway, GatewayError, NewLead};

both_stores!(
    click_ids_come_from_the_landing_url_with_case_kept_unless_given,
    every_id_survives_the_store_and_a_reopen,
    a_rule_can_require_an_fbclid,
    a_malformed_lead_id_never_reaches_the_store,
    erasing_a_lead_removes_its_click_ids,
);

/// A lead carrying every id, given explicitly.
fn with_every_id(transaction_id: &str) -> NewLead {
    NewLead {
        fbclid: Some("IwAR1xYz_GiVeN".into()),
        fbc: Some("fb.1.1700000000000.IwAR1xYz_GiVeN".into()),
        fbp: Some("fb.1.1700000000000.1116446470".into()),
        gclid: Some("Cj0KCQiA_Given".into()),
        gbraid: Some("0AAAAAgbraid".into()),
        wbraid: Some("CjkKEQwbraid".into()),
        meta_lead_id: Some("1234567890123456".into()),
        tiktok_lead_id: Some("7301234567890123456".into()),
        ..lead(transaction_id)
    }
}

async fn click_ids_come_from_the_landing_url_with_case_kept_unless_given(db: TestDb) {
    let store = db.open().await;
    let gw = Gateway::new(store.shared(), demo_rules("PIX1"));
    let url = "https://lp.example.com/form?ttclid=E.C.P.AbC&fbclid=IwAR1xYz&GCLID=Cj0KCQiA-MiXeD\
               &gbraid=0AAAAAbB&wbraid=CjkKEQwW";
    let mut from_url = lead("u-1");
    from_url.landing_url = Some(url.into());
    let res = gw.submit_lead(from_url).await.unwrap();
    let l = &res.lead;
    assert_eq!(l.ttclid.as_deref(), Some("E.C.P.AbC"));
    assert_eq!(l.fbclid.as_deref(), Some("IwAR1xYz"), "case kept exactly");
    assert_eq!(l.gclid.as_deref(), Some("Cj0KCQiA-MiXeD"));
    assert_eq!(l.gbraid.as_deref(), Some("0AAAAAbB"));
    assert_eq!(l.wbraid.as_deref(), Some("CjkKEQwW"));
    assert_eq!(l.fbc, None, "fbc is a cookie, never made up from the URL");
    let stored = gw.get_lead("u-1").await.unwrap().unwrap().lead;
    assert_eq!(&stored, l);

    let mut given = with_every_id("u-2");
    given.landing_url = Some(url.into());
    let stored = gw.submit_lead(given).await.unwrap().lead;
    assert_eq!(
        stored.fbclid.as_deref(),
        Some("IwAR1xYz_GiVeN"),
        "given wins"
    );
    assert_eq!(stored.gclid.as_deref(), Some("Cj0KCQiA_Given"));
    assert_eq!(
        stored.ttclid.as_deref(),
        Some("E.C.P.AbC"),
        "not given: URL"
    );
}

async fn every_id_survives_the_store_and_a_reopen(db: TestDb) {
    let store = db.open().await;
    let gw = Gateway::new(store.shared(), demo_rules("PIX1"));
    let single = gw.submit_lead(with_every_id("r-1")).await.unwrap().lead;
    let answers = gw
        .submit_batch(vec![
            BatchItem::Lead(with_every_id("r-2")),
            BatchItem::Lead(lead("r-3")),
        ])
        .await
        .unwrap();
    let batched = answers[0].as_ref().unwrap().lead.clone();
    assert_eq!(batched.meta_lead_id.as_deref(), Some("1234567890123456"));
    drop(gw);
    store.close().await;

    let store = db.open().await;
    let gw = Gateway::new(store.shared(), demo_rules("PIX1"));
    let read = |id: &'static str| {
        let gw = &gw;
        async move { gw.get_lead(id).await.unwrap().unwrap().lead }
    };
    let r1 = read("r-1").await;
    assert_eq!(r1, single);
    assert_eq!(r1.fbc.as_deref(), Some("fb.1.1700000000000.IwAR1xYz_GiVeN"));
    assert_eq!(r1.fbp.as_deref(), Some("fb.1.1700000000000.1116446470"));
    assert_eq!(r1.gbraid.as_deref(), Some("0AAAAAgbraid"));
    assert_eq!(r1.wbraid.as_deref(), Some("CjkKEQwbraid"));
    assert_eq!(r1.tiktok_lead_id.as_deref(), Some("7301234567890123456"));
    assert_eq!(read("r-2").await, batched);
    let plain = read("r-3").await;
    assert!(
        [
            &plain.fbclid,
            &plain.fbc,
            &plain.fbp,
            &plain.gclid,
            &plain.gbraid,
            &plain.wbraid,
            &plain.meta_lead_id,
            &plain.tiktok_lead_id
        ]
        .iter()
        .all(|v| v.is_none()),
        "{plain:?}"
    );
}

async fn a_rule_can_require_an_fbclid(db: TestDb) {
    let store = db.open().await;
    let meta_only = rules(
        r#"
        [[rules]]
        name = "meta-clicks"
        trigger = "form_submit"
        pixel = "PIX1"
        event = "CompleteRegistration"
        [rules.when]
        fbclid = { exists = true }
        "#,
    );
    let gw = Gateway::new(store.shared(), meta_only);
    let mut from_meta = lead("m-1");
    from_meta.landing_url = Some("https://lp.example.com/?fbclid=IwAR1xYz".into());
    let res = gw.submit_lead(from_meta).await.unwrap();
    assert_eq!(res.conversions.len(), 1, "an fbclid from the URL matches");
    assert_eq!(res.conversions[0].rule, "meta-clicks");
    let res = gw.submit_lead(lead("m-2")).await.unwrap();
    assert!(res.conversions.is_empty(), "a TikTok-only lead does not");
}

async fn a_malformed_lead_id_never_reaches_the_store(db: TestDb) {
    let store = db.open().await;
    let gw = Gateway::new(store.shared(), demo_rules("PIX1"));
    for (meta, tiktok, field) in [
        (Some("12345"), None, "meta_lead_id"),
        (Some("12345678901234x"), None, "meta_lead_id"),
        (None, Some("73012a"), "tiktok_lead_id"),
    ] {
        let bad = NewLead {
            meta_lead_id: meta.map(str::to_owned),
            tiktok_lead_id: tiktok.map(str::to_owned),
            ..lead("bad-1")
        };
        match gw.submit_lead(bad).await {
            Err(GatewayError::InvalidField { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    assert!(gw.get_lead("bad-1").await.unwrap().is_none());
}

async fn erasing_a_lead_removes_its_click_ids(db: TestDb) {
    let store = db.open().await;
    let gw = Gateway::new(store.shared(), demo_rules("PIX1"));
    gw.submit_lead(with_every_id("x-1")).await.unwrap();
    let erased = store
        .erase(&EraseRequest {
            transaction_id: Some("x-1".into()),
            ..EraseRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(erased.leads, 1);
    assert!(gw.get_lead("x-1").await.unwrap().is_none());
    // The id used again starts clean: nothing of the erased lead's ids was kept anywhere.
    let mut again = lead("x-1");
    again.landing_url = None;
    let fresh = gw.submit_lead(again).await.unwrap().lead;
    assert_eq!(
        (fresh.fbclid, fresh.fbc, fresh.meta_lead_id),
        (None, None, None)
    );
}
