//! The ingest check on both stores (a real SQLite file; a real PostgreSQL schema when
//! `SIGNALPOST_TEST_DATABASE_URL` is set): a conversion TikTok would refuse is stored as
//! `undeliverable` (loaded back as such, never claimed, outside the caps, counted in the queue
//! depth), a replay after the pixel got a `site_url` fills `page.url` and makes it claimable, an
//! `event_id` with nothing of the lead in it is never stored, and `strict_delivery` stores nothing.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::backend::{TestDb, TestStore};
use common::{demo_rules, lead, rules, sold};
use signalpost_gateway::deliverable::check_payload;
use signalpost_gateway::destinations::{Destination, meta};
use signalpost_gateway::domain::AttemptOutcome;
use signalpost_gateway::store::{ReplayFilter, ReplayFrom};
use signalpost_gateway::{ConversionState, Gateway, GatewayError, NewLead};

both_stores!(
    a_conversion_tiktok_would_refuse_is_kept_undeliverable_and_never_claimed,
    replaying_undeliverable_conversions_fills_page_url_from_the_pixels_site_url,
    replaying_undeliverable_meta_conversions_fills_event_source_url_not_a_tiktok_page,
    undeliverable_conversions_use_no_cap_capacity,
    an_event_id_with_nothing_of_the_lead_is_never_stored_so_it_cannot_dedup_other_leads,
    strict_delivery_refuses_the_request_and_stores_nothing,
);

const PIXEL: &str = "PIX1";
const SITE: &str = "https://shop.example/landing";

/// A lead with every signal but a page: no landing URL, no referrer.
fn pageless(transaction_id: &str) -> NewLead {
    NewLead {
        landing_url: None,
        referrer: None,
        ..lead(transaction_id)
    }
}

fn site_urls() -> BTreeMap<String, String> {
    [(PIXEL.to_owned(), SITE.to_owned())].into_iter().collect()
}

async fn claim_all(store: &TestStore) -> Vec<String> {
    let now = signalpost_gateway::time::now_ms() + 1;
    store
        .claim_due(PIXEL, now, 1000, Duration::from_secs(60))
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.event_id)
        .collect()
}

async fn a_conversion_tiktok_would_refuse_is_kept_undeliverable_and_never_claimed(db: TestDb) {
    let store = db.open().await;
    let gw = Gateway::new(store.shared(), demo_rules(PIXEL));
    let refused = gw.submit_lead(pageless("u-1")).await.unwrap();
    let c = &refused.conversions[0];
    assert_eq!(c.state, ConversionState::Undeliverable);
    assert_eq!(
        c.last_error.as_deref(),
        Some("page.url missing: set the pixel's site_url or send landing_url")
    );
    assert_eq!(c.next_attempt_at_ms, None);
    assert!(refused.refused.is_empty(), "stored ones are in conversions");
    gw.submit_lead(lead("u-2")).await.unwrap();

    assert_eq!(claim_all(&store).await, ["u-2"], "never claimed");
    let depth = store.queue_depth().await.unwrap();
    assert!(
        depth
            .iter()
            .any(|d| d.pixel == PIXEL && d.state == ConversionState::Undeliverable && d.count == 1),
        "{depth:?}"
    );

    // Durable, and read back as undeliverable.
    store.close().await;
    let store = db.open().await;
    let view = store.get_lead("u-1").await.unwrap().unwrap();
    assert_eq!(
        view.conversions[0].conversion.state,
        ConversionState::Undeliverable
    );
    // (SQLite hands an in-flight lease back on open, so u-2 may be claimed again; u-1 never.)
    assert!(!claim_all(&store).await.iter().any(|id| id == "u-1"));
}

