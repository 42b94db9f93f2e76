//! The real client (`signalpost_tiktok::client::Client`) against the real sandbox on loopback: every
//! answer the sandbox can give (acceptance, each rejection class, each injected fault, a token
//! rotation) must reach the client as the HTTP status, TikTok code, message and request id the
//! sandbox sent, and be classified the way the delivery engine needs (delivered, retry, pause the
//! pixel, drop the event).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{
    EMAIL_HASH, OTHER_PIXEL, OTHER_TOKEN, PHONE_HASH, PIXEL, TOKEN, config, eventually, is_log_id,
    now, post_json, start, start_with,
};
use serde_json::{Value, json};
use signalpost_sandbox::{
    BAD_TOKEN_MESSAGE, Fault, FaultKind, RATE_LIMIT_MESSAGE, RunningSandbox, SERVER_ERROR_MESSAGE,
    SandboxConfig,
};
use signalpost_tiktok::classify::Outcome;
use signalpost_tiktok::client::{AddressPolicy, Answer, Client, ClientConfig};
use signalpost_tiktok::identity::{Region, hash_email, hash_phone};
use signalpost_tiktok::model::{Event, EventSource, Page, Properties, TrackRequest, User};

/// The landing URL of a TikTok ad click, which carried the ttclid.
const LANDING_URL: &str =
    "https://shop.example/landing?utm_source=tiktok&ttclid=E.C.P.CqgBQm9vc3Rlcg&x=1";
const TTCLID: &str = "E.C.P.CqgBQm9vc3Rlcg";
const IP: &str = "203.0.113.9";
const USER_AGENT: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)";
const TEST_EVENT_CODE: &str = "TEST11178";

fn client_with_timeout(sandbox: &RunningSandbox, timeout: Duration) -> Client {
    Client::new(ClientConfig {
        base_url: sandbox.base_url(),
        timeout,
        connect_timeout: Duration::from_secs(5),
        addresses: AddressPolicy::Any,
    })
    .unwrap()
}

fn client(sandbox: &RunningSandbox) -> Client {
    client_with_timeout(sandbox, Duration::from_secs(30))
}

/// A full web lead event as TikTok documents it: identifiers normalized and hashed by the shared
/// identity module, click and browser signals raw, the landing page, a zero value.
fn lead_event(event_id: &str) -> Event {
    Event {
        event: "Lead".to_owned(),
        event_time: now() - 60,
        event_id: Some(event_id.to_owned()),
        user: Some(User {
            email: Some(hash_email(" ALICE_abc@gmail.com ").unwrap().into_string()),
            phone: Some(
                hash_phone("(+1)2133734253", Region::US)
                    .unwrap()
                    .into_string(),
            ),
            ip: Some(IP.to_owned()),
            user_agent: Some(USER_AGENT.to_owned()),
            ttclid: Some(TTCLID.to_owned()),
            ..User::default()
        }),
        properties: Some(Properties {
            value: Some(0.0),
            currency: Some("USD".to_owned()),
            ..Properties::default()
        }),
        page: Some(Page {
            url: LANDING_URL.to_owned(),
            referrer: Some("https://www.tiktok.com/".to_owned()),
        }),
        ..Event::default()
    }
}

/// A web request for `PIXEL` holding `events`.
fn request(events: Vec<Event>) -> TrackRequest {
    TrackRequest {
        event_source: EventSource::Web,
        event_source_id: PIXEL.to_owned(),
        data: events,
        test_event_code: None,
        partner_name: None,
    }
}

/// `n` copies of the lead event with distinct event ids.
fn batch(n: usize) -> Vec<Event> {
    let template = lead_event("batch");
    (0..n)
        .map(|i| Event {
            event_id: Some(format!("batch-{i}")),
            ..template.clone()
        })
        .collect()
}

