//! Issue 15 item 2: what an ingest key can make the server hold is bounded. A batch is read item by
//! item and refused at item 1,001; its body is limited to 4 MiB (1,000 realistic items are about
//! 1.1 MiB); a lead's `fields` is bounded in keys, depth, size, key and string length while it is
//! read. Every refusal is a problem naming the limit, never a panic, and the server goes on.

use serde_json::{Value, json};
use signalpost::wire::dto::fields::{
    MAX_FIELDS_BYTES, MAX_FIELDS_DEPTH, MAX_FIELDS_KEY_LEN, MAX_FIELDS_KEYS, MAX_FIELDS_STRING_LEN,
};
use signalpost::wire::json::BATCH_BODY_LIMIT;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{Answer, KEY, TestApp, spawn_app};

/// POST a raw JSON body to `path` with the test key.
async fn post_raw(app: &TestApp, path: &str, body: impl Into<reqwest::Body>) -> Answer {
    app.send(
        app.client
            .post(app.url(path))
            .bearer_auth(KEY)
            .header("content-type", "application/json")
            .body(body),
    )
    .await
}

/// A lead as a busy funnel sends it: every identifier, an in-app user agent, a landing URL with UTM
/// tags and a long ttclid, a few custom fields. About 1.1 KiB as compact JSON.
fn realistic_lead(transaction_id: &str) -> Value {
    json!({
        "transaction_id": transaction_id,
        "email": "jennifer.martinez1987@gmail.com",
        "phone": "+1 (415) 555-0134",
        "ip": "2600:1700:3c60:9a10:8d2f:41e5:b7c3:19a4",
        "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 musical_ly_32.5.0 JsSdk/2.0 NetType/WIFI Channel/App Store ByteLocale/en Region/US BytedanceWebview/d8a21c6",
        "landing_url": format!(
            "https://quotes.example-insurance.com/auto/get-quote?utm_source=tiktok&utm_medium=paid_social&utm_campaign=q4_auto_broad_us&utm_content=video_17&ttclid=E.C.P.{}&aid=1233",
            "CsQBVhYzqKgB4n3mB2tHkPQhZ8Xo1vW3r7YcF0sLJpa9dT6uE5iN2wqRbG4yKxHmZ1cVfA8oSjD7lU3eP0tIrW9nQbXhMg".repeat(2)
        ),
        "referrer": "https://www.tiktok.com/",
        "ttp": "2Yh0cQk8sW3ZqVxF1nLm9TgR7pJd4",
        "source": "tiktok-auto-q4",
        "occurred_at": chrono::Utc::now().timestamp() - 60,
        "fields": {"zip": "94107", "state": "CA", "vehicle_year": 2019, "vehicle_make": "Toyota",
                   "currently_insured": true, "credit": "good", "sub_id": "aff_8812_s3",
                   "lead_price": "12.50"}
    })
}

#[tokio::test]
async fn a_thousand_realistic_leads_fit_the_batch_limit_three_times_over() {
    let app = spawn_app().await;
    let items: Vec<Value> = (0..1000)
        .map(|i| json!({"lead": realistic_lead(&format!("real-{i}"))}))
        .collect();
    let body = serde_json::to_vec(&json!({"items": items})).unwrap();
    let pretty = serde_json::to_vec_pretty(&json!({"items": items})).unwrap();
    assert!(body.len() * 3 < BATCH_BODY_LIMIT, "{} bytes", body.len());
    assert!(
        pretty.len() * 2 < BATCH_BODY_LIMIT,
        "{} bytes",
        pretty.len()
    );
    let answer = post_raw(&app, "/v1/batch", pretty).await;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    assert_eq!(answer.body["accepted"], 1000);
    let lead = app.get("/v1/leads/real-999").await;
    assert_eq!(lead.status, 200, "{:#}", lead.body);
    assert_eq!(lead.body["lead"]["fields"]["vehicle_make"], "Toyota");
}

#[tokio::test]
async fn item_1001_refuses_the_whole_batch_naming_the_limit_and_nothing_is_stored() {
    let app = spawn_app().await;
    let items: Vec<Value> = (0..1000)
        .map(|i| json!({"lead": {"transaction_id": format!("many-{i}")}}))
        .collect();
    // Item 1,001 is not even an item the server would accept: it is never read.
    let mut body = serde_json::to_string(&json!({"items": items})).unwrap();
    body.truncate(body.len() - 2);
    body.push_str(r#", {"lead": {"transaction_id": 5}}, "never read"]}"#);
    let answer = post_raw(&app, "/v1/batch", body).await;
    let problem = answer.problem(422);
    assert_eq!(problem["field"], "items");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("more than 1000 items"), "{detail}");
    for id in ["many-0", "many-999"] {
        app.get(&format!("/v1/leads/{id}")).await.problem(404);
    }
}

