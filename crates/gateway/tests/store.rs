//! The store through the gateway facade, once per store: a real SQLite file in a temporary directory,
//! and a real PostgreSQL schema of its own (when `SIGNALPOST_TEST_DATABASE_URL` is set).
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::backend::{TestDb, TestStore};
use common::{demo_rules, lead, sold};
use signalpost_gateway::domain::{AttemptOutcome, NewAttempt};
use signalpost_gateway::store::DeliveryResult;
use signalpost_gateway::{
    BatchItem, ConversionState, Gateway, GatewayError, NewLifecycleEvent, Trigger,
};

async fn gateway(db: &TestDb) -> (TestStore, Gateway) {
    let store = db.open().await;
    let gw = Gateway::new(store.shared(), demo_rules("PIX1"));
    (store, gw)
}

async fn a_lead_is_stored_with_its_form_submit_conversion(db: TestDb) {
    let (_store, gw) = gateway(&db).await;
    let res = gw.submit_lead(lead("tx-1")).await.unwrap();
    assert!(res.lead_created && res.event_created);
    assert_eq!(
        res.lead.ttclid.as_deref(),
        Some("clk-tx-1"),
        "ttclid from the landing URL"
    );
    assert_eq!(res.conversions.len(), 1);
    let c = &res.conversions[0];
    assert_eq!(
        (c.rule.as_str(), c.event_name.as_str(), c.event_id.as_str()),
        ("registration", "CompleteRegistration", "tx-1")
    );
    assert_eq!(c.state, ConversionState::Pending);

    let view = gw.get_lead("tx-1").await.unwrap().unwrap();
    assert_eq!(view.lead, res.lead);
    assert_eq!(view.events.len(), 1);
    assert_eq!(view.events[0].trigger, Trigger::FormSubmit);
    assert_eq!(view.conversions.len(), 1);
    assert_eq!(view.conversions[0].conversion.payload, c.payload);
    assert!(gw.get_lead("nope").await.unwrap().is_none());
}

/// Payloads are stored compressed (see `store::payload_codec`); a payload an older build stored as
/// plain JSON text still reads, is delivered as it is, and shows on the lead.
async fn payloads_are_stored_compressed_and_plain_json_from_before_still_reads(db: TestDb) {
    let (store, gw) = gateway(&db).await;
    let fresh = gw.submit_lead(lead("tx-new")).await.unwrap().conversions[0].clone();
    let old = gw.submit_lead(lead("tx-old")).await.unwrap().conversions[0].clone();
    let stored = db
        .scalar(&format!(
            "SELECT CAST(length(payload) AS BIGINT) FROM payloads WHERE conversion_id = {}",
            fresh.id
        ))
        .await;
    assert!(
        (stored as usize) < fresh.payload.len() * 2 / 3,
        "{stored} bytes stored for a {}-byte payload",
        fresh.payload.len()
    );

    let plain = old.payload.replace("CompleteRegistration", "SubmitForm");
    let literal = plain.replace('\'', "''");
    let value = match db.url() {
        None => format!("'{literal}'"),
        Some(_) => format!("convert_to('{literal}', 'UTF8')"),
    };
    db.execute(&format!(
        "UPDATE payloads SET payload = {value} WHERE conversion_id = {}",
        old.id
    ))
    .await;

    let now = signalpost_gateway::time::now_ms() + 1;
    let claimed = store
        .claim_due("PIX1", now, 10, Duration::from_secs(60))
        .await
        .unwrap();
    let payload_of = |id: i64| claimed.iter().find(|c| c.id == id).unwrap().payload.clone();
    assert_eq!(payload_of(fresh.id), fresh.payload);
    assert_eq!(payload_of(old.id), plain);
    let view = gw.get_lead("tx-old").await.unwrap().unwrap();
    assert_eq!(view.conversions[0].conversion.payload, plain);
}

