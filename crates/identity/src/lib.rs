//! Customer identifiers as the ad platforms match them, one rule for every destination: email
//! (trim + lowercase), phone (libphonenumber's E.164, written as the destination wants it), external
//! id (trim only, case kept), each SHA-256 hashed as 64 lowercase hex. A value that already is a
//! SHA-256 hex digest (64 hex characters, any case) passes through lower-cased and is never hashed
//! again. TikTok's rules: shared/tiktok-events-api.md §1.4, §6; Meta's: meta-conversions-api.md.
//!
//! Raw identifiers are PII: nothing in this crate logs them, and no error message repeats them.

mod email;
mod hash;
mod phone;

use std::fmt;

pub use email::{hash_email, normalize_email};
pub use hash::{Sha256Hex, is_canonical_sha256_hex, is_sha256_hex};
pub use phone::{
    MAX_PHONE_INPUT_CHARS, PhoneFormat, PhoneHashes, Region, UnknownRegion, hash_phone,
    hash_phone_as, hash_phone_forms, normalize_phone, warm_up_phone_metadata,
};

/// Which identifier a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Email,
    Phone,
    ExternalId,
}

impl Field {
    /// The field's name in signalpost's lead (and TikTok's `user` key).
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Email => "email",
            Field::Phone => "phone",
            Field::ExternalId => "external_id",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an identifier cannot be normalized. Messages name the problem, never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    #[error("{0} is empty")]
    Empty(Field),
    #[error("email has no '@'")]
    EmailNoAt,
    #[error("email has more than one '@'")]
    EmailManyAt,
    #[error("email has nothing before the '@'")]
    EmailNoLocalPart,
    #[error("email has nothing after the '@'")]
    EmailNoDomain,
    #[error("email contains whitespace")]
    EmailWhitespace,
    /// The parser found no phone number in the text; the reason is the parser's, in words.
    #[error("phone number cannot be read: {0}")]
    PhoneUnreadable(&'static str),
    /// It reads as a number, but no number of that country has this shape.
    #[error("phone number is not a valid number for country code +{country_code}")]
    PhoneNotValid { country_code: u16 },
    #[error("value is not a SHA-256 hex digest (64 hex characters)")]
    NotSha256Hex,
}

impl IdentifierError {
    /// The field the error is about, when it is tied to one.
    pub fn field(&self) -> Option<Field> {
        match self {
            IdentifierError::Empty(field) => Some(*field),
            IdentifierError::EmailNoAt
            | IdentifierError::EmailManyAt
            | IdentifierError::EmailNoLocalPart
            | IdentifierError::EmailNoDomain
            | IdentifierError::EmailWhitespace => Some(Field::Email),
            IdentifierError::PhoneUnreadable(_) | IdentifierError::PhoneNotValid { .. } => {
                Some(Field::Phone)
            }
            IdentifierError::NotSha256Hex => None,
        }
    }
}

/// SHA-256 of the trimmed external id (case kept: TikTok gives no lowercase rule and RudderStack
/// trims only), or the value itself (lower-cased) when it already is a SHA-256 hex digest.
pub fn hash_external_id(raw: &str) -> Result<Sha256Hex, IdentifierError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(IdentifierError::Empty(Field::ExternalId));
    }
    if is_sha256_hex(trimmed) {
        return Sha256Hex::parse(trimmed);
    }
    Ok(Sha256Hex::digest(trimmed.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tiktok_worked_example_hashes_to_the_documented_digest() {
        assert_eq!(
            hash_external_id("user_123").unwrap().as_str(),
            "80fba0ae1c48e3978e43e4efc365e14e12ea0c830ba8ba5b9a2dafc7e3f2ab8b"
        );
        assert_eq!(
            hash_external_id("  user_123\t").unwrap(),
            hash_external_id("user_123").unwrap()
        );
    }

    #[test]
    fn external_id_keeps_its_case() {
        assert_ne!(
            hash_external_id("User_123").unwrap(),
            hash_external_id("user_123").unwrap()
        );
    }

    #[test]
    fn empty_external_id_is_an_error_naming_the_field() {
        let err = hash_external_id(" \n").unwrap_err();
        assert_eq!(err, IdentifierError::Empty(Field::ExternalId));
        assert_eq!(err.to_string(), "external_id is empty");
        assert_eq!(err.field(), Some(Field::ExternalId));
    }

    proptest! {
        #[test]
        fn hashing_a_hash_returns_the_same_hash(raw in "\\PC{1,30}") {
            if let Ok(hash) = hash_external_id(&raw) {
                prop_assert_eq!(hash_external_id(hash.as_str()), Ok(hash.clone()));
                prop_assert_eq!(hash_external_id(&hash.as_str().to_ascii_uppercase()), Ok(hash));
            }
        }

        #[test]
        fn never_panics(raw in any::<String>()) {
            let _ = hash_external_id(&raw);
        }
    }
}
