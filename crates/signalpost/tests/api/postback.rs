//! The GET postback of offer-wall networks: a postback-scoped key in the query, same semantics as the
//! events endpoint.

use serde_json::json;

use crate::common::{KEY, spawn_app};

#[tokio::test]
async fn postback_with_query_key_records_the_event() {
    let app = spawn_app().await;
    app.lead(json!({"transaction_id": "t-pb"})).await;
    let key = app.create_key("postback").await;
    let url = format!(
        "{}/v1/postback?key={key}&transaction_id=t-pb&type=lead_sold&revenue=12.50&currency=usd&offer=&sub9=x",
        app.base
    );
    let answer = app.send(app.client.get(&url)).await;
    assert_eq!(answer.status, 202, "{:#}", answer.body);
    assert_eq!(answer.body["conversions"][0]["event"], "Purchase");
    let record = app.get("/v1/leads/t-pb").await;
    let sold = &record.body["events"][1];
    assert_eq!(sold["trigger"], "lead_sold");
    assert_eq!(sold["revenue"], 12.5);
    assert_eq!(sold["currency"], "USD");
}

#[tokio::test]
async fn postback_without_or_with_a_wrong_key_is_401() {
    let app = spawn_app().await;
    let missing = app
        .send(
            app.client
                .get(app.url("/v1/postback?transaction_id=t&type=lead_sold")),
        )
        .await;
    missing.problem(401);
    let wrong = app
        .send(
            app.client
                .get(app.url("/v1/postback?key=wrong-wrong-wrong&transaction_id=t&type=lead_sold")),
        )
        .await;
    wrong.problem(401);
}

#[tokio::test]
async fn postback_with_a_bad_revenue_macro_names_revenue() {
    let app = spawn_app().await;
    app.lead(json!({"transaction_id": "t-pb2"})).await;
    let key = app.create_key("postback").await;
    let url = format!(
        "{}/v1/postback?key={key}&transaction_id=t-pb2&type=offer_conversion&revenue=%7Bpayout%7D",
        app.base
    );
    let answer = app.send(app.client.get(&url)).await;
    assert_eq!(answer.problem(422)["field"], "revenue");
}

#[tokio::test]
async fn admin_and_ingest_keys_are_refused_in_a_url_and_a_postback_key_can_do_nothing_else() {
    let app = spawn_app().await;
    app.lead(json!({"transaction_id": "t-scope", "email": "scope@example.com"}))
        .await;
    let ingest = app.create_key("ingest").await;
    let postback = app.create_key("postback").await;
    let fire = |key: &str| {
        app.client.get(format!(
            "{}/v1/postback?key={key}&transaction_id=t-scope&type=lead_sold&revenue=5",
            app.base
        ))
    };

    // The attack: a key read from a network's logs. Admin and ingest keys are refused in the URL,
    // and nothing is recorded.
    for strong in [KEY, ingest.as_str()] {
        let refused = app.send(fire(strong)).await;
        let problem = refused.problem(403);
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("refused in a URL"),
            "{problem:#}"
        );
    }
    let record = app.get("/v1/leads/t-scope").await;
    assert_eq!(
        record.body["events"].as_array().unwrap().len(),
        1,
        "only form_submit"
    );

    // A postback key read from the same logs cannot read a lead, post a lead or manage anything.
    for (method, path) in [
        ("GET", "/v1/leads/t-scope"),
        ("POST", "/v1/leads"),
        ("GET", "/v1/keys"),
        ("GET", "/v1/pixels"),
    ] {
        let request = match method {
            "GET" => app.client.get(app.url(path)),
            _ => app
                .client
                .post(app.url(path))
                .json(&json!({"transaction_id": "t-x"})),
        };
        let answer = app.send(request.bearer_auth(&postback)).await;
        let problem = answer.problem(403);
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("postback scope"),
            "{path}: {problem:#}"
        );
    }

    // It fires the postback, in the URL or as a bearer header; the other keys still work as bearer.
    assert_eq!(app.send(fire(&postback)).await.status, 202);
    let as_header = app
        .send(
            app.client
                .get(app.url("/v1/postback?transaction_id=t-scope&type=offer_click"))
                .bearer_auth(&ingest),
        )
        .await;
    assert_eq!(as_header.status, 202, "{:#}", as_header.body);
    let record = app.get("/v1/leads/t-scope").await;
    assert_eq!(record.body["events"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn a_bad_scope_is_refused_at_the_field() {
    let app = spawn_app().await;
    let answer = app
        .post("/v1/keys", &json!({"scope": "read-only", "label": "x"}))
        .await;
    let problem = answer.problem(422);
    assert_eq!(problem["field"], "scope", "{problem:#}");
    assert!(
        problem["detail"].as_str().unwrap().contains("postback"),
        "{problem:#}"
    );
}
