//! Helpers for Google Ads' routes: a sandbox with two customers, access tokens from its own
//! `POST /token`, valid conversions and uploads with Google's headers.

use std::time::Duration;

use serde_json::{Value, json};
use signalpost_sandbox::{RunningSandbox, SandboxConfig};

use super::start_with;

pub const CUSTOMER: &str = "1234567890";
pub const DEV_TOKEN: &str = "dev-token-0001";
pub const OTHER_CUSTOMER: &str = "2345678901";
pub const OTHER_DEV_TOKEN: &str = "dev-token-0002";
pub const ACTION: &str = "987654321";
/// A refresh token the sandbox accepts (any non-revoked one is).
pub const REFRESH: &str = "1//refresh-token-0001";
/// SHA-256 of "alice_abc@gmail.com".
pub const EMAIL_HASH: &str = "848a771458438fc2ec420560d769fb9b9b86851ee338ec56517baabd79d3bb4f";

/// The TikTok pixels of [`super::config`] plus two Google Ads customers.
pub fn google_config() -> SandboxConfig {
    SandboxConfig {
        google_ads: vec![
            (CUSTOMER.to_owned(), DEV_TOKEN.to_owned()),
            (OTHER_CUSTOMER.to_owned(), OTHER_DEV_TOKEN.to_owned()),
        ],
        ..super::config()
    }
}

pub async fn start_google() -> RunningSandbox {
    start_with(google_config()).await
}

/// The upload path of a customer in v26.
pub fn upload_path(customer: &str) -> String {
    signalpost_google_ads::upload_path("v26", customer)
}

/// A valid conversion with gclid `gclid`, order id `order` and a current-looking time.
pub fn conversion(gclid: &str, order: &str) -> Value {
    json!({
        "gclid": gclid,
        "conversionAction": format!("customers/{CUSTOMER}/conversionActions/{ACTION}"),
        "conversionDateTime": "2026-03-01 12:32:45-08:00",
        "conversionValue": 42.5,
        "currencyCode": "USD",
        "orderId": order,
        "userIdentifiers": [{"hashedEmail": EMAIL_HASH}],
        "consent": {"adUserData": "GRANTED", "adPersonalization": "GRANTED"}
    })
}

/// `n` valid conversions with gclids `g0…` and order ids `o0…`.
pub fn conversions(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| conversion(&format!("g{i}"), &format!("o{i}")))
        .collect()
}

/// An upload body in partial-failure mode.
pub fn upload_body(conversions: Vec<Value>) -> Value {
    json!({"conversions": conversions, "partialFailure": true})
}

/// What came back, with Google's `request-id` header.
#[derive(Debug)]
pub struct GoogleAnswer {
    pub status: u16,
    pub request_id: Option<String>,
    pub content_type: String,
    pub text: String,
}

impl GoogleAnswer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// Asserts Google's error envelope with `status` and `rpc_status`; returns `error`.
    pub fn google_error(&self, status: u16, rpc_status: &str) -> Value {
        assert_eq!(self.status, status, "{}", self.text);
        let error = self.json()["error"].clone();
        assert_eq!(error["code"], status, "{}", self.text);
        assert_eq!(error["status"], rpc_status, "{}", self.text);
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{}",
            self.text
        );
        assert!(
            self.request_id.as_deref().is_some_and(|id| id.len() == 22),
            "{self:?}"
        );
        error
    }

    /// Asserts a refusal with one Google Ads error `kind: code`; returns the error.
    pub fn ads_error(&self, status: u16, rpc_status: &str, kind: &str, code: &str) -> Value {
        let error = self.google_error(status, rpc_status);
        let detail = &error["details"][0];
        assert_eq!(
            detail["requestId"].as_str(),
            self.request_id.as_deref(),
            "{}",
            self.text
        );
        let first = detail["errors"][0].clone();
        assert_eq!(first["errorCode"][kind], code, "{}", self.text);
        first
    }
}

/// Sends `body` to `path` with `headers`.
pub async fn send_google(
    sandbox: &RunningSandbox,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
    timeout: Option<Duration>,
) -> Result<GoogleAnswer, reqwest::Error> {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", sandbox.base_url()))
        .body(body);
    if let Some(timeout) = timeout {
        request = request.timeout(timeout);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await?;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (request_id, content_type) = (header("request-id"), header("content-type"));
    let status = response.status().as_u16();
    let text = response.text().await?;
    Ok(GoogleAnswer {
        status,
        request_id,
        content_type: content_type.unwrap_or_default(),
        text,
    })
}

/// `POST /token` with form `fields`.
pub async fn token_request(sandbox: &RunningSandbox, fields: &[(&str, &str)]) -> GoogleAnswer {
    let body = super::meta::form(fields);
    send_google(
        sandbox,
        "/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body,
        None,
    )
    .await
    .unwrap()
}

/// The form fields of a refresh-token grant for `refresh`.
pub fn grant(refresh: &str) -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", "refresh_token".to_owned()),
        ("client_id", "c1.apps.googleusercontent.com".to_owned()),
        ("client_secret", "secret".to_owned()),
        ("refresh_token", refresh.to_owned()),
    ]
}

/// A fresh access token for `refresh_token`.
pub async fn access_token(sandbox: &RunningSandbox, refresh_token: &str) -> String {
    let answer = token_request(
        sandbox,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "client-1.apps.googleusercontent.com"),
            ("client_secret", "client-secret-1"),
            ("refresh_token", refresh_token),
        ],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()["access_token"].as_str().unwrap().to_owned()
}

/// POSTs `body` to `CUSTOMER` with `token` and the customer's developer token.
pub async fn upload(sandbox: &RunningSandbox, token: &str, body: &Value) -> GoogleAnswer {
    upload_as(sandbox, CUSTOMER, Some(token), Some(DEV_TOKEN), &[], body).await
}

/// POSTs `body` to `customer`, with the bearer and developer tokens when given and `extra` headers.
pub async fn upload_as(
    sandbox: &RunningSandbox,
    customer: &str,
    token: Option<&str>,
    developer_token: Option<&str>,
    extra: &[(&str, &str)],
    body: &Value,
) -> GoogleAnswer {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers: Vec<(&str, &str)> = vec![("Content-Type", "application/json")];
    if let Some(bearer) = &bearer {
        headers.push(("Authorization", bearer));
    }
    if let Some(dev) = developer_token {
        headers.push(("developer-token", dev));
    }
    headers.extend_from_slice(extra);
    send_google(
        sandbox,
        &upload_path(customer),
        &headers,
        serde_json::to_vec(body).unwrap(),
        None,
    )
    .await
    .unwrap()
}