async fn a_leads_country_and_regional_phones_are_stored_and_read_back(db: TestDb) {
    let (_store, gw) = gateway(&db).await;
    let mut with = lead("tx-country");
    with.country = Some(" gb ".into());
    with.phone_by_region.insert("fr".into(), common::hex64('c'));
    let res = gw.submit_lead(with).await.unwrap();
    assert_eq!(res.lead.country.as_deref(), Some("GB"));
    assert_eq!(
        res.lead.phone_by_region.get("FR"),
        Some(&common::hex64('c'))
    );
    let view = gw.get_lead("tx-country").await.unwrap().unwrap();
    assert_eq!(view.lead, res.lead);
    // Most leads have neither.
    gw.submit_lead(lead("tx-plain")).await.unwrap();
    let plain = gw.get_lead("tx-plain").await.unwrap().unwrap().lead;
    assert!(plain.country.is_none() && plain.phone_by_region.is_empty());
    // What is not a region or not a hash never reaches the store.
    let mut bad = lead("tx-bad");
    bad.country = Some("XX".into());
    assert!(matches!(
        gw.submit_lead(bad).await,
        Err(GatewayError::InvalidField { .. })
    ));
    let mut raw = lead("tx-raw");
    raw.phone_by_region
        .insert("FR".into(), "+33612345678".into());
    assert!(gw.submit_lead(raw).await.is_err());
}

async fn reposting_a_lead_returns_the_first_answer_and_queues_nothing(db: TestDb) {
    let (_store, gw) = gateway(&db).await;
    let first = gw.submit_lead(lead("tx-1")).await.unwrap();
    let mut changed = lead("tx-1");
    changed.ip = Some("198.51.100.1".into());
    let again = gw.submit_lead(changed).await.unwrap();
    assert!(!again.lead_created && !again.event_created);
    assert_eq!(again.lead, first.lead, "the stored lead wins");
    assert_eq!(again.conversions, first.conversions);
    let view = gw.get_lead("tx-1").await.unwrap().unwrap();
    assert_eq!((view.events.len(), view.conversions.len()), (1, 1));
}

async fn a_repeated_idempotency_key_queues_nothing(db: TestDb) {
    let (_store, gw) = gateway(&db).await;
    gw.submit_lead(lead("tx-1")).await.unwrap();
    let mut ev = sold(40.0);
    ev.idempotency_key = Some("sale-1".into());
    let first = gw.submit_event("tx-1", ev.clone()).await.unwrap();
    assert_eq!(first.conversions.len(), 1);
    let again = gw.submit_event("tx-1", ev).await.unwrap();
    assert!(!again.event_created);
    assert_eq!(again.event, first.event);
    assert_eq!(again.conversions, first.conversions);
    let view = gw.get_lead("tx-1").await.unwrap().unwrap();
    assert_eq!((view.events.len(), view.conversions.len()), (2, 2));
}

async fn a_rule_fires_once_per_lead_unless_its_event_id_says_otherwise(db: TestDb) {
    let (_store, gw) = gateway(&db).await;
    gw.submit_lead(lead("tx-1")).await.unwrap();
    let first = gw.submit_event("tx-1", sold(10.0)).await.unwrap();
    let second = gw.submit_event("tx-1", sold(20.0)).await.unwrap();
    assert!(second.event_created, "a new lifecycle event is recorded");
    assert!(
        second.conversions.is_empty(),
        "but the Purchase is not queued twice"
    );
    assert_eq!(second.duplicates.len(), 1);
    assert_eq!(second.duplicates[0].id, first.conversions[0].id);

    let per_offer = common::rules(
        r#"
        [[rules]]
        name = "per-offer"
        trigger = "offer_conversion"
        pixel = "PIX1"
        event = "Purchase"
        event_id = "{transaction_id}:{offer}"
        "#,
    );
    gw.replace_rules(per_offer);
    for offer in ["o1", "o2", "o1"] {
        let ev = NewLifecycleEvent {
            offer: Some(offer.into()),
            ..NewLifecycleEvent::new(Trigger::OfferConversion)
        };
        gw.submit_event("tx-1", ev).await.unwrap();
    }
    let view = gw.get_lead("tx-1").await.unwrap().unwrap();
    let ids: Vec<_> = view
        .conversions
        .iter()
        .filter(|c| c.conversion.rule == "per-offer")
        .map(|c| c.conversion.event_id.clone())
        .collect();
    assert_eq!(ids, ["tx-1:o1", "tx-1:o2"]);
}

async fn an_event_for_an_unknown_lead_is_refused(db: TestDb) {
    let (_store, gw) = gateway(&db).await;
    let err = gw.submit_event("ghost", sold(1.0)).await.unwrap_err();
    assert_eq!(err, GatewayError::LeadNotFound("ghost".into()));
}

