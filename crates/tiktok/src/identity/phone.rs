//! Phone normalization and hashing (shared/tiktok-events-api.md §1.4, §6.4): E.164 through
//! libphonenumber's metadata, then SHA-256. Owns [`Region`] (the default region for numbers written
//! in national format) and the choice between the fast path (`phone_fast`) and the full
//! `phonenumber` parser. Errors never carry the number.

use std::fmt;
use std::str::FromStr;

use phonenumber::country::Id;
use phonenumber::metadata::DATABASE;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::phone_meta::Tables;
use super::{Field, IdentifierError, Sha256Hex, is_sha256_hex, phone_fast};

/// The region a national-format number belongs to (`"213-373-4253"` needs `US`,
/// `"0612345678"` needs `FR`). Numbers written with `+` carry their own country.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Region(Id);

/// The text is not a region phonenumber's metadata knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a known phone region (use an ISO 3166 alpha-2 code such as US, GB, FR)")]
pub struct UnknownRegion(pub String);

impl Region {
    /// United States.
    pub const US: Region = Region(Id::US);

    /// Parses an ISO 3166 alpha-2 code, any case, surrounding spaces ignored (`"gb"` → `GB`).
    pub fn parse(raw: &str) -> Result<Self, UnknownRegion> {
        let unknown = || UnknownRegion(raw.chars().take(16).collect());
        let code = raw.trim().to_ascii_uppercase();
        // Only regions with metadata: the crate's parser panics on a region it has no data for.
        if DATABASE.by_id(code.as_str()).is_none() {
            return Err(unknown());
        }
        Id::from_str(&code).map(Region).map_err(|_| unknown())
    }

    /// The phonenumber country id.
    pub fn id(self) -> Id {
        self.0
    }

    /// The ISO code (`"US"`).
    pub fn as_str(&self) -> &str {
        self.0.as_ref()
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
        f.write_str(self.0.as_ref())
    }
}

impl Serialize for Region {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.as_ref())
    }
}