/// The lead event with one field replaced at a JSON pointer: for mistakes the typed model cannot
/// express (a string `value`, a `page` without `url`).
fn raw_lead_with(pointer: &str, value: Value) -> String {
    let mut body = serde_json::to_value(request(vec![lead_event("raw-1")])).unwrap();
    *body
        .pointer_mut(&format!("/data/0{pointer}"))
        .unwrap_or_else(|| panic!("no {pointer} in the lead event")) = value;
    body.to_string()
}

/// What a request carries: the typed model (sent with `track`) or bytes (sent with `track_raw`).
enum Body {
    Typed(TrackRequest),
    Raw(String),
}

async fn send(client: &Client, token: &str, body: &Body) -> Answer {
    match body {
        Body::Typed(request) => client.track(token, request).await,
        Body::Raw(text) => client.track_raw(token, text.clone()).await,
    }
}

/// What the client must report for one answer.
#[derive(Debug)]
struct Expect {
    http_status: Option<u16>,
    code: Option<i64>,
    outcome: Outcome,
    /// Pieces the message must contain (for body errors: TikTok's field path).
    fragments: Vec<&'static str>,
    /// Whether a TikTok log id must come back (every HTTP answer has one; a timeout has none).
    has_request_id: bool,
}

fn delivered() -> Expect {
    business(0, Outcome::Delivered, vec!["OK"])
}

/// A JSON envelope over HTTP 200, as TikTok sends business errors.
fn business(code: i64, outcome: Outcome, fragments: Vec<&'static str>) -> Expect {
    Expect {
        http_status: Some(200),
        code: Some(code),
        outcome,
        fragments,
        has_request_id: true,
    }
}

/// A gateway's HTML error page: no TikTok code, retried.
fn gateway(status: u16, fragments: Vec<&'static str>) -> Expect {
    Expect {
        http_status: Some(status),
        code: None,
        outcome: Outcome::Retryable,
        fragments,
        has_request_id: true,
    }
}

fn check(label: &str, answer: &Answer, expect: &Expect) {
    let got = &answer.classified;
    assert_eq!(
        answer.http_status, expect.http_status,
        "{label}: {answer:?}"
    );
    assert_eq!(got.code, expect.code, "{label}: {answer:?}");
    assert_eq!(got.outcome, expect.outcome, "{label}: {answer:?}");
    for fragment in &expect.fragments {
        assert!(
            got.message.contains(fragment),
            "{label}: message {:?} lacks {fragment:?}",
            got.message
        );
    }
    match &got.request_id {
        Some(id) => assert!(
            expect.has_request_id && is_log_id(id),
            "{label}: request_id {id:?}"
        ),
        None => assert!(!expect.has_request_id, "{label}: no request_id"),
    }
}

#[tokio::test]
async fn delivers_a_full_web_event() {
    let sandbox = start().await;
    let event = lead_event("lead-0001");
    let answer = client(&sandbox)
        .track(TOKEN, &request(vec![event.clone()]))
        .await;
    check("full web event", &answer, &delivered());

    let stored = sandbox.events(Some(PIXEL));
    assert_eq!(stored.len(), 1);
    let stored = &stored[0];
    assert_eq!(stored.event, "Lead");
    assert_eq!(stored.event_id.as_deref(), Some("lead-0001"));
    assert!(!stored.is_test() && !stored.duplicate);
    // Received byte for byte as the client serialized it.
    assert_eq!(stored.payload.get(), serde_json::to_string(&event).unwrap());
    let payload = stored.payload_json();
    assert_eq!(payload["user"]["email"], EMAIL_HASH);
    assert_eq!(payload["user"]["phone"], PHONE_HASH);
    assert_eq!(payload["user"]["ip"], IP);
    assert_eq!(payload["user"]["user_agent"], USER_AGENT);
    assert_eq!(payload["user"]["ttclid"], TTCLID);
    assert_eq!(payload["page"]["url"], LANDING_URL);
    assert_eq!(
        payload["properties"],
        json!({"value": 0.0, "currency": "USD"})
    );
}

