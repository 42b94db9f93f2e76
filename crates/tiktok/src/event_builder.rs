//! Builds TikTok's `data[]` event from raw lead fields: identifiers normalized and hashed
//! (`identity`), click and browser signals copied raw, blanks dropped. Used by the gateway's ingest,
//! the `send` command and the benchmark. The raw values only pass through: nothing here stores or
//! logs them, and a field that cannot be normalized is left out and reported by name.

use crate::identity::{Field, IdentifierError, Region, hash_email, hash_external_id, hash_phone};
use crate::model::{Event, Page, Properties, User};

/// Raw identity fields of a lead, as received (any may be missing or blank).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawIdentity<'a> {
    pub email: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub external_id: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    /// TikTok click id; when missing it is taken from the landing URL's `ttclid` query parameter
    /// (see [`RawEvent::page_url`]).
    pub ttclid: Option<&'a str>,
    /// `_ttp` cookie value.
    pub ttp: Option<&'a str>,
    pub locale: Option<&'a str>,
}

/// A field left out of the event, and why. The message names the field, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} left out: {error}")]
pub struct FieldProblem {
    pub field: Field,
    pub error: IdentifierError,
}

/// The `user` object and the fields that had to be left out of it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BuiltUser {
    pub user: User,
    pub problems: Vec<FieldProblem>,
}

/// Hashes and copies a lead's identity into TikTok's `user` object. Blank fields are treated as
/// missing, not as errors; a field that cannot be normalized (an email without `@`, an invalid
/// phone) is left out and listed in `problems` so the caller can warn.
pub fn build_user(raw: &RawIdentity<'_>, default_region: Region) -> BuiltUser {
    let mut problems = Vec::new();
    let mut hashed = |field: Field, value: Option<&str>| {
        let value = present(value)?;
        let result = match field {
            Field::Email => hash_email(value),
            Field::Phone => hash_phone(value, default_region),
            Field::ExternalId => hash_external_id(value),
        };
        match result {
            Ok(hash) => Some(hash.into_string()),
            Err(error) => {
                problems.push(FieldProblem { field, error });
                None
            }
        }
    };
    let user = User {
        email: hashed(Field::Email, raw.email),
        phone: hashed(Field::Phone, raw.phone),
        external_id: hashed(Field::ExternalId, raw.external_id),
        ttclid: present(raw.ttclid).map(str::to_owned),
        ttp: present(raw.ttp).map(str::to_owned),
        ip: present(raw.ip).map(str::to_owned),
        user_agent: present(raw.user_agent).map(str::to_owned),
        locale: present(raw.locale).map(str::to_owned),
    };
    BuiltUser { user, problems }
}

/// One conversion to report, from raw inputs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RawEvent<'a> {
    /// TikTok event name (validated by the caller's rules).
    pub event: &'a str,
    /// When the conversion happened, Unix seconds UTC.
    pub event_time: i64,
    /// Dedup key: the same conversion must always carry the same id.
    pub event_id: Option<&'a str>,
    pub value: Option<f64>,
    pub currency: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub page_url: Option<&'a str>,
    pub referrer: Option<&'a str>,
    pub identity: RawIdentity<'a>,
}

/// The event and the identity fields that had to be left out of it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BuiltEvent {
    pub event: Event,
    pub problems: Vec<FieldProblem>,
}

/// Builds a `data[]` event. `properties` is sent only when something is in it (a zero value
/// counts: 0 is a value), `page` only with a URL, `user` only when it has a field.
pub fn build_event(raw: &RawEvent<'_>, default_region: Region) -> BuiltEvent {
    let mut identity = raw.identity;
    let from_url;
    if present(identity.ttclid).is_none() {
        from_url = raw.page_url.and_then(ttclid_from_url);
        identity.ttclid = from_url.as_deref();
    }
    let BuiltUser { user, problems } = build_user(&identity, default_region);
    let properties = Properties {
        value: raw.value,
        currency: present(raw.currency).map(str::to_owned),
        content_type: present(raw.content_type).map(str::to_owned),
        ..Properties::default()
    };
    let has_properties = properties.value.is_some()
        || properties.currency.is_some()
        || properties.content_type.is_some();
    let event = Event {
        event: raw.event.to_owned(),
        event_time: raw.event_time,
        event_id: present(raw.event_id).map(str::to_owned),
        user: (user != User::default()).then_some(user),
        properties: has_properties.then_some(properties),
        page: present(raw.page_url).map(|url| Page {
            url: url.to_owned(),
            referrer: present(raw.referrer).map(str::to_owned),
        }),
        ..Event::default()
    };
    BuiltEvent { event, problems }
}

/// The `ttclid` query parameter of a landing URL, if it has a non-empty one. TikTok appends it to
/// ad landing pages; taking it from there is how most server events get attributed.
pub fn ttclid_from_url(url: &str) -> Option<String> {
    // Cheap pre-check: most URLs have no ttclid and need no parsing.
    if !url.contains("ttclid=") {
        return None;
    }
    let parsed = reqwest::Url::parse(url).ok()?;
    parsed
        .query_pairs()
        .find(|(k, v)| k == "ttclid" && !v.trim().is_empty())
        .map(|(_, v)| v.trim().to_owned())
}

