//! Identifier normalization and hashing (`signalpost_tiktok::identity`): on any text, never panics;
//! normalizing is idempotent; every hash is 64 lowercase hex; a value that already is a SHA-256 hex
//! digest passes through lower-cased; the hash is the digest of the normalized form, and the Meta
//! phone format is the same E.164 without its plus sign.
//!
//! Input: the first byte picks the default phone region, the rest (lossy UTF-8) is the identifier.

use signalpost_tiktok::identity::{
    self, Field, IdentifierError, PhoneFormat, Region, Sha256Hex, is_sha256_hex,
};

/// Default regions tried for national-format numbers: the busy ones and a few with odd rules.
const REGIONS: &[&str] = &[
    "US", "GB", "FR", "DE", "IT", "ES", "BR", "MX", "IN", "AU", "CA", "JP", "CN", "RU", "AR", "NL",
    "SG", "ZA", "NG", "AE", "KR", "ID", "PH", "TR",
];

/// Runs every identifier check on one input.
pub fn check(data: &[u8]) {
    let (region, rest) = match data.split_first() {
        Some((first, rest)) => (REGIONS[usize::from(*first) % REGIONS.len()], rest),
        None => ("US", data),
    };
    let region = Region::parse(region).expect("the region list holds known regions");
    let text = String::from_utf8_lossy(rest);
    check_email(&text);
    check_phone(&text, region);
    check_external_id(&text);
}

/// 64 lowercase hex characters.
fn assert_hash_shape(hash: &Sha256Hex, what: &str) {
    let text = hash.as_str();
    assert!(
        text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "{what}: {text:?} is not 64 lowercase hex"
    );
}

/// A hash fed back in comes out unchanged, in either case.
fn assert_pass_through(
    hash: &Sha256Hex,
    again: impl Fn(&str) -> Result<Sha256Hex, IdentifierError>,
) {
    assert_eq!(
        again(hash.as_str()).as_ref(),
        Ok(hash),
        "a hash was hashed again"
    );
    let upper = hash.as_str().to_ascii_uppercase();
    assert_eq!(
        again(&upper).as_ref(),
        Ok(hash),
        "an upper-case hash was hashed again"
    );
    let padded = format!(" {}\n", hash.as_str());
    assert_eq!(
        again(&padded).as_ref(),
        Ok(hash),
        "a padded hash was hashed again"
    );
}

/// If the trimmed input is already a digest, the hash must be it, lower-cased.
fn assert_existing_hash_kept(raw: &str, hashed: &Result<Sha256Hex, IdentifierError>) {
    let trimmed = raw.trim();
    if is_sha256_hex(trimmed) {
        assert_eq!(
            hashed.as_ref().map(Sha256Hex::as_str),
            Ok(trimmed.to_ascii_lowercase().as_str()),
            "an existing SHA-256 hex was not passed through"
        );
    }
}

fn check_email(raw: &str) {
    let hashed = identity::hash_email(raw);
    assert_existing_hash_kept(raw, &hashed);
    if let Ok(hash) = &hashed {
        assert_hash_shape(hash, "email");
        assert_pass_through(hash, identity::hash_email);
    }
    match identity::normalize_email(raw) {
        Ok(normalized) => {
            assert_eq!(
                identity::normalize_email(&normalized).as_ref(),
                Ok(&normalized),
                "email normalization is not idempotent"
            );
            assert_eq!(
                normalized,
                normalized.trim(),
                "normalized email keeps spaces"
            );
            if !is_sha256_hex(raw.trim()) {
                assert_eq!(
                    hashed,
                    Ok(Sha256Hex::digest(normalized.as_bytes())),
                    "hash_email is not the digest of normalize_email"
                );
            }
        }
        Err(e) => {
            assert_eq!(
                e.field(),
                Some(Field::Email),
                "email error {e:?} names another field"
            );
            if !is_sha256_hex(raw.trim()) {
                assert_eq!(hashed, Err(e), "hash_email and normalize_email disagree");
            }
        }
    }
}

fn check_phone(raw: &str, region: Region) {
    let normalized = identity::normalize_phone(raw, region);

    let hashed = identity::hash_phone(raw, region);
    assert_existing_hash_kept(raw, &hashed);
    if let Ok(hash) = &hashed {
        assert_hash_shape(hash, "phone");
        assert_pass_through(hash, |v| identity::hash_phone(v, region));
    }
    match &normalized {
        Ok(e164) => {
            let digits = e164.strip_prefix('+').unwrap_or("");
            assert!(
                !digits.is_empty()
                    && digits.len() <= 20
                    && digits.bytes().all(|b| b.is_ascii_digit()),
                "{e164:?} is not E.164"
            );
            assert_eq!(
                identity::normalize_phone(e164, region).as_ref(),
                Ok(e164),
                "phone normalization is not idempotent ({region})"
            );
            if !is_sha256_hex(raw.trim()) {
                assert_eq!(hashed, Ok(Sha256Hex::digest(e164.as_bytes())));
                assert_eq!(
                    identity::hash_phone_as(raw, region, PhoneFormat::E164Digits),
                    Ok(Sha256Hex::digest(digits.as_bytes())),
                    "the digits-only phone format is not the E.164 without its plus"
                );
            }
        }
        Err(e) => {
            assert_eq!(
                e.field(),
                Some(Field::Phone),
                "phone error {e:?} names another field"
            );
            if !is_sha256_hex(raw.trim()) {
                assert_eq!(
                    hashed.as_ref(),
                    Err(e),
                    "hash_phone and normalize_phone disagree"
                );
            }
        }
    }
}

fn check_external_id(raw: &str) {
    let hashed = identity::hash_external_id(raw);
    assert_existing_hash_kept(raw, &hashed);
    let trimmed = raw.trim();
    match &hashed {
        Ok(hash) => {
            assert_hash_shape(hash, "external_id");
            assert_pass_through(hash, identity::hash_external_id);
            if !is_sha256_hex(trimmed) {
                assert_eq!(hash, &Sha256Hex::digest(trimmed.as_bytes()));
            }
        }
        Err(e) => {
            assert!(
                trimmed.is_empty(),
                "a non-empty external id was refused: {e}"
            );
            assert_eq!(e, &IdentifierError::Empty(Field::ExternalId));
        }
    }
}
