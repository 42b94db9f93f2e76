//! Reading a batch body as a stream of items, so that its cost is bounded by the limits and not by
//! what a client chose to send.
//!
//! The envelope `{"items": [...]}` is walked by a serde visitor: each item is taken as a borrowed
//! slice of the body (`&RawValue`, no allocation), read into its typed request (`LeadRequest`,
//! `EventRequest`) and validated at once, and only the typed result is kept. The item count is
//! checked before each item is read: item 1,001 is refused where it starts, without reading it or
//! anything after it. No `serde_json::Value` tree is ever built for the body or an item (a lead's
//! `fields` is the one `Value`, and it is bounded by `wire::dto::fields`).
//!
//! A refusal of the envelope (not an object, no `items`, too many or no items, broken JSON) refuses
//! the whole batch and nothing is stored. An item that is wrong only refuses that item, answered at
//! its index as before.

use std::cell::RefCell;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::error::Category;
use serde_json::value::RawValue;
use signalpost_gateway::BatchItem;

use super::MAX_BATCH_ITEMS;
use crate::wire::IdentifierPolicy;
use crate::wire::dto::to_new_event;
use crate::wire::dto::{EventRequest, LeadRequest, validate_transaction_id};
use crate::wire::json::{from_entries, from_slice, not_an_object, strip_position};
use crate::wire::problem::{ApiError, FieldError};

/// Most members of a batch item's `event` (its own fields and `transaction_id`); beyond this the
/// object is refused without being split further.
const MAX_EVENT_MEMBERS: usize = 32;

/// One item's outcome: the path its gateway errors are named under (`items[3].lead`) and the item,
/// or why it was refused at the edge.
pub type ParsedItem = Result<(String, BatchItem), ApiError>;

/// Reads and validates every item of a batch body, in order. `Err` refuses the batch as a whole.
pub fn items(
    body: &[u8],
    identifiers: &IdentifierPolicy,
    now: i64,
) -> Result<Vec<ParsedItem>, ApiError> {
    let first = body
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if first == Some(&b'[') {
        return Err(not_an_object("", "an array"));
    }
    let context = Context {
        identifiers,
        now,
        refusal: RefCell::new(None),
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let read = Envelope(&context)
        .deserialize(&mut de)
        .and_then(|items| de.end().map(|()| items));
    read.map_err(|e| {
        context
            .refusal
            .into_inner()
            .unwrap_or_else(|| body_error(&e))
    })
}

/// What the visitors share: how to validate, and the problem a refusal is answered with (the
/// `serde_json::Error` that unwinds the parse cannot carry a status and a field).
struct Context<'c> {
    identifiers: &'c IdentifierPolicy,
    now: i64,
    refusal: RefCell<Option<ApiError>>,
}

impl Context<'_> {
    /// Records `problem` as the answer and returns the error that stops the parse.
    fn refuse<E: de::Error>(&self, problem: ApiError) -> E {
        let message = problem.to_string();
        self.refusal.borrow_mut().get_or_insert(problem);
        E::custom(message)
    }
}

/// An error serde_json raised on its own: broken JSON, or a body of the wrong type.
fn body_error(e: &serde_json::Error) -> ApiError {
    match e.classify() {
        Category::Data => ApiError::BadRequest {
            detail: format!(
                "the request body must be a JSON object: {}",
                strip_position(e)
            ),
            field: None,
        },
        Category::Syntax | Category::Eof | Category::Io => ApiError::MalformedJson {
            detail: strip_position(e),
            field: None,
        },
    }
}

/// `{"items": [...]}`, nothing else.
struct Envelope<'a, 'c>(&'a Context<'c>);