/// The trimmed value, or `None` if missing or blank.
fn present(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMAIL_HASH: &str = "848a771458438fc2ec420560d769fb9b9b86851ee338ec56517baabd79d3bb4f";
    const PHONE_HASH: &str = "9f7ec22d72092cd3c0b58726ed9c2d91b92e51a3f29837508fb2948bb22dd2fd";
    const EXTERNAL_ID_HASH: &str =
        "80fba0ae1c48e3978e43e4efc365e14e12ea0c830ba8ba5b9a2dafc7e3f2ab8b";

    #[test]
    fn hashes_identifiers_and_copies_signals_raw() {
        let built = build_user(
            &RawIdentity {
                email: Some(" ALICE_abc@gmail.com "),
                phone: Some("(+1)2133734253"),
                external_id: Some("user_123"),
                ip: Some("203.0.113.1"),
                user_agent: Some("Mozilla/5.0"),
                ttclid: Some("E.C.P.abc"),
                ttp: Some("ttp-cookie"),
                locale: Some("en-US"),
            },
            Region::US,
        );
        assert!(built.problems.is_empty());
        let user = built.user;
        assert_eq!(user.email.as_deref(), Some(EMAIL_HASH));
        assert_eq!(user.phone.as_deref(), Some(PHONE_HASH));
        assert_eq!(user.external_id.as_deref(), Some(EXTERNAL_ID_HASH));
        assert_eq!(user.ip.as_deref(), Some("203.0.113.1"));
        assert_eq!(user.user_agent.as_deref(), Some("Mozilla/5.0"));
        assert_eq!(user.ttclid.as_deref(), Some("E.C.P.abc"));
        assert_eq!(user.ttp.as_deref(), Some("ttp-cookie"));
        assert_eq!(user.locale.as_deref(), Some("en-US"));
    }

    #[test]
    fn leaves_out_bad_identifiers_and_names_them_without_their_values() {
        let built = build_user(
            &RawIdentity {
                email: Some("no-at-sign"),
                phone: Some("12"),
                external_id: Some("  "),
                ip: Some(""),
                ..RawIdentity::default()
            },
            Region::US,
        );
        assert_eq!(built.user, User::default());
        let fields: Vec<Field> = built.problems.iter().map(|p| p.field).collect();
        assert_eq!(fields, vec![Field::Email, Field::Phone]);
        let text = built.problems[0].to_string();
        assert_eq!(text, "email left out: email has no '@'");
        assert!(!built.problems[1].to_string().contains("12"));
    }

    #[test]
    fn builds_a_web_event_and_keeps_a_zero_value() {
        let built = build_event(
            &RawEvent {
                event: "Purchase",
                event_time: 1_687_758_765,
                event_id: Some("tx-1"),
                value: Some(0.0),
                currency: Some("USD"),
                page_url: Some("https://shop.example/checkout?ttclid=E.C.P.xyz&utm=1"),
                identity: RawIdentity {
                    email: Some("a@b.co"),
                    ..RawIdentity::default()
                },
                ..RawEvent::default()
            },
            Region::US,
        );
        let json = serde_json::to_value(&built.event).unwrap();
        assert_eq!(json["event_id"], "tx-1");
        assert_eq!(json["event_time"], 1_687_758_765);
        assert_eq!(json["properties"]["value"], 0.0);
        assert_eq!(json["properties"]["currency"], "USD");
        assert!(json["properties"].get("content_type").is_none());
        assert_eq!(json["user"]["ttclid"], "E.C.P.xyz");
        assert_eq!(
            json["page"]["url"],
            "https://shop.example/checkout?ttclid=E.C.P.xyz&utm=1"
        );
    }

    #[test]
    fn omits_empty_objects() {
        let built = build_event(
            &RawEvent {
                event: "Lead",
                event_time: 1,
                ..RawEvent::default()
            },
            Region::US,
        );
        assert_eq!(
            serde_json::to_string(&built.event).unwrap(),
            r#"{"event":"Lead","event_time":1}"#
        );
    }

    #[test]
    fn an_explicit_ttclid_wins_over_the_landing_url() {
        let built = build_event(
            &RawEvent {
                event: "Lead",
                page_url: Some("https://x.example/?ttclid=from-url"),
                identity: RawIdentity {
                    ttclid: Some("explicit"),
                    ..RawIdentity::default()
                },
                ..RawEvent::default()
            },
            Region::US,
        );
        assert_eq!(
            built.event.user.and_then(|u| u.ttclid).as_deref(),
            Some("explicit")
        );
    }

    #[test]
    fn reads_ttclid_from_landing_urls() {
        assert_eq!(
            ttclid_from_url("https://x.example/p?a=1&ttclid=E.C.P.ab%2Bc").as_deref(),
            Some("E.C.P.ab+c")
        );
        assert_eq!(ttclid_from_url("https://x.example/p?ttclid="), None);
        assert_eq!(ttclid_from_url("https://x.example/p?xttclid=1"), None);
        assert_eq!(ttclid_from_url("not a url ttclid=1"), None);
    }
}
