//! One lead, three destinations: a lead whose landing URL carries `gclid`, `fbclid` and `ttclid`,
//! and its sale, reach the TikTok, Meta and Google Ads sandboxes (one listener) as each one's own
//! event, from a config file's `[[pixels]]` with `destination = "google_ads"`; and a click Google
//! does not know ends dead in the lead record with Google's code.

use serde_json::{Value, json};
use signalpost::app::AppOptions;
use signalpost_sandbox::{Destination, GoogleAdsClickState, SandboxConfig};

use crate::common::{TestApp, spawn_app_with_sandbox};

const META_PIXEL: &str = "123456789012345";
const META_TOKEN: &str = "meta-access-token-0123456789";
const GOOGLE_PIXEL: &str = "google-sold";
const CUSTOMER: &str = "1234567890";
const DEVELOPER_TOKEN: &str = "google-dev-token-0001";

async fn spawn() -> TestApp {
    let sandbox = SandboxConfig {
        meta_pixels: vec![(META_PIXEL.to_owned(), META_TOKEN.to_owned())],
        google_ads: vec![(CUSTOMER.to_owned(), DEVELOPER_TOKEN.to_owned())],
        ..SandboxConfig::default()
    };
    let extra = format!(
        r#"
[[pixels]]
code = "{META_PIXEL}"
destination = "meta"
access_token = "{META_TOKEN}"
base_url = "SANDBOX_URL"

[[pixels]]
code = "{GOOGLE_PIXEL}"
destination = "google_ads"
customer_id = "123-456-7890"
conversion_action = "555000111"
developer_token = "{DEVELOPER_TOKEN}"
client_id = "client-1.apps.googleusercontent.com"
client_secret = "client-secret-1"
refresh_token = "1//refresh-token-1"
consent = "granted"
base_url = "SANDBOX_URL"
token_url = "SANDBOX_URL/token"

[[rules]]
name = "meta_sale"
trigger = "lead_sold"
pixel = "{META_PIXEL}"
event = "Purchase"
value = "revenue"

[[rules]]
name = "google_sale"
trigger = "lead_sold"
pixel = "{GOOGLE_PIXEL}"
event = "Purchase"
value = "revenue"
"#
    );
    spawn_app_with_sandbox(sandbox, "", "", &extra, AppOptions::default()).await
}

use crate::common::{payload_of as payload, sandbox_events as events, sha};