impl<'de> DeserializeSeed<'de> for Envelope<'_, '_> {
    type Value = Vec<ParsedItem>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Envelope<'_, '_> {
    type Value = Vec<ParsedItem>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object {\"items\": [...]}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let context = self.0;
        let mut items = None;
        while let Some(key) = map.next_key::<String>()? {
            if key != "items" {
                return Err(context.refuse(ApiError::invalid(
                    key.clone(),
                    format!("unknown field {key:?}; expected `items`"),
                )));
            }
            if items.is_some() {
                return Err(context.refuse(ApiError::invalid("items", "items is given twice")));
            }
            items = Some(map.next_value_seed(Items(context))?);
        }
        items.ok_or_else(|| context.refuse(ApiError::invalid("items", "items is required")))
    }
}

/// The item array, read one item at a time.
struct Items<'a, 'c>(&'a Context<'c>);

impl<'de> DeserializeSeed<'de> for Items<'_, '_> {
    type Value = Vec<ParsedItem>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        // `any`, so that `"items": 5` or `"items": {…}` reaches this visitor and is refused naming
        // `items`, without reading what it holds.
        deserializer.deserialize_any(self)
    }
}

impl Items<'_, '_> {
    fn not_an_array<E: de::Error>(&self, found: de::Unexpected<'_>) -> E {
        self.0.refuse(ApiError::invalid(
            "items",
            format!("items must be an array of 1 to {MAX_BATCH_ITEMS} items, not {found}"),
        ))
    }
}

impl<'de> Visitor<'de> for Items<'_, '_> {
    type Value = Vec<ParsedItem>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an array of 1 to {MAX_BATCH_ITEMS} items")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Err(self.not_an_array(de::Unexpected::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Err(self.not_an_array(de::Unexpected::Signed(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Err(self.not_an_array(de::Unexpected::Unsigned(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Err(self.not_an_array(de::Unexpected::Float(v)))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Err(self.not_an_array(de::Unexpected::Other("a string")))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Err(self.not_an_array(de::Unexpected::Other("null")))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(self.not_an_array(de::Unexpected::Other("an object")))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let context = self.0;
        let mut parsed = Vec::new();
        loop {
            if parsed.len() == MAX_BATCH_ITEMS {
                // One more item? `Refuse` fails as soon as it is asked to read one, so nothing of
                // item 1,001 (or after it) is read.
                seq.next_element_seed(Refuse(context))?;
                break;
            }
            let Some(raw) = seq.next_element::<&'de RawValue>()? else {
                break;
            };
            let index = parsed.len();
            parsed.push(item(context.identifiers, raw, index, context.now));
        }
        if parsed.is_empty() {
            return Err(context.refuse(ApiError::invalid(
                "items",
                format!("a batch holds 1 to {MAX_BATCH_ITEMS} items, got 0"),
            )));
        }
        Ok(parsed)
    }
}

/// Stands where item 1,001 starts and refuses the batch without reading it.
struct Refuse<'a, 'c>(&'a Context<'c>);

impl<'de> DeserializeSeed<'de> for Refuse<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, _unread: D) -> Result<(), D::Error> {
        Err(self.0.refuse(ApiError::invalid(
            "items",
            format!(
                "a batch holds 1 to {MAX_BATCH_ITEMS} items; this one has more than {MAX_BATCH_ITEMS} items (the limit), and nothing was stored"
            ),
        )))
    }
}

/// An object's members, each unparsed; refused past `MAX` members without reading further.
struct Members<'de, const MAX: usize>(Vec<(String, &'de RawValue)>);

impl<'de, const MAX: usize> Deserialize<'de> for Members<'de, MAX> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor<const MAX: usize>;

        impl<'de, const MAX: usize> Visitor<'de> for MembersVisitor<MAX> {
            type Value = Members<'de, MAX>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "an object with at most {MAX} members")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if members.len() == MAX {
                        return Err(de::Error::custom(format!("more than {MAX} members")));
                    }
                    members.push((key, map.next_value::<&'de RawValue>()?));
                }
                Ok(Members(members))
            }
        }

        deserializer.deserialize_map(MembersVisitor::<MAX>)
    }
}

