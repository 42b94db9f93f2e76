//! Erasure of one person on both stores (a real SQLite file; a real PostgreSQL schema when
//! `SIGNALPOST_TEST_DATABASE_URL` is set): by transaction id, by email hash, by phone hash; the lead,
//! its events, conversions and attempt log go, other leads stay, and the transaction id can be used
//! again.
#![allow(clippy::unwrap_used)]

mod common;

use common::backend::TestDb;
use common::settle::deliver_all;
use common::{demo_rules, hex64, lead};
use signalpost_gateway::Gateway;
use signalpost_gateway::store::{EraseRequest, Erased};

both_stores!(
    erasing_a_person_deletes_their_lead_and_everything_it_led_to,
    retention_purges_old_settled_leads_in_batches_and_keeps_waiting_ones,
);

async fn erasing_a_person_deletes_their_lead_and_everything_it_led_to(db: TestDb) {
    let store = db.open().await;
    let gw = Gateway::new(store.shared(), demo_rules("PIX1"));
    gw.submit_lead(lead("e-1")).await.unwrap();
    gw.submit_lead(lead("e-2")).await.unwrap();
    let mut by_email = lead("e-3");
    by_email.email = Some(hex64('c'));
    by_email.phone = Some(hex64('d'));
    gw.submit_lead(by_email).await.unwrap();
    let mut by_phone = lead("e-4");
    by_phone.email = None;
    by_phone.phone = Some(hex64('e'));
    gw.submit_lead(by_phone).await.unwrap();
    assert_eq!(deliver_all(&store, "PIX1").await.len(), 4);

    let erased = store
        .erase(&EraseRequest {
            transaction_id: Some("e-1".into()),
            ..EraseRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(
        erased,
        Erased {
            leads: 1,
            events: 1,
            conversions: 1,
            attempts: 1,
            requests: 0
        }
    );
    assert!(store.get_lead("e-1").await.unwrap().is_none());
    assert!(
        store.get_lead("e-2").await.unwrap().is_some(),
        "others stay"
    );

    let erased = store
        .erase(&EraseRequest {
            email: Some(hex64('c')),
            ..EraseRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(erased.leads, 1);
    assert!(store.get_lead("e-3").await.unwrap().is_none());
    let erased = store
        .erase(&EraseRequest {
            phone: Some(hex64('e')),
            ..EraseRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(erased.leads, 1);
    assert!(store.get_lead("e-4").await.unwrap().is_none());

    // Nothing matches: nothing is deleted; an empty request names nobody.
    let none = store
        .erase(&EraseRequest {
            transaction_id: Some("nobody".into()),
            email: Some(hex64('f')),
            phone: None,
        })
        .await
        .unwrap();
    assert_eq!(none, Erased::default());
    assert_eq!(
        store.erase(&EraseRequest::default()).await.unwrap(),
        Erased::default()
    );
    assert!(store.get_lead("e-2").await.unwrap().is_some());
    if let Some(url) = db.url() {
        // PostgreSQL keeps event JSON in its own table: none may outlive its conversion.
        let (client, driver) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(driver);
        let orphans: i64 = client
            .query_one(
                "SELECT count(*) FROM payloads p \
                 WHERE NOT EXISTS (SELECT 1 FROM conversions c WHERE c.id = p.conversion_id)",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(orphans, 0, "an erased conversion's payload is left");
        let kept: i64 = client
            .query_one("SELECT count(*) FROM payloads", &[])
            .await
            .unwrap()
            .get(0);
        assert!(kept > 0, "the other leads' payloads stay");
    }

    // The erased transaction id is free again.
    gw.submit_lead(lead("e-1")).await.unwrap();
    assert!(store.get_lead("e-1").await.unwrap().is_some());
}

async fn retention_purges_old_settled_leads_in_batches_and_keeps_waiting_ones(db: TestDb) {
    let store = db.open().await;
    let gw = Gateway::new(store.shared(), demo_rules("PIX1"));
    for i in 0..5 {
        gw.submit_lead(lead(&format!("old-{i}"))).await.unwrap();
    }
    assert_eq!(deliver_all(&store, "PIX1").await.len(), 5);
    // Queued after the deliveries: still waiting, so kept whatever its age.
    gw.submit_lead(lead("waiting")).await.unwrap();

    // A cutoff before every lead was stored purges nothing.
    assert_eq!(
        store.purge_expired(0, 100).await.unwrap(),
        Erased::default()
    );

    let cutoff = signalpost_gateway::time::now_ms() + 60_000;
    let mut batches = Vec::new();
    loop {
        let purged = store.purge_expired(cutoff, 2).await.unwrap();
        if purged.leads == 0 {
            break;
        }
        batches.push(purged.leads);
    }
    assert_eq!(batches, [2, 2, 1], "batches of at most 2");
    assert_eq!(
        db.scalar("SELECT count(*) FROM requests").await,
        0,
        "the request log is dropped by age too"
    );
    for i in 0..5 {
        assert!(store.get_lead(&format!("old-{i}")).await.unwrap().is_none());
    }
    let waiting = store.get_lead("waiting").await.unwrap().unwrap();
    assert_eq!(
        waiting.conversions.len(),
        1,
        "its conversion is still queued"
    );
}
