//! `DELETE /v1/leads/{transaction_id}`: an admin erases one person; an ingest key cannot; an
//! unknown lead is a 404; the route serves beside `GET /v1/leads/{transaction_id}`.

use serde_json::json;

use crate::common::spawn_app;

#[tokio::test]
async fn an_admin_erases_a_lead_and_everything_it_led_to() {
    let app = spawn_app().await;
    app.lead(
        json!({"transaction_id": "gone-1", "email": "person@example.com",
                    "landing_url": "https://lp.example/form"}),
    )
    .await;
    app.lead(json!({"transaction_id": "kept-1", "landing_url": "https://lp.example/form"}))
        .await;
    app.wait_for_lead("gone-1", |l| l["conversions"][0]["state"] == "delivered")
        .await;

    let ingest = app.create_key("ingest").await;
    let refused = app
        .send(
            app.client
                .delete(app.url("/v1/leads/gone-1"))
                .bearer_auth(&ingest),
        )
        .await;
    refused.problem(403);
    assert_eq!(
        app.get("/v1/leads/gone-1").await.status,
        200,
        "nothing erased"
    );

    let erased = app
        .send(
            app.client
                .delete(app.url("/v1/leads/gone-1"))
                .bearer_auth(crate::common::KEY),
        )
        .await;
    assert_eq!(erased.status, 200, "{:#}", erased.body);
    assert_eq!(erased.body["leads"], 1);
    assert!(erased.body["conversions"].as_u64().unwrap() >= 1);
    assert!(erased.body["attempts"].as_u64().unwrap() >= 1);
    app.get("/v1/leads/gone-1").await.problem(404);
    assert_eq!(app.get("/v1/leads/kept-1").await.status, 200);

    let again = app
        .send(
            app.client
                .delete(app.url("/v1/leads/gone-1"))
                .bearer_auth(crate::common::KEY),
        )
        .await;
    again.problem(404);
}
