//! Rules end to end through the gateway and a real store, once per store (a SQLite file in a tempdir,
//! and a PostgreSQL schema of its own when `SIGNALPOST_TEST_DATABASE_URL` is set), with the delivery
//! engine and the strict sandbox over loopback HTTP where something is sent: caps under concurrency,
//! in one group commit, across restarts and across nodes; cap windows rolling over on an injected
//! clock; schedules in the operator's zone; one event fanning out to two pixels; TikTok-typed
//! transforms the sandbox accepts.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::backend::{TestDb, TestStore};
use common::harness::wait_until;
use common::{lead, now_secs, sold};
use serde_json::json;
use signalpost_gateway::delivery::{
    AccessToken, DeliveryEngine, DeliveryPolicy, EngineHandle, PixelConfig, PixelRegistry,
    RetryPolicy,
};
use signalpost_gateway::rules::{Outcome, RuleConfig, RuleEnv, RuleSet, parse_timezone};
use signalpost_gateway::time::FixedClock;
use signalpost_gateway::{BatchItem, ConversionState, Gateway, NewLead, Store, Trigger};
use signalpost_sandbox::{RunningSandbox, SandboxConfig};
use tokio_util::sync::CancellationToken;

/// Parses `[[rules]]` tables in the operator zone `tz`.
fn rules_in(toml_src: &str, tz: &str) -> RuleSet {
    #[derive(serde::Deserialize)]
    struct File {
        rules: Vec<RuleConfig>,
    }
    let file: File = toml::from_str(toml_src).unwrap();
    let env = RuleEnv {
        timezone: parse_timezone(tz).unwrap(),
    };
    RuleSet::load(file.rules, &env).unwrap()
}

fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_millis()
}

/// A lead for the clock-driven tests: `occurred_at` set so no wall-clock time leaks in.
fn lead_at(tx: &str, at_secs: i64) -> NewLead {
    NewLead {
        occurred_at: Some(at_secs),
        ..lead(tx)
    }
}

/// Counts the conversions of `txs` by state, and the suppression reasons seen.
async fn states(store: &dyn Store, txs: &[String]) -> (usize, usize, Vec<String>) {
    let (mut live, mut suppressed, mut reasons) = (0, 0, Vec::new());
    for tx in txs {
        for c in store.get_lead(tx).await.unwrap().unwrap().conversions {
            if c.conversion.state == ConversionState::Suppressed {
                suppressed += 1;
                reasons.extend(c.conversion.last_error.clone());
            } else {
                live += 1;
            }
        }
    }
    (live, suppressed, reasons)
}

/// A store, a sandbox with `pixels`, and a running engine delivering to it.
struct Delivering {
    store: TestStore,
    gateway: Arc<Gateway>,
    sandbox: RunningSandbox,
    engine: EngineHandle,
    stop: CancellationToken,
}

impl Delivering {
    async fn start(db: &TestDb, rules: RuleSet, pixels: &[&str]) -> Delivering {
        let store = db.open().await;
        let tokens: Vec<(String, String)> = pixels
            .iter()
            .map(|p| ((*p).to_owned(), format!("token-of-{p}")))
            .collect();
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let sandbox = signalpost_sandbox::spawn(
            SandboxConfig {
                pixels: tokens.clone(),
                ..SandboxConfig::default()
            },
            addr,
        )
        .await
        .unwrap();
        let registry = PixelRegistry::new(tokens.iter().map(|(code, token)| PixelConfig {
            code: code.clone(),
            access_token: AccessToken::new(token.clone()),
            base_url: sandbox.base_url(),
            // The sandbox on loopback: a destination the operator named.
            addresses: signalpost_gateway::delivery::AddressPolicy::Any,
            test_event_code: None,
            destination: Default::default(),
        }));
        let policy = DeliveryPolicy {
            linger: Duration::from_millis(5),
            poll_interval: Duration::from_millis(50),
            retry: RetryPolicy {
                base: Duration::from_millis(20),
                cap: Duration::from_millis(200),
                max_age: Duration::from_secs(3600),
            },
            requests_per_second: 0.0,
            ..DeliveryPolicy::default()
        };
        let stop = CancellationToken::new();
        let engine = DeliveryEngine::start(store.shared(), registry, policy, stop.clone());
        let gateway =
            Arc::new(Gateway::new(store.shared(), rules).with_work_signal(engine.work_signal()));
        Delivering {
            store,
            gateway,
            sandbox,
            engine,
            stop,
        }
    }

