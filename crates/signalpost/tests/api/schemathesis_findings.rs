//! Regressions for what fuzzing and `bench/schemathesis.sh` found: a JSON array was read as a lead by
//! position; answers the OpenAPI document did not allow (a lead's `fields: null`, a refused batch
//! item); and statuses the operator routes answer but did not document.

use serde_json::{Value, json};

use crate::common::{KEY, PIXEL, spawn_app};

#[tokio::test]
async fn an_array_body_is_400_and_never_read_as_a_lead_by_position() {
    let app = spawn_app().await;
    for body in [r#"["t-array", "a@b.co"]"#, "[]", "5", r#""a lead""#, "null"] {
        let answer = app
            .send(
                app.client
                    .post(app.url("/v1/leads"))
                    .bearer_auth(KEY)
                    .header("content-type", "application/json")
                    .body(body),
            )
            .await;
        let problem = answer.problem(400);
        assert_eq!(
            problem["type"], "urn:signalpost:problem:bad-request",
            "{body}"
        );
        assert!(
            problem["detail"].as_str().unwrap().contains("JSON object"),
            "{problem:#}"
        );
    }
    app.get("/v1/leads/t-array").await.problem(404);

    let batch = app
        .post(
            "/v1/batch",
            &json!({"items": [{"lead": ["t-array-2"]}, {"lead": {"transaction_id": "t-ok"}}]}),
        )
        .await;
    assert_eq!(batch.status, 200, "{:#}", batch.body);
    assert_eq!(batch.body["items"][0]["status"], 422);
    assert_eq!(batch.body["items"][0]["error"]["field"], "items[0].lead");
    assert_eq!(batch.body["items"][1]["status"], 202);
    app.get("/v1/leads/t-array-2").await.problem(404);
}

/// Whether the schema (a `type` list, or a `oneOf` with a null member) admits `null`.
fn admits_null(schema: &Value) -> bool {
    let in_types = match &schema["type"] {
        Value::String(t) => t == "null",
        Value::Array(ts) => ts.iter().any(|t| t == "null"),
        _ => false,
    };
    let in_one_of = schema["oneOf"]
        .as_array()
        .is_some_and(|alts| alts.iter().any(|alt| alt["type"] == "null"));
    in_types || in_one_of
}

#[tokio::test]
async fn the_document_allows_the_answers_the_api_gives() {
    let app = spawn_app().await;
    let doc = app.get("/openapi.json").await.body;
    let schemas = &doc["components"]["schemas"];

    // A lead posted without `fields` is answered with `"fields": null`.
    let answer = app.lead(json!({"transaction_id": "t-no-fields"})).await;
    assert_eq!(answer["lead"]["fields"], Value::Null);
    assert!(
        admits_null(&schemas["Lead"]["properties"]["fields"]),
        "{:#}",
        schemas["Lead"]
    );

    // A refused batch item carries `error` and none of the ingest answer's fields.
    let batch = app.post("/v1/batch", &json!({"items": [5]})).await;
    let item = batch.body["items"][0].as_object().unwrap().clone();
    let mut keys: Vec<&str> = item.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["error", "index", "status"]);
    let schema = &schemas["ItemAnswer"];
    assert_eq!(schema["required"], json!(["index", "status"]), "{schema:#}");
    assert!(schema.get("allOf").is_none(), "{schema:#}");
    for key in ["error", "lead", "conversions", "warnings", "replayed"] {
        assert!(schema["properties"].get(key).is_some(), "{key}: {schema:#}");
    }
}

/// POST `path` without a Content-Type is a 415 problem, and with a body that is not JSON a 400.
async fn answers_body_errors_as_problems(app: &crate::common::TestApp, path: &str) {
    let no_type = app
        .send(app.client.post(app.url(path)).bearer_auth(KEY).body("{}"))
        .await;
    no_type.problem(415);
    let not_json = app
        .send(
            app.client
                .post(app.url(path))
                .bearer_auth(KEY)
                .header("content-type", "application/json")
                .body("\u{0}"),
        )
        .await;
    not_json.problem(400);
}

#[tokio::test]
async fn operator_routes_document_and_answer_their_body_errors() {
    let app = spawn_app().await;
    let doc = app.get("/openapi.json").await.body;
    for path in ["/v1/preview", "/v1/replay", "/v1/test-postback"] {
        let responses = &doc["paths"][path]["post"]["responses"];
        for status in ["400", "401", "413", "415", "422"] {
            assert!(
                responses.get(status).is_some(),
                "{path} does not document {status}"
            );
        }
        answers_body_errors_as_problems(&app, path).await;
    }
}

/// Schemathesis found the admin routes answering undocumented 400 and 415 (a body that is not JSON,
/// or no Content-Type); every operation that takes a JSON body must document both.
#[tokio::test]
async fn every_operation_with_a_json_body_documents_400_and_415() {
    let app = spawn_app().await;
    let doc = app.get("/openapi.json").await.body;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if operation.get("requestBody").is_none() {
                continue;
            }
            checked += 1;
            for status in ["400", "415"] {
                assert!(
                    operation["responses"].get(status).is_some(),
                    "{method} {path} takes a body but does not document {status}"
                );
            }
        }
    }
    assert!(checked >= 12, "only {checked} operations with a body");

    for path in ["/v1/keys", "/v1/pixels", "/v1/rules"] {
        answers_body_errors_as_problems(&app, path).await;
    }
}

/// A lead or event nested in an operator body (preview, test postback) is refused at its field when
/// it is an array, instead of being read by position; a wrong field inside is still named in full.
#[tokio::test]
async fn a_nested_lead_or_event_given_as_an_array_is_refused_at_its_field() {
    let app = spawn_app().await;
    let cases = [
        (
            "/v1/preview",
            json!({"lead": ["t-nested", "a@b.co"]}),
            "lead",
        ),
        (
            "/v1/preview",
            json!({"lead": {"transaction_id": "t-nested"}, "event": ["lead_sold", "buyer-1"]}),
            "event",
        ),
        (
            "/v1/preview",
            json!({"lead": {"transaction_id": "t-nested", "email": 5}}),
            "lead.email",
        ),
        (
            "/v1/test-postback",
            json!({"pixel": PIXEL, "lead": ["t-nested", "a@b.co"]}),
            "lead",
        ),
    ];
    for (path, body, field) in cases {
        let answer = app.post(path, &body).await;
        let problem = answer.problem(422);
        assert_eq!(problem["field"], field, "{path} {body}: {problem:#}");
    }
    // null is the same as absent.
    let answer = app
        .post(
            "/v1/preview",
            &json!({"lead": {"transaction_id": "t-nested"}, "event": null}),
        )
        .await;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    assert_eq!(answer.body["lead"]["transaction_id"], "t-nested");
}