#[tokio::test]
async fn two_million_tiny_items_are_refused_cleanly_over_or_under_the_body_limit() {
    let app = spawn_app().await;
    // 6 MB: over the body limit, refused from its declared length before it is read.
    let over = format!("{{\"items\": [{}{{}}]}}", "{},".repeat(2_000_000));
    let answer = post_raw(&app, "/v1/batch", over).await;
    let problem = answer.problem(413);
    assert!(
        problem["detail"].as_str().unwrap().contains("4 MiB"),
        "{problem:#}"
    );
    // Just under the limit: 1.4 million items, refused at item 1,001.
    let count = (BATCH_BODY_LIMIT - 20) / 3;
    let under = format!("{{\"items\": [{}{{}}]}}", "{},".repeat(count - 1));
    assert!(under.len() <= BATCH_BODY_LIMIT);
    let answer = post_raw(&app, "/v1/batch", under).await;
    let problem = answer.problem(422);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("more than 1000 items"),
        "{problem:#}"
    );
    still_ingests(&app).await;
}

#[tokio::test]
async fn a_batch_body_at_the_limit_is_read_and_one_byte_more_is_413() {
    let app = spawn_app().await;
    let sized = |id: &str, size: usize| {
        let head = format!(r#"{{"items": [{{"lead": {{"transaction_id": "{id}"}}}}]"#);
        let pad = size - head.len() - 1;
        format!("{head}{}}}", " ".repeat(pad))
    };
    let at = sized("at-limit", BATCH_BODY_LIMIT);
    assert_eq!(at.len(), BATCH_BODY_LIMIT);
    let answer = post_raw(&app, "/v1/batch", at).await;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    assert_eq!(answer.body["items"][0]["status"], 202);

    let over = sized("over-limit", BATCH_BODY_LIMIT + 1);
    let answer = post_raw(&app, "/v1/batch", over).await;
    let problem = answer.problem(413);
    assert_eq!(problem["type"], "urn:signalpost:problem:payload-too-large");
    assert!(
        problem["detail"].as_str().unwrap().contains("(4 MiB)"),
        "{problem:#}"
    );
    app.get("/v1/leads/over-limit").await.problem(404);
}

/// Sends a chunked batch body (no `Content-Length`) of `size` bytes over a raw connection and
/// returns the status line. The final chunk is not sent, so the server has read everything sent
/// when it answers and the connection closes cleanly.
async fn chunked_status(app: &TestApp, size: usize) -> String {
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/batch HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 64 << 10];
    let mut sent = 0;
    while sent < size {
        let n = chunk.len().min(size - sent);
        let framed = [
            format!("{n:x}\r\n").as_bytes(),
            &chunk[..n],
            b"\r\n".as_slice(),
        ]
        .concat();
        if stream.write_all(&framed).await.is_err() {
            break;
        }
        sent += n;
    }
    let mut answer = vec![0; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]).into_owned();
    text.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_chunked_body_is_refused_as_soon_as_it_passes_the_limit() {
    let app = spawn_app().await;
    let status = chunked_status(&app, BATCH_BODY_LIMIT + 1).await;
    assert!(status.contains(" 413 "), "{status}");
    still_ingests(&app).await;
}

