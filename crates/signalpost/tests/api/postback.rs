//! The GET postback of offer-wall networks: key in the query, same semantics as the events endpoint.

use serde_json::json;

use crate::common::{KEY, spawn_app};

#[tokio::test]
async fn postback_with_query_key_records_the_event() {
    let app = spawn_app().await;
    app.lead(json!({"transaction_id": "t-pb"})).await;
    let url = format!(
        "{}/v1/postback?key={KEY}&transaction_id=t-pb&type=lead_sold&revenue=12.50&currency=usd&offer=&sub9=x",
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
    let url = format!(
        "{}/v1/postback?key={KEY}&transaction_id=t-pb2&type=offer_conversion&revenue=%7Bpayout%7D",
        app.base
    );
    let answer = app.send(app.client.get(&url)).await;
    assert_eq!(answer.problem(422)["field"], "revenue");
}
