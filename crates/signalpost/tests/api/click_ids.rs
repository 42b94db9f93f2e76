//! Meta's and Google's click ids, Meta's cookies and the CRM lead ids on the lead API (issue 16):
//! taken from the landing URL with their case kept, an explicit value winning; a malformed `fbc`/`fbp`
//! dropped with a warning; a malformed `meta_lead_id` a 422 at that field in a lead, a batch item, a
//! postback and a CSV row; the ids on the lead record; a rule on `fbclid`. The end-to-end scenario
//! runs on SQLite and, when `SIGNALPOST_TEST_DATABASE_URL` is set, on a PostgreSQL schema of its own.
//! Also `GET /capture.js` over HTTP: no key, its headers and its caching.

use serde_json::{Value, json};
use signalpost::app::AppOptions;

use crate::common::{KEY, TestApp, spawn_app, spawn_app_with_options};
use crate::pg_schema::PgSchema;

const LANDING: &str = "https://lp.example.com/form?utm_source=fb&ttclid=E.C.P.AbC&fbclid=IwAR1xYz\
                       &gclid=Cj0KCQiA-MiXeD&wbraid=CjkKEQwW";
const FBP: &str = "fb.1.1700000000000.1116446470";
const FBC: &str = "fb.1.1700000000000.IwAR1xYz";

/// A rule that fires only for leads with a Meta click id.
const META_RULE: &str = "[[rules]]\nname = \"meta_clicks\"\ntrigger = \"form_submit\"\n\
     pixel = \"CTESTPIXEL0001\"\nevent = \"SubmitForm\"\n[rules.when]\nfbclid = { exists = true }\n";

async fn app_on(server: &str) -> TestApp {
    spawn_app_with_options(server, META_RULE, AppOptions::default()).await
}

