//! Rules for the customer-information fields: `data[].user` (2.0) and `context.user` / `context.ip` /
//! `context.user_agent` (1.0). Owns the "is this a SHA-256 hex digest" and "is this a raw IP / user
//! agent" checks (the hash tests themselves are `signalpost_identity`'s); it never sees or stores anything beyond the request being validated.

use std::net::IpAddr;

use super::{Invalid, Object, Path, Reason, Rules, as_str, field, opt_one_of, opt_str};
use crate::identity::{is_canonical_sha256_hex, is_sha256_hex};

/// Fields TikTok requires to be SHA-256 digests, each a string or a list of strings (2.0).
const HASHED_FIELDS: [&str; 3] = ["email", "phone", "external_id"];

/// Raw string fields of `data[].user` (ttclid and ttp raw; idfa/gaid raw or hashed, so untyped beyond
/// "string").
const STRING_FIELDS: [&str; 6] = ["ttclid", "ttp", "locale", "idfa", "idfv", "gaid"];

/// `user.att_status` values (app events).
const ATT_STATUSES: &[&str] = &[
    "AUTHORIZED",
    "DENIED",
    "NOT_DETERMINED",
    "RESTRICTED",
    "NOT_APPLICABLE",
];

/// Validates `data[].user` of an Events API 2.0 event.
pub(crate) fn validate_user(user: &Object, path: &Path, rules: &Rules) -> Result<(), Invalid> {
    for key in HASHED_FIELDS {
        hashed_string_or_list(user, key, path, rules)?;
    }
    for key in STRING_FIELDS {
        opt_str(user, key, path)?;
    }
    ip_field(user, "ip", path)?;
    user_agent_field(user, "user_agent", path)?;
    opt_one_of(user, "att_status", path, ATT_STATUSES)?;
    Ok(())
}

/// `email` / `phone` / `external_id`: a digest or a list of digests (several emails of one person).
fn hashed_string_or_list(
    obj: &Object,
    key: &str,
    path: &Path,
    rules: &Rules,
) -> Result<(), Invalid> {
    let Some(value) = field(obj, key, path)? else {
        return Ok(());
    };
    let here = path.key(key);
    match value {
        serde_json::Value::String(s) => hashed(s, &here, rules),
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let at = here.index(i);
                hashed(as_str(item, &at)?, &at, rules)?;
            }
            Ok(())
        }
        _ => Err(here.invalid(Reason::NotString)),
    }
}

/// A value TikTok wants hashed. Strict: exactly 64 lowercase hex digits, the form TikTok's reference
/// shows. Lenient: upper-case hex too, since TikTok's own server-side GTM template treats
/// `[A-Fa-f0-9]{64}` as "already hashed". A raw value is refused in both modes: TikTok would silently
/// never match it, which is the bug this sandbox exists to catch.
pub(crate) fn hashed(value: &str, path: &Path, rules: &Rules) -> Result<(), Invalid> {
    if is_canonical_sha256_hex(value) || (!rules.strict && is_sha256_hex(value)) {
        return Ok(());
    }
    if is_sha256_hex(value) {
        return Err(path.other(
            "must be a SHA-256 digest in lowercase hex; upper-case hex is not TikTok's format",
        ));
    }
    Err(path.other(
        "must be a SHA-256 digest (64 lowercase hex characters) of the normalized value, not the raw value",
    ))
}

/// `ip`: the raw public address, IPv4 or IPv6 (full or compressed). A hashed IP cannot be matched.
pub(crate) fn ip_field(obj: &Object, key: &str, path: &Path) -> Result<(), Invalid> {
    let Some(ip) = opt_str(obj, key, path)? else {
        return Ok(());
    };
    if is_sha256_hex(ip) {
        return Err(path
            .key(key)
            .other("looks like a SHA-256 digest; the IP address must be sent raw, not hashed"));
    }
    if ip.parse::<IpAddr>().is_err() {
        return Err(path.key(key).other("not a valid IPv4 or IPv6 address"));
    }
    Ok(())
}