#[tokio::test]
async fn delivers_a_batch_of_1000_events() {
    let sandbox = start().await;
    let answer = client(&sandbox).track(TOKEN, &request(batch(1000))).await;
    check("1,000 events", &answer, &delivered());
    let stats = sandbox.stats();
    assert_eq!(stats.accepted_events, 1000);
    assert_eq!(stats.duplicates, 0);
    let stored = sandbox.events(None);
    assert_eq!(stored[999].event_id.as_deref(), Some("batch-999"));
}

#[tokio::test]
async fn records_test_event_code_events_in_the_test_bucket() {
    let sandbox = start().await;
    let mut test = request(vec![lead_event("lead-test-1")]);
    test.test_event_code = Some(TEST_EVENT_CODE.to_owned());
    let answer = client(&sandbox).track(TOKEN, &test).await;
    check("test event", &answer, &delivered());

    let stats = sandbox.stats();
    assert_eq!(stats.test.accepted_events, 1);
    assert_eq!(stats.live.accepted_events, 0);
    let stored = sandbox.events(None);
    assert_eq!(stored.len(), 1);
    assert!(stored[0].is_test());
    assert_eq!(stored[0].test_event_code.as_deref(), Some(TEST_EVENT_CODE));
}

/// One rejection class: what is sent, with which token, and how the client must classify it.
struct Rejection {
    name: &'static str,
    token: &'static str,
    body: Body,
    expect: Expect,
}

fn rejection_classes() -> Vec<Rejection> {
    let lead = || lead_event("lead-1");
    let with = |change: &dyn Fn(&mut Event)| {
        let mut event = lead();
        change(&mut event);
        Body::Typed(request(vec![event]))
    };
    let invalid = |fragments| business(40002, Outcome::Invalid, fragments);
    // Hand-written, as a client that puts its numeric order id straight into event_id would send it.
    let numeric_event_id = format!(
        r#"{{"event_source":"web","event_source_id":"{PIXEL}","data":[{{"event":"Lead","event_time":{},"event_id":20250614001,"user":{{"email":"{EMAIL_HASH}"}},"page":{{"url":"https://shop.example/"}}}}]}}"#,
        now() - 60
    );
    vec![
        Rejection {
            name: "unknown token",
            token: "tok-never-issued",
            body: Body::Typed(request(vec![lead()])),
            expect: business(40105, Outcome::Auth, vec![BAD_TOKEN_MESSAGE]),
        },
        Rejection {
            name: "token of another pixel",
            token: OTHER_TOKEN,
            body: Body::Typed(request(vec![lead()])),
            expect: business(
                40001,
                Outcome::Auth,
                vec!["No permission to operate pixel code", PIXEL],
            ),
        },
        Rejection {
            name: "1,001 events",
            token: TOKEN,
            body: Body::Typed(request(batch(1001))),
            expect: invalid(vec!["Invalid value for data:", "between 1 and 1000"]),
        },
        Rejection {
            name: "reserved event name",
            token: TOKEN,
            body: {
                let mut reserved = lead();
                reserved.event = "Registration".to_owned();
                Body::Typed(request(vec![lead(), reserved]))
            },
            expect: invalid(vec!["Invalid value for data.1.event:", "reserved"]),
        },
        Rejection {
            name: "event_time in milliseconds",
            token: TOKEN,
            body: with(&|e| e.event_time = now() * 1000),
            expect: invalid(vec!["Invalid value for data.0.event_time:", "milliseconds"]),
        },
        Rejection {
            name: "event_time too old",
            token: TOKEN,
            body: with(&|e| e.event_time = now() - 8 * 86_400),
            expect: invalid(vec![
                "Invalid value for data.0.event_time:",
                "7 days in the past",
            ]),
        },
        Rejection {
            name: "event_id as a JSON number",
            token: TOKEN,
            body: Body::Raw(numeric_event_id),
            expect: invalid(vec![
                "Invalid value for data.0.event_id: not a valid string.",
            ]),
        },
        Rejection {
            name: "unhashed email",
            token: TOKEN,
            body: with(&|e| {
                if let Some(user) = e.user.as_mut() {
                    user.email = Some("alice@example.com".to_owned());
                }
            }),
            expect: invalid(vec!["Invalid value for data.0.user.email:", "SHA-256"]),
        },
        Rejection {
            name: "unsupported currency",
            token: TOKEN,
            body: with(&|e| {
                if let Some(props) = e.properties.as_mut() {
                    props.currency = Some("XYZ".to_owned());
                }
            }),
            expect: invalid(vec![
                "Invalid value for data.0.properties.currency:",
                "not a supported currency",
            ]),
        },
        Rejection {
            name: "value as a string",
            token: TOKEN,
            body: Body::Raw(raw_lead_with("/properties/value", json!("0.00"))),
            expect: invalid(vec![
                "Invalid value for data.0.properties.value: not a valid number.",
            ]),
        },
        Rejection {
            name: "page without url",
            token: TOKEN,
            body: Body::Raw(raw_lead_with(
                "/page",
                json!({"referrer": "https://www.tiktok.com/"}),
            )),
            expect: invalid(vec![
                "Invalid value for data.0.page.url: missing data for required field.",
            ]),
        },
        Rejection {
            name: "no page at all (strict)",
            token: TOKEN,
            body: with(&|e| e.page = None),
            expect: invalid(vec![
                "Invalid value for data.0.page: missing data for required field.",
            ]),
        },
    ]
}

