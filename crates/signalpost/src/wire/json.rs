//! Reading JSON bodies so that every way a body can be wrong becomes a problem naming the field:
//! a missing or foreign `Content-Type` (415), a body over the route's limit (413), broken JSON (400),
//! and a wrong type, a missing field or an unknown field (422, with the JSON path found by
//! `serde_path_to_error`). Axum's own `Json` extractor answers these in plain text without a path.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use super::problem::{ApiError, FieldError, join_path};

/// Body limit of single-item endpoints (every route but the batch). A lead at every field's limit
/// is about 40 KiB (16 KiB of `fields`, two 4 KiB URLs, a 2 KiB user agent …); even with every
/// character escaped as `\uXXXX` it stays under 1 MiB. The admin and console routes share it.
pub const SINGLE_BODY_LIMIT: usize = 1 << 20;
/// Body limit of `POST /v1/batch`: 1,000 realistic items with room to spare. A realistic lead
/// item (email, phone, IPv6, an in-app user agent, a landing URL with UTM tags and a ~250-character
/// ttclid, a referrer, `_ttp`, eight custom fields) is 1.1 KiB as compact JSON, 1.4 KiB pretty-printed,
/// so 1,000 of them are 1.1 to 1.4 MiB; 4 MiB is about three times that. Senders whose leads carry
/// near-limit `fields` send smaller batches. The limit also bounds what a hostile batch costs: the
/// body is held once (never a `Value` tree), so 20 concurrent ones stay well under 200 MB.
pub const BATCH_BODY_LIMIT: usize = 4 << 20;

/// A JSON body whose rejections are problems. Route limits come from `DefaultBodyLimit`.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        check_json_content_type(&req)?;
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                // Every route reading an `ApiJson` has the router-wide limit.
                ApiError::PayloadTooLarge {
                    limit_bytes: Some(SINGLE_BODY_LIMIT),
                }
            } else {
                ApiError::BadRequest {
                    detail: "the request body could not be read".into(),
                    field: None,
                }
            }
        })?;
        from_slice(&bytes, "").map(ApiJson)
    }
}

/// Reads a JSON request body of at most `limit` bytes into one buffer, for handlers that parse it
/// themselves (the batch streams its items). A declared `Content-Length` over the limit is refused
/// before a byte is read, and a body that grows past it is refused as soon as it does; the buffer
/// never holds more than `limit` bytes, nor has room for more.
pub async fn read_body(req: Request, limit: usize) -> Result<Vec<u8>, ApiError> {
    use axum::body::HttpBody;

    check_json_content_type(&req)?;
    let too_large = || ApiError::PayloadTooLarge {
        limit_bytes: Some(limit),
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut buffer = Vec::with_capacity(declared.map_or(0, |n| n as usize));
    let mut body = req.into_body();
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        let frame = frame.map_err(|_| ApiError::BadRequest {
            detail: "the request body could not be read".into(),
            field: None,
        })?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        let needed = buffer.len() + data.len();
        if needed > limit {
            return Err(too_large());
        }
        if needed > buffer.capacity() {
            // Amortized growth, but never past the limit.
            let target = (buffer.capacity() * 2).clamp(needed, limit);
            buffer.reserve_exact(target - buffer.len());
        }
        buffer.extend_from_slice(&data);
    }
    Ok(buffer)
}

/// Accepts `application/json` and any `application/*+json`, with parameters (`; charset=utf-8`).
fn check_json_content_type(req: &Request) -> Result<(), ApiError> {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return Err(ApiError::UnsupportedMediaType { found: None });
    };
    let text = value.to_str().unwrap_or("");
    let essence = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let is_json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if is_json {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType {
            found: Some(text.to_owned()),
        })
    }
}

