//! Helpers for Meta's route: a sandbox with Meta pixels, valid events, requests in each encoding.

use serde_json::{Value, json};
use signalpost_sandbox::{RunningSandbox, SandboxConfig};

use super::{Answer, send, start_with};

pub const META_PIXEL: &str = "1234567890123456";
pub const META_TOKEN: &str = "EAAB-meta-token-1";
pub const OTHER_META_PIXEL: &str = "6543210987654321";
pub const OTHER_META_TOKEN: &str = "EAAB-meta-token-2";
pub const VERSION: &str = "v25.0";
/// SHA-256 of "alice_abc@gmail.com".
pub const EM: &str = "848a771458438fc2ec420560d769fb9b9b86851ee338ec56517baabd79d3bb4f";
pub const FBC: &str = "fb.1.1554763741205.AbCdEfGhIjKlMnOpQrStUvWxYz1234567890";

/// The TikTok pixels of [`super::config`] plus two Meta pixels.
pub fn meta_config() -> SandboxConfig {
    SandboxConfig {
        meta_pixels: vec![
            (META_PIXEL.to_owned(), META_TOKEN.to_owned()),
            (OTHER_META_PIXEL.to_owned(), OTHER_META_TOKEN.to_owned()),
        ],
        ..super::config()
    }
}

pub async fn start_meta() -> RunningSandbox {
    start_with(meta_config()).await
}

/// The events path of a pixel.
pub fn events_path(pixel: &str) -> String {
    format!("/{VERSION}/{pixel}/events")
}

/// A valid website event with a current time.
pub fn meta_event(event_id: &str) -> Value {
    json!({
        "event_name": "Purchase",
        "event_time": super::now() - 30,
        "event_id": event_id,
        "action_source": "website",
        "event_source_url": "https://shop.example/thanks",
        "user_data": {"em": [EM], "client_ip_address": "203.0.113.7",
                      "client_user_agent": "Mozilla/5.0 (X11; Linux x86_64)", "fbc": FBC},
        "custom_data": {"value": 25.0, "currency": "USD"}
    })
}

/// POSTs `body` as JSON to `META_PIXEL` with the token in the query string.
pub async fn post_meta(sandbox: &RunningSandbox, body: &Value) -> Answer {
    post_meta_to(sandbox, META_PIXEL, Some(META_TOKEN), body).await
}

/// POSTs `body` as JSON to `pixel`, with `token` in the query string when given.
pub async fn post_meta_to(
    sandbox: &RunningSandbox,
    pixel: &str,
    token: Option<&str>,
    body: &Value,
) -> Answer {
    let path = match token {
        Some(token) => format!("{}?access_token={token}", events_path(pixel)),
        None => events_path(pixel),
    };
    send(
        sandbox,
        reqwest::Method::POST,
        &path,
        &[("Content-Type", "application/json")],
        Some(serde_json::to_vec(body).unwrap()),
    )
    .await
}

/// POSTs raw bytes with a content type to `path`.
pub async fn post_raw(
    sandbox: &RunningSandbox,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Answer {
    send(
        sandbox,
        reqwest::Method::POST,
        path,
        &[("Content-Type", content_type)],
        Some(body),
    )
    .await
}

/// A URL-encoded form body.
pub fn form(fields: &[(&str, &str)]) -> Vec<u8> {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
        .into_bytes()
}

/// A multipart body as `curl -F` sends it, and its content type.
pub fn multipart(fields: &[(&str, &str)]) -> (String, Vec<u8>) {
    let boundary = "------------------------d74496d66958873e";
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (
        format!("multipart/form-data; boundary={boundary}"),
        body.into_bytes(),
    )
}

impl Answer {
    /// Asserts Meta's success answer and returns `events_received`.
    pub fn events_received(&self) -> u64 {
        assert_eq!(self.status, 200, "{}", self.text);
        let json = self.json();
        assert!(
            is_fbtrace_id(json["fbtrace_id"].as_str().unwrap()),
            "{json}"
        );
        assert_eq!(json["messages"], json!([]), "{json}");
        json["events_received"].as_u64().unwrap()
    }

    /// Asserts Meta's error shape with `status`, `code` and `subcode`, and returns the error.
    pub fn meta_error(&self, status: u16, code: i64, subcode: Option<i64>) -> Value {
        assert_eq!(self.status, status, "{}", self.text);
        let error = self.json()["error"].clone();
        assert_eq!(error["code"], code, "{}", self.text);
        assert_eq!(error["error_subcode"].as_i64(), subcode, "{}", self.text);
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{}",
            self.text
        );
        assert!(error["type"].is_string(), "{}", self.text);
        assert!(error["is_transient"].is_boolean(), "{}", self.text);
        assert!(
            is_fbtrace_id(error["fbtrace_id"].as_str().unwrap()),
            "{}",
            self.text
        );
        error
    }
}

/// `A` and 26 URL-safe base64 characters.
pub fn is_fbtrace_id(id: &str) -> bool {
    id.len() == 27
        && id.starts_with('A')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