/// `{"fields": …}` posted as a lead (`/v1/leads`) and as a batch's second item.
async fn refused_fields(app: &TestApp, fields: Value, expected: &str) {
    let answer = app
        .post(
            "/v1/leads",
            &json!({"transaction_id": "f-single", "fields": fields}),
        )
        .await;
    let problem = answer.problem(422);
    let field = problem["field"].as_str().unwrap();
    assert!(field.starts_with("fields"), "{problem:#}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains(expected), "{expected}: {problem:#}");

    let answer = app
        .post(
            "/v1/batch",
            &json!({"items": [
                {"lead": {"transaction_id": "f-ok"}},
                {"lead": {"transaction_id": "f-batch", "fields": fields}},
            ]}),
        )
        .await;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    let item = &answer.body["items"][1];
    assert_eq!(item["status"], 422, "{item:#}");
    let field = item["error"]["field"].as_str().unwrap();
    assert!(field.starts_with("items[1].lead.fields"), "{item:#}");
    assert!(
        item["error"]["detail"].as_str().unwrap().contains(expected),
        "{item:#}"
    );
    assert_eq!(answer.body["items"][0]["status"], 202);
    for id in ["f-single", "f-batch"] {
        app.get(&format!("/v1/leads/{id}")).await.problem(404);
    }
}

#[tokio::test]
async fn lead_fields_over_each_limit_are_refused_naming_it() {
    let app = spawn_app().await;
    let mut deep = json!(1);
    for _ in 0..MAX_FIELDS_DEPTH {
        deep = json!([deep]);
    }
    refused_fields(&app, json!({"a": deep}), "nested deeper than 5 levels").await;

    let many: serde_json::Map<String, Value> = (0..=MAX_FIELDS_KEYS)
        .map(|i| (format!("k{i}"), json!(i)))
        .collect();
    refused_fields(&app, Value::Object(many), "more than 100 keys").await;

    let big: serde_json::Map<String, Value> = (0..8)
        .map(|i| {
            (
                format!("k{i}"),
                json!("x".repeat(MAX_FIELDS_STRING_LEN / 2)),
            )
        })
        .collect();
    let expected = format!("larger than {MAX_FIELDS_BYTES} bytes");
    refused_fields(&app, Value::Object(big), &expected).await;

    let long_key = "k".repeat(MAX_FIELDS_KEY_LEN + 1);
    refused_fields(&app, json!({long_key: 1}), "longer than 128 characters").await;
    let long_string = "x".repeat(MAX_FIELDS_STRING_LEN + 1);
    refused_fields(
        &app,
        json!({"k": long_string}),
        "longer than 4096 characters",
    )
    .await;

    // At the key and depth limits, and close to the size limit, a lead is still taken.
    let mut nested = json!({"leaf": "y".repeat(100)});
    for _ in 0..MAX_FIELDS_DEPTH - 2 {
        nested = json!({"n": nested});
    }
    let mut full: serde_json::Map<String, Value> = (0..MAX_FIELDS_KEYS - MAX_FIELDS_DEPTH)
        .map(|i| (format!("k{i}"), json!(i)))
        .collect();
    for i in 0..3 {
        full.insert(
            format!("k{i}"),
            json!("z".repeat(MAX_FIELDS_STRING_LEN - 96)),
        );
    }
    full.insert("nested".into(), nested);
    app.lead(json!({"transaction_id": "f-full", "fields": full}))
        .await;
}

#[tokio::test]
async fn depth_bombs_are_answered_with_problems_not_a_crash() {
    let app = spawn_app().await;
    let n = 500_000;
    let bomb = format!("{}{}", "[".repeat(n), "]".repeat(n));

    // In a lead's fields: refused at level 6.
    let body = format!(r#"{{"transaction_id": "bomb-1", "fields": {{"a": {bomb}}}}}"#);
    let answer = post_raw(&app, "/v1/leads", body).await;
    let problem = answer.problem(422);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("nested deeper than 5 levels"),
        "{problem:#}"
    );

    // Unbalanced, so not even JSON: the same.
    let body = format!(
        r#"{{"transaction_id": "bomb-2", "fields": {{"a": {}}}}}"#,
        "[".repeat(n)
    );
    let answer = post_raw(&app, "/v1/leads", body).await;
    assert_eq!(
        answer.problem(422)["field"].as_str().map(|f| &f[..6]),
        Some("fields")
    );

    // As a batch item, in a field that wants a string, and as an item's fields.
    let body = format!(
        r#"{{"items": [{bomb}, {{"lead": {{"email": {bomb}}}}}, {{"lead": {{"fields": {{"a": {bomb}}}}}}}, {{"lead": {{"transaction_id": "bomb-ok"}}}}]}}"#
    );
    let answer = post_raw(&app, "/v1/batch", body).await;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    let statuses: Vec<u64> = answer.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [422, 422, 422, 202]);

    // As the whole body, and as an unbalanced batch body.
    post_raw(&app, "/v1/leads", bomb.clone()).await.problem(400);
    let body = format!(r#"{{"items": [{}"#, "[".repeat(n));
    post_raw(&app, "/v1/batch", body).await.problem(400);
    still_ingests(&app).await;
}

/// After whatever the test sent, the server still takes a normal lead.
async fn still_ingests(app: &TestApp) {
    let answer = app
        .lead(realistic_lead(&format!(
            "after-{}",
            chrono::Utc::now().timestamp_micros()
        )))
        .await;
    assert_eq!(answer["lead"]["fields"]["state"], "CA");
}