/// Deserializes `bytes` as `T`; errors name their path under `prefix` (`items[3]` in a batch).
///
/// Every request body is a JSON object: an array is refused here, because serde would otherwise
/// read a struct from it by position (`["t-1", "a@b.co"]` as a lead).
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8], prefix: &str) -> Result<T, ApiError> {
    let first = bytes
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if first == Some(&b'[') {
        return Err(not_an_object(prefix, "an array"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| classify(e, prefix))?;
    de.end().map_err(|e| ApiError::MalformedJson {
        detail: strip_position(&e),
        field: None,
    })?;
    Ok(value)
}

/// Deserializes an object already split into its members (a batch item's `event` without its
/// `transaction_id`), each still unparsed JSON; errors name their path under `prefix`.
pub fn from_entries<T: DeserializeOwned>(
    entries: Vec<(String, &serde_json::value::RawValue)>,
    prefix: &str,
) -> Result<T, ApiError> {
    let map = serde::de::value::MapDeserializer::<_, serde_json::Error>::new(entries.into_iter());
    serde_path_to_error::deserialize(map).map_err(|e| classify(e, prefix))
}

/// `#[serde(default, deserialize_with = "object_only")]` for an optional struct nested in a body
/// (`lead`, `event`): null or absent is `None`, an object is read by name, and anything else, an
/// array in particular, is refused at the field's path. A derived struct would otherwise accept an
/// array and read its fields by position.
pub fn object_only<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    use std::marker::PhantomData;

    use serde::de::{MapAccess, Visitor, value::MapAccessDeserializer};

    struct Object<T>(PhantomData<T>);

    impl<'de, T: serde::Deserialize<'de>> Visitor<'de> for Object<T> {
        type Value = Option<T>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D2: serde::Deserializer<'de>>(
            self,
            deserializer: D2,
        ) -> Result<Self::Value, D2::Error> {
            deserializer.deserialize_map(self)
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            // The map access keeps the caller's path tracking, so a bad field inside is still
            // named in full (`lead.email`).
            T::deserialize(MapAccessDeserializer::new(map)).map(Some)
        }
    }

    deserializer.deserialize_option(Object(PhantomData))
}

/// The body (a 400: no field to name) or the value at `prefix` (a 422 naming it) is not an object.
pub(crate) fn not_an_object(prefix: &str, found: &str) -> ApiError {
    if prefix.is_empty() {
        ApiError::BadRequest {
            detail: format!("the request body must be a JSON object, not {found}"),
            field: None,
        }
    } else {
        ApiError::invalid(
            prefix,
            format!("{prefix} must be a JSON object, not {found}"),
        )
    }
}

fn classify(err: serde_path_to_error::Error<serde_json::Error>, prefix: &str) -> ApiError {
    let path = render_path(err.path());
    let inner = err.inner();
    let message = strip_position(inner);
    match inner.classify() {
        Category::Syntax | Category::Eof | Category::Io => ApiError::MalformedJson {
            detail: message,
            field: Some(join_path(prefix, &path)).filter(|p| !p.is_empty()),
        },
        Category::Data => {
            // serde reports a missing field at its parent; name the field itself.
            let field = match backticked_after(&message, "missing field ") {
                Some(missing) => join_path(&path, missing),
                // The body itself has the wrong type (`5`, `"text"`, `null`): no field to name.
                None if path.is_empty() && prefix.is_empty() => {
                    return ApiError::BadRequest {
                        detail: format!("the request body must be a JSON object: {message}"),
                        field: None,
                    };
                }
                None => path,
            };
            let field = join_path(prefix, &field);
            let detail = friendlier(&message);
            ApiError::Invalid(vec![FieldError::new(field, detail)])
        }
    }
}

/// `serde_path_to_error` renders the root as `.` and fields as `a.b[3].c`; we want `` for the root.
fn render_path(path: &serde_path_to_error::Path) -> String {
    let text = path.to_string();
    if text == "." { String::new() } else { text }
}

/// serde_json appends " at line L column C"; the field path says more than a column in one line.
pub(crate) fn strip_position(err: &serde_json::Error) -> String {
    let full = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    full.strip_suffix(&suffix).unwrap_or(&full).to_owned()
}

fn backticked_after<'a>(message: &'a str, lead: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(lead)?.strip_prefix('`')?;
    rest.split('`').next()
}