/// `user_agent`: the raw browser string. A hashed user agent cannot be matched.
pub(crate) fn user_agent_field(obj: &Object, key: &str, path: &Path) -> Result<(), Invalid> {
    let Some(ua) = opt_str(obj, key, path)? else {
        return Ok(());
    };
    if is_sha256_hex(ua) {
        return Err(path
            .key(key)
            .other("looks like a SHA-256 digest; the user agent must be sent raw, not hashed"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const EMAIL_HASH: &str = "848a771458438fc2ec420560d769fb9b9b86851ee338ec56517baabd79d3bb4f";

    fn rules(strict: bool) -> Rules {
        Rules {
            strict,
            now: 1_700_000_000,
            max_past: 7 * 86_400,
            max_future: 300,
        }
    }

    fn check(user: serde_json::Value, strict: bool) -> Result<(), Invalid> {
        let path = Path::Root;
        let data = path.key("data");
        let event = data.index(0);
        validate_user(
            user.as_object().unwrap(),
            &event.key("user"),
            &rules(strict),
        )
    }

    #[test]
    fn accepts_hashes_alone_or_in_lists_and_raw_signals() {
        check(
            json!({"email": EMAIL_HASH, "phone": [EMAIL_HASH, EMAIL_HASH], "external_id": [],
                   "ip": "2001:db8::1", "user_agent": "Mozilla/5.0", "ttclid": "E.C.P.x", "ttp": "abc",
                   "att_status": "AUTHORIZED", "first_name": "anything"}),
            true,
        )
        .unwrap();
        check(json!({"ip": "203.0.113.1"}), true).unwrap();
    }

    #[test]
    fn rejects_unhashed_email_with_its_path() {
        let err = check(json!({"email": "alice@example.com"}), true).unwrap_err();
        assert_eq!(err.path, "data.0.user.email");
        assert!(err.v2_message().contains("SHA-256"), "{}", err.v2_message());
    }

    #[test]
    fn rejects_uppercase_hex_only_in_strict_mode() {
        let upper = EMAIL_HASH.to_ascii_uppercase();
        let err = check(json!({"phone": [EMAIL_HASH, upper]}), true).unwrap_err();
        assert_eq!(err.path, "data.0.user.phone.1");
        assert!(err.v2_message().contains("lowercase"));
        check(json!({"phone": [EMAIL_HASH, upper]}), false).unwrap();
    }

    #[test]
    fn rejects_raw_values_even_in_lenient_mode() {
        let err = check(json!({"external_id": "user_123"}), false).unwrap_err();
        assert_eq!(err.path, "data.0.user.external_id");
    }

    #[test]
    fn rejects_non_string_identifiers() {
        let err = check(json!({"email": 5}), true).unwrap_err();
        assert_eq!(err.reason, Reason::NotString);
        let err = check(json!({"email": [EMAIL_HASH, 5]}), true).unwrap_err();
        assert_eq!(err.path, "data.0.user.email.1");
        let err = check(json!({"ttclid": 12}), true).unwrap_err();
        assert_eq!(err.path, "data.0.user.ttclid");
    }

    #[test]
    fn rejects_hashed_or_malformed_ip_and_hashed_user_agent() {
        let err = check(json!({"ip": EMAIL_HASH}), true).unwrap_err();
        assert!(err.v2_message().contains("raw"), "{}", err.v2_message());
        let err = check(json!({"ip": "999.1.1.1"}), true).unwrap_err();
        assert!(err.v2_message().contains("IPv4"), "{}", err.v2_message());
        let err = check(json!({"user_agent": EMAIL_HASH}), true).unwrap_err();
        assert_eq!(err.path, "data.0.user.user_agent");
    }

    #[test]
    fn rejects_unknown_att_status() {
        let err = check(json!({"att_status": "authorized"}), true).unwrap_err();
        assert!(matches!(err.reason, Reason::OneOf(_)));
    }
}