#[tokio::test]
async fn classifies_every_rejection_class_and_records_nothing() {
    let sandbox = start().await;
    let client = client(&sandbox);
    let cases = rejection_classes();
    for case in &cases {
        let answer = send(&client, case.token, &case.body).await;
        check(case.name, &answer, &case.expect);
        assert!(sandbox.events(None).is_empty(), "{}: recorded", case.name);
    }
    let stats = sandbox.stats();
    assert_eq!(stats.rejected_requests, cases.len() as u64);
    assert_eq!(stats.by_code["40002"], cases.len() as u64 - 2);
}

#[tokio::test]
async fn a_lenient_sandbox_delivers_the_events_strict_mode_refuses_for_page_url() {
    let lenient = start_with(SandboxConfig {
        strict: false,
        ..config()
    })
    .await;
    let client = client(&lenient);
    let mut no_page = lead_event("no-page");
    no_page.page = None;
    let cases = [
        ("no page at all", Body::Typed(request(vec![no_page]))),
        (
            "page without url",
            Body::Raw(raw_lead_with(
                "/page",
                json!({"referrer": "https://www.tiktok.com/"}),
            )),
        ),
    ];
    for (name, body) in &cases {
        check(name, &send(&client, TOKEN, body).await, &delivered());
    }
    let stored = lenient.events(None);
    assert_eq!(stored.len(), 2);
    assert!(stored[0].payload_json().get("page").is_none());
    // Lenient mode relaxes page.url only: the other classes are still refused.
    let ms = Event {
        event_time: now() * 1000,
        ..lead_event("ms")
    };
    let answer = client.track(TOKEN, &request(vec![ms])).await;
    check(
        "lenient, event_time in ms",
        &answer,
        &business(40002, Outcome::Invalid, vec!["data.0.event_time"]),
    );
}