/// Whether an unparsed value is an object.
fn is_object(raw: &RawValue) -> bool {
    raw.get().trim_start().starts_with('{')
}

/// One item (number `i`): `{"lead": {...}}` or `{"event": {"transaction_id": ..., ...}}`, read
/// into its typed request and validated. `Ok` carries the path its gateway errors are named under.
fn item(identifiers: &IdentifierPolicy, raw: &RawValue, i: usize, now: i64) -> ParsedItem {
    let at = format!("items[{i}]");
    let one_key = || {
        ApiError::invalid(
            at.clone(),
            "each item must have exactly one key: \"lead\" or \"event\"",
        )
    };
    if !is_object(raw) {
        return Err(ApiError::invalid(
            at,
            "each item must be an object: {\"lead\": {...}} or {\"event\": {...}}",
        ));
    }
    let Ok(Members::<1>(members)) = serde_json::from_str(raw.get()) else {
        return Err(one_key());
    };
    let Some((kind, body)) = members.into_iter().next() else {
        return Err(one_key());
    };
    match kind.as_str() {
        "lead" => {
            let prefix = format!("{at}.lead");
            let request: LeadRequest = from_slice(body.get().as_bytes(), &prefix)?;
            let valid = request
                .validate(identifiers, now)
                .map_err(|e| e.under(&prefix))?;
            Ok((prefix, BatchItem::Lead(valid)))
        }
        "event" => {
            let prefix = format!("{at}.event");
            if !is_object(body) {
                return Err(ApiError::invalid(prefix, "event must be an object"));
            }
            let Members::<MAX_EVENT_MEMBERS>(mut members) = serde_json::from_str(body.get())
                .map_err(|_| {
                    ApiError::invalid(
                        prefix.clone(),
                        format!("event has more than {MAX_EVENT_MEMBERS} fields"),
                    )
                })?;
            // The last `transaction_id` wins, as in any JSON object read by key.
            let mut transaction_id = None;
            members.retain(|(key, value)| {
                let is_id = key == "transaction_id";
                if is_id {
                    transaction_id = Some(*value);
                }
                !is_id
            });
            let id_field = format!("{prefix}.transaction_id");
            let transaction_id = match transaction_id {
                None => return Err(ApiError::invalid(id_field, "transaction_id is required")),
                Some(raw) => match serde_json::from_str::<String>(raw.get()) {
                    Ok(t) => validate_transaction_id(&t, "transaction_id")
                        .map_err(|e| ApiError::Invalid(vec![e.under(&prefix)]))?,
                    Err(_) => {
                        return Err(ApiError::invalid(
                            id_field,
                            "transaction_id must be a string",
                        ));
                    }
                },
            };
            let request: EventRequest = from_entries(members, &prefix)?;
            let valid = request.validate(None, now).map_err(|e| e.under(&prefix))?;
            Ok((
                prefix,
                BatchItem::Event {
                    transaction_id,
                    event: to_new_event(valid),
                },
            ))
        }
        other => Err(ApiError::Invalid(vec![FieldError::new(
            format!("{at}.{other}"),
            format!("unknown item kind {other:?}; expected \"lead\" or \"event\""),
        )])),
    }
}

#[cfg(test)]
mod tests {
    use signalpost_tiktok::identity::Region;

    use super::*;

    const NOW: i64 = 1_750_000_000;

    fn read(body: &str) -> Result<Vec<ParsedItem>, (u16, Option<String>, String)> {
        let policy = IdentifierPolicy {
            default_region: Region::parse("US").unwrap(),
            pixel_regions: Vec::new(),
            strict: false,
        };
        items(body.as_bytes(), &policy, NOW).map_err(|e| {
            let p = e.problem();
            (p.status, p.field, p.detail)
        })
    }

    fn refusal(body: &str) -> (u16, Option<String>, String) {
        match read(body) {
            Ok(items) => panic!("{body:.80}: read {} items", items.len()),
            Err(problem) => problem,
        }
    }