    async fn shutdown(self) {
        self.stop.cancel();
        self.engine.join().await;
        self.store.close().await;
    }
}

async fn a_daily_cap_sends_exactly_n_of_50_concurrent_leads(db: TestDb) {
    const CAP: usize = 7;
    let rules = rules_in(
        &format!(
            r#"
            [[rules]]
            name = "capped_registration"
            trigger = "form_submit"
            pixel = "CAPPIXEL"
            event = "CompleteRegistration"
            [rules.cap]
            daily = {CAP}
            "#
        ),
        "America/New_York",
    );
    let d = Delivering::start(&db, rules, &["CAPPIXEL"]).await;
    let txs: Vec<String> = (0..50).map(|i| format!("cap-{i}")).collect();
    let tasks: Vec<_> = txs
        .iter()
        .map(|tx| {
            let gateway = d.gateway.clone();
            let new = lead(tx);
            tokio::spawn(async move { gateway.submit_lead(new).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let (live, suppressed, reasons) = states(&*d.store, &txs).await;
    assert_eq!((live, suppressed), (CAP, 50 - CAP));
    assert!(
        reasons
            .iter()
            .all(|r| r == &format!("cap: daily cap of {CAP} reached")),
        "{reasons:?}"
    );
    // Exactly CAP reach the sandbox: wait for them, then for the queue to be empty.
    wait_until(|| async { (d.sandbox.events(Some("CAPPIXEL")).len() >= CAP).then_some(()) }).await;
    wait_until(|| async {
        let depth = d.store.queue_depth().await.unwrap();
        depth
            .iter()
            .filter(|q| !q.state.is_final())
            .all(|q| q.count == 0)
            .then_some(())
    })
    .await;
    let sent = d.sandbox.events(Some("CAPPIXEL"));
    assert_eq!(sent.len(), CAP);
    let mut ids: Vec<_> = sent.iter().map(|e| e.event_id.clone().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), CAP, "each sent conversion is a different lead");
    // Every lead and its form_submit event were kept, capped or not.
    for tx in &txs {
        let view = d.store.get_lead(tx).await.unwrap().unwrap();
        assert_eq!(view.events.len(), 1);
        assert_eq!(view.events[0].trigger, Trigger::FormSubmit);
    }
    d.shutdown().await;
}

async fn a_cap_holds_across_a_restart_because_it_is_counted_in_the_store(db: TestDb) {
    let rules = || {
        rules_in(
            r#"
            [[rules]]
            name = "total_cap"
            trigger = "form_submit"
            pixel = "P"
            event = "CompleteRegistration"
            cap = { total = 3 }
            "#,
            "UTC",
        )
    };
    let txs: Vec<String> = (0..5).map(|i| format!("restart-{i}")).collect();
    {
        let store = db.open().await;
        let gateway = Gateway::new(store.shared(), rules());
        for tx in &txs[..2] {
            gateway.submit_lead(lead(tx)).await.unwrap();
        }
        store.close().await;
    }
    let store = db.open().await;
    let gateway = Gateway::new(store.shared(), rules());
    for tx in &txs[2..] {
        gateway.submit_lead(lead(tx)).await.unwrap();
    }
    let (live, suppressed, reasons) = states(&*store, &txs).await;
    assert_eq!((live, suppressed), (3, 2));
    assert_eq!(reasons, ["cap: total cap of 3 reached"; 2]);
    // The preview counts from the store too.
    let stored = store.find_lead("restart-0").await.unwrap().unwrap();
    let event = store.get_lead("restart-0").await.unwrap().unwrap().events[0].clone();
    let explained = gateway.preview(&stored, &event).await.unwrap();
    assert_eq!(explained[0].outcome, Outcome::Suppressed);
    assert_eq!(explained[0].caps[0].used, Some(3));
    assert_eq!(
        explained[0].reasons[0].message(),
        "total cap reached: 3 of 3 already sent in this window"
    );
    store.close().await;
}

/// Posts sale number `n` to the lead `roll`; its conversion's state and reason.
async fn sell_once(gateway: &Gateway, n: usize) -> (ConversionState, String) {
    let event = signalpost_gateway::NewLifecycleEvent {
        idempotency_key: Some(format!("sale-{n}")),
        ..sold(10.0)
    };
    let r = gateway.submit_event("roll", event).await.unwrap();
    let c = &r.conversions[0];
    (c.state, c.last_error.clone().unwrap_or_default())
}

async fn cap_windows_roll_over_on_the_operators_calendar(db: TestDb) {
    let store = db.open().await;
    let clock = Arc::new(FixedClock::new(ms("2024-03-05T23:30:00-05:00")));
    let gateway = Gateway::new(
        store.shared(),
        rules_in(
            r#"
            [[rules]]
            name = "hourly_and_daily"
            trigger = "lead_sold"
            pixel = "P"
            event = "Purchase"
            value = "revenue"
            event_id = "{transaction_id}:{idempotency_key}"
            [rules.cap]
            hourly = 2
            daily = 3
            "#,
            "America/New_York",
        ),
    )
    .with_clock(clock.clone());
    let t0 = now_secs() - 3600;
    gateway.submit_lead(lead_at("roll", t0)).await.unwrap();
    let mut n = 0;
    let mut sell = || {
        n += 1;
        sell_once(&gateway, n)
    };
    let live = (ConversionState::Pending, String::new());
    let hourly = (
        ConversionState::Suppressed,
        "cap: hourly cap of 2 reached".to_owned(),
    );
    let daily = (
        ConversionState::Suppressed,
        "cap: daily cap of 3 reached".to_owned(),
    );
    // 23:30 New York: two pass, the third hits the hourly cap.
    assert_eq!(sell().await, live);
    assert_eq!(sell().await, live);
    assert_eq!(sell().await, hourly);
    // 23:59:59.999 is still the same hour.
    clock.set_ms(ms("2024-03-05T23:59:59.999-05:00"));
    assert_eq!(sell().await, hourly);
    // Midnight New York (05:00 UTC): a new hour and a new day.
    clock.set_ms(ms("2024-03-06T00:00:00-05:00"));
    assert_eq!(sell().await, live);
    assert_eq!(sell().await, live);
    assert_eq!(sell().await, hourly);
    // 01:10: a new hour, but the day already sent 2 + 1 here.
    clock.set_ms(ms("2024-03-06T01:10:00-05:00"));
    assert_eq!(sell().await, live);
    assert_eq!(sell().await, daily);
    // 23:00 UTC on the 6th is still the 6th in New York: the daily cap holds…
    clock.set_ms(ms("2024-03-06T23:00:00Z"));
    assert_eq!(sell().await, daily);
    // …and 05:00 UTC on the 7th is the 7th's midnight there.
    clock.set_ms(ms("2024-03-07T05:00:00Z"));
    assert_eq!(sell().await, live);
    let view = store.get_lead("roll").await.unwrap().unwrap();
    let sent = view
        .conversions
        .iter()
        .filter(|c| c.conversion.state != ConversionState::Suppressed)
        .count();
    assert_eq!(sent, 2 + 2 + 1 + 1);
    store.close().await;
}

async fn outside_its_schedule_a_rule_stores_a_suppressed_conversion_judged_on_occurred_at(
    db: TestDb,
) {
    let store = db.open().await;
    let gateway = Gateway::new(
        store.shared(),
        rules_in(
            r#"
            [[rules]]
            name = "office_hours"
            trigger = "lead_sold"
            pixel = "P"
            event = "Purchase"
            event_id = "{transaction_id}:{idempotency_key}"
            [rules.schedule]
            days = ["mon-fri"]
            hours = "09:00-17:00"
            "#,
            "America/New_York",
        ),
    );
    gateway
        .submit_lead(lead_at("sched", ms("2024-06-03T12:00:00Z") / 1000))
        .await
        .unwrap();
    let cases = [
        // Mon 13:30 UTC = 09:30 EDT: inside.
        ("2024-06-03T13:30:00Z", ConversionState::Pending),
        // Mon 21:30 UTC = 17:30 EDT: after hours in New York.
        ("2024-06-03T21:30:00Z", ConversionState::Suppressed),
        // Mon 12:00 UTC = 08:00 EDT: inside 09-17 in UTC, outside in New York.
        ("2024-06-03T12:00:00Z", ConversionState::Suppressed),
        // Fri 20:30 UTC = 16:30 EDT: inside in New York, outside in UTC.
        ("2024-06-07T20:30:00Z", ConversionState::Pending),
        // Sat 02:00 UTC = Fri 22:00 EDT: Friday, but after hours.
        ("2024-06-08T02:00:00Z", ConversionState::Suppressed),
        // Winter (EST, -5): Mon 14:30 UTC = 09:30 EST inside; 13:30 UTC = 08:30 EST outside.
        ("2024-01-15T14:30:00Z", ConversionState::Pending),
        ("2024-01-15T13:30:00Z", ConversionState::Suppressed),
    ];
    for (i, (when, want)) in cases.iter().enumerate() {
        let event = signalpost_gateway::NewLifecycleEvent {
            occurred_at: Some(ms(when) / 1000),
            idempotency_key: Some(format!("k{i}")),
            ..signalpost_gateway::NewLifecycleEvent::new(Trigger::LeadSold)
        };
        let r = gateway.submit_event("sched", event).await.unwrap();
        let c = &r.conversions[0];
        assert_eq!(c.state, *want, "{when}");
        if *want == ConversionState::Suppressed {
            let reason = c.last_error.as_deref().unwrap();
            assert!(reason.starts_with("schedule: event at "), "{reason}");
            assert!(
                reason.ends_with("America/New_York is outside mon,tue,wed,thu,fri 09:00-17:00"),
                "{reason}"
            );
            assert_eq!(c.next_attempt_at_ms, None);
        }
    }
    let view = store.get_lead("sched").await.unwrap().unwrap();
    assert_eq!(view.events.len(), 1 + cases.len(), "every event is kept");
    store.close().await;
}

async fn one_sale_fires_one_event_per_matching_rule_on_two_pixels_each_with_its_own_dedup_key(
    db: TestDb,
) {
    let rules = rules_in(
        r#"
        [[rules]]
        name = "sale_on_a"
        trigger = "lead_sold"
        pixel = "PIXELA"
        event = "Purchase"
        value = "revenue"

        [[rules]]
        name = "sale_on_b"
        trigger = "lead_sold"
        pixel = "PIXELB"
        event = "SubmitApplication"
        event_id = "{transaction_id}:{buyer}"
        value = "payout"

        [[rules]]
        name = "sale_on_b_other_buyer"
        trigger = "lead_sold"
        pixel = "PIXELB"
        event = "Lead"
        when = { buyer = "globex" }
        "#,
        "UTC",
    );
    let d = Delivering::start(&db, rules, &["PIXELA", "PIXELB"]).await;
    d.gateway.submit_lead(lead("fan")).await.unwrap();
    let sale = signalpost_gateway::NewLifecycleEvent {
        buyer: Some("acme".into()),
        payout: Some(0.0),
        ..sold(25.0)
    };
    let result = d.gateway.submit_event("fan", sale).await.unwrap();
    let queued: Vec<_> = result
        .conversions
        .iter()
        .map(|c| (c.pixel.as_str(), c.event_name.as_str(), c.event_id.as_str()))
        .collect();
    assert_eq!(
        queued,
        [
            ("PIXELA", "Purchase", "fan"),
            ("PIXELB", "SubmitApplication", "fan:acme")
        ]
    );
    let (a, b) = wait_until(|| async {
        let a = d.sandbox.events(Some("PIXELA"));
        let b = d.sandbox.events(Some("PIXELB"));
        (!a.is_empty() && !b.is_empty()).then_some((a, b))
    })
    .await;
    assert_eq!((a.len(), b.len()), (1, 1));
    assert_eq!(
        (a[0].event.as_str(), a[0].event_id.as_deref()),
        ("Purchase", Some("fan"))
    );
    assert_eq!(a[0].payload_json()["properties"]["value"], json!(25.0));
    assert_eq!(
        (b[0].event.as_str(), b[0].event_id.as_deref()),
        ("SubmitApplication", Some("fan:acme"))
    );
    assert_eq!(
        b[0].payload_json()["properties"]["value"],
        json!(0.0),
        "a payout of 0 is sent as 0"
    );
    d.shutdown().await;
}

async fn transformed_properties_are_tiktok_typed_and_accepted_by_the_strict_sandbox(db: TestDb) {
    let rules = rules_in(
        r#"
        [[rules]]
        name = "typed"
        trigger = "lead_sold"
        pixel = "TYPEDPIXEL"
        event = "Purchase"
        value = { from = "fields.price", round = 2 }
        currency = "EUR"
        test_event_code = "TEST{fields.campaign}"
        limited_data_use = { from = "fields.ldu", as = "bool" }
        [rules.properties]
        content_type = "product"
        description = "{fields.vertical} lead sold to {buyer}"
        order_id = { from = "fields.order" }
        shop_id = 42
        content_ids = ["{offer}", "{fields.sku}"]
        contents = [ { content_id = "{fields.sku}", price = "{fields.price}", quantity = "{fields.qty}", content_name = { from = "fields.owns", map = { yes = "Own", no = "Rent" } } } ]
        num_items = { from = "fields.qty", as = "integer" }
        move_date = { from = "fields.move", as = "epoch_seconds" }
        [rules.page]
        url = "https://lp.example.com/{fields.vertical}/thanks"
        "#,
        "America/Chicago",
    );
    let d = Delivering::start(&db, rules, &["TYPEDPIXEL"]).await;
    let mut new = lead("typed-1");
    new.fields = json!({
        "price": "19.999", "vertical": "auto", "order": 9001, "sku": 555, "qty": "2.0",
        "owns": "Yes", "move": "2024-07-01", "campaign": "77", "ldu": "no"
    });
    d.gateway.submit_lead(new).await.unwrap();
    let sale = signalpost_gateway::NewLifecycleEvent {
        buyer: Some("acme".into()),
        offer: Some("o-9".into()),
        ..sold(10.0)
    };
    d.gateway.submit_event("typed-1", sale).await.unwrap();
    let view = wait_until(|| async {
        let v = d.store.get_lead("typed-1").await.unwrap().unwrap();
        v.conversions
            .iter()
            .all(|c| c.conversion.state == ConversionState::Delivered)
            .then_some(v)
    })
    .await;
    let attempt = view.conversions[0].attempt_log.last().unwrap();
    assert_eq!((attempt.http_status, attempt.code), (Some(200), Some(0)));
    let received = d.sandbox.events(Some("TYPEDPIXEL"));
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].test_event_code.as_deref(), Some("TEST77"));
    let e = received[0].payload_json();
    assert_eq!(
        e["properties"],
        json!({
            "value": 20.0,
            "currency": "EUR",
            "content_type": "product",
            "description": "auto lead sold to acme",
            "order_id": "9001",
            "shop_id": "42",
            "content_ids": ["o-9", "555"],
            "contents": [{"content_id": "555", "price": 19.999, "quantity": 2, "content_name": "Own"}],
            "num_items": 2,
            "move_date": 1_719_810_000
        })
    );
    assert_eq!(e["page"]["url"], "https://lp.example.com/auto/thanks");
    assert_eq!(e["limited_data_use"], false);
    d.shutdown().await;
}

/// A cap over many conversions of one rule written in ONE group commit (a batch): the store counts
/// the group's own earlier rows too.
async fn a_cap_holds_inside_one_batch(db: TestDb) {
    let store = db.open().await;
    let gateway = Gateway::new(
        store.shared(),
        rules_in(
            r#"
            [[rules]]
            name = "batch_capped"
            trigger = "form_submit"
            pixel = "P"
            event = "CompleteRegistration"
            cap = { daily = 4 }
            "#,
            "UTC",
        ),
    );
    let txs: Vec<String> = (0..10).map(|i| format!("batch-{i}")).collect();
    let items = txs.iter().map(|tx| BatchItem::Lead(lead(tx))).collect();
    let answers = gateway.submit_batch(items).await.unwrap();
    let states_in_order: Vec<ConversionState> = answers
        .iter()
        .map(|a| a.as_ref().unwrap().conversions[0].state)
        .collect();
    assert_eq!(
        states_in_order,
        [
            [ConversionState::Pending; 4].as_slice(),
            [ConversionState::Suppressed; 6].as_slice()
        ]
        .concat(),
        "the first four in arrival order pass"
    );
    let (live, suppressed, _) = states(&*store, &txs).await;
    assert_eq!((live, suppressed), (4, 6));
    store.close().await;
}

/// Two nodes on one database ingesting at once: the per-rule lock makes the cap exact across them.
async fn a_cap_holds_across_nodes_sharing_one_database(db: TestDb) {
    const CAP: usize = 5;
    let rules = || {
        rules_in(
            r#"
            [[rules]]
            name = "shared_cap"
            trigger = "form_submit"
            pixel = "P"
            event = "CompleteRegistration"
            cap = { hourly = 5 }
            "#,
            "UTC",
        )
    };
    let (a, b) = (db.open().await, db.open().await);
    let nodes = [
        Arc::new(Gateway::new(a.shared(), rules())),
        Arc::new(Gateway::new(b.shared(), rules())),
    ];
    let txs: Vec<String> = (0..40).map(|i| format!("node-{i}")).collect();
    let tasks: Vec<_> = txs
        .iter()
        .enumerate()
        .map(|(i, tx)| {
            let node = nodes[i % 2].clone();
            let new = lead(tx);
            tokio::spawn(async move { node.submit_lead(new).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let (live, suppressed, _) = states(&*a, &txs).await;
    assert_eq!((live, suppressed), (CAP, 40 - CAP));
    a.close().await;
    b.close().await;
}

both_stores!(
    a_daily_cap_sends_exactly_n_of_50_concurrent_leads,
    a_cap_holds_across_a_restart_because_it_is_counted_in_the_store,
    cap_windows_roll_over_on_the_operators_calendar,
    outside_its_schedule_a_rule_stores_a_suppressed_conversion_judged_on_occurred_at,
    one_sale_fires_one_event_per_matching_rule_on_two_pixels_each_with_its_own_dedup_key,
    transformed_properties_are_tiktok_typed_and_accepted_by_the_strict_sandbox,
    a_cap_holds_inside_one_batch,
);

postgres_only!(a_cap_holds_across_nodes_sharing_one_database);
