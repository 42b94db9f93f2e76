//! A server's leases against the operator tools run beside it, end to end and once per store (a real
//! SQLite file; a real PostgreSQL schema when `SIGNALPOST_TEST_DATABASE_URL` is set): the delivery
//! engine sends with the real TikTok client to the strict sandbox over HTTP on 127.0.0.1, the sandbox
//! holds one request in flight (the `hang` fault), and a tool opens, writes to and closes the same
//! store meanwhile, as `signalpost import` or `keys` do. The held batch must not be sent a second
//! time: TikTok would deduplicate it, but the gateway promises never to send a batch twice because one
//! of its own tools stepped on a lease.
//!
//! No timing assertions: every step polls until the expected state, with a generous deadline. The
//! sandbox's hang only has to outlast the tool and one quick delivery.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::backend::{TestDb, TestStore};
use common::harness::wait_for;
use common::{demo_rules, lead};
use signalpost_gateway::delivery::{
    AccessToken, DeliveryEngine, DeliveryPolicy, PixelConfig, PixelRegistry,
};
use signalpost_gateway::{ConversionState, Gateway, LeadView};
use signalpost_sandbox::{Fault, FaultKind, SandboxConfig};
use tokio_util::sync::CancellationToken;

const PIXEL: &str = "PIXLEASE01";
const TOKEN: &str = "sandbox-token-lease-01";
/// How long the sandbox holds the hung request before it answers (and records the event).
const HANG: Duration = Duration::from_secs(10);

async fn view(store: &TestStore, tx: &str) -> LeadView {
    store.get_lead(tx).await.unwrap().unwrap()
}

async fn state_of(store: &TestStore, tx: &str) -> ConversionState {
    view(store, tx).await.conversions[0].conversion.state
}

async fn a_tool_run_while_a_batch_is_in_flight_does_not_make_the_server_send_it_twice(db: TestDb) {
    let server = db.open_for_serving().await;
    let sandbox = signalpost_sandbox::spawn(
        SandboxConfig {
            pixels: vec![(PIXEL.into(), TOKEN.into())],
            hang: HANG,
            ..SandboxConfig::default()
        },
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .unwrap();
    let pixels = PixelRegistry::new([PixelConfig {
        code: PIXEL.into(),
        access_token: AccessToken::new(TOKEN),
        base_url: sandbox.base_url(),
        // The sandbox on loopback: a destination the operator named.
        addresses: signalpost_gateway::delivery::AddressPolicy::Any,
        test_event_code: None,
        destination: Default::default(),
    }]);
    // The lease and the request timeout both outlast the hang: the only way the held batch could be
    // sent again is a lease cut short from outside.
    let policy = DeliveryPolicy {
        linger: Duration::from_millis(5),
        poll_interval: Duration::from_millis(50),
        lease: Duration::from_secs(600),
        request_timeout: Duration::from_secs(300),
        requests_per_second: 0.0,
        ..DeliveryPolicy::default()
    };
    let shutdown = CancellationToken::new();
    let engine = DeliveryEngine::start(server.shared(), pixels, policy, shutdown.clone());
    let gateway =
        Gateway::new(server.shared(), demo_rules(PIXEL)).with_work_signal(engine.work_signal());

    sandbox.inject(Fault::requests(FaultKind::Hang, 1));
    gateway.submit_lead(lead("held")).await.unwrap();
    // The hang fault is used up by the request that carries the lead: it is at the sandbox, held.
    wait_for("the held request reaches the sandbox", || async {
        sandbox.faults().is_empty().then_some(())
    })
    .await;
    assert_eq!(state_of(&server, "held").await, ConversionState::InFlight);

    // The tool: opens the store the way the operator commands do, writes, closes.
    let tool = db.open().await;
    Gateway::new(tool.shared(), demo_rules(PIXEL))
        .submit_lead(lead("from-the-tool"))
        .await
        .unwrap();
    tool.close().await;

    // The server's next claim (it finds the tool's lead by polling) is the one that would take the
    // held batch again had the tool released its lease.
    wait_for("the tool's lead is delivered", || async {
        (state_of(&server, "from-the-tool").await == ConversionState::Delivered).then_some(())
    })
    .await;
    let held = view(&server, "held").await;
    assert_eq!(
        (
            held.conversions[0].conversion.state,
            held.conversions[0].conversion.attempts
        ),
        (ConversionState::InFlight, 0),
        "the held batch was claimed again while its request was in flight (or the sandbox's {HANG:?} \
         hang ended before the tool's lead was delivered: then this machine is too slow for the test)"
    );
    assert!(
        sandbox
            .events(Some(PIXEL))
            .iter()
            .all(|e| e.event_id.as_deref() != Some("held")),
        "the held event was sent a second time while its first request was still in flight"
    );

    // The held request completes: the event was delivered once, by its one request.
    wait_for("the held request completes", || async {
        (state_of(&server, "held").await == ConversionState::Delivered).then_some(())
    })
    .await;
    let stats = sandbox.stats();
    let held_events = sandbox
        .events(Some(PIXEL))
        .iter()
        .filter(|e| e.event_id.as_deref() == Some("held"))
        .count();
    assert_eq!(
        (
            stats.requests,
            stats.accepted_events,
            stats.duplicates,
            held_events
        ),
        (2, 2, 0, 1),
        "{stats:#?}"
    );
    assert_eq!(
        view(&server, "held").await.conversions[0].attempt_log.len(),
        1
    );

    shutdown.cancel();
    engine.join().await;
    server.close().await;
}

both_stores!(a_tool_run_while_a_batch_is_in_flight_does_not_make_the_server_send_it_twice);
