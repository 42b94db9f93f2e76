//! One lead, two destinations: a lead whose landing URL carries both `ttclid` and `fbclid`, and its
//! sale, reach the TikTok sandbox and the Meta sandbox (the same listener) as each one's event, by
//! rules per destination. A Conversion Leads dataset gets `lead_id` + `system_generated` + `crm`; a
//! TikTok CRM event set gets `event_source: crm` and `lead.lead_id`.

use serde_json::{Value, json};
use signalpost::app::AppOptions;
use signalpost_sandbox::{Destination, Origin, SandboxConfig};

use crate::common::{TestApp, spawn_app_with_sandbox};

const META_PIXEL: &str = "123456789012345";
const META_TOKEN: &str = "meta-access-token-0123456789";
const LEADS_PIXEL: &str = "987654321098765";
const CRM_SET: &str = "CRMEVENTSET0001";
const CRM_TOKEN: &str = "crm-access-token-0123456789";

async fn spawn() -> TestApp {
    let sandbox = SandboxConfig {
        meta_pixels: vec![
            (META_PIXEL.to_owned(), META_TOKEN.to_owned()),
            (LEADS_PIXEL.to_owned(), META_TOKEN.to_owned()),
        ],
        pixels: vec![(CRM_SET.to_owned(), CRM_TOKEN.to_owned())],
        ..SandboxConfig::default()
    };
    // The sandbox's address is only known once it runs: `SANDBOX_URL` is filled in by the helper.
    let extra = format!(
        r#"
[[pixels]]
code = "{META_PIXEL}"
destination = "meta"
access_token = "{META_TOKEN}"
base_url = "SANDBOX_URL"

[[pixels]]
code = "{LEADS_PIXEL}"
destination = "meta"
action_source = "system_generated"
lead_event_source = "Acme CRM"
access_token = "{META_TOKEN}"
base_url = "SANDBOX_URL"

[[pixels]]
code = "{CRM_SET}"
event_source = "crm"
access_token = "{CRM_TOKEN}"
base_url = "SANDBOX_URL"

[[rules]]
name = "meta_lead"
trigger = "form_submit"
pixel = "{META_PIXEL}"
event = "Lead"

[[rules]]
name = "meta_sale"
trigger = "lead_sold"
pixel = "{META_PIXEL}"
event = "Purchase"
value = "revenue"

[[rules]]
name = "meta_crm_stage"
trigger = "lead_sold"
pixel = "{LEADS_PIXEL}"
event = "Converted"

[[rules]]
name = "tiktok_crm_stage"
trigger = "lead_sold"
pixel = "{CRM_SET}"
event = "lead_converted"
"#
    );
    spawn_app_with_sandbox(sandbox, "", "", &extra, AppOptions::default()).await
}

use crate::common::{payload_of as payload, sandbox_events as events, sha};

