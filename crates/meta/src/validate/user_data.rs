//! `user_data`: hashed customer information as 64 lower-case hex, raw signals (`client_ip_address`,
//! `client_user_agent`, `fbc`, `fbp`, `lead_id`) in their documented shapes, and at least one
//! customer information parameter.

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::invalid;
use crate::error::{MetaError, subcode};

/// Keys Meta requires hashed (SHA-256 of the normalized value).
const HASHED: &[&str] = &[
    "em", "ph", "fn", "ln", "db", "ge", "ct", "st", "zp", "country",
];

/// What the event-level rules need to know about `user_data`.
#[derive(Debug, Default)]
pub(crate) struct UserFacts {
    pub has_user_agent: bool,
    pub has_lead_id: bool,
    /// `em` or `ph` present (Conversion Leads may match on them instead of `lead_id`).
    pub has_contact: bool,
}

pub(crate) fn validate_user_data(
    user: &Map<String, Value>,
    index: usize,
) -> Result<UserFacts, MetaError> {
    let at = |key: &str| format!("data[{index}][user_data][{key}]");
    let mut facts = UserFacts::default();
    let mut customer_parameters = 0;
    for key in HASHED {
        if let Some(value) = user.get(*key) {
            for item in strings(value, &at(key))? {
                if !is_sha256_hex(item) {
                    return Err(invalid(
                        &at(key),
                        "Invalid User Data",
                        "must be hashed: the SHA-256 of the normalized value, as 64 lower-case hex characters",
                        None,
                    ));
                }
            }
            customer_parameters += 1;
            facts.has_contact |= matches!(*key, "em" | "ph");
        }
    }
    if let Some(value) = user.get("external_id") {
        for item in strings(value, &at("external_id"))? {
            if item.is_empty() {
                return Err(invalid(
                    &at("external_id"),
                    "Invalid User Data",
                    "must not be empty",
                    None,
                ));
            }
        }
        customer_parameters += 1;
    }
    if let Some(ip) = raw_string(user, "client_ip_address", &at)? {
        if ip.parse::<IpAddr>().is_err() {
            return Err(invalid(
                &at("client_ip_address"),
                "Invalid IP Address",
                "must be an IPv4 or IPv6 address, sent unhashed",
                None,
            ));
        }
        customer_parameters += 1;
    }
    if let Some(ua) = raw_string(user, "client_user_agent", &at)? {
        if is_sha256_hex(ua) {
            return Err(invalid(
                &at("client_user_agent"),
                "Invalid User Agent",
                "must be sent unhashed",
                None,
            ));
        }
        facts.has_user_agent = true;
        customer_parameters += 1;
    }
    if let Some(fbc) = raw_string(user, "fbc", &at)? {
        if !is_fbc(fbc) {
            return Err(invalid(
                &at("fbc"),
                "Invalid fbc Parameter",
                "must be fb.<subdomain index>.<creation time in ms>.<fbclid>, the fbclid unaltered",
                Some(subcode::INVALID_FBC),
            ));
        }
        customer_parameters += 1;
    }
    if let Some(fbp) = raw_string(user, "fbp", &at)? {
        if !is_fbp(fbp) {
            return Err(invalid(
                &at("fbp"),
                "Invalid fbp Parameter",
                "must be the _fbp cookie value, fb.<subdomain index>.<creation time in ms>.<random number>",
                None,
            ));
        }
        customer_parameters += 1;
    }
    if let Some(lead) = user.get("lead_id") {
        let digits = match lead {
            Value::Number(n) if n.is_u64() => n.to_string(),
            Value::String(s) => s.clone(),
            _ => String::new(),
        };
        if !(15..=17).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(
                &at("lead_id"),
                "Invalid Lead ID",
                "must be the 15 to 17 digit lead id Meta's Lead Ads gave",
                None,
            ));
        }
        facts.has_lead_id = true;
        customer_parameters += 1;
    }
    for key in ["subscription_id", "anon_id", "madid", "page_id"] {
        if raw_string(user, key, &at)?.is_some() {
            customer_parameters += 1;
        }
    }
    if let Some(login) = user.get("fb_login_id") {
        if !(login.is_u64()
            || login
                .as_str()
                .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())))
        {
            return Err(invalid(
                &at("fb_login_id"),
                "Invalid User Data",
                "must be a numeric id",
                None,
            ));
        }
        customer_parameters += 1;
    }
    if customer_parameters == 0 {
        return Err(invalid(
            &format!("data[{index}][user_data]"),
            "Missing Customer Information",
            "must hold at least one customer information parameter (em, ph, external_id, client_ip_address with client_user_agent, fbc, fbp, lead_id, …)",
            None,
        ));
    }
    Ok(facts)
}

/// A string or a non-empty array of strings.
fn strings<'v>(value: &'v Value, path: &str) -> Result<Vec<&'v str>, MetaError> {
    let bad = || {
        invalid(
            path,
            "Invalid User Data",
            "must be a string or an array of strings",
            None,
        )
    };
    match value {
        Value::String(s) => Ok(vec![s.as_str()]),
        Value::Array(items) if !items.is_empty() => {
            items.iter().map(|i| i.as_str().ok_or_else(bad)).collect()
        }
        _ => Err(bad()),
    }
}

/// A raw (unhashed) string parameter; empty strings are refused.
fn raw_string<'v>(
    user: &'v Map<String, Value>,
    key: &str,
    at: &dyn Fn(&str) -> String,
) -> Result<Option<&'v str>, MetaError> {
    match user.get(key) {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s)),
        Some(_) => Err(invalid(
            &at(key),
            "Invalid User Data",
            "must be a non-empty string",
            None,
        )),
    }
}

/// 64 lower-case hex digits.
pub(crate) fn is_sha256_hex(value: &str) -> bool {
    value.len() == 64
        && value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `fb.<subdomain index>.<creation time>.<fbclid>`; the fbclid is the rest (it is case-sensitive
/// and kept as is) and must not be empty.
pub(crate) fn is_fbc(value: &str) -> bool {
    let mut parts = value.splitn(4, '.');
    parts.next() == Some("fb")
        && parts.next().is_some_and(is_subdomain_index)
        && parts.next().is_some_and(is_millis)
        && parts
            .next()
            .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_graphic()))
}

/// `fb.<subdomain index>.<creation time>.<random number>`.
pub(crate) fn is_fbp(value: &str) -> bool {
    let mut parts = value.splitn(4, '.');
    parts.next() == Some("fb")
        && parts.next().is_some_and(is_subdomain_index)
        && parts.next().is_some_and(is_millis)
        && parts.next().is_some_and(|r| {
            !r.is_empty() && r.len() <= 20 && r.bytes().all(|b| b.is_ascii_digit())
        })
}

/// 0 (`com`), 1 (`example.com`), 2 (`www.example.com`), …: one or two digits.
fn is_subdomain_index(part: &str) -> bool {
    (1..=2).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit())
}

/// A creation time in milliseconds: 13 digits (years 2001–2286).
fn is_millis(part: &str) -> bool {
    part.len() == 13 && part.bytes().all(|b| b.is_ascii_digit())
}
