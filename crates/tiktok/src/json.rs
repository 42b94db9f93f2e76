//! A hand-written JSON writer for [`Event`], byte-for-byte identical to `serde_json::to_vec`
//! (held to that by a property test over arbitrary events) and faster: keys are written as
//! literals and strings are scanned for escapes a block at a time. Ingest serializes
//! every event once, so this is on the hot path.
//!
//! Every struct is destructured exhaustively, so adding a field to the model fails to compile here
//! until the writer (and the test's generator) learn it. Numbers and free-form `serde_json::Value`s
//! are delegated to serde_json itself.

use serde_json::{Map, Value};

use crate::model::{Ad, Content, Event, Lead, Page, Properties, User};

/// Appends `event` as JSON to `out`.
pub(crate) fn write_event(out: &mut Vec<u8>, event: &Event) -> serde_json::Result<()> {
    let Event {
        event,
        event_time,
        event_id,
        user,
        properties,
        page,
        limited_data_use,
        ad,
        lead,
    } = event;
    let mut obj = Object::open(out);
    obj.key(b"event");
    write_str(obj.out, event);
    obj.key(b"event_time");
    write_i64(obj.out, *event_time);
    obj.opt_str(b"event_id", event_id);
    if let Some(user) = user {
        obj.key(b"user");
        write_user(obj.out, user);
    }
    if let Some(properties) = properties {
        obj.key(b"properties");
        write_properties(obj.out, properties)?;
    }
    if let Some(page) = page {
        obj.key(b"page");
        write_page(obj.out, page);
    }
    if let Some(flag) = limited_data_use {
        obj.key(b"limited_data_use");
        obj.out
            .extend_from_slice(if *flag { b"true" } else { b"false" });
    }
    if let Some(ad) = ad {
        obj.key(b"ad");
        write_ad(obj.out, ad)?;
    }
    if let Some(lead) = lead {
        obj.key(b"lead");
        write_lead(obj.out, lead);
    }
    obj.close();
    Ok(())
}

fn write_user(out: &mut Vec<u8>, user: &User) {
    let User {
        email,
        phone,
        external_id,
        ttclid,
        ttp,
        ip,
        user_agent,
        locale,
    } = user;
    let mut obj = Object::open(out);
    obj.opt_str(b"email", email);
    obj.opt_str(b"phone", phone);
    obj.opt_str(b"external_id", external_id);
    obj.opt_str(b"ttclid", ttclid);
    obj.opt_str(b"ttp", ttp);
    obj.opt_str(b"ip", ip);
    obj.opt_str(b"user_agent", user_agent);
    obj.opt_str(b"locale", locale);
    obj.close();
}

fn write_properties(out: &mut Vec<u8>, properties: &Properties) -> serde_json::Result<()> {
    let Properties {
        value,
        currency,
        content_type,
        contents,
        content_ids,
        num_items,
        description,
        order_id,
        shop_id,
        search_string,
        extra,
    } = properties;
    let mut obj = Object::open(out);
    obj.opt_f64(b"value", *value)?;
    obj.opt_str(b"currency", currency);
    obj.opt_str(b"content_type", content_type);
    if let Some(contents) = contents {
        obj.key(b"contents");
        obj.out.push(b'[');
        for (i, content) in contents.iter().enumerate() {
            if i > 0 {
                obj.out.push(b',');
            }
            write_content(obj.out, content)?;
        }
        obj.out.push(b']');
    }
    if let Some(ids) = content_ids {
        obj.key(b"content_ids");
        obj.out.push(b'[');
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                obj.out.push(b',');
            }
            write_str(obj.out, id);
        }
        obj.out.push(b']');
    }
    if let Some(n) = num_items {
        obj.key(b"num_items");
        write_i64(obj.out, *n);
    }
    obj.opt_str(b"description", description);
    obj.opt_str(b"order_id", order_id);
    obj.opt_str(b"shop_id", shop_id);
    obj.opt_str(b"search_string", search_string);
    obj.flatten(extra)?;
    obj.close();
    Ok(())
}

fn write_content(out: &mut Vec<u8>, content: &Content) -> serde_json::Result<()> {
    let Content {
        content_id,
        price,
        quantity,
        content_category,
        content_name,
        brand,
    } = content;
    let mut obj = Object::open(out);
    obj.opt_str(b"content_id", content_id);
    obj.opt_f64(b"price", *price)?;
    if let Some(q) = quantity {
        obj.key(b"quantity");
        write_i64(obj.out, *q);
    }
    obj.opt_str(b"content_category", content_category);
    obj.opt_str(b"content_name", content_name);
    obj.opt_str(b"brand", brand);
    obj.close();
    Ok(())
}

