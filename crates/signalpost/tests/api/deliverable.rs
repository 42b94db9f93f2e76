//! Every accepted conversion is deliverable, or the caller is told at once: the real application,
//! a real SQLite file and the strict sandbox over HTTP. A lead without a landing URL is delivered
//! with the pixel's `site_url` (or its referrer) as `page.url`; without a `site_url` the 202 names
//! the problem, the conversion is `undeliverable` (lead record, `/metrics`), never reaches the
//! sandbox, and is delivered by a replay once the pixel has one; `strict_delivery` answers 422.

use reqwest::StatusCode;
use serde_json::{Value, json};
use signalpost::app::AppOptions;

use crate::common::{KEY, PIXEL, TestApp, spawn_app, spawn_app_configured, spawn_app_with};

const SITE: &str = "https://shop.example/landing";

/// The lead of the issue: every signal but a page.
fn pageless(transaction_id: &str) -> Value {
    json!({"transaction_id": transaction_id, "email": "a@b.com", "ip": "203.0.113.1",
           "user_agent": "UA", "ttclid": "E.C.P.1"})
}

/// The sandbox's copy of the event with this event_id, once it arrived.
async fn delivered(app: &TestApp, event_id: &str) -> Value {
    let events = app
        .wait_for_events(|events| {
            events
                .iter()
                .any(|e| e.event_id.as_deref() == Some(event_id))
        })
        .await;
    events
        .iter()
        .find(|e| e.event_id.as_deref() == Some(event_id))
        .unwrap()
        .payload_json()
}

/// `/metrics` once it shows `line` (other apps of this test process scrape the same recorder).
async fn wait_for_metric(app: &TestApp, line: &str) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let text = app.get("/metrics").await.body;
        if text.as_str().unwrap_or_default().contains(line) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{line} never showed in /metrics"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_lead_without_landing_url_is_delivered_with_the_site_url_or_its_referrer() {
    let pixel_extra = format!("site_url = \"{SITE}\"");
    let app = spawn_app_configured("", &pixel_extra, "", AppOptions::default()).await;
    let answer = app.lead(pageless("site-1")).await;
    assert_eq!(answer["warnings"], json!([]), "{answer:#}");
    assert_eq!(answer["conversions"][0]["state"], "pending");
    let payload = delivered(&app, "site-1").await;
    assert_eq!(payload["page"], json!({"url": SITE}));

    let mut with_referrer = pageless("site-2");
    with_referrer["referrer"] = json!("https://www.tiktok.com/");
    app.lead(with_referrer).await;
    let payload = delivered(&app, "site-2").await;
    assert_eq!(
        payload["page"],
        json!({"url": "https://www.tiktok.com/", "referrer": "https://www.tiktok.com/"})
    );
    let record = app
        .wait_for_lead("site-2", |r| r["conversions"][0]["state"] == "delivered")
        .await;
    assert_eq!(record["conversions"][0]["attempts"][0]["code"], 0);
}

