//! A lead's `fields`: the one free-form JSON object a client sends, bounded *while it is read*.
//!
//! Everything else in a lead has a type and a length; `fields` is whatever the funnel adds (zip code,
//! loan amount, sub id), stored with the lead and matched by rules. Unbounded, it is the cheapest way
//! for a holder of an ingest key to make the server allocate: a million keys, a depth bomb
//! (`[[[[…]]]]`), a megabyte string. So the object is built by a visitor that counts as it goes
//! and stops at the first limit broken — keys, nesting, serialized size, key and string length —
//! before the rest is read; the error names the path where it stopped (`fields`, `fields.a[0]`)
//! and the limit, and `json.rs` turns it into a 422 problem like any other wrong field.
//!
//! What this module must never do: recurse deeper than [`MAX_FIELDS_DEPTH`] (serde_json's own
//! recursion limit is 128; ours stops far earlier), or hold more than the limits allow.

use std::fmt;

use serde::Deserializer;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Most keys in `fields`, counted at every level of nesting. Rules match a handful of them; a
/// hundred leaves room for a whole form.
pub const MAX_FIELDS_KEYS: usize = 100;
/// Deepest nesting, `fields` itself being level 1: `{"fields": {"a": {"b": [1]}}}` is 3 levels.
/// Forms are flat; five levels leave room for an address or a list of products.
pub const MAX_FIELDS_DEPTH: usize = 5;
/// Largest `fields`, as compact JSON (counted as values are read, escapes not expanded). 16 KiB is
/// many times a real form and keeps a 1,000-item batch of full-size leads within reason.
pub const MAX_FIELDS_BYTES: usize = 16 << 10;
/// Longest key, in characters.
pub const MAX_FIELDS_KEY_LEN: usize = 128;
/// Longest string value, in characters: a URL stored as a field still fits (`MAX_URL_LEN`).
pub const MAX_FIELDS_STRING_LEN: usize = 4096;

/// `#[serde(default, deserialize_with = "…")]` for `LeadRequest::fields`: null or absent is
/// `None`; an object is read within the limits above; anything else is refused as not an object.
pub fn bounded<'de, D>(deserializer: D) -> Result<Option<Map<String, Value>>, D::Error>
where
    D: Deserializer<'de>,
{
    deserializer.deserialize_option(Optional)
}

/// What has been read so far, across every level.
#[derive(Debug, Default)]
struct Budget {
    keys: usize,
    bytes: usize,
}

impl Budget {
    fn spend<E: de::Error>(&mut self, bytes: usize) -> Result<(), E> {
        self.bytes = self.bytes.saturating_add(bytes);
        if self.bytes > MAX_FIELDS_BYTES {
            return Err(E::custom(format!(
                "fields is larger than {MAX_FIELDS_BYTES} bytes as JSON (the limit)"
            )));
        }
        Ok(())
    }

    fn count_key<E: de::Error>(&mut self, key: &str) -> Result<(), E> {
        self.keys += 1;
        if self.keys > MAX_FIELDS_KEYS {
            return Err(E::custom(format!(
                "fields holds more than {MAX_FIELDS_KEYS} keys, counted at every level (the limit)"
            )));
        }
        if key.chars().count() > MAX_FIELDS_KEY_LEN {
            return Err(E::custom(format!(
                "a key in fields is longer than {MAX_FIELDS_KEY_LEN} characters (the limit)"
            )));
        }
        // "key": plus a comma.
        self.spend(key.len() + 4)
    }
}

struct Optional;

impl<'de> Visitor<'de> for Optional {
    type Value = Option<Map<String, Value>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        let mut budget = Budget::default();
        let value = deserializer.deserialize_map(Bounded {
            budget: &mut budget,
            depth: 1,
        })?;
        match value {
            Value::Object(map) => Ok(Some(map)),
            // `deserialize_map` only ever calls `visit_map` for a well-behaved deserializer.
            _ => Err(de::Error::custom("fields must be a JSON object")),
        }
    }
}

/// Reads one value at `depth` (1 = `fields` itself), spending from the shared budget.
struct Bounded<'b> {
    budget: &'b mut Budget,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Bounded<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Bounded<'_> {
    /// A container opens a level: refused before any of its contents is read.
    fn open<E: de::Error>(&mut self) -> Result<(), E> {
        if self.depth > MAX_FIELDS_DEPTH {
            return Err(E::custom(format!(
                "fields is nested deeper than {MAX_FIELDS_DEPTH} levels (the limit)"
            )));
        }
        self.budget.spend(2)
    }

    /// Checks a string before it is copied or kept.
    fn string<E: de::Error>(&mut self, s: &str) -> Result<(), E> {
        if s.chars().count() > MAX_FIELDS_STRING_LEN {
            return Err(E::custom(format!(
                "a string in fields is longer than {MAX_FIELDS_STRING_LEN} characters (the limit)"
            )));
        }
        self.budget.spend(s.len() + 3)
    }

    fn number<E: de::Error>(self, n: Number) -> Result<Value, E> {
        self.budget.spend(n.to_string().len() + 1)?;
        Ok(Value::Number(n))
    }
}