#[tokio::test]
async fn classifies_each_injected_fault_and_delivers_once_it_is_used_up() {
    let sandbox = start().await;
    let client = client(&sandbox);
    let cases = [
        (
            FaultKind::Http500,
            gateway(500, vec!["HTTP 500", "Internal Server Error"]),
        ),
        (
            FaultKind::Http502,
            gateway(502, vec!["HTTP 502", "Bad Gateway"]),
        ),
        (
            FaultKind::RateLimit,
            business(40100, Outcome::Retryable, vec![RATE_LIMIT_MESSAGE]),
        ),
        (
            FaultKind::TokenRevoked,
            business(40105, Outcome::Auth, vec![BAD_TOKEN_MESSAGE]),
        ),
        (
            FaultKind::NoPermission,
            business(40001, Outcome::Auth, vec!["No permission", PIXEL]),
        ),
        (
            FaultKind::ServerError,
            business(50002, Outcome::Retryable, vec![SERVER_ERROR_MESSAGE]),
        ),
    ];
    for (round, (kind, expect)) in cases.iter().enumerate() {
        sandbox.inject(Fault::requests(*kind, 2));
        // The same event every time, as the delivery engine retries it.
        let body = request(vec![lead_event(&format!("fault-{kind}"))]);
        for attempt in 1..=2 {
            let answer = client.track(TOKEN, &body).await;
            check(&format!("{kind}, attempt {attempt}"), &answer, expect);
        }
        assert!(sandbox.faults().is_empty(), "{kind}: fault not used up");
        assert_eq!(sandbox.events(None).len(), round, "{kind}: recorded");
        let answer = client.track(TOKEN, &body).await;
        check(&format!("{kind}, after the fault"), &answer, &delivered());
    }
    assert_eq!(sandbox.events(None).len(), cases.len());
}

#[tokio::test]
async fn a_hang_longer_than_the_client_timeout_is_a_retryable_timeout() {
    let sandbox = start_with(SandboxConfig {
        hang: Duration::from_secs(2),
        ..config()
    })
    .await;
    let client = client_with_timeout(&sandbox, Duration::from_millis(300));
    sandbox.inject(Fault::requests(FaultKind::Hang, 1));
    let body = request(vec![lead_event("slow-1")]);

    let answer = client.track(TOKEN, &body).await;
    let timeout = Expect {
        http_status: None,
        code: None,
        outcome: Outcome::Retryable,
        fragments: vec!["timeout after 300ms"],
        has_request_id: false,
    };
    check("hang", &answer, &timeout);

    // Like a slow TikTok, the sandbox still takes the event after the client gave up; the retry
    // carries the same event_id, so it is recognised as a duplicate rather than counted twice.
    let handle = sandbox.sandbox().clone();
    assert!(eventually(|| handle.stats().accepted_events == 1).await);
    check("retry", &client.track(TOKEN, &body).await, &delivered());
    let stored = sandbox.events(None);
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[1].event_id.as_deref(), Some("slow-1"));
    assert!(stored[1].duplicate);
}

#[tokio::test]
async fn requests_above_max_rps_are_retryable_40100() {
    let sandbox = start_with(SandboxConfig {
        max_rps: Some(1),
        ..config()
    })
    .await;
    let client = client(&sandbox);
    let body = request(vec![lead_event("busy-1")]);
    check(
        "first request",
        &client.track(TOKEN, &body).await,
        &delivered(),
    );
    // One request per second is allowed; sequential requests on loopback reach a second one in
    // the same second long before this bound (the bound only keeps the loop finite).
    let mut limited = None;
    for _ in 0..100 {
        let answer = client.track(TOKEN, &body).await;
        if answer.classified.outcome != Outcome::Delivered {
            limited = Some(answer);
            break;
        }
    }
    let answer = limited.expect("no request was rate limited");
    check(
        "above max_rps",
        &answer,
        &business(40100, Outcome::Retryable, vec![RATE_LIMIT_MESSAGE]),
    );
    assert!(sandbox.stats().by_code["40100"] >= 1);
}

