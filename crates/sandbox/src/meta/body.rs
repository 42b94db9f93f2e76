//! Reads a Meta request's parameters, whatever the encoding: the query string, then the body as
//! JSON, form-encoded or multipart (text fields). Graph reads parameters from both places; a body
//! parameter wins over a query one. Values of form and multipart fields stay strings (`data` is a
//! JSON string there); the validator reads those.

use std::collections::HashMap;

use axum::http::{HeaderMap, header};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use signalpost_meta::MetaError;

use super::multipart;

/// The request's parameters, or why its body could not be read.
pub(crate) struct Params {
    pub map: Map<String, Value>,
    /// Why the body could not be read; reported after the token and pixel checks, as Graph
    /// authenticates before it reads parameters.
    pub body_error: Option<MetaError>,
    /// The text of `data` exactly as sent (JSON bodies: its raw member; forms: the field), so
    /// inspection can show each event byte for byte.
    pub data_text: Option<String>,
}

impl Params {
    /// The `access_token` parameter, if it is a string.
    pub fn access_token(&self) -> Option<&str> {
        self.map.get("access_token").and_then(Value::as_str)
    }
}

/// Merges the query string and the body.
pub(crate) fn read(query: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Params {
    let mut map = Map::new();
    if let Some(query) = query {
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            map.insert(key.into_owned(), Value::String(value.into_owned()));
        }
    }
    let mut data_text = None;
    let body_error = match decode_body(headers, body) {
        Ok((fields, raw_data)) => {
            map.extend(fields);
            data_text = raw_data;
            None
        }
        Err(err) => Some(err),
    };
    if data_text.is_none() {
        data_text = map.get("data").and_then(Value::as_str).map(str::to_owned);
    }
    Params {
        map,
        body_error,
        data_text,
    }
}

/// Each event of `data` as sent: the raw JSON of an object item, or the text inside a string item
/// (the Python SDK sends each event as a JSON string). `None` when `data` is not a list of those.
pub(crate) fn raw_events(data_text: &str) -> Option<Vec<Box<RawValue>>> {
    let text = unquote(data_text)?;
    let items: Vec<&RawValue> = serde_json::from_str(&text).ok()?;
    items
        .into_iter()
        .map(|item| RawValue::from_string(unquote(item.get())?).ok())
        .collect()
}

/// The text of a JSON string literal, or the JSON itself when it is not a string.
fn unquote(json: &str) -> Option<String> {
    if json.trim_start().starts_with('"') {
        serde_json::from_str::<String>(json).ok()
    } else {
        Some(json.to_owned())
    }
}

/// The body's parameters and, for JSON bodies, the raw text of `data`.
type Decoded = (Map<String, Value>, Option<String>);

fn decode_body(headers: &HeaderMap, body: &[u8]) -> Result<Decoded, MetaError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok((Map::new(), None));
    }
    match media.as_str() {
        "application/json" => match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => {
                let raw = serde_json::from_slice::<HashMap<String, &RawValue>>(body)
                    .ok()
                    .and_then(|top| top.get("data").map(|d| d.get().to_owned()));
                Ok((map, raw))
            }
            Ok(_) => Err(bad_body("the JSON body must be an object")),
            Err(err) => Err(bad_body(&format!("the body is not valid JSON ({err})"))),
        },
        // curl -d sends form encoding by default; a body without a type is read the same way.
        "application/x-www-form-urlencoded" | "" => Ok((
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect(),
            None,
        )),
        "multipart/form-data" => {
            let boundary = multipart::boundary(content_type)
                .ok_or_else(|| bad_body("multipart/form-data needs a boundary parameter"))?;
            let fields = multipart::fields(body, boundary)
                .map_err(|why| bad_body(&format!("malformed multipart body: {why}")))?;
            Ok((
                fields
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect(),
                None,
            ))
        }
        other => Err(bad_body(&format!(
            "unsupported Content-Type {other:?}: send application/json, application/x-www-form-urlencoded or multipart/form-data"
        ))),
    }
}

fn bad_body(what: &str) -> MetaError {
    MetaError::invalid(
        "(#100) Invalid request body",
        None,
        "Invalid Request Body",
        format!("The request body could not be read: {what}."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(content_type: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(content_type).unwrap(),
        );
        h
    }

    #[test]
    fn merges_query_and_body_with_the_body_winning() {
        let p = read(
            Some("access_token=q&test_event_code=TEST1"),
            &headers("application/json; charset=utf-8"),
            br#"{"access_token":"b","data":[]}"#,
        );
        assert!(p.body_error.is_none());
        assert_eq!(p.access_token(), Some("b"));
        assert_eq!(p.map["test_event_code"], "TEST1");
        assert!(p.map["data"].is_array());
    }

    #[test]
    fn reads_form_encoding_as_strings() {
        let p = read(
            None,
            &headers("application/x-www-form-urlencoded"),
            b"data=%5B%5D&access_token=t%2B1",
        );
        assert_eq!(p.map["data"], "[]");
        assert_eq!(p.access_token(), Some("t+1"));
    }

    #[test]
    fn keeps_each_event_as_sent() {
        let p = read(
            None,
            &headers("application/json"),
            br#"{"data": [ {"z": 1,  "a": 2.50} ]}"#,
        );
        let raws = raw_events(p.data_text.as_deref().unwrap()).unwrap();
        assert_eq!(raws[0].get(), r#"{"z": 1,  "a": 2.50}"#);
        let sdk = r#"["{\"z\": 1, \"a\": 2}", {"b":1}]"#;
        let raws = raw_events(sdk).unwrap();
        assert_eq!(raws[0].get(), r#"{"z": 1, "a": 2}"#);
        assert_eq!(raws[1].get(), r#"{"b":1}"#);
        assert!(raw_events("[\"{broken\"]").is_none());
        assert!(raw_events("{}").is_none());
    }

    #[test]
    fn refuses_unreadable_bodies_but_keeps_the_query_token() {
        for (content_type, body) in [
            ("application/json", &b"{not json"[..]),
            ("application/json", &b"[1]"[..]),
            ("text/plain", &b"data=x"[..]),
            ("multipart/form-data", &b"--x\r\n"[..]),
        ] {
            let p = read(Some("access_token=q"), &headers(content_type), body);
            assert!(p.body_error.is_some(), "{content_type}");
            assert_eq!(p.access_token(), Some("q"));
        }
    }
}
