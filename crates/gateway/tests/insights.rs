//! The console's store reads on both stores (a real SQLite file; a real PostgreSQL schema when
//! `SIGNALPOST_TEST_DATABASE_URL` is set): conversions per minute by state, match quality per pixel,
//! lead search, dead (or undeliverable) letters with filters and reasons, and the replay of chosen
//! ids, which fills `page.url` of undeliverable ones like the filtered replay.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::backend::{TestDb, TestStore};
use common::settle::kill_all;
use common::{demo_rules, hex64, lead};
use signalpost_gateway::domain::AttemptOutcome;
use signalpost_gateway::store::{DeadLetterFilter, LeadQuery, ReplayFrom};
use signalpost_gateway::time::now_ms;
use signalpost_gateway::{ConversionState, Gateway, NewLead};

both_stores!(
    conversions_per_minute_counts_each_state_in_its_queue_minute,
    match_quality_counts_the_signals_of_each_pixels_conversions,
    lead_search_finds_exact_ttclid_and_email_hash_newest_first,
    dead_letters_filter_by_pixel_reason_time_and_page,
    replay_ids_requeues_only_the_chosen_dead_conversions,
    dead_letters_and_reasons_list_the_chosen_state,
    replay_ids_of_undeliverable_conversions_fill_page_url_from_the_pixels_site_url,
);

async fn gateway(db: &TestDb) -> (TestStore, Gateway) {
    let store = db.open().await;
    let gw = Gateway::new(store.shared(), demo_rules("PIX1"));
    (store, gw)
}

async fn conversions_per_minute_counts_each_state_in_its_queue_minute(db: TestDb) {
    let (store, gw) = gateway(&db).await;
    let before = now_ms();
    for i in 0..2 {
        gw.submit_lead(lead(&format!("m-{i}"))).await.unwrap();
    }
    kill_all(&store, "PIX1", |_| "too old".into()).await;
    gw.submit_lead(lead("m-live")).await.unwrap();

    let rows = store.conversions_per_minute(before - 60_000).await.unwrap();
    let total = |state: ConversionState| -> u64 {
        rows.iter()
            .filter(|r| r.state == state)
            .map(|r| r.count)
            .sum()
    };
    assert_eq!(total(ConversionState::Dead), 2, "{rows:?}");
    assert_eq!(total(ConversionState::Pending), 1, "{rows:?}");
    assert!(
        rows.iter()
            .all(|r| r.minute_ms % 60_000 == 0 && r.minute_ms >= before - 60_000 - 60_000),
        "{rows:?}"
    );
    let later = store
        .conversions_per_minute(now_ms() + 60_000)
        .await
        .unwrap();
    assert!(later.is_empty(), "{later:?}");
}