/// An event planned against a lead that is erased before the write: the store checks the lead still
/// exists (it does not trust the lead the gateway planned with) and refuses it, storing nothing.
async fn an_event_whose_lead_was_erased_after_planning_is_refused(db: TestDb) {
    let (store, gw) = gateway(&db).await;
    gw.submit_lead(lead("tx-gone")).await.unwrap();
    let stored = gw.get_lead("tx-gone").await.unwrap().unwrap().lead;
    let unit = gw.event_unit(&stored, sold(5.0)).unwrap();
    assert!(unit.planned_with.is_some());
    store
        .erase(&signalpost_gateway::store::EraseRequest {
            transaction_id: Some("tx-gone".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let err = store.ingest(unit).await.unwrap_err();
    assert!(
        matches!(&err, signalpost_gateway::store::StoreError::LeadNotFound(id) if id == "tx-gone"),
        "{err:?}"
    );
    assert_eq!(db.scalar("SELECT count(*) FROM lifecycle_events").await, 0);

    // A live lead's event is stored and answered with the lead it was planned with.
    gw.submit_lead(lead("tx-here")).await.unwrap();
    let here = gw.get_lead("tx-here").await.unwrap().unwrap().lead;
    let unit = gw.event_unit(&here, sold(5.0)).unwrap();
    let result = store.ingest(unit).await.unwrap();
    assert_eq!(result.lead, here);
    assert!(!result.lead_created);
    assert_eq!(result.conversions.len(), 1);
}

async fn raw_identifiers_never_reach_the_store(db: TestDb) {
    let (_store, gw) = gateway(&db).await;
    let mut raw = lead("tx-raw");
    raw.email = Some("alice@example.com".into());
    let err = gw.submit_lead(raw).await.unwrap_err();
    assert!(
        matches!(err, GatewayError::InvalidField { field: "email", .. }),
        "{err}"
    );
    assert!(gw.get_lead("tx-raw").await.unwrap().is_none());
}

async fn a_batch_commits_together_and_answers_each_item(db: TestDb) {
    let (_store, gw) = gateway(&db).await;
    let answers = gw
        .submit_batch(vec![
            BatchItem::Event {
                transaction_id: "b-1".into(),
                event: sold(5.0),
            },
            BatchItem::Lead(lead("b-1")),
            BatchItem::Event {
                transaction_id: "b-1".into(),
                event: sold(5.0),
            },
            BatchItem::Event {
                transaction_id: "b-2".into(),
                event: sold(5.0),
            },
            BatchItem::Lead(lead("b-2")),
        ])
        .await
        .unwrap();
    assert_eq!(answers.len(), 5);
    assert!(
        matches!(&answers[0], Err(GatewayError::LeadNotFound(id)) if id == "b-1"),
        "an event before its lead: {:?}",
        answers[0]
    );
    assert_eq!(answers[1].as_ref().unwrap().conversions.len(), 1);
    let sale = answers[2].as_ref().unwrap();
    assert_eq!(sale.conversions[0].event_name, "Purchase");
    assert!(answers[3].is_err());
    assert!(answers[4].is_ok());
    assert_eq!(
        gw.get_lead("b-1").await.unwrap().unwrap().conversions.len(),
        2
    );
}

async fn concurrent_ingests_are_all_acknowledged_and_readable(db: TestDb) {
    let (_store, gw) = gateway(&db).await;
    let gw = Arc::new(gw);
    let mut tasks = Vec::new();
    for t in 0..64 {
        let gw = gw.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                gw.submit_lead(lead(&format!("c-{t}-{i}"))).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    for t in 0..64 {
        for i in 0..25 {
            let view = gw.get_lead(&format!("c-{t}-{i}")).await.unwrap();
            assert_eq!(view.map(|v| v.conversions.len()), Some(1), "c-{t}-{i}");
        }
    }
    let depth = gw.store().queue_depth().await.unwrap();
    assert_eq!(depth.len(), 1);
    assert_eq!(
        (depth[0].state, depth[0].count),
        (ConversionState::Pending, 64 * 25)
    );
}

async fn reopening_the_store_keeps_everything(db: TestDb) {
    {
        let (store, gw) = gateway(&db).await;
        gw.submit_lead(lead("keep-1")).await.unwrap();
        gw.submit_event("keep-1", sold(9.5)).await.unwrap();
        drop(gw);
        store.close().await;
    }
    let (_store, gw) = gateway(&db).await;
    let view = gw.get_lead("keep-1").await.unwrap().unwrap();
    assert_eq!((view.events.len(), view.conversions.len()), (2, 2));
    let again = gw.submit_lead(lead("keep-1")).await.unwrap();
    assert!(
        !again.lead_created,
        "replay protection survives the restart"
    );
}

async fn claims_lease_rows_and_expired_leases_are_claimed_again(db: TestDb) {
    let (store, gw) = gateway(&db).await;
    for i in 0..5 {
        gw.submit_lead(lead(&format!("l-{i}"))).await.unwrap();
    }
    let now = signalpost_gateway::time::now_ms() + 1;
    let lease = Duration::from_secs(60);
    let first = store.claim_due("PIX1", now, 3, lease).await.unwrap();
    assert_eq!(first.len(), 3);
    let second = store.claim_due("PIX1", now, 10, lease).await.unwrap();
    assert_eq!(second.len(), 2, "in-flight rows are not claimed twice");
    assert!(
        store
            .claim_due("PIX1", now, 10, lease)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .claim_due("OTHER", now, 10, lease)
            .await
            .unwrap()
            .is_empty()
    );

    // Nobody records a result (the worker crashed); once the lease expires the rows come back.
    let later = now + 61_000;
    let reclaimed = store.claim_due("PIX1", later, 10, lease).await.unwrap();
    assert_eq!(reclaimed.len(), 5);
    assert!(
        reclaimed
            .iter()
            .all(|c| first.iter().chain(&second).all(|o| o.claim != c.claim))
    );

    // A late final answer under the stale claim is recorded, not thrown away (TikTok gave it); the
    // live claim's delivered answer then wins over it.
    let stale = &first[0];
    let live = reclaimed.iter().find(|c| c.id == stale.id).unwrap();
    let result = |claim, state| DeliveryResult {
        conversion_id: stale.id,
        claim,
        state,
        next_attempt_at_ms: None,
        last_error: None,
        attempts: vec![NewAttempt {
            at_ms: later,
            http_status: Some(200),
            code: Some(0),
            message: "OK".into(),
            request_id: Some("req-1".into()),
            latency_ms: 12,
            outcome: AttemptOutcome::Delivered,
            batch_size: 5,
        }],
        counts_as_retry: false,
    };
    store
        .record_results(vec![result(stale.claim, ConversionState::Dead)])
        .await
        .unwrap();
    store
        .record_results(vec![result(live.claim, ConversionState::Delivered)])
        .await
        .unwrap();
    let tx = stale.event_id.clone();
    let view = store.get_lead(&tx).await.unwrap().unwrap();
    let c = &view.conversions[0];
    assert_eq!(c.conversion.state, ConversionState::Delivered);
    assert_eq!(c.conversion.attempts, 2);
    assert_eq!(
        c.attempt_log.len(),
        2,
        "both requests happened and are logged"
    );
    assert_eq!(c.attempt_log[1].request_id.as_deref(), Some("req-1"));
}

async fn pausing_a_pixel_holds_its_work_until_resumed(db: TestDb) {
    let (store, gw) = gateway(&db).await;
    for i in 0..3 {
        gw.submit_lead(lead(&format!("p-{i}"))).await.unwrap();
    }
    assert_eq!(
        store.pause_pixel("PIX1", "token rejected").await.unwrap(),
        3
    );
    let now = signalpost_gateway::time::now_ms() + 1;
    let lease = Duration::from_secs(60);
    assert!(
        store
            .claim_due("PIX1", now, 10, lease)
            .await
            .unwrap()
            .is_empty()
    );
    let view = store.get_lead("p-0").await.unwrap().unwrap();
    assert_eq!(
        view.conversions[0].conversion.state,
        ConversionState::Paused
    );
    assert_eq!(
        view.conversions[0].conversion.last_error.as_deref(),
        Some("token rejected")
    );
    assert_eq!(store.resume_pixel("PIX1").await.unwrap(), 3);
    let now = signalpost_gateway::time::now_ms() + 1;
    assert_eq!(
        store.claim_due("PIX1", now, 10, lease).await.unwrap().len(),
        3
    );
    assert_eq!(
        store.pixels_with_due_work(now).await.unwrap(),
        Vec::<String>::new()
    );
}

// --- Several stores (nodes) on one database, and in-group ordering ---------------------------------

async fn a_group_settles_repeats_in_arrival_order(db: TestDb) {
    let (store, gw) = gateway(&db).await;
    let first = gw.lead_unit(lead("g-1")).unwrap();
    let mut changed = lead("g-1");
    changed.ip = Some("198.51.100.1".into());
    let again = gw.lead_unit(changed).unwrap();
    let stored_lead = first.lead.clone().unwrap();
    let mut keyed = sold(10.0);
    keyed.idempotency_key = Some("k".into());
    let sale = gw.event_unit(&stored_lead, keyed.clone()).unwrap();
    keyed.revenue = Some(20.0);
    let sale_again = gw.event_unit(&stored_lead, keyed).unwrap();
    let unkeyed = gw.event_unit(&stored_lead, sold(30.0)).unwrap();

    let answers: Vec<_> = store
        .ingest_many(vec![first, again, sale, sale_again, unkeyed])
        .await
        .unwrap()
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(answers[0].lead_created && answers[0].event_created);
    assert_eq!(answers[0].conversions.len(), 1);
    assert!(!answers[1].lead_created && !answers[1].event_created);
    assert_eq!(
        answers[1].lead.ip.as_deref(),
        Some("203.0.113.7"),
        "the first lead wins"
    );
    assert_eq!(answers[1].conversions, answers[0].conversions);
    assert!(answers[2].event_created);
    assert_eq!(answers[2].conversions[0].event_name, "Purchase");
    assert!(!answers[3].event_created, "same idempotency key: a replay");
    assert_eq!(answers[3].event, answers[2].event);
    assert_eq!(answers[3].conversions, answers[2].conversions);
    assert!(answers[4].event_created && answers[4].conversions.is_empty());
    assert_eq!(answers[4].duplicates, answers[2].conversions);
    let view = gw.get_lead("g-1").await.unwrap().unwrap();
    assert_eq!(view.events.len(), 3);
    assert!(view.events.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(view.events[1].revenue, Some(10.0));
    assert_eq!(view.conversions.len(), 2);
}

async fn two_stores_on_one_database_never_claim_the_same_conversion(db: TestDb) {
    let (a, gw) = gateway(&db).await;
    let b = db.open().await;
    for i in 0..120 {
        gw.submit_lead(lead(&format!("n-{i}"))).await.unwrap();
    }
    let now = signalpost_gateway::time::now_ms() + 1;
    let lease = Duration::from_secs(60);
    let drain = |store: TestStore| async move {
        let mut ids = Vec::new();
        loop {
            let claimed = store.claim_due("PIX1", now, 7, lease).await.unwrap();
            if claimed.is_empty() {
                return ids;
            }
            ids.extend(claimed.iter().map(|c| c.id));
        }
    };
    let (from_a, from_b) = tokio::join!(
        tokio::spawn(drain(a.clone())),
        tokio::spawn(drain(b.clone()))
    );
    let mut all: Vec<i64> = from_a.unwrap();
    all.extend(from_b.unwrap());
    let claimed = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), claimed, "a conversion was claimed twice");
    assert_eq!(claimed, 120);
}

async fn the_same_leads_posted_through_two_stores_at_once_are_created_once(db: TestDb) {
    let (a, _gw) = gateway(&db).await;
    let b = db.open().await;
    let post_all = |store: TestStore| async move {
        let gw = Gateway::new(store.shared(), demo_rules("PIX1"));
        let mut answers = Vec::new();
        for i in 0..60 {
            answers.push(gw.submit_lead(lead(&format!("d-{i}"))).await.unwrap());
        }
        answers
    };
    let (from_a, from_b) = tokio::join!(
        tokio::spawn(post_all(a.clone())),
        tokio::spawn(post_all(b.clone()))
    );
    let (from_a, from_b) = (from_a.unwrap(), from_b.unwrap());
    for (x, y) in from_a.iter().zip(&from_b) {
        assert!(
            x.lead_created ^ y.lead_created,
            "exactly one post creates {}",
            x.lead.transaction_id
        );
        assert_eq!(x.conversions, y.conversions, "the replay answers the first");
        assert_eq!(x.conversions.len(), 1);
    }
    let depth = a.queue_depth().await.unwrap();
    assert_eq!(depth[0].count, 60);
}

async fn work_queued_through_one_node_wakes_the_other_nodes_workers(db: TestDb) {
    let (_a, gw) = gateway(&db).await;
    let b = db.open().await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    b.watch_remote_work(Arc::new(move |pixel: &str| {
        let _ = tx.send(pixel.to_owned());
    }));
    // The LISTEN connection comes up in the background: keep queueing until a wake-up arrives.
    let woken = tokio::time::timeout(Duration::from_secs(30), async {
        for i in 0.. {
            gw.submit_lead(lead(&format!("w-{i}"))).await.unwrap();
            if let Ok(Some(pixel)) =
                tokio::time::timeout(Duration::from_millis(200), rx.recv()).await
            {
                return pixel;
            }
        }
        unreachable!()
    })
    .await
    .expect("no wake-up reached the other node");
    assert_eq!(woken, "PIX1");
}

async fn nodes_starting_at_once_migrate_a_fresh_schema_once(db: TestDb) {
    // Four connects race on an empty schema; the advisory lock lets exactly one migrate.
    let (a, _b, _c, d) = tokio::join!(db.open(), db.open(), db.open(), db.open());
    let gw = Gateway::new(d.shared(), demo_rules("PIX1"));
    gw.submit_lead(lead("m-1")).await.unwrap();
    let seen = a.get_lead("m-1").await.unwrap().unwrap();
    assert_eq!(seen.conversions.len(), 1);
}

async fn a_nul_character_in_a_text_field_does_not_fail_the_ingest(db: TestDb) {
    let (_store, gw) = gateway(&db).await;
    let mut odd = lead("nul-1");
    odd.user_agent = Some("Mozilla/5.0\0(odd)".into());
    let res = gw.submit_lead(odd).await.unwrap();
    assert_eq!(res.conversions.len(), 1);
    let sale = NewLifecycleEvent {
        buyer: Some("acme\0".into()),
        ..sold(5.0)
    };
    assert_eq!(
        gw.submit_event("nul-1", sale)
            .await
            .unwrap()
            .conversions
            .len(),
        1
    );
    let view = gw.get_lead("nul-1").await.unwrap().unwrap();
    assert!(view.lead.user_agent.unwrap().starts_with("Mozilla/5.0"));
    assert_eq!(view.conversions.len(), 2);
    assert!(gw.get_lead("nul\0").await.unwrap().is_none());
}

/// A cap is decided inside the store's write transaction, so 50 concurrent leads through one rule
/// with a total cap of 7 leave exactly 7 conversions to send and 43 suppressed, on either store.
async fn a_cap_holds_exactly_under_50_concurrent_leads(db: TestDb) {
    const CAP: usize = 7;
    let store = db.open().await;
    let rules = common::rules(&format!(
        r#"
        [[rules]]
        name = "capped"
        trigger = "form_submit"
        pixel = "CAPPIX"
        event = "CompleteRegistration"
        [rules.cap]
        total = {CAP}
        "#
    ));
    let gw = Arc::new(Gateway::new(store.shared(), rules));
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let gw = gw.clone();
            tokio::spawn(async move { gw.submit_lead(lead(&format!("cap-{i}"))).await })
        })
        .collect();
    let mut live = 0;
    let mut suppressed = 0;
    for task in tasks {
        let res = task.await.unwrap().unwrap();
        assert_eq!(res.conversions.len(), 1);
        match res.conversions[0].state {
            ConversionState::Pending => live += 1,
            ConversionState::Suppressed => {
                assert_eq!(
                    res.conversions[0].last_error.as_deref(),
                    Some("cap: total cap of 7 reached")
                );
                suppressed += 1;
            }
            other => panic!("unexpected state {other:?}"),
        }
    }
    assert_eq!((live, suppressed), (CAP, 50 - CAP));
    let pending: u64 = store
        .shared()
        .queue_depth()
        .await
        .unwrap()
        .iter()
        .filter(|q| q.state == ConversionState::Pending)
        .map(|q| q.count)
        .sum();
    assert_eq!(pending, CAP as u64);
}

fn capped_sales() -> signalpost_gateway::RuleSet {
    common::rules(
        r#"
        [[rules]]
        name = "sale"
        trigger = "lead_sold"
        pixel = "PIX1"
        event = "Purchase"
        value = "revenue"
        [rules.cap]
        daily = 2
        "#,
    )
}

/// A conversion that is already queued (a second sale of the same lead: same event_id) is a
/// duplicate, not a new conversion: it must not take a cap slot from a new one later in the same
/// commit group.
async fn a_repeated_conversion_does_not_use_up_a_cap_slot(db: TestDb) {
    let store = db.open().await;
    let gw = Gateway::new(store.shared(), capped_sales());
    let mut leads = Vec::new();
    for tx in ["rc-a", "rc-b", "rc-c"] {
        leads.push(gw.submit_lead(lead(tx)).await.unwrap().lead);
    }
    let first = gw.submit_event("rc-a", sold(10.0)).await.unwrap();
    assert_eq!(first.conversions[0].state, ConversionState::Pending);
    let units = leads
        .iter()
        .map(|l| gw.event_unit(l, sold(20.0)).unwrap())
        .collect();
    let answers: Vec<_> = store
        .ingest_many(units)
        .await
        .unwrap()
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(answers[0].conversions.is_empty());
    assert_eq!(answers[0].duplicates, first.conversions);
    assert_eq!(
        answers[1].conversions[0].state,
        ConversionState::Pending,
        "the second slot of the daily cap is still free"
    );
    assert_eq!(answers[2].conversions[0].state, ConversionState::Suppressed);
    assert_eq!(
        answers[2].conversions[0].last_error.as_deref(),
        Some("cap: daily cap of 2 reached")
    );
}

/// Two nodes on one database ingest sales for the same capped rule at once: the cap still holds
/// exactly (the count and the insert are serialized across writers).
async fn a_cap_holds_exactly_across_two_nodes(db: TestDb) {
    let a = db.open().await;
    let b = db.open().await;
    let seed = Gateway::new(a.shared(), capped_sales());
    for i in 0..40 {
        seed.submit_lead(lead(&format!("x-{i}"))).await.unwrap();
    }
    let sell = |store: TestStore, start: usize| async move {
        let gw = Gateway::new(store.shared(), capped_sales());
        let mut live = 0;
        for i in (start..40).step_by(2) {
            let res = gw.submit_event(&format!("x-{i}"), sold(1.0)).await.unwrap();
            live += usize::from(res.conversions[0].state == ConversionState::Pending);
        }
        live
    };
    let (from_a, from_b) = tokio::join!(
        tokio::spawn(sell(a.clone(), 0)),
        tokio::spawn(sell(b.clone(), 1))
    );
    assert_eq!(from_a.unwrap() + from_b.unwrap(), 2);
    let usage = a
        .cap_usage("sale", signalpost_gateway::time::now_ms() - 86_400_000)
        .await
        .unwrap();
    assert_eq!(usage, 2);
}

both_stores!(
    a_repeated_conversion_does_not_use_up_a_cap_slot,
    a_cap_holds_exactly_across_two_nodes,
    a_cap_holds_exactly_under_50_concurrent_leads,
    a_nul_character_in_a_text_field_does_not_fail_the_ingest,
    a_lead_is_stored_with_its_form_submit_conversion,
    payloads_are_stored_compressed_and_plain_json_from_before_still_reads,
    a_leads_country_and_regional_phones_are_stored_and_read_back,
    reposting_a_lead_returns_the_first_answer_and_queues_nothing,
    a_repeated_idempotency_key_queues_nothing,
    a_rule_fires_once_per_lead_unless_its_event_id_says_otherwise,
    an_event_for_an_unknown_lead_is_refused,
    an_event_whose_lead_was_erased_after_planning_is_refused,
    raw_identifiers_never_reach_the_store,
    a_batch_commits_together_and_answers_each_item,
    concurrent_ingests_are_all_acknowledged_and_readable,
    reopening_the_store_keeps_everything,
    claims_lease_rows_and_expired_leases_are_claimed_again,
    pausing_a_pixel_holds_its_work_until_resumed,
    a_group_settles_repeats_in_arrival_order,
    two_stores_on_one_database_never_claim_the_same_conversion,
    the_same_leads_posted_through_two_stores_at_once_are_created_once,
    a_tool_opened_beside_a_server_leaves_its_leases_alone,
);

postgres_only!(
    work_queued_through_one_node_wakes_the_other_nodes_workers,
    nodes_starting_at_once_migrate_a_fresh_schema_once,
);

/// What an operator tool does to a running server's store: opens it (as `keys`, `import` or `replay`
/// do), works, closes it. The server's claimed batches must stay leased to it, or its engine would
/// claim and send them a second time while the first request is still in flight.
async fn a_tool_opened_beside_a_server_leaves_its_leases_alone(db: TestDb) {
    let (server, gw) = serving_gateway(&db).await;
    for i in 0..3 {
        gw.submit_lead(lead(&format!("leased-{i}"))).await.unwrap();
    }
    let lease = Duration::from_secs(3_600);
    let now = signalpost_gateway::time::now_ms();
    assert_eq!(
        server
            .claim_due("PIX1", now, 10, lease)
            .await
            .unwrap()
            .len(),
        3
    );

    let tool = db.open().await;
    let tool_gw = Gateway::new(tool.shared(), demo_rules("PIX1"));
    tool_gw.submit_lead(lead("from-the-tool")).await.unwrap();
    tool.close().await;
    drop(tool_gw);

    let now = signalpost_gateway::time::now_ms();
    let claimable: Vec<_> = server
        .claim_due("PIX1", now, 10, lease)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.event_id)
        .collect();
    assert_eq!(
        claimable,
        ["from-the-tool"],
        "only the tool's new lead is due; the leased batch is still the server's"
    );
}