fn rules_fired(answer: &Value) -> Vec<String> {
    answer["conversions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["rule"].as_str().unwrap().to_owned())
        .collect()
}

async fn click_ids_end_to_end(app: TestApp) {
    // From the landing URL, case kept; a good fbp kept, a malformed fbc dropped with a warning.
    let answer = app
        .lead(
            json!({"transaction_id": "c-1", "landing_url": LANDING, "fbp": FBP,
                     "fbc": "IwAR1xYz", "meta_lead_id": "1234567890123456",
                     "tiktok_lead_id": "7301234567890123456"}),
        )
        .await;
    let warnings = answer["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{answer:#}");
    assert_eq!(warnings[0]["field"], "fbc");
    assert!(
        warnings[0]["problem"]
            .as_str()
            .unwrap()
            .contains("fb.<subdomain index>")
    );
    assert_eq!(rules_fired(&answer), ["registration", "meta_clicks"]);
    let record = app.get("/v1/leads/c-1").await;
    assert_eq!(record.status, 200, "{:#}", record.body);
    let lead = &record.body["lead"];
    assert_eq!(lead["ttclid"], "E.C.P.AbC");
    assert_eq!(lead["fbclid"], "IwAR1xYz", "case kept exactly");
    assert_eq!(lead["gclid"], "Cj0KCQiA-MiXeD");
    assert_eq!(lead["wbraid"], "CjkKEQwW");
    assert_eq!(lead["gbraid"], Value::Null);
    assert_eq!(lead["fbp"], FBP);
    assert_eq!(lead["fbc"], Value::Null, "dropped, not stored");
    assert_eq!(lead["meta_lead_id"], "1234567890123456");
    assert_eq!(lead["tiktok_lead_id"], "7301234567890123456");
    assert_eq!(lead["warnings"][0]["field"], "fbc");

    // An explicit value wins over the URL's; a well-formed fbc is kept raw.
    app.lead(
        json!({"transaction_id": "c-2", "landing_url": LANDING, "fbclid": "IwAR_Given",
                    "gclid": "given-gclid", "fbc": FBC}),
    )
    .await;
    let lead = app.get("/v1/leads/c-2").await.body["lead"].clone();
    assert_eq!(lead["fbclid"], "IwAR_Given");
    assert_eq!(lead["gclid"], "given-gclid");
    assert_eq!(lead["ttclid"], "E.C.P.AbC");
    assert_eq!(lead["fbc"], FBC);

    // No Meta click id: the fbclid rule does not fire.
    let answer = app
        .lead(json!({"transaction_id": "c-3",
                     "landing_url": "https://lp.example.com/form?ttclid=E.C.P.x"}))
        .await;
    assert_eq!(rules_fired(&answer), ["registration"]);
    app.wait_for_events(|events| {
        events
            .iter()
            .any(|e| e.event == "SubmitForm" && e.event_id.as_deref() == Some("c-1"))
    })
    .await;

    // Erasure takes the ids with the lead.
    let erased = app
        .send(app.client.delete(app.url("/v1/leads/c-1")).bearer_auth(KEY))
        .await;
    assert_eq!(erased.status, 200, "{:#}", erased.body);
    assert_eq!(app.get("/v1/leads/c-1").await.status, 404);
}

#[tokio::test]
async fn click_ids_are_captured_stored_and_matched_on_sqlite() {
    click_ids_end_to_end(app_on("").await).await;
}

#[tokio::test]
async fn click_ids_are_captured_stored_and_matched_on_postgres() {
    let Some(schema) = PgSchema::from_env("sp_click_ids").await else {
        return;
    };
    let server = format!("database_url = \"{}\"", schema.url());
    click_ids_end_to_end(app_on(&server).await).await;
}

#[tokio::test]
async fn a_malformed_crm_lead_id_is_a_422_at_its_field_in_leads_batches_postbacks_and_imports() {
    let app = spawn_app().await;
    for (body, field) in [
        (
            json!({"transaction_id": "bad-1", "meta_lead_id": "12345"}),
            "meta_lead_id",
        ),
        (
            json!({"transaction_id": "bad-1", "meta_lead_id": "123456789012345678"}),
            "meta_lead_id",
        ),
        (
            json!({"transaction_id": "bad-1", "meta_lead_id": "1234567890123a5"}),
            "meta_lead_id",
        ),
        (
            json!({"transaction_id": "bad-1", "tiktok_lead_id": "73x"}),
            "tiktok_lead_id",
        ),
    ] {
        let answer = app.post("/v1/leads", &body).await;
        assert_eq!(answer.problem(422)["field"], field, "{body}");
    }
    assert_eq!(app.get("/v1/leads/bad-1").await.status, 404);

    let batch = app
        .post(
            "/v1/batch",
            &json!({"items": [
                {"lead": {"transaction_id": "b-ok", "meta_lead_id": "123456789012345"}},
                {"lead": {"transaction_id": "b-bad", "meta_lead_id": "42"}}
            ]}),
        )
        .await;
    assert_eq!(batch.status, 200, "{:#}", batch.body);
    let items = batch.body["items"].as_array().unwrap();
    assert_eq!(items[0]["status"], 202);
    assert_eq!(items[1]["status"], 422);
    assert_eq!(items[1]["error"]["field"], "items[1].lead.meta_lead_id");
    let lead = app.get("/v1/leads/b-ok").await.body["lead"].clone();
    assert_eq!(lead["meta_lead_id"], "123456789012345");

    // The postback checks it like `country`.
    let postback_key = app.create_key("postback").await;
    let url = |id: &str| {
        app.url(&format!(
            "/v1/postback?key={postback_key}&transaction_id=b-ok&type=lead_sold&meta_lead_id={id}"
        ))
    };
    let bad = app.send(app.client.get(url("12"))).await;
    assert_eq!(bad.problem(422)["field"], "meta_lead_id");
    let ok = app.send(app.client.get(url("123456789012345"))).await;
    assert_eq!(ok.status, 202, "{:#}", ok.body);

    // A CSV row: a row error at meta_lead_id; the good row imports with its ids.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("leads.csv");
    std::fs::write(
        &csv,
        "transaction_id,landing_url,fbclid,fbp,meta_lead_id\n\
         csv-ok,https://lp.example.com/?gclid=Cj0-Q,IwAR_Csv,fb.1.1700000000000.42,1234567890123456\n\
         csv-bad,https://lp.example.com/,,,12345\n",
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
    assert!(report.contains("\n3,csv-bad,meta_lead_id,"), "{report}");
    let lead = app.get("/v1/leads/csv-ok").await.body["lead"].clone();
    assert_eq!(lead["fbclid"], "IwAR_Csv");
    assert_eq!(lead["gclid"], "Cj0-Q", "from the landing_url column");
    assert_eq!(lead["fbp"], "fb.1.1700000000000.42");
    assert_eq!(lead["meta_lead_id"], "1234567890123456");
    assert_eq!(app.get("/v1/leads/csv-bad").await.status, 404);
}

#[tokio::test]
async fn capture_js_is_served_without_a_key_cacheable_and_revalidated_by_its_etag() {
    let app = spawn_app().await;
    let first = app.client.get(app.url("/capture.js")).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let header = |name: &str| {
        first
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(
        header("content-type"),
        "application/javascript; charset=utf-8"
    );
    assert_eq!(header("x-content-type-options"), "nosniff");
    let cache = header("cache-control");
    assert!(cache.starts_with("public, max-age="), "{cache}");
    let etag = header("etag");
    assert!(etag.len() > 2 && etag.starts_with('"'), "{etag}");
    let body = first.text().await.unwrap();
    assert!(body.contains("sp_ids") && body.contains("fbclid"), "{body}");

    let again = app
        .client
        .get(app.url("/capture.js"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    assert!(again.bytes().await.unwrap().is_empty());
    let stale = app
        .client
        .get(app.url("/capture.js"))
        .header("if-none-match", "\"0000000000000000\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);
    let post = app
        .client
        .post(app.url("/capture.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
}
