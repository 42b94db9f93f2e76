//! A lead's own `country` (issue 14): it reads the lead's national phone number, a pixel's
//! `default_region` reads it when the lead has none, a bad one is a 422 at `country`, and rules can
//! match on it. Each end-to-end scenario runs on SQLite and, when `SIGNALPOST_TEST_DATABASE_URL` is
//! set, on a PostgreSQL schema of its own.

use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use signalpost::app::AppOptions;
use signalpost_sandbox::SandboxConfig;

use crate::common::{KEY, PIXEL, TestApp, spawn_app, spawn_app_with_sandbox};
use crate::pg_schema::PgSchema;

/// The second pixel: no `default_region` of its own.
const OTHER_PIXEL: &str = "CTESTPIXEL0002";
const OTHER_TOKEN: &str = "other-access-token-0123456789";
const LANDING: &str = "https://lp.example.com/form";

/// SHA-256 hex of an E.164 number: what TikTok must receive as `user.phone`.
fn sha(e164: &str) -> String {
    hex::encode(Sha256::digest(e164.as_bytes()))
}

/// The test app on SQLite (`server` empty) or PostgreSQL (`server` = a `database_url` line for a [`PgSchema`]),
/// its pixel reading national phones as French, a rule that fires only for British leads, and a
/// sandbox that also knows [`OTHER_PIXEL`].
async fn app_on(server: &str) -> TestApp {
    let sandbox = SandboxConfig {
        pixels: vec![(OTHER_PIXEL.to_owned(), OTHER_TOKEN.to_owned())],
        ..SandboxConfig::default()
    };
    let gb_rule = format!(
        "[[rules]]\nname = \"gb_only\"\ntrigger = \"form_submit\"\npixel = \"{PIXEL}\"\n\
         event = \"SubmitForm\"\n[rules.when]\ncountry = \"gb\"\n"
    );
    spawn_app_with_sandbox(
        sandbox,
        server,
        "default_region = \"fr\"",
        &gb_rule,
        AppOptions::default(),
    )
    .await
}

/// Adds [`OTHER_PIXEL`] (no `default_region`) with a form_submit rule, through the admin API.
async fn add_other_pixel(app: &TestApp) {
    let created = app
        .post(
            "/v1/pixels",
            &json!({"code": OTHER_PIXEL, "access_token": OTHER_TOKEN,
                    "base_url": app.sandbox.base_url()}),
        )
        .await;
    assert_eq!(created.status, 201, "{:#}", created.body);
    assert!(created.body.get("default_region").is_none());
    let rule = app
        .post(
            "/v1/rules",
            &json!({"name": "other_reg", "trigger": "form_submit", "pixel": OTHER_PIXEL,
                    "event": "CompleteRegistration"}),
        )
        .await;
    assert_eq!(rule.status, 201, "{:#}", rule.body);
}

