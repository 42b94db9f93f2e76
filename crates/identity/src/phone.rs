//! Phone normalization and hashing: libphonenumber's parse, validity check and E.164 format
//! (through `rlibphonenumber`, a Rust port of Google's library with its metadata), then SHA-256.
//! Owns [`Region`] (the default region for numbers written in national format) and
//! [`PhoneFormat`] (how a destination wants the E.164 written before hashing). The differential
//! test `tests/phone_parity.rs` holds the answers to those of the reference library. Errors never
//! carry the number.

use std::fmt;
use std::str::FromStr;

use rlibphonenumber::{PHONE_NUMBER_UTIL, ParseError, PhoneNumber, PhoneNumberFormat};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Field, IdentifierError, Sha256Hex, is_sha256_hex};

/// Longest input read as a phone number, in characters: libphonenumber refuses anything longer
/// (`MAX_INPUT_STRING_LENGTH`) as too long, and the cap bounds the parser's work on hostile input.
pub const MAX_PHONE_INPUT_CHARS: usize = 250;

/// The region a national-format number belongs to (`"213-373-4253"` needs `US`,
/// `"0612345678"` needs `FR`). Numbers written with `+` carry their own country.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region(rlibphonenumber::Region);

/// The text is not a region libphonenumber's metadata knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a known phone region (use an ISO 3166-1 alpha-2 code such as US, GB, FR)")]
pub struct UnknownRegion(pub String);

impl Region {
    /// United States.
    pub const US: Region = Region(rlibphonenumber::Region::US);

    /// Parses an ISO 3166-1 alpha-2 code, any case, surrounding spaces ignored (`"gb"` → `GB`).
    /// Only regions with phone metadata are regions (`XX`, `ZZ` and the non-geographic `001` are
    /// not).
    pub fn parse(raw: &str) -> Result<Self, UnknownRegion> {
        let unknown = || UnknownRegion(raw.chars().take(16).collect());
        let code = raw.trim();
        if code.len() != 2 {
            return Err(unknown());
        }
        let region = rlibphonenumber::Region::from_code(code).map_err(|_| unknown())?;
        if PHONE_NUMBER_UTIL
            .get_country_code_for_region(region)
            .is_none()
        {
            return Err(unknown());
        }
        Ok(Region(region))
    }

    /// Every region with phone metadata, in code order.
    pub fn all() -> Vec<Region> {
        let mut all: Vec<Region> = PHONE_NUMBER_UTIL
            .get_supported_regions()
            .map(Region)
            .collect();
        all.sort();
        all
    }

    /// The ISO code (`"US"`).
    pub fn code(self) -> String {
        self.0.to_string()
    }
}

impl Default for Region {
    fn default() -> Self {
        Region::US
    }
}