impl<'de> Visitor<'de> for Bounded<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.depth == 1 {
            f.write_str("a JSON object")
        } else {
            f.write_str("any JSON value")
        }
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.budget.spend(6)?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.number(v.into())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.number(v.into())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        match Number::from_f64(v) {
            Some(n) => self.number(n),
            // JSON has no NaN or infinity; another format might.
            None => Err(E::custom("a number in fields is not finite")),
        }
    }

    fn visit_str<E: de::Error>(mut self, v: &str) -> Result<Value, E> {
        self.string(v)?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(mut self, v: String) -> Result<Value, E> {
        self.string(&v)?;
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.budget.spend(5)?;
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Value, A::Error> {
        self.open()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Bounded {
            budget: self.budget,
            depth: self.depth + 1,
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Value, A::Error> {
        self.open()?;
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            self.budget.count_key(&key)?;
            let value = map.next_value_seed(Bounded {
                budget: self.budget,
                depth: self.depth + 1,
            })?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Holder {
        #[serde(default, deserialize_with = "bounded")]
        fields: Option<Map<String, Value>>,
    }

    fn read(json: &str) -> Result<Option<Map<String, Value>>, String> {
        serde_json::from_str::<Holder>(json)
            .map(|h| h.fields)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_real_form_reads_as_it_was_sent() {
        let json = r#"{"fields": {"zip": "94107", "amount": 25000, "rate": 4.5, "ok": true,
            "none": null, "products": [{"sku": "A-1", "qty": 2}], "address": {"city": "SF"}}}"#;
        let fields = read(json).unwrap().unwrap();
        let expected: Value = serde_json::from_str(json).unwrap();
        assert_eq!(Value::Object(fields), expected["fields"]);
        assert_eq!(read("{}").unwrap(), None);
        assert_eq!(read(r#"{"fields": null}"#).unwrap(), None);
    }

    #[test]
    fn refuses_what_is_not_an_object() {
        for json in [
            r#"{"fields": [1]}"#,
            r#"{"fields": 5}"#,
            r#"{"fields": "x"}"#,
        ] {
            let err = read(json).unwrap_err();
            assert!(err.contains("expected a JSON object"), "{json}: {err}");
        }
    }

    #[test]
    fn each_limit_is_refused_by_name() {
        let deep = format!(
            "{{\"fields\": {{\"a\": {}1{}}}}}",
            "[".repeat(MAX_FIELDS_DEPTH),
            "]".repeat(MAX_FIELDS_DEPTH)
        );
        let at_depth = format!(
            "{{\"fields\": {{\"a\": {}1{}}}}}",
            "[".repeat(MAX_FIELDS_DEPTH - 1),
            "]".repeat(MAX_FIELDS_DEPTH - 1)
        );
        assert!(read(&at_depth).is_ok());
        let many: Vec<String> = (0..=MAX_FIELDS_KEYS)
            .map(|i| format!("\"k{i}\": 1"))
            .collect();
        let many = format!("{{\"fields\": {{{}}}}}", many.join(","));
        let nested_many: Vec<String> = (0..MAX_FIELDS_KEYS)
            .map(|i| format!("\"k{i}\": 1"))
            .collect();
        let nested_many = format!("{{\"fields\": {{\"o\": {{{}}}}}}}", nested_many.join(","));
        let long_key = format!(
            "{{\"fields\": {{\"{}\": 1}}}}",
            "k".repeat(MAX_FIELDS_KEY_LEN + 1)
        );
        let long_string = format!(
            "{{\"fields\": {{\"k\": \"{}\"}}}}",
            "x".repeat(MAX_FIELDS_STRING_LEN + 1)
        );
        let big: Vec<String> = (0..8)
            .map(|i| format!("\"k{i}\": \"{}\"", "x".repeat(MAX_FIELDS_STRING_LEN - 10)))
            .collect();
        let big = format!("{{\"fields\": {{{}}}}}", big.join(","));
        let huge_string = format!(
            "{{\"fields\": {{\"k\": \"{}\"}}}}",
            "x".repeat(MAX_FIELDS_BYTES * 4)
        );
        for (json, expected) in [
            (deep, "nested deeper than 5 levels"),
            (many, "more than 100 keys"),
            (nested_many, "more than 100 keys"),
            (long_key, "longer than 128 characters"),
            (long_string, "longer than 4096 characters"),
            (big, "larger than 16384 bytes"),
            (huge_string, "longer than 4096 characters"),
        ] {
            let err = read(&json).unwrap_err();
            assert!(err.contains(expected), "{expected}: {err}");
        }
    }

    #[test]
    fn a_depth_bomb_stops_at_the_limit_without_deep_recursion() {
        // 1 MB of brackets: refused at level 6, long before serde_json's own limit of 128.
        let bomb = format!("{{\"fields\": {{\"a\": {}}}}}", "[".repeat(1 << 20));
        let err = read(&bomb).unwrap_err();
        assert!(err.contains("nested deeper than 5 levels"), "{err}");
        let bomb = format!("{{\"fields\": {}}}", "{\"a\":".repeat(1 << 18));
        let err = read(&bomb).unwrap_err();
        assert!(err.contains("nested deeper than 5 levels"), "{err}");
    }
}