/// The `user` object of `event` for lead `tx` at `pixel`, waiting for it to arrive.
async fn user_of(app: &TestApp, pixel: &str, event: &str, tx: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let found = app
            .sandbox
            .events(Some(pixel))
            .into_iter()
            .find(|e| e.event == event && e.event_id.as_deref() == Some(tx));
        if let Some(e) = found {
            return e.payload_json()["user"].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{event} of {tx} never reached {pixel}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The whole path on one store: country reads the phone (server default US), a pixel's
/// default_region reads a national number of a lead without country, the country is on the lead
/// record, and a rule matches it.
async fn country_end_to_end(app: TestApp) {
    add_other_pixel(&app).await;

    // The lead's own country wins over every default.
    for (tx, phone, country, e164) in [
        ("it-1", "+39 02 1234 5678", "IT", "+390212345678"),
        ("it-2", "02 1234 5678", "IT", "+390212345678"),
        ("fr-c", "0612345678", "fr", "+33612345678"),
    ] {
        let answer = app
            .lead(
                json!({"transaction_id": tx, "phone": phone, "country": country,
                         "landing_url": LANDING}),
            )
            .await;
        assert!(
            answer["warnings"].as_array().is_none_or(Vec::is_empty),
            "{answer:#}"
        );
        for pixel in [PIXEL, OTHER_PIXEL] {
            let user = user_of(&app, pixel, "CompleteRegistration", tx).await;
            assert_eq!(user["phone"], json!(sha(e164)), "{tx} at {pixel}");
        }
    }
    let record = app.get("/v1/leads/fr-c").await;
    assert_eq!(record.status, 200, "{:#}", record.body);
    assert_eq!(record.body["lead"]["country"], "FR", "stored upper-case");
    assert!(record.body["lead"].get("phone_by_region").is_none());

    // No country: the FR pixel reads the national number as French; the other pixel reads it
    // with the server's US, where it is no number at all.
    let answer = app
        .lead(json!({"transaction_id": "fr-1", "phone": "06 12 34 56 78", "landing_url": LANDING}))
        .await;
    let warnings = answer["warnings"].as_array().cloned().unwrap_or_default();
    assert_eq!(warnings.len(), 1, "{answer:#}");
    assert_eq!(warnings[0]["field"], "phone");
    let fr = user_of(&app, PIXEL, "CompleteRegistration", "fr-1").await;
    assert_eq!(fr["phone"], json!(sha("+33612345678")));
    let us = user_of(&app, OTHER_PIXEL, "CompleteRegistration", "fr-1").await;
    assert!(us.get("phone").is_none(), "{us:#}");
    let record = app.get("/v1/leads/fr-1").await;
    assert_eq!(record.body["lead"]["country"], Value::Null);
    assert_eq!(
        record.body["lead"]["phone_by_region"]["FR"],
        json!(sha("+33612345678"))
    );

    // A number with its country code reads the same everywhere: one reading, no map.
    app.lead(
        json!({"transaction_id": "intl-1", "phone": "+1 213 373 4253", "landing_url": LANDING}),
    )
    .await;
    for pixel in [PIXEL, OTHER_PIXEL] {
        let user = user_of(&app, pixel, "CompleteRegistration", "intl-1").await;
        assert_eq!(user["phone"], json!(sha("+12133734253")), "{pixel}");
    }
    let record = app.get("/v1/leads/intl-1").await;
    assert!(record.body["lead"].get("phone_by_region").is_none());

    // The rule `country = "gb"` fires for a British lead only.
    app.lead(json!({"transaction_id": "gb-1", "country": " gb ", "landing_url": LANDING}))
        .await;
    app.lead(json!({"transaction_id": "de-1", "country": "DE", "landing_url": LANDING}))
        .await;
    user_of(&app, PIXEL, "SubmitForm", "gb-1").await;
    let record = app.get("/v1/leads/gb-1").await;
    assert_eq!(record.body["lead"]["country"], "GB");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let submitted: Vec<String> = app
        .sandbox
        .events(Some(PIXEL))
        .into_iter()
        .filter(|e| e.event == "SubmitForm")
        .filter_map(|e| e.event_id)
        .collect();
    assert_eq!(submitted, ["gb-1"]);
    app.stop().await;
}

#[tokio::test]
async fn country_reads_the_phone_and_pixel_regions_fill_in_on_sqlite() {
    country_end_to_end(app_on("").await).await;
}

#[tokio::test]
async fn country_reads_the_phone_and_pixel_regions_fill_in_on_postgres() {
    let Some(schema) = PgSchema::from_env("sp_country").await else {
        return;
    };
    let server = format!("database_url = \"{}\"", schema.url());
    country_end_to_end(app_on(&server).await).await;
}

#[tokio::test]
async fn a_country_that_is_not_a_region_is_a_422_at_country_in_leads_batches_and_postbacks() {
    let app = spawn_app().await;
    for bad in ["XX", "USA"] {
        let answer = app
            .post(
                "/v1/leads",
                &json!({"transaction_id": "bad-country", "country": bad, "phone": "+12133734253"}),
            )
            .await;
        assert_eq!(answer.problem(422)["field"], "country", "{bad}");
    }
    assert_eq!(app.get("/v1/leads/bad-country").await.status, 404);

    let batch = app
        .post(
            "/v1/batch",
            &json!({"items": [
                {"lead": {"transaction_id": "b-ok", "country": "it"}},
                {"lead": {"transaction_id": "b-bad", "country": "USA"}}
            ]}),
        )
        .await;
    assert_eq!(batch.status, 200, "{:#}", batch.body);
    let items = batch.body["items"].as_array().unwrap();
    assert_eq!(items[0]["status"], 202);
    assert_eq!(items[1]["status"], 422);
    assert_eq!(items[1]["error"]["field"], "items[1].lead.country");

    // The postback: any case passes, a non-region is refused at `country`.
    app.lead(json!({"transaction_id": "pb-1", "country": "GB", "landing_url": LANDING}))
        .await;
    let postback_key = app.create_key("postback").await;
    let url = |country: &str| {
        app.url(&format!(
            "/v1/postback?key={postback_key}&transaction_id=pb-1&type=lead_sold&revenue=5&country={country}"
        ))
    };
    let ok = app.send(app.client.get(url("gb"))).await;
    assert_eq!(ok.status, 202, "{:#}", ok.body);
    let bad = app.send(app.client.get(url("XX"))).await;
    assert_eq!(bad.problem(422)["field"], "country");
    let record = app.get("/v1/leads/pb-1").await;
    assert_eq!(record.body["lead"]["country"], "GB");
    assert_eq!(record.body["events"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_pixels_default_region_is_validated_and_changed_through_the_admin_api() {
    let app = spawn_app().await;
    let pixel = format!("/v1/pixels/{PIXEL}");
    let patch = |body: Value| {
        app.send(
            app.client
                .patch(app.url(&pixel))
                .bearer_auth(KEY)
                .json(&body),
        )
    };
    let bad = patch(json!({"default_region": "France"})).await;
    assert_eq!(bad.problem(422)["field"], "default_region");
    let set = patch(json!({"default_region": "fr"})).await;
    assert_eq!(set.status, 200, "{:#}", set.body);
    assert_eq!(set.body["default_region"], "FR");

    // Live at once: a national French number now reaches the pixel.
    app.lead(json!({"transaction_id": "live-fr", "phone": "0612345678", "landing_url": LANDING}))
        .await;
    let user = user_of(&app, PIXEL, "CompleteRegistration", "live-fr").await;
    assert_eq!(user["phone"], json!(sha("+33612345678")));

    let cleared = patch(json!({"default_region": null})).await;
    assert!(
        cleared.body.get("default_region").is_none(),
        "{:#}",
        cleared.body
    );
}

#[tokio::test]
async fn a_csv_import_reads_a_country_column_and_a_bad_country_is_a_row_error() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("leads.csv");
    std::fs::write(
        &csv,
        format!(
            "transaction_id,phone,country,landing_url\n\
             csv-fr,06 12 34 56 78,fr,{LANDING}\n\
             csv-bad,06 12 34 56 78,France,{LANDING}\n"
        ),
    )
    .unwrap();
    let errors = dir.path().join("errors.csv");
    let args: Vec<String> = [
        "import",
        csv.to_str().unwrap(),
        "--trigger",
        "form_submit",
        "--config",
        app.config_path.to_str().unwrap(),
        "--errors",
        errors.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_signalpost"))
            .args(&args)
            .env_remove("SIGNALPOST_CONFIG")
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a row was refused: {stdout}{stderr}"
    );
    let report = std::fs::read_to_string(&errors).unwrap();
    assert!(report.contains("\n3,csv-bad,country,"), "{report}");

    let user = user_of(&app, PIXEL, "CompleteRegistration", "csv-fr").await;
    assert_eq!(user["phone"], json!(sha("+33612345678")));
    let record = app.get("/v1/leads/csv-fr").await;
    assert_eq!(record.body["lead"]["country"], "FR");
    assert_eq!(app.get("/v1/leads/csv-bad").await.status, 404);
}

#[tokio::test]
async fn the_test_postback_reads_a_national_phone_with_the_pixels_region() {
    let app = app_on("").await;
    let answer = app
        .post(
            "/v1/test-postback",
            &json!({"pixel": PIXEL, "test_event_code": "TEST123",
                    "lead": {"phone": "06 12 34 56 78", "landing_url": LANDING}}),
        )
        .await;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    assert_eq!(answer.body["outcome"], "delivered", "{:#}", answer.body);
    assert_eq!(
        answer.body["request_body"]["data"][0]["user"]["phone"],
        json!(sha("+33612345678"))
    );
}
