//! `POST /v1/batch`: each item answered on its own.

use serde_json::json;

use crate::common::spawn_app;

#[tokio::test]
async fn a_batch_with_good_and_bad_items_answers_each_one() {
    let app = spawn_app().await;
    let ms = chrono::Utc::now().timestamp_millis();
    let answer = app
        .post(
            "/v1/batch",
            &json!({"items": [
                {"lead": {"transaction_id": "b-1", "email": "b1@example.com"}},
                {"lead": {"transaction_id": "b-2", "occurred_at": ms}},
                {"event": {"transaction_id": "b-1", "type": "lead_sold", "revenue": 5}},
                {"event": {"transaction_id": "b-missing", "type": "lead_sold"}},
                {"event": {"transaction_id": "b-1", "type": "offer_click", "currency": "BTC"}},
                "not an object",
                {"refund": {}}
            ]}),
        )
        .await;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    let items = answer.body["items"].as_array().unwrap();
    let statuses: Vec<u64> = items
        .iter()
        .map(|i| i["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [202, 422, 202, 404, 422, 422, 422]);
    assert_eq!(items[1]["error"]["field"], "items[1].lead.occurred_at");
    assert_eq!(items[4]["error"]["field"], "items[4].event.currency");
    assert_eq!(items[6]["error"]["field"], "items[6].refund");
    assert_eq!(items[2]["conversions"][0]["event"], "Purchase");
    assert_eq!(answer.body["accepted"], 2);
    assert_eq!(answer.body["rejected"], 5);
    let record = app.get("/v1/leads/b-1").await;
    assert_eq!(record.body["events"].as_array().unwrap().len(), 2);
    app.get("/v1/leads/b-2").await.problem(404);
}

#[tokio::test]
async fn an_empty_or_oversized_batch_is_refused_whole() {
    let app = spawn_app().await;
    app.post("/v1/batch", &json!({"items": []}))
        .await
        .problem(422);
    let items: Vec<_> = (0..1001)
        .map(|i| json!({"lead": {"transaction_id": format!("x{i}")}}))
        .collect();
    let answer = app.post("/v1/batch", &json!({"items": items})).await;
    assert_eq!(answer.problem(422)["field"], "items");
}