#[tokio::test]
async fn a_token_rotated_in_process_refuses_the_old_token_and_delivers_with_the_new() {
    let sandbox = start().await;
    let client = client(&sandbox);
    let body = Body::Typed(request(vec![lead_event("rotate-1")]));
    check("before", &send(&client, TOKEN, &body).await, &delivered());

    sandbox.set_token(PIXEL, "tok-rotated-0001").unwrap();
    let cases = [
        (
            "old token",
            TOKEN,
            business(40105, Outcome::Auth, vec![BAD_TOKEN_MESSAGE]),
        ),
        ("new token", "tok-rotated-0001", delivered()),
    ];
    for (name, token, expect) in &cases {
        check(name, &send(&client, token, &body).await, expect);
    }
    assert_eq!(sandbox.events(None).len(), 2);
}

#[tokio::test]
async fn a_token_rotated_over_http_refuses_the_old_token_and_delivers_with_the_new() {
    let sandbox = start().await;
    let client = client(&sandbox);
    let body = Body::Typed(request(vec![lead_event("rotate-2")]));

    let rotated = post_json(
        &sandbox,
        "/sandbox/pixels",
        &json!({"code": PIXEL, "token": "tok-rotated-0002"}),
    )
    .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let cases = [
        (
            "old token",
            TOKEN,
            business(40105, Outcome::Auth, vec![BAD_TOKEN_MESSAGE]),
        ),
        ("new token", "tok-rotated-0002", delivered()),
        // The other pixel's token is untouched by the rotation.
        (
            "other pixel's token",
            OTHER_TOKEN,
            business(40001, Outcome::Auth, vec![PIXEL]),
        ),
    ];
    for (name, token, expect) in &cases {
        check(name, &send(&client, token, &body).await, expect);
    }
    let mut other = request(vec![lead_event("rotate-2")]);
    other.event_source_id = OTHER_PIXEL.to_owned();
    check(
        "other pixel",
        &client.track(OTHER_TOKEN, &other).await,
        &delivered(),
    );
}

#[tokio::test]
async fn an_old_token_still_serving_another_pixel_gets_40001_after_rotation() {
    const SHARED_PIXEL: &str = "C4PIXEL0003";
    let sandbox = start_with(SandboxConfig {
        pixels: vec![
            (PIXEL.to_owned(), TOKEN.to_owned()),
            (SHARED_PIXEL.to_owned(), TOKEN.to_owned()),
        ],
        ..SandboxConfig::default()
    })
    .await;
    let client = client(&sandbox);
    sandbox.set_token(PIXEL, "tok-rotated-0003").unwrap();
    let body = Body::Typed(request(vec![lead_event("rotate-3")]));
    check(
        "old token, rotated pixel",
        &send(&client, TOKEN, &body).await,
        &business(40001, Outcome::Auth, vec!["No permission", PIXEL]),
    );
    let mut shared = request(vec![lead_event("rotate-3")]);
    shared.event_source_id = SHARED_PIXEL.to_owned();
    check(
        "old token, its other pixel",
        &client.track(TOKEN, &shared).await,
        &delivered(),
    );
}

/// A `base_url` with a path the destination does not serve (a proxy prefix that is not there, a
/// typo) gets the sandbox's 404 page, not TikTok's envelope: that is retried with backoff, like
/// any answer from something other than TikTok, and never pauses the pixel as a refused token would.
#[tokio::test]
async fn a_404_without_tiktoks_envelope_is_retried_not_a_pause() {
    let sandbox = start().await;
    let client = Client::new(ClientConfig {
        base_url: format!("{}/not-a-tiktok-prefix", sandbox.base_url()),
        timeout: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(5),
        addresses: AddressPolicy::Any,
    })
    .unwrap();
    let answer = client
        .track(TOKEN, &request(vec![lead_event("lead-404")]))
        .await;
    assert_eq!(answer.http_status, Some(404), "{answer:?}");
    assert_eq!(answer.classified.code, None, "{answer:?}");
    assert_eq!(answer.classified.outcome, Outcome::Retryable, "{answer:?}");
    assert!(
        answer.classified.message.starts_with("HTTP 404"),
        "{}",
        answer.classified.message
    );
    assert!(sandbox.events(None).is_empty());
}