    #[test]
    fn item_1001_is_refused_where_it_starts_without_being_read() {
        let thousand = vec![r#"{"lead": {}}"#; MAX_BATCH_ITEMS].join(",");
        assert_eq!(
            read(&format!(r#"{{"items": [{thousand}]}}"#))
                .unwrap()
                .len(),
            1000
        );
        // What follows item 1,000 is not even JSON: it is never read, so the answer is the count.
        for rest in [r#", {"lead": {}}]}"#, ", this is not JSON", ", [[[[[[[["] {
            let (status, field, detail) = refusal(&format!(r#"{{"items": [{thousand}{rest}"#));
            assert_eq!((status, field.as_deref()), (422, Some("items")), "{rest}");
            assert!(detail.contains("more than 1000 items"), "{detail}");
        }
    }

    #[test]
    fn the_envelope_is_refused_whole_naming_what_is_wrong() {
        for (body, status, field, detail) in [
            (r#"{"items": []}"#, 422, Some("items"), "got 0"),
            (r#"{}"#, 422, Some("items"), "items is required"),
            (r#"{"items": 5}"#, 422, Some("items"), "not integer `5`"),
            (
                r#"{"items": {"lead": {}}}"#,
                422,
                Some("items"),
                "not an object",
            ),
            (r#"{"items": null}"#, 422, Some("items"), "not null"),
            (
                r#"{"items": [{"lead": {}}], "items": []}"#,
                422,
                Some("items"),
                "twice",
            ),
            (
                r#"{"itemz": []}"#,
                422,
                Some("itemz"),
                "unknown field \"itemz\"",
            ),
            ("[]", 400, None, "not an array"),
            ("5", 400, None, "must be a JSON object"),
            ("", 400, None, "EOF"),
            (r#"{"items": [{"lead": {}}"#, 400, None, "EOF"),
            (
                r#"{"items": [{"lead": {}}]} trailing"#,
                400,
                None,
                "trailing",
            ),
        ] {
            let (s, f, d) = refusal(body);
            assert_eq!((s, f.as_deref()), (status, field), "{body}: {d}");
            assert!(d.contains(detail), "{body}: {d}");
        }
    }

    #[test]
    fn each_item_is_answered_on_its_own_at_its_index() {
        let body = r#"{"items": [
            {"lead": {"transaction_id": "t-1", "email": "a@example.com"}},
            {"lead": ["t-array"]},
            {"lead": {"emial": "a@example.com"}},
            {"event": {"transaction_id": "t-1", "type": "lead_sold", "revenue": "x"}},
            {"event": {"type": "lead_sold"}},
            {"event": {"transaction_id": 7, "type": "lead_sold"}},
            {"event": {"transaction_id": "t-1", "typo": 1, "type": "lead_sold"}},
            {"event": {"transaction_id": "t-1", "type": "lead_sold", "revenue": 5}},
            "not an object",
            {"lead": {}, "event": {}},
            {"refund": {}},
            {"lead": {"fields": {"a": [[[[[[1]]]]]]}}}
        ]}"#;
        let items = read(body).unwrap();
        let fields: Vec<String> = items
            .iter()
            .map(|item| match item {
                Ok((prefix, _)) => format!("ok {prefix}"),
                Err(e) => e.problem().field.unwrap_or_default(),
            })
            .collect();
        assert_eq!(
            fields,
            [
                "ok items[0].lead",
                "items[1].lead",
                "items[2].lead.emial",
                "items[3].event.revenue",
                "items[4].event.transaction_id",
                "items[5].event.transaction_id",
                "items[6].event.typo",
                "ok items[7].event",
                "items[8]",
                "items[9]",
                "items[10].refund",
                "items[11].lead.fields.a[0][0][0][0]",
            ]
        );
        assert!(
            matches!(&items[7], Ok((_, BatchItem::Event { transaction_id, .. })) if transaction_id == "t-1")
        );
    }
}