/// The server's store and a gateway over it.
async fn serving_gateway(db: &TestDb) -> (TestStore, Gateway) {
    let store = db.open_for_serving().await;
    let gw = Gateway::new(store.shared(), demo_rules("PIX1"));
    (store, gw)
}

/// SQLite has one serving process per file, proven by the serve lock: batches a killed server left in
/// flight are due again as soon as the next server opens the file, not when their leases (two minutes
/// by default) expire. A tool opened in between recovers nothing: it cannot know that no server runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_server_started_after_a_crash_makes_the_batches_left_in_flight_due_at_once() {
    let db = TestDb::create(common::backend::Backend::Sqlite)
        .await
        .unwrap();
    let lease = Duration::from_secs(3_600);
    {
        let (store, gw) = serving_gateway(&db).await;
        for i in 0..3 {
            gw.submit_lead(lead(&format!("orphan-{i}"))).await.unwrap();
        }
        let now = signalpost_gateway::time::now_ms();
        let claimed = store.claim_due("PIX1", now, 10, lease).await.unwrap();
        assert_eq!(claimed.len(), 3);
        // No result is ever recorded: the process "dies" with the batch in flight (and the OS
        // releases its serve lock, as closing does).
        drop(gw);
        store.close().await;
    }
    let tool = db.open().await;
    let now = signalpost_gateway::time::now_ms();
    assert!(
        tool.claim_due("PIX1", now, 10, lease)
            .await
            .unwrap()
            .is_empty(),
        "a tool must not release leases"
    );
    tool.close().await;

    let (store, _gw) = serving_gateway(&db).await;
    let now = signalpost_gateway::time::now_ms();
    let again = store.claim_due("PIX1", now, 10, lease).await.unwrap();
    let mut ids: Vec<_> = again.iter().map(|c| c.event_id.clone()).collect();
    ids.sort();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert!(ids.iter().all(|id| id.starts_with("orphan-")), "{ids:?}");
}