#[tokio::test]
async fn one_lead_with_three_click_ids_reaches_tiktok_meta_and_google_ads() {
    let app = spawn().await;
    app.lead(json!({
        "transaction_id": "three-1",
        "email": " Alice@Example.com ",
        "phone": "+1 (213) 373-4253",
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (test)",
        "landing_url": "https://lp.example/form?ttclid=E.C.P.TtAbC&fbclid=IwAR1xYzAbC&gclid=Cj0KCQiA-test_gclid",
    }))
    .await;
    app.post(
        "/v1/leads/three-1/events",
        &json!({"type": "lead_sold", "buyer": "acme", "revenue": 42.5}),
    )
    .await;

    let tiktok = app
        .wait_for_events(|e| e.iter().any(|e| e.event == "Purchase"))
        .await;
    let sale = tiktok.iter().find(|e| e.event == "Purchase").unwrap();
    assert_eq!(payload(sale)["user"]["ttclid"], "E.C.P.TtAbC");

    let meta = events(&app, Destination::Meta, META_PIXEL, 1).await;
    let fbc = payload(&meta[0])["user_data"]["fbc"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(fbc.ends_with(".IwAR1xYzAbC"), "{fbc}");

    // Google Ads: the sandbox keys its events by customer id, the pixel code is ours.
    let google = events(&app, Destination::GoogleAds, CUSTOMER, 1).await;
    let g = payload(&google[0]);
    assert_eq!(g["gclid"], "Cj0KCQiA-test_gclid");
    assert_eq!(
        g["conversionAction"],
        "customers/1234567890/conversionActions/555000111"
    );
    assert_eq!(g["conversionValue"], 42.5);
    assert_eq!(g["currencyCode"], "USD");
    assert_eq!(g["orderId"], "three-1");
    assert_eq!(
        g["userIdentifiers"],
        json!([
            {"hashedEmail": sha("alice@example.com")},
            {"hashedPhoneNumber": sha("+12133734253")}
        ])
    );
    assert_eq!(
        g["consent"],
        json!({"adUserData": "GRANTED", "adPersonalization": "GRANTED"})
    );
    let time = g["conversionDateTime"].as_str().unwrap();
    assert_eq!(time.len(), "2026-12-08 01:02:03+00:00".len(), "{time}");

    let record = app
        .wait_for_lead("three-1", |l| {
            l["conversions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["pixel"] == GOOGLE_PIXEL && c["state"] == "delivered")
            })
        })
        .await;
    let google_conversion = record["conversions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["pixel"] == GOOGLE_PIXEL)
        .unwrap();
    let attempt = &google_conversion["attempts"][0];
    assert_eq!(attempt["http_status"], 200);
    assert!(
        attempt["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "Google's request-id header: {attempt}"
    );
}

#[tokio::test]
async fn a_click_google_does_not_know_is_dead_in_the_lead_record_with_googles_code() {
    let app = spawn().await;
    app.sandbox
        .sandbox()
        .set_google_ads_click("unknown-gclid-1", GoogleAdsClickState::NotFound);
    app.lead(json!({
        "transaction_id": "nf-1",
        "email": "bob@example.com",
        "landing_url": "https://lp.example/form?gclid=unknown-gclid-1",
    }))
    .await;
    app.post(
        "/v1/leads/nf-1/events",
        &json!({"type": "lead_sold", "revenue": 10}),
    )
    .await;
    let record = app
        .wait_for_lead("nf-1", |l| {
            l["conversions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["pixel"] == GOOGLE_PIXEL && c["state"] == "dead")
            })
        })
        .await;
    let conversion = record["conversions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["pixel"] == GOOGLE_PIXEL)
        .unwrap();
    let error = conversion["last_error"].as_str().unwrap();
    assert!(error.contains("CLICK_NOT_FOUND"), "{error}");
    assert!(error.contains("not attributable"), "{error}");
    assert!(
        conversion["attempts"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("CLICK_NOT_FOUND"),
        "{conversion}"
    );
}

#[tokio::test]
async fn a_google_ads_pixel_added_through_the_admin_api_keeps_its_credentials_secret_and_delivers()
{
    let sandbox = SandboxConfig {
        google_ads: vec![(CUSTOMER.to_owned(), DEVELOPER_TOKEN.to_owned())],
        ..SandboxConfig::default()
    };
    let app = spawn_app_with_sandbox(sandbox, "", "", "", AppOptions::default()).await;
    let base = app.sandbox.base_url();
    let pixel = json!({
        "code": "g-api", "destination": "google_ads", "customer_id": CUSTOMER,
        "conversion_action": "42", "base_url": base, "token_url": format!("{base}/token"),
        "developer_token": DEVELOPER_TOKEN, "client_id": "cid-1",
        "client_secret": "very-secret-client-secret", "refresh_token": "1//very-secret-refresh",
    });

    let mut missing = pixel.clone();
    missing.as_object_mut().unwrap().remove("refresh_token");
    let refused = app.post("/v1/pixels", &missing).await;
    assert_eq!(refused.status, 422, "{:#}", refused.body);
    assert_eq!(refused.body["errors"][0]["field"], "refresh_token");
    let mut with_token = pixel.clone();
    with_token["access_token"] = json!("tok");
    let refused = app.post("/v1/pixels", &with_token).await;
    assert_eq!(refused.body["errors"][0]["field"], "access_token");
    let refused = app
        .post(
            "/v1/pixels",
            &json!({"code": "t-2", "access_token": "tiktok-token-0123456789", "refresh_token": "x"}),
        )
        .await;
    assert_eq!(refused.body["errors"][0]["field"], "refresh_token");

    let created = app.post("/v1/pixels", &pixel).await;
    assert_eq!(created.status, 201, "{:#}", created.body);
    assert_eq!(created.body["destination"]["name"], "google_ads");
    assert_eq!(created.body["destination"]["customer_id"], CUSTOMER);
    let listed = app.get("/v1/pixels").await.body.to_string();
    for secret in [
        "very-secret-client-secret",
        "1//very-secret-refresh",
        DEVELOPER_TOKEN,
    ] {
        assert!(!listed.contains(secret), "{secret} shown: {listed}");
    }

    let rule = app
        .post(
            "/v1/rules",
            &json!({"name": "g_reg", "trigger": "form_submit", "pixel": "g-api",
                    "event": "Lead"}),
        )
        .await;
    assert_eq!(rule.status, 201, "{:#}", rule.body);
    // A second rule on the same action, on another trigger, needs its own order ids.
    let colliding = app
        .post(
            "/v1/rules",
            &json!({"name": "g_sold", "trigger": "lead_sold", "pixel": "g-api",
                    "event": "Purchase"}),
        )
        .await;
    assert_eq!(colliding.status, 422, "{:#}", colliding.body);
    assert_eq!(colliding.body["errors"][0]["field"], "event_id");
    let own = app
        .post(
            "/v1/rules",
            &json!({"name": "g_sold", "trigger": "lead_sold", "pixel": "g-api",
                    "event": "Purchase", "event_id": "{transaction_id}-sold"}),
        )
        .await;
    assert_eq!(own.status, 201, "{:#}", own.body);
    app.lead(
        json!({"transaction_id": "api-g-1", "email": "carol@example.com",
                    "landing_url": "https://lp.example/?gclid=api-gclid-1"}),
    )
    .await;
    let got = events(&app, Destination::GoogleAds, CUSTOMER, 1).await;
    assert_eq!(payload(&got[0])["gclid"], "api-gclid-1");

    // New credentials through PUT …/token; a partial set is refused, naming the missing key.
    let put = |body: Value| {
        app.send(
            app.client
                .put(app.url("/v1/pixels/g-api/token"))
                .bearer_auth(crate::common::KEY)
                .json(&body),
        )
    };
    let partial = put(json!({"refresh_token": "1//new"})).await;
    assert_eq!(partial.status, 422, "{:#}", partial.body);
    assert_eq!(partial.body["errors"][0]["field"], "developer_token");
    let rotated = put(
        json!({"developer_token": DEVELOPER_TOKEN, "client_id": "cid-1",
                             "client_secret": "s2", "refresh_token": "1//new-refresh"}),
    )
    .await;
    assert_eq!(rotated.status, 200, "{:#}", rotated.body);
    app.lead(
        json!({"transaction_id": "api-g-2", "email": "dan@example.com",
                    "landing_url": "https://lp.example/?gclid=api-gclid-2"}),
    )
    .await;
    events(&app, Destination::GoogleAds, CUSTOMER, 2).await;
}

#[tokio::test]
async fn a_test_postback_to_a_google_ads_pixel_is_validated_only_and_shows_no_credential() {
    let app = spawn().await;
    let answer = app
        .post(
            "/v1/test-postback",
            &json!({"pixel": GOOGLE_PIXEL, "event": "Purchase", "test_event_code": "TEST1",
                    "lead": {"email": "tp@example.com"}}),
        )
        .await;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    let body = &answer.body;
    assert_eq!(body["outcome"], "delivered", "{body:#}");
    assert_eq!(body["request_body"]["validateOnly"], true, "{body:#}");
    assert_eq!(body["request_body"]["partialFailure"], true);
    assert!(!body.to_string().contains(DEVELOPER_TOKEN));
    assert!(!body.to_string().contains("client-secret-1"));
    assert!(
        app.sandbox
            .sandbox()
            .events_of(Some(Destination::GoogleAds), None)
            .is_empty(),
        "validateOnly records nothing"
    );
}

#[tokio::test]
async fn a_preview_shows_a_google_ads_conversion_in_googles_shape() {
    let app = spawn().await;
    let answer = app
        .post(
            "/v1/preview",
            &json!({
                "lead": {"transaction_id": "pv-g-1", "email": "a@example.com",
                         "landing_url": "https://lp.example/?gclid=pv-gclid"},
                "event": {"type": "lead_sold", "revenue": "30"}
            }),
        )
        .await;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    let rules = answer.body["rules"].as_array().unwrap();
    let sale = rules
        .iter()
        .find(|r| r["rule"] == "google_sale")
        .expect("google_sale previewed");
    let conversion = &sale["conversion"];
    assert_eq!(conversion["destination"], "google_ads", "{conversion:#}");
    assert_eq!(conversion["event"]["gclid"], "pv-gclid");
    assert_eq!(conversion["event"]["conversionValue"], 30.0);
    assert_eq!(
        conversion["request_body"]["conversions"][0],
        conversion["event"]
    );
}

#[tokio::test]
async fn a_patch_changes_a_google_ads_pixels_settings_but_never_its_account_or_action() {
    let app = spawn().await;
    let patch = |body: Value| {
        app.send(
            app.client
                .patch(app.url(&format!("/v1/pixels/{GOOGLE_PIXEL}")))
                .bearer_auth(crate::common::KEY)
                .json(&body),
        )
    };
    let moved = patch(json!({"conversion_action": "999"})).await;
    assert_eq!(moved.status, 422, "{:#}", moved.body);
    assert_eq!(moved.body["errors"][0]["field"], "conversion_action");
    let same = patch(json!({"customer_id": "123-456-7890", "consent": "denied",
                            "login_customer_id": "9876543210"}))
    .await;
    assert_eq!(same.status, 200, "{:#}", same.body);
    assert_eq!(same.body["destination"]["consent"], "denied");
    assert_eq!(same.body["destination"]["login_customer_id"], "9876543210");
    let elsewhere = patch(json!({"token_url": "https://tokens.example/token"})).await;
    assert_eq!(elsewhere.status, 422, "{:#}", elsewhere.body);
    assert_eq!(elsewhere.body["errors"][0]["field"], "token_url");
}