async fn match_quality_counts_the_signals_of_each_pixels_conversions(db: TestDb) {
    let (store, gw) = gateway(&db).await;
    let since = now_ms() - 60_000;
    gw.submit_lead(lead("q-full")).await.unwrap();
    gw.submit_lead(NewLead {
        transaction_id: Some("q-bare".into()),
        email: Some(hex64('c')),
        ip: Some("203.0.113.9".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    // Meta's signals: an fbclid in the landing URL (fbc is built from it) and an _fbp cookie; an
    // _fbc cookie alone.
    gw.submit_lead(NewLead {
        transaction_id: Some("q-meta".into()),
        email: Some(hex64('d')),
        landing_url: Some("https://lp.example/?fbclid=IwAR1xYz&gbraid=0AAAAA-gb".into()),
        fbp: Some("fb.1.1700000000000.1234567890".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    gw.submit_lead(NewLead {
        transaction_id: Some("q-fbc".into()),
        email: Some(hex64('e')),
        fbc: Some("fb.1.1700000000000.IwAR9".into()),
        ..Default::default()
    })
    .await
    .unwrap();

    let quality = store.match_quality(since).await.unwrap();
    assert_eq!(quality.len(), 1, "{quality:?}");
    let q = &quality[0];
    assert_eq!(q.pixel, "PIX1");
    assert_eq!(q.conversions, 4);
    assert_eq!((q.fbc, q.fbp), (2, 1), "{q:?}");
    assert_eq!(q.gclid, 1, "a gbraid counts as Google's click id: {q:?}");
    assert_eq!(q.ttclid, 1, "only the full lead's landing URL had a ttclid");
    assert_eq!(q.ttp, 0);
    assert_eq!(q.email, 4);
    assert_eq!(q.phone, 1);
    assert_eq!(
        q.ip_and_user_agent, 1,
        "the bare lead has an ip but no user agent"
    );
    assert!(
        store
            .match_quality(now_ms() + 60_000)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn lead_search_finds_exact_ttclid_and_email_hash_newest_first(db: TestDb) {
    let (store, gw) = gateway(&db).await;
    for (id, email, age) in [("s-old", 'd', 300), ("s-new", 'd', 10), ("s-other", 'e', 5)] {
        gw.submit_lead(NewLead {
            email: Some(hex64(email)),
            occurred_at: Some(common::now_secs() - age),
            ..lead(id)
        })
        .await
        .unwrap();
    }
    let by_email = store
        .search_leads(&LeadQuery::EmailHash(hex64('d')), 10)
        .await
        .unwrap();
    let ids: Vec<_> = by_email.iter().map(|l| l.transaction_id.as_str()).collect();
    assert_eq!(ids, ["s-new", "s-old"]);
    let limited = store
        .search_leads(&LeadQuery::EmailHash(hex64('d')), 1)
        .await
        .unwrap();
    assert_eq!(limited.len(), 1);

    let by_ttclid = store
        .search_leads(&LeadQuery::Ttclid("clk-s-other".into()), 10)
        .await
        .unwrap();
    assert_eq!(by_ttclid.len(), 1);
    assert_eq!(by_ttclid[0].transaction_id, "s-other");
    for miss in [
        LeadQuery::Ttclid("clk-s".into()),
        LeadQuery::EmailHash(hex64('f')),
        LeadQuery::Ttclid("nul\0byte".into()),
    ] {
        assert!(
            store.search_leads(&miss, 10).await.unwrap().is_empty(),
            "{miss:?}"
        );
    }
}

async fn dead_letters_filter_by_pixel_reason_time_and_page(db: TestDb) {
    let (store, gw) = gateway(&db).await;
    for i in 0..5 {
        gw.submit_lead(lead(&format!("d-{i}"))).await.unwrap();
    }
    let ids = kill_all(&store, "PIX1", |event_id| {
        if event_id == "d-1" || event_id == "d-3" {
            "rejected by TikTok: 40002 Invalid value for data.0.user.email".into()
        } else {
            "too old: event_time before the 7-day window".into()
        }
    })
    .await;
    assert_eq!(ids.len(), 5);
    gw.submit_lead(lead("d-alive")).await.unwrap();

    let list = |filter: DeadLetterFilter| {
        let store = store.clone();
        async move {
            store
                .dead_letters(&filter)
                .await
                .unwrap()
                .into_iter()
                .map(|c| c.event_id)
                .collect::<Vec<_>>()
        }
    };
    let all = DeadLetterFilter {
        limit: 100,
        ..Default::default()
    };
    assert_eq!(list(all.clone()).await, ["d-4", "d-3", "d-2", "d-1", "d-0"]);
    let dead = store.dead_letters(&all).await.unwrap();
    assert!(dead.iter().all(|c| c.state == ConversionState::Dead));
    assert!(dead[0].payload.contains("CompleteRegistration"));

    let invalid = DeadLetterFilter {
        reason: Some("40002".into()),
        ..all.clone()
    };
    assert_eq!(list(invalid).await, ["d-3", "d-1"]);
    let case_blind = DeadLetterFilter {
        reason: Some("TOO OLD".into()),
        ..all.clone()
    };
    assert_eq!(list(case_blind).await.len(), 3);
    let wildcard = DeadLetterFilter {
        reason: Some("%".into()),
        ..all.clone()
    };
    assert!(list(wildcard).await.is_empty(), "% is a literal");
    let other_pixel = DeadLetterFilter {
        pixel: Some("PIX2".into()),
        ..all.clone()
    };
    assert!(list(other_pixel).await.is_empty());
    let same_pixel = DeadLetterFilter {
        pixel: Some("PIX1".into()),
        ..all.clone()
    };
    assert_eq!(list(same_pixel).await.len(), 5);
    let future = DeadLetterFilter {
        since_ms: Some(now_ms() + 60_000),
        ..all.clone()
    };
    assert!(list(future).await.is_empty());
    let past = DeadLetterFilter {
        until_ms: Some(now_ms() - 3_600_000),
        ..all.clone()
    };
    assert!(list(past).await.is_empty());
    let page = DeadLetterFilter {
        limit: 2,
        ..all.clone()
    };
    let first = store.dead_letters(&page).await.unwrap();
    assert_eq!(first.len(), 2);
    let second = DeadLetterFilter {
        before_id: Some(first[1].id),
        ..page.clone()
    };
    assert_eq!(list(second).await, ["d-2", "d-1"]);

    let reasons = store.dead_reasons(ReplayFrom::Dead, 10).await.unwrap();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert_eq!(reasons[0].count, 3);
    assert!(reasons[0].reason.starts_with("too old"));
    assert_eq!(reasons[1].count, 2);
    assert_eq!(
        store.dead_reasons(ReplayFrom::Dead, 1).await.unwrap().len(),
        1
    );
}

async fn replay_ids_requeues_only_the_chosen_dead_conversions(db: TestDb) {
    let (store, gw) = gateway(&db).await;
    for i in 0..3 {
        gw.submit_lead(lead(&format!("p-{i}"))).await.unwrap();
    }
    let ids = kill_all(&store, "PIX1", |_| "rejected by TikTok: 40002 bad".into()).await;
    gw.submit_lead(lead("p-pending")).await.unwrap();
    let pending_id = store
        .get_lead("p-pending")
        .await
        .unwrap()
        .unwrap()
        .conversions[0]
        .conversion
        .id;

    let chosen = [ids[0], ids[2], pending_id, 999_999];
    let outcome = store
        .replay_ids(ReplayFrom::Dead, &chosen, &BTreeMap::new())
        .await
        .unwrap();
    assert_eq!(outcome.matched, 2);
    assert_eq!(outcome.requeued, 2);
    assert_eq!(outcome.last_id, Some(ids[2]));

    let state = |id: &str| {
        let store = store.clone();
        let id = id.to_owned();
        async move { store.get_lead(&id).await.unwrap().unwrap().conversions[0].clone() }
    };
    let replayed = state("p-0").await;
    assert_eq!(replayed.conversion.state, ConversionState::Pending);
    assert_eq!(replayed.conversion.event_id, "p-0");
    assert_eq!(replayed.conversion.last_error, None);
    let log: Vec<_> = replayed.attempt_log.iter().map(|a| a.outcome).collect();
    assert_eq!(log, [AttemptOutcome::Invalid, AttemptOutcome::Replayed]);
    assert_eq!(state("p-1").await.conversion.state, ConversionState::Dead);
    assert_eq!(
        state("p-2").await.conversion.state,
        ConversionState::Pending
    );
    let untouched = state("p-pending").await;
    assert_eq!(untouched.conversion.state, ConversionState::Pending);
    assert!(untouched.attempt_log.is_empty(), "not dead: not replayed");

    let again = store
        .replay_ids(ReplayFrom::Dead, &chosen, &BTreeMap::new())
        .await
        .unwrap();
    assert_eq!(again.requeued, 0);
    assert_eq!(again.last_id, None);
    assert_eq!(
        store
            .replay_ids(ReplayFrom::Dead, &[], &BTreeMap::new())
            .await
            .unwrap()
            .matched,
        0
    );
}

/// A lead with every signal but a page (no landing URL, no referrer): its conversion is
/// undeliverable while the pixel has no `site_url`.
fn pageless(transaction_id: &str) -> NewLead {
    NewLead {
        landing_url: None,
        referrer: None,
        ..lead(transaction_id)
    }
}

async fn dead_letters_and_reasons_list_the_chosen_state(db: TestDb) {
    let (store, gw) = gateway(&db).await;
    gw.submit_lead(lead("s-dead")).await.unwrap();
    kill_all(&store, "PIX1", |_| "rejected by TikTok: 40002 bad".into()).await;
    for i in 0..2 {
        gw.submit_lead(pageless(&format!("s-undeliverable-{i}")))
            .await
            .unwrap();
    }
    gw.submit_lead(lead("s-pending")).await.unwrap();

    let list = |filter: DeadLetterFilter| {
        let store = store.clone();
        async move {
            store
                .dead_letters(&filter)
                .await
                .unwrap()
                .into_iter()
                .map(|c| (c.event_id, c.state))
                .collect::<Vec<_>>()
        }
    };
    let dead = DeadLetterFilter {
        limit: 100,
        ..Default::default()
    };
    assert_eq!(dead.from, ReplayFrom::Dead, "dead by default");
    assert_eq!(
        list(dead.clone()).await,
        [("s-dead".to_owned(), ConversionState::Dead)]
    );
    let undeliverable = DeadLetterFilter {
        from: ReplayFrom::Undeliverable,
        ..dead.clone()
    };
    assert_eq!(
        list(undeliverable.clone()).await,
        [
            (
                "s-undeliverable-1".to_owned(),
                ConversionState::Undeliverable
            ),
            (
                "s-undeliverable-0".to_owned(),
                ConversionState::Undeliverable
            ),
        ]
    );
    let by_reason = DeadLetterFilter {
        reason: Some("PAGE.URL missing".into()),
        pixel: Some("PIX1".into()),
        ..undeliverable.clone()
    };
    assert_eq!(list(by_reason).await.len(), 2);
    let paged = DeadLetterFilter {
        limit: 1,
        ..undeliverable.clone()
    };
    let first = store.dead_letters(&paged).await.unwrap();
    let second = DeadLetterFilter {
        before_id: Some(first[0].id),
        ..paged
    };
    assert_eq!(
        list(second).await,
        [(
            "s-undeliverable-0".to_owned(),
            ConversionState::Undeliverable
        )]
    );
    let not_dead = DeadLetterFilter {
        reason: Some("page.url".into()),
        ..dead
    };
    assert!(list(not_dead).await.is_empty());

    let reasons = store
        .dead_reasons(ReplayFrom::Undeliverable, 10)
        .await
        .unwrap();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert_eq!(reasons[0].count, 2);
    assert!(reasons[0].reason.starts_with("page.url missing"));
    let dead_reasons = store.dead_reasons(ReplayFrom::Dead, 10).await.unwrap();
    assert_eq!(dead_reasons.len(), 1, "{dead_reasons:?}");
    assert!(dead_reasons[0].reason.contains("40002"));
}

async fn replay_ids_of_undeliverable_conversions_fill_page_url_from_the_pixels_site_url(
    db: TestDb,
) {
    const SITE: &str = "https://shop.example/landing";
    let (store, gw) = gateway(&db).await;
    for i in 0..2 {
        gw.submit_lead(pageless(&format!("r-{i}"))).await.unwrap();
    }
    let conversion = |id: &str| {
        let store = store.clone();
        let id = id.to_owned();
        async move { store.get_lead(&id).await.unwrap().unwrap().conversions[0].clone() }
    };
    let chosen = conversion("r-0").await.conversion.id;
    assert_eq!(
        conversion("r-0").await.conversion.state,
        ConversionState::Undeliverable
    );

    // Chosen as dead: not dead, so left alone.
    let wrong_state = gw.replay_ids(ReplayFrom::Dead, &[chosen]).await.unwrap();
    assert_eq!(wrong_state.requeued, 0);

    // The pixel gains a site_url; the gateway passes it down like the filtered replay.
    let sites: BTreeMap<String, String> =
        [("PIX1".to_owned(), SITE.to_owned())].into_iter().collect();
    gw.replace_rules(demo_rules("PIX1").with_site_urls(sites));
    let outcome = gw
        .replay_ids(ReplayFrom::Undeliverable, &[chosen])
        .await
        .unwrap();
    assert_eq!((outcome.matched, outcome.requeued), (1, 1));

    let replayed = conversion("r-0").await;
    assert_eq!(replayed.conversion.state, ConversionState::Pending);
    assert_eq!(replayed.conversion.event_id, "r-0");
    let payload: serde_json::Value = serde_json::from_str(&replayed.conversion.payload).unwrap();
    assert_eq!(payload["page"]["url"], SITE);
    let log = replayed.attempt_log.last().unwrap();
    assert_eq!(log.outcome, AttemptOutcome::Replayed);
    assert!(log.message.contains("was undeliverable"), "{}", log.message);

    let untouched = conversion("r-1").await;
    assert_eq!(
        untouched.conversion.state,
        ConversionState::Undeliverable,
        "not chosen"
    );
    let payload: serde_json::Value = serde_json::from_str(&untouched.conversion.payload).unwrap();
    assert!(payload["page"]["url"].is_null(), "{payload}");
}