#[tokio::test]
async fn one_lead_reaches_tiktok_and_meta_each_as_its_own_event() {
    let app = spawn().await;
    app.lead(json!({
        "transaction_id": "both-1",
        "email": " Alice@Example.com ",
        "phone": "+1 (213) 373-4253",
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (test)",
        "landing_url": "https://lp.example/form?ttclid=E.C.P.TtAbC&fbclid=IwAR1xYzAbC",
        "meta_lead_id": "1234567890123456",
        "tiktok_lead_id": "7300000000000000001",
    }))
    .await;
    app.post(
        "/v1/leads/both-1/events",
        &json!({"type": "lead_sold", "buyer": "acme", "revenue": 42.5}),
    )
    .await;

    // TikTok: the web pixel's Purchase with ttclid and hashed identifiers (E.164 with '+').
    let tiktok = app
        .wait_for_events(|e| e.iter().any(|e| e.event == "Purchase"))
        .await;
    let sale = tiktok.iter().find(|e| e.event == "Purchase").unwrap();
    assert_eq!(sale.destination(), Destination::Tiktok);
    let t = payload(sale);
    assert_eq!(t["user"]["ttclid"], "E.C.P.TtAbC");
    assert_eq!(t["user"]["phone"], sha("+12133734253"));
    assert_eq!(t["user"]["email"], sha("alice@example.com"));

    // Meta: the web dataset's Lead and Purchase, with fbc built from the fbclid (kept exactly).
    let meta = events(&app, Destination::Meta, META_PIXEL, 2).await;
    let purchase = meta.iter().find(|e| e.event == "Purchase").unwrap();
    let m = payload(purchase);
    assert_eq!(m["action_source"], "website");
    assert_eq!(
        m["event_source_url"],
        "https://lp.example/form?ttclid=E.C.P.TtAbC&fbclid=IwAR1xYzAbC"
    );
    let user = &m["user_data"];
    assert_eq!(user["em"], json!([sha("alice@example.com")]));
    assert_eq!(user["ph"], json!([sha("12133734253")]), "digits, no '+'");
    assert_eq!(user["client_ip_address"], "203.0.113.7");
    assert_eq!(user["client_user_agent"], "Mozilla/5.0 (test)");
    let fbc = user["fbc"].as_str().unwrap();
    assert!(
        fbc.starts_with("fb.1.") && fbc.ends_with(".IwAR1xYzAbC"),
        "{fbc}"
    );
    assert_eq!(m["custom_data"]["value"], 42.5);
    assert_eq!(m["custom_data"]["currency"], "USD");
    assert_eq!(m["event_id"], purchase.event_id.clone().unwrap());
    assert!(meta.iter().any(|e| e.event == "Lead"));

    // Conversion Leads: lead_id, system_generated, crm and the CRM's name.
    let stage = &events(&app, Destination::Meta, LEADS_PIXEL, 1).await[0];
    let c = payload(stage);
    assert_eq!(stage.event, "Converted");
    assert_eq!(c["action_source"], "system_generated");
    assert_eq!(c["user_data"]["lead_id"], json!(1234567890123456u64));
    assert_eq!(c["custom_data"]["event_source"], "crm");
    assert_eq!(c["custom_data"]["lead_event_source"], "Acme CRM");

    // TikTok CRM event set: event_source crm and lead.lead_id, no page.
    let crm = &events(&app, Destination::Tiktok, CRM_SET, 1).await[0];
    let k = payload(crm);
    assert_eq!(crm.event, "lead_converted");
    assert_eq!(k["lead"]["lead_id"], "7300000000000000001");
    assert_eq!(k["lead"]["lead_event_source"], "signalpost");
    assert!(k.get("page").is_none());

    // The lead record names each delivery with its destination's trace id.
    let record = app
        .wait_for_lead("both-1", |l| {
            l["conversions"]
                .as_array()
                .is_some_and(|c| c.len() == 6 && c.iter().all(|c| c["state"] == "delivered"))
        })
        .await;
    let meta_attempt = record["conversions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["pixel"] == META_PIXEL)
        .unwrap();
    assert!(
        meta_attempt["attempts"][0]["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{meta_attempt:#}"
    );
}

#[tokio::test]
async fn a_meta_pixel_added_through_the_admin_api_receives_its_rules_events() {
    let sandbox = SandboxConfig {
        meta_pixels: vec![(META_PIXEL.to_owned(), META_TOKEN.to_owned())],
        ..SandboxConfig::default()
    };
    let app = spawn_app_with_sandbox(sandbox, "", "", "", AppOptions::default()).await;
    let base = app.sandbox.base_url();
    // Wrong destination keys are named, and nothing is created.
    let refused = app
        .post(
            "/v1/pixels",
            &json!({"code": META_PIXEL, "access_token": META_TOKEN, "destination": "meta",
                    "action_source": "web", "event_source": "crm"}),
        )
        .await;
    assert_eq!(refused.status, 422, "{:#}", refused.body);
    let fields: Vec<&str> = refused.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["event_source", "action_source"]);

    let created = app
        .post(
            "/v1/pixels",
            &json!({"code": META_PIXEL, "access_token": META_TOKEN, "destination": "meta",
                    "base_url": base}),
        )
        .await;
    assert_eq!(created.status, 201, "{:#}", created.body);
    assert_eq!(created.body["destination"]["name"], "meta");
    assert_eq!(created.body["destination"]["action_source"], "website");
    assert_eq!(
        created.body["destination"]["api_version"],
        signalpost_meta::DEFAULT_API_VERSION
    );
    let shown = app.get(&format!("/v1/pixels/{META_PIXEL}")).await;
    assert_eq!(shown.body["destination"]["name"], "meta");
    assert_eq!(
        app.get("/v1/pixels/CTESTPIXEL0001").await.body["destination"]["name"],
        "tiktok"
    );

    // PATCH changes the destination's settings, never the destination itself.
    let patch = |body: Value| {
        app.send(
            app.client
                .patch(app.url(&format!("/v1/pixels/{META_PIXEL}")))
                .bearer_auth(crate::common::KEY)
                .json(&body),
        )
    };
    let moved = patch(json!({"destination": "tiktok", "api_version": "v26.0"})).await;
    assert_eq!(moved.status, 422, "{:#}", moved.body);
    assert_eq!(moved.body["errors"][0]["field"], "destination");
    let wrong = patch(json!({"api_version": "26"})).await;
    assert_eq!(
        wrong.body["errors"][0]["field"], "api_version",
        "{:#}",
        wrong.body
    );
    let upgraded = patch(json!({"destination": "meta", "api_version": "v26.0"})).await;
    assert_eq!(upgraded.status, 200, "{:#}", upgraded.body);
    assert_eq!(upgraded.body["destination"]["api_version"], "v26.0");
    assert_eq!(upgraded.body["destination"]["action_source"], "website");

    let rule = app
        .post(
            "/v1/rules",
            &json!({"name": "meta_reg", "trigger": "form_submit", "pixel": META_PIXEL,
                    "event": "Lead"}),
        )
        .await;
    assert_eq!(rule.status, 201, "{:#}", rule.body);
    app.lead(
        json!({"transaction_id": "api-meta-1", "email": "bob@example.com",
                    "user_agent": "Mozilla/5.0", "landing_url": "https://lp.example/"}),
    )
    .await;
    let got = events(&app, Destination::Meta, META_PIXEL, 1).await;
    assert_eq!(got[0].event, "Lead");
    assert!(
        matches!(&got[0].origin, Origin::Meta { api_version, .. } if api_version == "v26.0"),
        "sent on the patched version: {:?}",
        got[0].origin
    );
    assert_eq!(
        payload(&got[0])["user_data"]["em"],
        json!([sha("bob@example.com")])
    );
}

#[tokio::test]
async fn a_test_postback_to_a_meta_pixel_shows_metas_answer_and_the_body_without_the_token() {
    let app = spawn().await;
    let answer = app
        .post(
            "/v1/test-postback",
            &json!({"pixel": META_PIXEL, "event": "Lead", "test_event_code": "TEST123"}),
        )
        .await;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    let body = &answer.body;
    assert_eq!(body["outcome"], "delivered", "{body:#}");
    assert_eq!(body["http_status"], 200);
    assert!(
        body["request_id"].as_str().is_some_and(|id| !id.is_empty()),
        "fbtrace_id: {body:#}"
    );
    let sent = &body["request_body"];
    assert_eq!(sent["test_event_code"], "TEST123");
    assert_eq!(sent["data"][0]["event_name"], "Lead");
    assert!(
        sent.get("access_token").is_none(),
        "the token is never shown: {sent:#}"
    );
    assert!(!answer.body.to_string().contains(META_TOKEN));
    let got = events(&app, Destination::Meta, META_PIXEL, 1).await;
    assert_eq!(got[0].test_event_code.as_deref(), Some("TEST123"));
    assert_eq!(payload(&got[0]), sent["data"][0]);
}

#[tokio::test]
async fn a_preview_shows_a_meta_conversion_in_metas_shape_without_the_token() {
    let app = spawn().await;
    let answer = app
        .post(
            "/v1/preview",
            &json!({
                "lead": {"transaction_id": "pv-meta-1", "email": "a@example.com",
                         "user_agent": "Mozilla/5.0",
                         "landing_url": "https://lp.example/?fbclid=IwAR.pv"},
                "event": {"type": "lead_sold", "buyer": "acme", "revenue": "30"}
            }),
        )
        .await;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    let rules = answer.body["rules"].as_array().unwrap();
    let sale = rules
        .iter()
        .find(|r| r["rule"] == "meta_sale")
        .expect("meta_sale previewed");
    let conversion = &sale["conversion"];
    assert_eq!(conversion["destination"], "meta", "{conversion:#}");
    assert_eq!(conversion["event"]["event_name"], "Purchase");
    assert_eq!(conversion["event"]["custom_data"]["value"], 30.0);
    assert!(
        conversion["event"]["user_data"]["fbc"]
            .as_str()
            .unwrap()
            .ends_with(".IwAR.pv"),
        "{conversion:#}"
    );
    assert!(conversion.get("tiktok_event").is_none(), "{conversion:#}");
    let body = &conversion["request_body"];
    assert_eq!(body["data"][0], conversion["event"]);
    assert!(
        !body.to_string().contains(META_TOKEN),
        "no token in the shown body"
    );
}