async fn replaying_undeliverable_conversions_fills_page_url_from_the_pixels_site_url(db: TestDb) {
    let store = db.open().await;
    let gw = Gateway::new(store.shared(), demo_rules(PIXEL));
    gw.submit_lead(pageless("u-3")).await.unwrap();
    let before = store.get_lead("u-3").await.unwrap().unwrap().conversions[0]
        .conversion
        .payload
        .clone();
    assert_eq!(
        check_payload(&before, 0).unwrap_err().path,
        "page.url",
        "{before}"
    );

    // A dry run counts and changes nothing.
    let filter = ReplayFilter::all(ReplayFrom::Undeliverable);
    let dry = gw.replay(&filter, true, 10, |_| {}).await.unwrap();
    assert_eq!((dry.matched, dry.requeued), (1, 0));
    let unchanged = store.get_lead("u-3").await.unwrap().unwrap();
    assert_eq!(unchanged.conversions[0].conversion.payload, before);

    // The pixel gains a site_url (the rules are rebound to it); the replay uses it.
    gw.replace_rules(demo_rules(PIXEL).with_site_urls(site_urls()));
    let done = gw.replay(&filter, false, 10, |_| {}).await.unwrap();
    assert_eq!((done.matched, done.requeued), (1, 1));
    let view = store.get_lead("u-3").await.unwrap().unwrap();
    let c = &view.conversions[0];
    assert_eq!(c.conversion.state, ConversionState::Pending);
    assert_eq!(c.conversion.event_id, "u-3", "the dedup key is kept");
    let payload: serde_json::Value = serde_json::from_str(&c.conversion.payload).unwrap();
    assert_eq!(payload["page"]["url"], SITE);
    check_payload(&c.conversion.payload, 0).unwrap();
    let replayed = c.attempt_log.last().unwrap();
    assert_eq!(replayed.outcome, AttemptOutcome::Replayed);
    assert!(
        replayed
            .message
            .contains("was undeliverable: page.url missing"),
        "{}",
        replayed.message
    );
    assert_eq!(claim_all(&store).await, ["u-3"]);
}

async fn replaying_undeliverable_meta_conversions_fills_event_source_url_not_a_tiktok_page(
    db: TestDb,
) {
    let store = db.open().await;
    let to_meta: BTreeMap<String, Destination> = [(
        PIXEL.to_owned(),
        Destination::Meta(meta::PixelSettings::default()),
    )]
    .into_iter()
    .collect();
    let gw = Gateway::new(
        store.shared(),
        demo_rules(PIXEL).with_destinations(to_meta.clone()),
    );
    let refused = gw.submit_lead(pageless("m-1")).await.unwrap();
    let c = &refused.conversions[0];
    assert_eq!(c.state, ConversionState::Undeliverable);
    let reason = c.last_error.as_deref().unwrap_or_default();
    assert!(reason.contains("event_source_url"), "{reason}");

    gw.replace_rules(
        demo_rules(PIXEL)
            .with_site_urls(site_urls())
            .with_destinations(to_meta),
    );
    let filter = ReplayFilter::all(ReplayFrom::Undeliverable);
    let done = gw.replay(&filter, false, 10, |_| {}).await.unwrap();
    assert_eq!((done.matched, done.requeued), (1, 1));
    let view = store.get_lead("m-1").await.unwrap().unwrap();
    let c = &view.conversions[0].conversion;
    assert_eq!(c.state, ConversionState::Pending);
    let payload: serde_json::Value = serde_json::from_str(&c.payload).unwrap();
    assert_eq!(payload["event_source_url"], SITE, "{payload}");
    assert!(payload.get("page").is_none(), "no TikTok page: {payload}");
    Destination::Meta(meta::PixelSettings::default())
        .check_event(&c.payload, signalpost_gateway::time::now_ms() / 1000)
        .unwrap();
    assert_eq!(claim_all(&store).await, ["m-1"]);
}