impl<'de> Deserialize<'de> for Region {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Region::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// E.164 form of a phone number (`"(+1)2133734253"` → `"+12133734253"`): parsed with
/// `default_region` when written in national format, required to be a valid number.
///
/// Common shapes take a fast path that gives the same answer as the full parser (see
/// [`normalize_phone_fast`]); everything else goes through [`normalize_phone_full`].
pub fn normalize_phone(raw: &str, default_region: Region) -> Result<String, IdentifierError> {
    match normalize_phone_fast(raw, default_region) {
        Some(answer) => answer,
        None => normalize_phone_full(raw, default_region),
    }
}

/// SHA-256 of the E.164 number, or the value itself (lower-cased) when it is already a SHA-256 hex
/// digest.
pub fn hash_phone(raw: &str, default_region: Region) -> Result<Sha256Hex, IdentifierError> {
    let trimmed = raw.trim();
    if is_sha256_hex(trimmed) {
        return Sha256Hex::parse(trimmed);
    }
    // The fast path's E.164 lives on the stack: hash it without making a String.
    if let Some(slot) = Tables::get().region(default_region.0.as_ref())
        && let Some(answer) = phone_fast::normalize(raw, slot)
    {
        return answer.map(|e164| Sha256Hex::digest(e164.as_bytes()));
    }
    normalize_phone_full(raw, default_region).map(|e164| Sha256Hex::digest(e164.as_bytes()))
}

/// Compiles the phone metadata of these regions (and of the regions sharing their country codes)
/// now. Each region otherwise compiles on first use, which costs about a millisecond; call this
/// at startup with the configured default regions to keep that off the first requests.
pub fn warm_up_phone_metadata(regions: impl IntoIterator<Item = Region>) {
    let tables = Tables::get();
    for region in regions {
        if let Some(slot) = tables.region(region.0.as_ref()) {
            tables.warm_up(slot);
        }
    }
}

/// The fast path alone: `Some(answer)` only when it is sure, and then `answer` is exactly what
/// [`normalize_phone_full`] returns (the E.164 string, or the same error); `None` means "ask the
/// full parser". Public for the agreement test and the benchmark.
pub fn normalize_phone_fast(
    raw: &str,
    default_region: Region,
) -> Option<Result<String, IdentifierError>> {
    let region = Tables::get().region(default_region.0.as_ref())?;
    phone_fast::normalize(raw, region).map(|answer| answer.map(|e164| e164.to_string_lossless()))
}

/// The reference path: `phonenumber::parse`, `is_valid`, E.164 formatting.
///
/// A number written with `+` is parsed without a default region first: phonenumber 0.3 applies the
/// default region's national-prefix rule even to a number that carries another country code, so
/// `"+44 (0)20 7946 0958"` with region US would keep the `0` and fail. If that reading fails, the
/// default region is tried too (it also understands a dialling prefix after the `+`, `"+011 44…"`).
pub fn normalize_phone_full(raw: &str, default_region: Region) -> Result<String, IdentifierError> {
    if raw.trim().is_empty() {
        return Err(IdentifierError::Empty(Field::Phone));
    }
    if starts_with_plus(raw) {
        match parse_valid(raw, None) {
            Ok(e164) => Ok(e164),
            Err(first) => parse_valid(raw, Some(default_region.0)).map_err(|_| first),
        }
    } else {
        parse_valid(raw, Some(default_region.0))
    }
}

/// Whether the first character that can start a number is a plus sign.
fn starts_with_plus(raw: &str) -> bool {
    raw.chars()
        .find(|c| matches!(c, '+' | '\u{FF0B}') || c.is_numeric())
        .is_some_and(|c| matches!(c, '+' | '\u{FF0B}'))
}

fn parse_valid(raw: &str, region: Option<Id>) -> Result<String, IdentifierError> {
    // The crate has had panics on odd input (RUSTSEC advisories); a lead must never take the
    // process down, so a panic is an unreadable number.
    let parsed = std::panic::catch_unwind(|| phonenumber::parse(region, raw))
        .map_err(|_| IdentifierError::PhoneUnreadable("the phone parser failed"))?
        .map_err(|e| IdentifierError::PhoneUnreadable(parse_reason(&e)))?;
    if !phonenumber::is_valid(&parsed) {
        return Err(IdentifierError::PhoneNotValid {
            country_code: parsed.code().value(),
        });
    }
    Ok(format!("+{}{}", parsed.code().value(), parsed.national()))
}

/// The reason given for `ParseError::InvalidCountryCode` (the fast path gives it too).
pub(crate) const REASON_COUNTRY_CODE: &str = "unknown or missing country code";

fn parse_reason(err: &phonenumber::ParseError) -> &'static str {
    use phonenumber::ParseError as E;
    match err {
        E::NoNumber => "no phone number found",
        E::InvalidCountryCode => REASON_COUNTRY_CODE,
        E::TooShortAfterIdd => "too short after the international prefix",
        E::TooShortNsn => "too short",
        E::TooLong => "too long",
        E::MalformedInteger(_) => "not a number",
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
            normalize_phone_full("(+1)2133734253", Region::US).unwrap(),
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
        ] {
            assert_eq!(
                normalize_phone(raw, region(default)).unwrap(),
                e164,
                "{raw}"
            );
            assert_eq!(
                normalize_phone_full(raw, region(default)).unwrap(),
                e164,
                "{raw}"
            );
        }
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
    fn an_existing_hash_passes_through_lowercased() {
        let hash = "9F7EC22D72092CD3C0B58726ED9C2D91B92E51A3F29837508FB2948BB22DD2FD";
        assert_eq!(
            hash_phone(hash, Region::US).unwrap().as_str(),
            hash.to_ascii_lowercase()
        );
    }

    #[test]
    fn every_region_with_metadata_is_a_region() {
        let ids: Vec<&str> = DATABASE
            .iter()
            .map(|m| m.id())
            .filter(|id| id.len() == 2)
            .collect();
        assert!(ids.len() > 200);
        for id in ids {
            assert_eq!(Region::parse(id).map(|r| r.to_string()), Ok(id.to_owned()));
        }
        warm_up_phone_metadata([Region::US, region("GB")]);
        assert_eq!(
            normalize_phone_fast("+1 604 555 0123", Region::US),
            Some(Ok("+16045550123".into()))
        );
    }

    #[test]
    fn region_parses_any_case_and_names_unknown_codes() {
        assert_eq!(region(" gb").as_str(), "GB");
        assert_eq!(region("US"), Region::US);
        assert_eq!(Region::US.to_string(), "US");
        let err = Region::parse("XX").unwrap_err();
        assert!(err.to_string().contains("XX"), "{err}");
        assert!(Region::parse("").is_err());
        assert!(Region::parse("USA").is_err());
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
        fn hashing_a_hash_returns_the_same_hash(local in 2_000_000u32..9_999_999) {
            let raw = format!("213{local}");
            if let Ok(hash) = hash_phone(&raw, Region::US) {
                prop_assert_eq!(hash_phone(hash.as_str(), Region::US), Ok(hash));
            }
        }

        #[test]
        fn never_panics(raw in any::<String>()) {
            let _ = hash_phone(&raw, Region::US);
            let _ = normalize_phone_full(&raw, region("FR"));
        }
    }
}