#[tokio::test]
async fn without_a_site_url_the_conversion_is_undeliverable_until_the_pixel_is_fixed_and_replayed()
{
    let app = spawn_app().await;
    let pixel = app.get(&format!("/v1/pixels/{PIXEL}")).await;
    assert_eq!(
        pixel.body["warnings"][0]["field"], "site_url",
        "{:#}",
        pixel.body
    );

    let answer = app.lead(pageless("x1")).await;
    let warning = &answer["warnings"][0];
    assert_eq!(warning["field"], "page.url", "{answer:#}");
    assert_eq!(
        warning["problem"],
        "page.url missing: set the pixel's site_url or send landing_url"
    );
    assert_eq!(
        (&warning["rule"], &warning["pixel"], &warning["event"]),
        (
            &json!("registration"),
            &json!(PIXEL),
            &json!("CompleteRegistration")
        )
    );
    assert_eq!(answer["conversions"][0]["state"], "undeliverable");

    // A deliverable lead queued after it is delivered; the undeliverable one never went out.
    let mut fine = pageless("x2");
    fine["landing_url"] = json!("https://lp.example.com/?ttclid=E.C.P.2");
    app.lead(fine).await;
    delivered(&app, "x2").await;
    assert!(
        app.sandbox
            .events(Some(PIXEL))
            .iter()
            .all(|e| e.event_id.as_deref() != Some("x1"))
    );
    let record = app.get("/v1/leads/x1").await;
    let c = &record.body["conversions"][0];
    assert_eq!(c["state"], "undeliverable");
    assert_eq!(
        c["last_error"],
        "page.url missing: set the pixel's site_url or send landing_url"
    );
    assert!(c["attempts"].as_array().unwrap().is_empty());
    wait_for_metric(
        &app,
        &format!("signalpost_conversions{{pixel=\"{PIXEL}\",state=\"undeliverable\"}} 1"),
    )
    .await;

    // The operator gives the pixel its site and replays: delivered with page.url = site_url.
    let patched = app
        .send(
            app.client
                .patch(app.url(&format!("/v1/pixels/{PIXEL}")))
                .bearer_auth(KEY)
                .json(&json!({"site_url": SITE})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:#}", patched.body);
    assert_eq!(patched.body["site_url"], SITE);
    assert!(patched.body.get("warnings").is_none(), "{:#}", patched.body);
    let replay = app
        .post("/v1/replay", &json!({"state": "undeliverable"}))
        .await;
    assert_eq!(replay.status, 200, "{:#}", replay.body);
    assert_eq!(
        (&replay.body["matched"], &replay.body["requeued"]),
        (&json!(1), &json!(1))
    );
    let payload = delivered(&app, "x1").await;
    assert_eq!(payload["page"]["url"], SITE);
    let record = app
        .wait_for_lead("x1", |r| r["conversions"][0]["state"] == "delivered")
        .await;
    let outcomes: Vec<&str> = record["conversions"][0]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["replayed", "delivered"]);
}

#[tokio::test]
async fn a_bad_site_url_is_refused_naming_the_field() {
    let app = spawn_app().await;
    let answer = app
        .send(
            app.client
                .patch(app.url(&format!("/v1/pixels/{PIXEL}")))
                .bearer_auth(KEY)
                .json(&json!({"site_url": "shop.example"})),
        )
        .await;
    assert_eq!(answer.problem(422)["field"], "site_url");
    let created = app
        .post(
            "/v1/pixels",
            &json!({"code": "NEWPIXEL1", "access_token": "tok-0123456789abcdef",
                    "site_url": "ftp://shop.example/"}),
        )
        .await;
    assert_eq!(created.problem(422)["field"], "site_url");
    let created = app
        .post(
            "/v1/pixels",
            &json!({"code": "NEWPIXEL2", "access_token": "tok-0123456789abcdef"}),
        )
        .await;
    assert_eq!(created.status, 201, "{:#}", created.body);
    assert_eq!(created.body["warnings"][0]["field"], "site_url");
}

/// A rule whose event_id has nothing of the lead unless it carries an order id.
const ORDER_RULE: &str = r#"
[[rules]]
name = "order"
trigger = "lead_sold"
pixel = "CTESTPIXEL0001"
event = "PlaceAnOrder"
event_id = "order-{fields.order_id}"
"#;

#[tokio::test]
async fn an_event_id_template_that_renders_nothing_of_the_lead_is_refused_with_a_warning() {
    let app = spawn_app_with("", ORDER_RULE).await;
    for tx in ["ord-1", "ord-2"] {
        app.lead(json!({"transaction_id": tx, "landing_url": "https://lp.example.com/"}))
            .await;
        let sold = app
            .post(
                &format!("/v1/leads/{tx}/events"),
                &json!({"type": "lead_sold", "revenue": 10}),
            )
            .await;
        assert_eq!(sold.status, 202, "{:#}", sold.body);
        let events: Vec<&str> = sold.body["conversions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["event"].as_str().unwrap())
            .collect();
        assert_eq!(events, ["Purchase"], "{tx}");
        assert!(sold.body.get("already_queued").is_none(), "{:#}", sold.body);
        let warning = &sold.body["warnings"][0];
        assert_eq!(
            (&warning["field"], &warning["rule"]),
            (&json!("event_id"), &json!("order"))
        );
        assert!(
            warning["problem"]
                .as_str()
                .unwrap()
                .contains("order-{fields.order_id}"),
            "{warning}"
        );
    }
}

#[tokio::test]
async fn strict_delivery_answers_422_naming_the_field_on_every_ingest_route() {
    let app = spawn_app_with("strict_delivery = true", ORDER_RULE).await;
    let refused = app.post("/v1/leads", &pageless("st-1")).await;
    let problem = refused.problem(422);
    assert_eq!(problem["field"], "page.url", "{problem:#}");
    assert!(
        problem["detail"].as_str().unwrap().contains("site_url"),
        "{problem:#}"
    );
    assert_eq!(
        app.get("/v1/leads/st-1").await.status,
        404,
        "nothing stored"
    );

    let batch = app
        .post(
            "/v1/batch",
            &json!({"items": [
                {"lead": {"transaction_id": "st-2", "landing_url": "https://lp.example.com/"}},
                {"lead": pageless("st-3")},
            ]}),
        )
        .await;
    assert_eq!(batch.status, 200, "{:#}", batch.body);
    assert_eq!(batch.body["items"][0]["status"], 202);
    assert_eq!(batch.body["items"][1]["status"], 422);
    assert_eq!(
        batch.body["items"][1]["error"]["field"],
        "items[1].lead.page.url"
    );

    // st-2 exists; its sale would fire the order rule with an event_id of nothing but "order-".
    let event = app
        .post(
            "/v1/leads/st-2/events",
            &json!({"type": "lead_sold", "revenue": 10}),
        )
        .await;
    assert_eq!(event.problem(422)["field"], "event_id");
    let postback_key = app.create_key("postback").await;
    let postback = app
        .send(app.client.get(app.url(&format!(
            "/v1/postback?key={postback_key}&transaction_id=st-2&type=lead_sold&revenue=10"
        ))))
        .await;
    assert_eq!(postback.problem(422)["field"], "event_id");
    let record = app.get("/v1/leads/st-2").await;
    assert_eq!(
        record.body["events"].as_array().unwrap().len(),
        1,
        "only form_submit"
    );
}

#[tokio::test]
async fn without_strict_delivery_every_ingest_route_lists_the_refusal_under_warnings() {
    let app = spawn_app().await;
    let batch = app
        .post("/v1/batch", &json!({"items": [{"lead": pageless("w-1")}]}))
        .await;
    assert_eq!(batch.body["items"][0]["status"], 202, "{:#}", batch.body);
    assert_eq!(batch.body["items"][0]["warnings"][0]["field"], "page.url");
    let postback_key = app.create_key("postback").await;
    let postback = app
        .send(app.client.get(app.url(&format!(
            "/v1/postback?key={postback_key}&transaction_id=w-1&type=lead_sold&revenue=10"
        ))))
        .await;
    assert_eq!(postback.status, 202, "{:#}", postback.body);
    assert_eq!(postback.body["warnings"][0]["field"], "page.url");
    assert_eq!(postback.body["warnings"][0]["rule"], "sale");
    assert_eq!(postback.body["conversions"][0]["state"], "undeliverable");
}

#[tokio::test]
async fn preview_says_which_conversion_ingest_would_keep_as_undeliverable() {
    let app = spawn_app().await;
    let answer = app
        .post("/v1/preview", &json!({"lead": pageless("pv-1")}))
        .await;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    let registration = &answer.body["rules"][0];
    assert_eq!(registration["rule"], "registration");
    assert_eq!(
        registration["conversion"]["undeliverable"],
        "page.url missing: set the pixel's site_url or send landing_url"
    );
    let mut fine = pageless("pv-2");
    fine["referrer"] = json!("https://www.tiktok.com/");
    let answer = app.post("/v1/preview", &json!({"lead": fine})).await;
    let conversion = &answer.body["rules"][0]["conversion"];
    assert!(conversion.get("undeliverable").is_none(), "{conversion:#}");
    assert_eq!(
        conversion["tiktok_event"]["page"]["url"],
        "https://www.tiktok.com/"
    );
}

#[tokio::test]
async fn test_postback_of_a_lead_without_landing_url_uses_the_site_url_and_is_accepted() {
    let pixel_extra = format!("site_url = \"{SITE}\"");
    let app = spawn_app_configured("", &pixel_extra, "", AppOptions::default()).await;
    let answer = app
        .post(
            "/v1/test-postback",
            &json!({"pixel": PIXEL, "lead": {"email": "a@b.com", "ip": "203.0.113.1",
                                             "user_agent": "UA"}}),
        )
        .await;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    assert_eq!(answer.body["request_body"]["data"][0]["page"]["url"], SITE);
    assert_eq!(
        answer.body["code"], 0,
        "the strict sandbox accepts it: {:#}",
        answer.body
    );
}
