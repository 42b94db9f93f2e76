//! SHA-256 as TikTok wants it: 64 lowercase hex characters. Owns [`Sha256Hex`], the only form a
//! hashed identifier takes in signalpost, and the "already hashed?" test that keeps a hash from being
//! hashed twice (a double hash never matches anything at TikTok).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use super::IdentifierError;

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// A SHA-256 digest as 64 lowercase hex characters: the form TikTok expects in `user.email`,
/// `user.phone` and `user.external_id`.
///
/// It can only be made by hashing ([`Sha256Hex::digest`]) or by validating a value that is already
/// a hash ([`Sha256Hex::parse`]), so a `Sha256Hex` is always well formed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Hex(String);

impl Sha256Hex {
    /// Hashes `bytes` (already normalized by the caller).
    pub fn digest(bytes: &[u8]) -> Self {
        Self::from_digest(&Sha256::digest(bytes).into())
    }

    /// Encodes a raw 32-byte digest (into a stack buffer first: one allocation, no per-char
    /// bookkeeping).
    pub(crate) fn from_digest(digest: &[u8; 32]) -> Self {
        let mut hex = [0u8; 64];
        for (pair, byte) in hex.chunks_exact_mut(2).zip(digest) {
            pair[0] = HEX_DIGITS[usize::from(byte >> 4)];
            pair[1] = HEX_DIGITS[usize::from(byte & 0x0f)];
        }
        match std::str::from_utf8(&hex) {
            Ok(text) => Self(text.to_owned()),
            // Unreachable (the buffer holds ASCII hex digits), but stay correct without a panic.
            Err(_) => Self(hex.iter().map(|&b| char::from(b)).collect()),
        }
    }

    /// Accepts a value that is already a SHA-256 hex digest (64 hex characters, any case) and
    /// lower-cases it. Surrounding whitespace is not accepted: callers trim first.
    pub fn parse(raw: &str) -> Result<Self, IdentifierError> {
        if is_sha256_hex(raw) {
            Ok(Self(raw.to_ascii_lowercase()))
        } else {
            Err(IdentifierError::NotSha256Hex)
        }
    }

    /// The 64 lowercase hex characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 64 lowercase hex characters, without copying.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Whether `value` already is a SHA-256 hex digest: exactly 64 hex characters in either case. This
/// is the one "already hashed?" rule of signalpost: a value that passes it is never hashed again.
/// The integrations (TikTok's GTM template, Stape, Segment) use the same test to skip re-hashing.
pub fn is_sha256_hex(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `value` is a SHA-256 hex digest in the form a [`Sha256Hex`] holds and the platforms
/// document: 64 hex characters, lowercase only. Stores and validators that accept only finished
/// hashes use this; upper-case input is first brought to this form by [`Sha256Hex::parse`].
pub fn is_canonical_sha256_hex(value: &str) -> bool {
    is_sha256_hex(value) && !value.bytes().any(|b| b.is_ascii_uppercase())
}

impl fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Sha256Hex {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<Sha256Hex> for String {
    fn from(value: Sha256Hex) -> Self {
        value.0
    }
}

impl Serialize for Sha256Hex {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Sha256Hex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_matches_the_sha256_test_vector() {
        assert_eq!(
            Sha256Hex::digest(b"abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            Sha256Hex::digest(b"").as_str(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn parse_lowercases_a_hash_and_rejects_anything_else() {
        let upper = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
        assert_eq!(
            Sha256Hex::parse(upper).map(Sha256Hex::into_string),
            Ok(upper.to_ascii_lowercase())
        );
        for bad in [
            "",
            "abc",
            &upper[1..],
            &format!("{upper}0"),
            &upper.replace('B', "g"),
        ] {
            assert_eq!(
                Sha256Hex::parse(bad),
                Err(IdentifierError::NotSha256Hex),
                "{bad}"
            );
        }
    }

    #[test]
    fn canonical_means_lowercase_and_any_case_counts_as_already_hashed() {
        let lower = Sha256Hex::digest(b"abc").into_string();
        let upper = lower.to_ascii_uppercase();
        assert!(is_sha256_hex(&lower) && is_sha256_hex(&upper));
        assert!(is_canonical_sha256_hex(&lower));
        assert!(!is_canonical_sha256_hex(&upper));
        for bad in ["", "abc", &lower[1..], "alice@example.com"] {
            assert!(
                !is_sha256_hex(bad) && !is_canonical_sha256_hex(bad),
                "{bad}"
            );
        }
    }

    #[test]
    fn serializes_as_a_plain_string_and_validates_when_deserialized() {
        let hash = Sha256Hex::digest(b"abc");
        let json = serde_json::to_string(&hash).unwrap();
        assert_eq!(json, format!("\"{hash}\""));
        assert_eq!(serde_json::from_str::<Sha256Hex>(&json).unwrap(), hash);
        assert!(serde_json::from_str::<Sha256Hex>("\"not-a-hash\"").is_err());
    }
}