/// Rewords serde's messages where they would puzzle a client developer.
fn friendlier(message: &str) -> String {
    if let Some(field) = backticked_after(message, "missing field ") {
        return format!("{field} is required");
    }
    if let Some(field) = backticked_after(message, "unknown field ") {
        let expected = message.split_once(", expected").map(|(_, e)| e.trim());
        return match expected {
            Some(expected) => format!("unknown field {field:?}; expected {expected}"),
            None => format!("unknown field {field:?}"),
        };
    }
    message.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        email: Option<String>,
        count: u32,
        nested: Option<Vec<Inner>>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        at: i64,
    }

    fn field_of(err: ApiError) -> (u16, Option<String>, String) {
        let p = err.problem();
        (p.status, p.field, p.detail)
    }

    #[test]
    fn wrong_type_names_the_field_and_answers_422() {
        let err = from_slice::<Item>(br#"{"email": 5, "count": 1}"#, "").unwrap_err();
        let (status, field, detail) = field_of(err);
        assert_eq!(status, 422);
        assert_eq!(field.as_deref(), Some("email"));
        assert!(detail.contains("invalid type: integer `5`"), "{detail}");
        assert!(!detail.contains("line 1"), "{detail}");
    }

    #[test]
    fn nested_wrong_type_names_the_full_path_under_a_prefix() {
        let body = br#"{"count": 1, "nested": [{"at": 1}, {"at": "x"}]}"#;
        let err = from_slice::<Item>(body, "items[3]").unwrap_err();
        assert_eq!(field_of(err).1.as_deref(), Some("items[3].nested[1].at"));
    }

    #[test]
    fn missing_field_is_named_itself_not_its_parent() {
        let err = from_slice::<Item>(br#"{"nested": [{}], "count": 2}"#, "").unwrap_err();
        let (status, field, detail) = field_of(err);
        assert_eq!(status, 422);
        assert_eq!(field.as_deref(), Some("nested[0].at"));
        assert_eq!(detail, "at is required");
    }

    #[test]
    fn unknown_field_is_rejected_by_name() {
        let err = from_slice::<Item>(br#"{"emial": "a@b.c", "count": 1}"#, "").unwrap_err();
        let (status, field, detail) = field_of(err);
        assert_eq!(status, 422);
        assert_eq!(field.as_deref(), Some("emial"));
        assert!(detail.starts_with("unknown field \"emial\""), "{detail}");
    }

    #[test]
    fn broken_json_is_400_malformed() {
        for body in [
            &b"{"[..],
            b"{\"count\": }",
            b"not json",
            b"{\"count\":1} trailing",
            b"",
        ] {
            let err = from_slice::<Item>(body, "").unwrap_err();
            assert!(
                matches!(err, ApiError::MalformedJson { .. }),
                "{:?} → {err:?}",
                String::from_utf8_lossy(body)
            );
            assert_eq!(err.status(), 400);
        }
    }

    #[test]
    fn a_body_that_is_not_an_object_is_400_and_never_read_by_position() {
        for body in [&b" [\"a@b.c\", 1]"[..], b"[]", b"5", b"\"text\"", b"null"] {
            let err = from_slice::<Item>(body, "").unwrap_err();
            let (status, field, detail) = field_of(err);
            assert_eq!(status, 400, "{}", String::from_utf8_lossy(body));
            assert_eq!(field, None);
            assert!(detail.contains("must be a JSON object"), "{detail}");
        }
        let err = from_slice::<Item>(b"[null, 1]", "items[2].lead").unwrap_err();
        let (status, field, _) = field_of(err);
        assert_eq!((status, field.as_deref()), (422, Some("items[2].lead")));
    }

    #[test]
    fn batch_items_carry_their_index() {
        let err = from_slice::<Item>(br#"{"count": -1}"#, "items[7]").unwrap_err();
        assert_eq!(field_of(err).1.as_deref(), Some("items[7].count"));
    }

    #[test]
    fn members_read_by_name_name_their_path_under_a_prefix() {
        use serde_json::value::RawValue;
        let raw = |s: &'static str| -> &'static RawValue { serde_json::from_str(s).unwrap() };
        let ok: Item = from_entries(vec![("count".into(), raw("3"))], "").unwrap();
        assert_eq!(ok.count, 3);
        let err = from_entries::<Item>(
            vec![("count".into(), raw("1")), ("email".into(), raw("5"))],
            "items[1].event",
        )
        .unwrap_err();
        let (status, field, detail) = field_of(err);
        assert_eq!(
            (status, field.as_deref()),
            (422, Some("items[1].event.email"))
        );
        assert!(detail.contains("invalid type: integer `5`"), "{detail}");
        let err =
            from_entries::<Item>(vec![("emial".into(), raw("1"))], "items[0].event").unwrap_err();
        assert_eq!(field_of(err).1.as_deref(), Some("items[0].event.emial"));
        let err = from_entries::<Item>(Vec::new(), "items[0].event").unwrap_err();
        let (_, field, detail) = field_of(err);
        assert_eq!(field.as_deref(), Some("items[0].event.count"));
        assert_eq!(detail, "count is required");
    }
}