async fn undeliverable_conversions_use_no_cap_capacity(db: TestDb) {
    let store = db.open().await;
    let capped = rules(&format!(
        r#"
        [[rules]]
        name = "registration"
        trigger = "form_submit"
        pixel = "{PIXEL}"
        event = "CompleteRegistration"
        [rules.cap]
        total = 1
        "#
    ));
    let gw = Gateway::new(store.shared(), capped);
    let first = gw.submit_lead(pageless("c-1")).await.unwrap();
    assert_eq!(first.conversions[0].state, ConversionState::Undeliverable);
    let second = gw.submit_lead(lead("c-2")).await.unwrap();
    assert_eq!(second.conversions[0].state, ConversionState::Pending);
    let third = gw.submit_lead(lead("c-3")).await.unwrap();
    assert_eq!(third.conversions[0].state, ConversionState::Suppressed);
    assert_eq!(store.cap_usage("registration", i64::MIN).await.unwrap(), 1);
}

async fn an_event_id_with_nothing_of_the_lead_is_never_stored_so_it_cannot_dedup_other_leads(
    db: TestDb,
) {
    let store = db.open().await;
    let order_rules = rules(&format!(
        r#"
        [[rules]]
        name = "sale"
        trigger = "lead_sold"
        pixel = "{PIXEL}"
        event = "Purchase"

        [[rules]]
        name = "order"
        trigger = "lead_sold"
        pixel = "{PIXEL}"
        event = "PlaceAnOrder"
        event_id = "order-{{fields.order_id}}"
        "#
    ));
    let gw = Gateway::new(store.shared(), order_rules);
    for tx in ["o-1", "o-2"] {
        gw.submit_lead(lead(tx)).await.unwrap();
        let sale = gw.submit_event(tx, sold(10.0)).await.unwrap();
        let queued: Vec<_> = sale
            .conversions
            .iter()
            .map(|c| c.event_name.as_str())
            .collect();
        assert_eq!(queued, ["Purchase"], "{tx}");
        assert!(sale.duplicates.is_empty(), "{tx}: not a duplicate of o-1");
        assert_eq!(sale.refused.len(), 1);
        let r = &sale.refused[0];
        assert_eq!(
            (r.field.as_str(), r.rule.as_str(), r.stored),
            ("event_id", "order", false)
        );
        assert!(
            r.problem.contains("order-{fields.order_id}"),
            "{}",
            r.problem
        );
    }
    let view = store.get_lead("o-1").await.unwrap().unwrap();
    assert!(
        view.conversions
            .iter()
            .all(|c| c.conversion.event_name != "PlaceAnOrder")
    );

    // A lead with an order id gets its conversion.
    let mut with_order = lead("o-3");
    with_order.fields = serde_json::json!({"order_id": "A-77"});
    gw.submit_lead(with_order).await.unwrap();
    let sale = gw.submit_event("o-3", sold(10.0)).await.unwrap();
    assert!(sale.refused.is_empty());
    assert!(sale.conversions.iter().any(|c| c.event_id == "order-A-77"));
}

async fn strict_delivery_refuses_the_request_and_stores_nothing(db: TestDb) {
    let store = db.open().await;
    let gw = Gateway::new(store.shared(), demo_rules(PIXEL)).with_strict_delivery(true);
    match gw.submit_lead(pageless("s-1")).await {
        Err(GatewayError::Undeliverable(refused)) => {
            assert_eq!(refused.len(), 1);
            assert_eq!(refused[0].field, "page.url");
            assert_eq!(refused[0].rule, "registration");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(store.find_lead("s-1").await.unwrap().is_none());

    let answers = gw
        .submit_batch(vec![
            signalpost_gateway::BatchItem::Lead(lead("s-2")),
            signalpost_gateway::BatchItem::Lead(pageless("s-3")),
        ])
        .await
        .unwrap();
    assert!(answers[0].is_ok());
    assert!(matches!(answers[1], Err(GatewayError::Undeliverable(_))));
    assert!(store.find_lead("s-2").await.unwrap().is_some());
    assert!(store.find_lead("s-3").await.unwrap().is_none());

    // With the pixel's site_url the same lead is fine, strict or not.
    gw.replace_rules(demo_rules(PIXEL).with_site_urls(site_urls()));
    let ok = gw.submit_lead(pageless("s-1")).await.unwrap();
    assert_eq!(ok.conversions[0].state, ConversionState::Pending);
}
