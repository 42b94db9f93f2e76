//! `GET /openapi.json` from the running app: served without a key, every schema reference resolves,
//! and every documented operation is answered by the real router (not the unknown-route fallback).

use serde_json::Value;

use crate::common::spawn_app;

fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_served_without_a_key_and_every_reference_resolves() {
    let app = spawn_app().await;
    let answer = app.send(app.client.get(app.url("/openapi.json"))).await;
    assert_eq!(answer.status, 200);
    assert!(answer.content_type().starts_with("application/json"));
    let doc = &answer.body;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut found = Vec::new();
    refs(doc, &mut found);
    assert!(!found.is_empty());
    for r in found {
        let name = r.strip_prefix("#/components/schemas/").unwrap();
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{r} does not resolve"
        );
    }
}

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let app = spawn_app().await;
    let doc = app
        .send(app.client.get(app.url("/openapi.json")))
        .await
        .body;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let url = app.url(&path.replace("{transaction_id}", "some-lead"));
        for method in item.as_object().unwrap().keys() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let answer = app
                .send(
                    app.client
                        .request(method.clone(), &url)
                        .bearer_auth(crate::common::KEY)
                        .header("content-type", "application/json")
                        .body("{}"),
                )
                .await;
            assert_ne!(answer.status, 405, "{method} {path}: {:#}", answer.body);
            let kind = answer.body["type"].as_str().unwrap_or("");
            assert_ne!(
                kind, "urn:signalpost:problem:no-such-route",
                "{method} {path}"
            );
        }
    }
}