fn write_page(out: &mut Vec<u8>, page: &Page) {
    let Page { url, referrer } = page;
    let mut obj = Object::open(out);
    obj.key(b"url");
    write_str(obj.out, url);
    obj.opt_str(b"referrer", referrer);
    obj.close();
}

fn write_ad(out: &mut Vec<u8>, ad: &Ad) -> serde_json::Result<()> {
    let Ad { callback, extra } = ad;
    let mut obj = Object::open(out);
    obj.opt_str(b"callback", callback);
    obj.flatten(extra)?;
    obj.close();
    Ok(())
}

fn write_lead(out: &mut Vec<u8>, lead: &Lead) {
    let Lead {
        lead_id,
        lead_event_source,
    } = lead;
    let mut obj = Object::open(out);
    obj.key(b"lead_id");
    write_str(obj.out, lead_id);
    obj.opt_str(b"lead_event_source", lead_event_source);
    obj.close();
}

/// An object being written: tracks whether a comma is due.
struct Object<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Object<'a> {
    fn open(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, empty: true }
    }

    /// Writes `"key":` for a key known to need no escaping.
    fn key(&mut self, key: &[u8]) {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key);
        self.out.extend_from_slice(b"\":");
    }

    fn opt_str(&mut self, key: &[u8], value: &Option<String>) {
        if let Some(value) = value {
            self.key(key);
            write_str(self.out, value);
        }
    }

    fn opt_f64(&mut self, key: &[u8], value: Option<f64>) -> serde_json::Result<()> {
        if let Some(value) = value {
            self.key(key);
            // serde_json's own float formatting (and `null` for NaN/infinity).
            serde_json::to_writer(&mut *self.out, &value)?;
        }
        Ok(())
    }

    /// Entries of a `#[serde(flatten)]` map, after the typed fields, in map order.
    fn flatten(&mut self, extra: &Map<String, Value>) -> serde_json::Result<()> {
        for (key, value) in extra {
            if !self.empty {
                self.out.push(b',');
            }
            self.empty = false;
            write_str(self.out, key);
            self.out.push(b':');
            serde_json::to_writer(&mut *self.out, value)?;
        }
        Ok(())
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

fn write_i64(out: &mut Vec<u8>, value: i64) {
    let mut buf = [0u8; 20];
    let mut pos = buf.len();
    let mut n = value.unsigned_abs();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if value < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[pos..]);
}

/// Bytes scanned at once; the check below compiles to SIMD compares.
const BLOCK: usize = 32;

/// Whether any byte of the block is a control character, `"` or `\` (what JSON must escape).
/// Written as a branch-free fold over a fixed-size array so the compiler vectorizes it.
fn block_needs_escape(block: &[u8; BLOCK]) -> bool {
    block.iter().fold(false, |acc, &b| {
        acc | (b < 0x20) | (b == b'"') | (b == b'\\')
    })
}

/// Writes a JSON string the way serde_json does: `\"`, `\\`, `\b \t \n \f \r`, other control
/// characters as `\u00xx`, everything else (DEL and non-ASCII included) as is.
fn write_str(out: &mut Vec<u8>, value: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = value.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut run_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(block) = bytes
            .get(i..i + BLOCK)
            .and_then(|b| <&[u8; BLOCK]>::try_from(b).ok())
            && !block_needs_escape(block)
        {
            i += BLOCK;
            continue;
        }
        let byte = bytes[i];
        let escape: Option<&[u8]> = match byte {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            0x08 => Some(b"\\b"),
            b'\t' => Some(b"\\t"),
            b'\n' => Some(b"\\n"),
            0x0c => Some(b"\\f"),
            b'\r' => Some(b"\\r"),
            0x00..=0x1f => None,
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&bytes[run_start..i]);
        match escape {
            Some(escape) => out.extend_from_slice(escape),
            None => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0x0f)],
            ]),
        }
        i += 1;
        run_start = i;
    }
    out.extend_from_slice(&bytes[run_start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_str(s: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_strings_like_serde_json() {
        for s in [
            "",
            "plain ascii longer than eight bytes",
            "quote \" and backslash \\ here",
            "\u{0}\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1f}\u{7f}",
            "é日本語🙂 with \"quotes\" after multibyte",
            "12345678\"",
            "\"2345678",
            "a user agent that is longer than one block, then a \" quote at byte 58",
            "exactly thirty-two bytes long...\\ then a backslash right after the block",
        ] {
            assert_eq!(json_str(s), serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn writes_integers_like_serde_json() {
        for n in [0, 7, -7, 1_687_758_765, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            write_i64(&mut out, n);
            assert_eq!(out, serde_json::to_vec(&n).unwrap(), "{n}");
        }
    }
}