impl FromStr for Region {
    type Err = UnknownRegion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Region::parse(s)
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl Serialize for Region {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Region {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Region::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// How a destination writes the normalized number before hashing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PhoneFormat {
    /// E.164 with its plus sign, `+12133734253` (TikTok, Google Ads).
    #[default]
    E164,
    /// E.164 digits without the plus sign, `12133734253` (Meta).
    E164Digits,
}

impl PhoneFormat {
    /// `e164` (which starts with `+`) written in this format.
    fn apply(self, e164: &str) -> &str {
        match self {
            PhoneFormat::E164 => e164,
            PhoneFormat::E164Digits => e164.strip_prefix('+').unwrap_or(e164),
        }
    }
}

/// E.164 form of a phone number (`"(+1)2133734253"` → `"+12133734253"`), exactly as
/// libphonenumber's `parse(raw, default_region)`, `is_valid_number` and `format(E164)` give it:
/// `default_region` reads national-format numbers, an extension is dropped, and the number must
/// be valid.
pub fn normalize_phone(raw: &str, default_region: Region) -> Result<String, IdentifierError> {
    let number = parse_valid(raw, default_region)?;
    Ok(number.format_as(PhoneNumberFormat::E164).into_owned())
}

/// SHA-256 of the E.164 number, or the value itself (lower-cased) when it is already a SHA-256 hex
/// digest.
pub fn hash_phone(raw: &str, default_region: Region) -> Result<Sha256Hex, IdentifierError> {
    hash_phone_as(raw, default_region, PhoneFormat::E164)
}

/// SHA-256 of the number written in `format`, or the value itself (lower-cased) when it is already
/// a SHA-256 hex digest (the caller vouches that it was hashed in the destination's format).
pub fn hash_phone_as(
    raw: &str,
    default_region: Region,
    format: PhoneFormat,
) -> Result<Sha256Hex, IdentifierError> {
    let trimmed = raw.trim();
    if is_sha256_hex(trimmed) {
        return Sha256Hex::parse(trimmed);
    }
    let e164 = normalize_phone(trimmed, default_region)?;
    Ok(Sha256Hex::digest(format.apply(&e164).as_bytes()))
}

/// A number's SHA-256 in both formats destinations use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneHashes {
    /// Of `+12133734253` (TikTok, Google Ads).
    pub e164: Sha256Hex,
    /// Of `12133734253` (Meta).
    pub digits: Sha256Hex,
}

/// [`hash_phone_as`] in both formats from one parse. A value that is already a SHA-256 hex digest is
/// passed through as both (the caller vouches for its format).
pub fn hash_phone_forms(raw: &str, default_region: Region) -> Result<PhoneHashes, IdentifierError> {
    let trimmed = raw.trim();
    if is_sha256_hex(trimmed) {
        let hash = Sha256Hex::parse(trimmed)?;
        return Ok(PhoneHashes {
            e164: hash.clone(),
            digits: hash,
        });
    }
    let e164 = normalize_phone(trimmed, default_region)?;
    Ok(PhoneHashes {
        e164: Sha256Hex::digest(PhoneFormat::E164.apply(&e164).as_bytes()),
        digits: Sha256Hex::digest(PhoneFormat::E164Digits.apply(&e164).as_bytes()),
    })
}

/// Builds the metadata of these regions now. Each region otherwise builds its patterns on first
/// use, which costs up to tens of milliseconds; call this at startup with the configured default
/// regions to keep that off the first requests.
pub fn warm_up_phone_metadata(regions: impl IntoIterator<Item = Region>) {
    for region in regions {
        if let Ok(example) = PHONE_NUMBER_UTIL.get_example_number(region.0) {
            let text = example.format_as(PhoneNumberFormat::National).into_owned();
            let _ = parse_valid(&text, region);
        }
    }
}

fn parse_valid(raw: &str, region: Region) -> Result<PhoneNumber, IdentifierError> {
    if raw.trim().is_empty() {
        return Err(IdentifierError::Empty(Field::Phone));
    }
    if raw.chars().count() > MAX_PHONE_INPUT_CHARS {
        return Err(IdentifierError::PhoneUnreadable(REASON_TOO_LONG));
    }
    // A lead must never take the process down: a panic in the parser is an unreadable number.
    let parsed = std::panic::catch_unwind(|| PhoneNumber::parse(raw, Some(region.0)))
        .map_err(|_| IdentifierError::PhoneUnreadable("the phone parser failed"))?
        .map_err(|e| IdentifierError::PhoneUnreadable(parse_reason(&e)))?;
    if !parsed.is_valid() {
        return Err(IdentifierError::PhoneNotValid {
            country_code: u16::try_from(parsed.country_code).unwrap_or(0),
        });
    }
    Ok(parsed)
}

const REASON_TOO_LONG: &str = "too long";

fn parse_reason(err: &ParseError) -> &'static str {
    match err {
        ParseError::NotANumber(_) => "no phone number found",
        ParseError::InvalidCountryCode => "unknown or missing country code",
        ParseError::TooShortAfterIdd => "too short after the international prefix",
        ParseError::TooShortNsn => "too short",
        ParseError::TooLongNsn => REASON_TOO_LONG,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn region(code: &str) -> Region {
        Region::parse(code).unwrap()
    }

    #[test]
    fn tiktok_worked_example_hashes_to_the_documented_digest() {
        assert_eq!(
            normalize_phone("(+1)2133734253", Region::US).unwrap(),
            "+12133734253"
        );
        assert_eq!(
            hash_phone("(+1)2133734253", Region::US).unwrap().as_str(),
            "9f7ec22d72092cd3c0b58726ed9c2d91b92e51a3f29837508fb2948bb22dd2fd"
        );
    }

    #[test]
    fn normalizes_the_shapes_leads_type() {
        for (raw, default, e164) in [
            ("+1 (213) 373-4253", "US", "+12133734253"),
            ("213-373-4253", "US", "+12133734253"),
            ("0612345678", "FR", "+33612345678"),
            ("+44 20 7946 0958", "US", "+442079460958"),
            ("+44 (0)20 7946 0958", "US", "+442079460958"),
            ("011 44 20 7946 0958", "US", "+442079460958"),
            ("tel:+1-213-373-4253", "US", "+12133734253"),
            ("213 373 4253 ext. 12", "US", "+12133734253"),
            ("+390212345678", "DE", "+390212345678"),
            ("393 123 4567", "IT", "+393931234567"),
            ("4915123456789", "DE", "+494915123456789"),
        ] {
            assert_eq!(
                normalize_phone(raw, region(default)).unwrap(),
                e164,
                "{raw}"
            );
        }
    }

    #[test]
    fn meta_format_is_the_e164_digits_without_the_plus() {
        assert_eq!(
            hash_phone_as("(+1)2133734253", Region::US, PhoneFormat::E164Digits).unwrap(),
            Sha256Hex::digest(b"12133734253")
        );
        assert_eq!(
            hash_phone_as("213-373-4253", Region::US, PhoneFormat::E164).unwrap(),
            hash_phone("213-373-4253", Region::US).unwrap()
        );
    }

    #[test]
    fn rejects_garbage_letters_and_short_numbers_without_echoing_them() {
        for raw in [
            "",
            "   ",
            "garbage",
            "call me",
            "12",
            "555-0100",
            "2003734253",
            "+999 123 456 789",
            "someone@example.com",
            "+1",
            "0000000000",
        ] {
            let err = normalize_phone(raw, Region::US).unwrap_err();
            if raw.trim().len() > 3 {
                assert!(!err.to_string().contains(raw.trim()), "{err}");
            }
            assert!(hash_phone(raw, Region::US).is_err(), "{raw}");
        }
        assert_eq!(
            normalize_phone(" ", Region::US),
            Err(IdentifierError::Empty(Field::Phone))
        );
    }

    #[test]
    fn input_longer_than_libphonenumber_reads_is_too_long() {
        let padded = |len: usize| format!("{:<len$}", "213-373-4253");
        assert_eq!(
            normalize_phone(&padded(MAX_PHONE_INPUT_CHARS), Region::US).unwrap(),
            "+12133734253"
        );
        assert_eq!(
            normalize_phone(&padded(MAX_PHONE_INPUT_CHARS + 1), Region::US),
            Err(IdentifierError::PhoneUnreadable(REASON_TOO_LONG))
        );
        let hostile = "1".repeat(100_000);
        assert!(normalize_phone(&hostile, Region::US).is_err());
    }

    #[test]
    fn an_existing_hash_passes_through_lowercased() {
        let hash = "9F7EC22D72092CD3C0B58726ED9C2D91B92E51A3F29837508FB2948BB22DD2FD";
        assert_eq!(
            hash_phone(hash, Region::US).unwrap().as_str(),
            hash.to_ascii_lowercase()
        );
    }

    #[test]
    fn every_region_with_metadata_is_a_region() {
        let all = Region::all();
        assert!(all.len() > 240, "{} regions", all.len());
        for r in &all {
            assert_eq!(Region::parse(&r.code()), Ok(*r));
        }
        warm_up_phone_metadata([Region::US, region("GB")]);
        assert_eq!(
            normalize_phone("+1 604 555 0123", Region::US).unwrap(),
            "+16045550123"
        );
    }

    #[test]
    fn region_parses_any_case_and_names_unknown_codes() {
        assert_eq!(region(" gb").to_string(), "GB");
        assert_eq!(region("US"), Region::US);
        assert_eq!(Region::US.to_string(), "US");
        for bad in ["XX", "ZZ", "001", "", "USA", "u", "1A", "É"] {
            let err = Region::parse(bad).unwrap_err();
            assert!(
                err.to_string().contains("not a known phone region"),
                "{err}"
            );
        }
        assert_eq!(serde_json::to_string(&region("fr")).unwrap(), "\"FR\"");
        assert_eq!(
            serde_json::from_str::<Region>("\"de\"").unwrap(),
            region("DE")
        );
    }

    proptest! {
        #[test]
        fn normalizing_twice_changes_nothing(
            raw in "[0-9 ()+.-]{0,20}",
            region_code in prop::sample::select(vec!["US", "CA", "GB", "FR", "DE", "IT", "AU", "BR", "IN", "MX"]),
        ) {
            let default = region(region_code);
            if let Ok(once) = normalize_phone(&raw, default) {
                prop_assert_eq!(normalize_phone(&once, default), Ok(once.clone()));
                prop_assert_eq!(hash_phone(&raw, default), Ok(Sha256Hex::digest(once.as_bytes())));
            }
        }

        #[test]
        fn never_panics(raw in any::<String>()) {
            let _ = hash_phone(&raw, Region::US);
            let _ = normalize_phone(&raw, region("FR"));
        }
    }
}

#[cfg(test)]
mod forms_tests {
    use super::*;

    #[test]
    fn both_forms_come_from_one_reading_and_a_hash_passes_through_as_both() {
        let us = Region::parse("US").unwrap();
        let forms = hash_phone_forms("(213) 373-4253", us).unwrap();
        assert_eq!(forms.e164, Sha256Hex::digest(b"+12133734253"));
        assert_eq!(forms.digits, Sha256Hex::digest(b"12133734253"));
        assert_eq!(
            forms.e164,
            hash_phone_as("(213) 373-4253", us, PhoneFormat::E164).unwrap()
        );
        let hashed = "A".repeat(64);
        let passed = hash_phone_forms(&hashed, us).unwrap();
        assert_eq!(passed.e164.as_str(), "a".repeat(64));
        assert_eq!(passed.digits, passed.e164);
        assert!(hash_phone_forms("12", us).is_err());
    }
}