/// A second server on a directory another one serves is refused, names the first, and releases
/// nothing; once the first has stopped, the next one starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_second_server_on_the_same_directory_is_refused_and_releases_nothing() {
    let db = TestDb::create(common::backend::Backend::Sqlite)
        .await
        .unwrap();
    let (first, gw) = serving_gateway(&db).await;
    gw.submit_lead(lead("held")).await.unwrap();
    let lease = Duration::from_secs(3_600);
    let now = signalpost_gateway::time::now_ms();
    assert_eq!(
        first.claim_due("PIX1", now, 10, lease).await.unwrap().len(),
        1
    );

    let refused = signalpost_gateway::SqliteStore::open_for_serving(db.dir())
        .err()
        .expect("a second server must not open the directory");
    let message = refused.to_string();
    assert!(
        message.contains("already serving")
            && message.contains(&format!("process {}", std::process::id()))
            && message.contains(signalpost_gateway::store::sqlite::SERVE_LOCK_FILE),
        "{message}"
    );
    let now = signalpost_gateway::time::now_ms();
    assert!(
        first
            .claim_due("PIX1", now, 10, lease)
            .await
            .unwrap()
            .is_empty(),
        "the refused server released the live lease"
    );

    drop(gw);
    first.close().await;
    let next = signalpost_gateway::SqliteStore::open_for_serving(db.dir()).unwrap();
    assert!(next.is_serving());
    next.close().await;
    assert!(!next.is_serving(), "closing releases the serve lock");
}
