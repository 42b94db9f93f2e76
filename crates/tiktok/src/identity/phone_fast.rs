//! The fast path of phone normalization. It replays, step by step, what `phonenumber::parse`
//! followed by `is_valid` and E.164 formatting do, for the shapes leads actually type (digits with
//! an optional leading `+`, spaces, dashes, dots and parentheses), using the compiled tables of
//! `phone_meta`. It answers only when it is sure the full parser would accept the number and give
//! the same E.164 string; anything else (letters, extensions, IDD prefixes such as `011`/`00`,
//! national-prefix transform rules, non-geographic codes, invalid numbers) returns `None` and the
//! caller runs the full parser. The property test in `tests/phone_fast_path.rs` holds it to that.
//!
//! Replayed quirks of phonenumber 0.3 (kept because the fast path must agree with the full path):
//! - With no space, `+<digits><separator>…` is read as RFC 3966: everything between `+` and the
//!   first `-`, `.`, `(` or `)` is the country code (so `+12-133-734-253` is code 12, rejected).
//! - In national format, a number starting with the region's country code is read as
//!   international when the general pattern does not match it.
//! - The national prefix is stripped by `national_prefix_for_parsing`, then once more by the
//!   plain `national_prefix`, unless the result would be too short.

use super::IdentifierError;
use super::phone::REASON_COUNTRY_CODE;
use super::phone_meta::{CodeRegions, Length, Meta, Tables};

/// Longest digit run considered (17-digit national number + 3-digit code).
const MAX_DIGITS: usize = 20;

/// An E.164 number built on the stack: `+`, up to 3 code digits, up to 17 national digits.
pub(crate) struct E164 {
    bytes: [u8; 24],
    len: usize,
}

impl E164 {
    fn new(code: &str, national: &[u8]) -> Option<Self> {
        let len = 1 + code.len() + national.len();
        let mut bytes = [0u8; 24];
        bytes.get_mut(..len)?;
        bytes[0] = b'+';
        bytes[1..1 + code.len()].copy_from_slice(code.as_bytes());
        bytes[1 + code.len()..len].copy_from_slice(national);
        Some(Self { bytes, len })
    }

    /// The number as ASCII bytes (what gets hashed).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    pub(crate) fn to_string_lossless(&self) -> String {
        match std::str::from_utf8(self.as_bytes()) {
            Ok(text) => text.to_owned(),
            // Unreachable: only ASCII digits and '+' are written.
            Err(_) => self.as_bytes().iter().map(|&b| char::from(b)).collect(),
        }
    }
}

/// The digits of a phone-like input and how the parser will read them.
struct Tokens {
    digits: [u8; MAX_DIGITS],
    len: usize,
    /// A `+` comes before every digit.
    plus: bool,
    /// RFC 3966 reading: the number of leading digits taken as the country code.
    rfc_code_len: Option<usize>,
}

impl Tokens {
    fn digits(&self) -> &[u8] {
        &self.digits[..self.len]
    }
}

/// Reads `raw` if it has one of the simple shapes, else `None`.
fn tokenize(raw: &str) -> Option<Tokens> {
    let bytes = raw.as_bytes();
    let mut tokens = Tokens {
        digits: [0; MAX_DIGITS],
        len: 0,
        plus: false,
        rfc_code_len: None,
    };
    let mut space = false;
    let mut first_separator = None;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                if tokens.len == MAX_DIGITS {
                    return None;
                }
                tokens.digits[tokens.len] = b;
                tokens.len += 1;
            }
            b'+' => {
                if tokens.plus || tokens.len > 0 {
                    return None;
                }
                tokens.plus = true;
            }
            b' ' => space = true,
            b'-' | b'.' | b'(' | b')' => {
                if first_separator.is_none() {
                    first_separator = Some(i);
                }
            }
            _ => return None,
        }
    }
    // The RFC 3966 reader runs first when there is no space: `+`, then the code up to the first
    // separator, then at least one more character.
    if !space
        && bytes.first() == Some(&b'+')
        && let Some(k) = first_separator
        && k > 1
    {
        tokens.rfc_code_len = Some(k - 1);
    }
    Some(tokens)
}

/// The fast path's verdict: `None` = "not sure, ask the full parser"; otherwise exactly what the
/// full path (`phone::normalize_phone_full`) returns. `region` is the default region's slot in
/// [`Tables`].
pub(crate) fn normalize(raw: &str, region: usize) -> Option<Result<E164, IdentifierError>> {
    let tokens = tokenize(raw)?;
    let digits = tokens.digits();
    let tables = Tables::get();
    if !tokens.plus {
        return national(tables, digits, region);
    }
    // The full path reads a `+` number on its own first, then with the default region, and
    // reports the first reading's error when both fail.
    match international(tables, digits, tokens.rfc_code_len, None)? {
        Ok(e164) => Some(Ok(e164)),
        Err(first) => match international(tables, digits, tokens.rfc_code_len, Some(region))? {
            Ok(e164) => Some(Ok(e164)),
            Err(_) => Some(Err(first)),
        },
    }
}

/// A number written without `+`, read with the default region.
fn national(
    tables: &Tables,
    digits: &[u8],
    region: usize,
) -> Option<Result<E164, IdentifierError>> {
    // Fewer than 3 digits is not a viable number.
    if digits.len() < 3 {
        return None;
    }
    let meta = tables.meta(region)?;
    // A leading international dialling prefix (011, 00…) is left to the full parser.
    if meta
        .international_prefix
        .as_ref()
        .is_some_and(|idd| idd.matches_at_start(digits))
    {
        return None;
    }
    let code = meta.code_digits.as_bytes();
    let mut national = digits;
    if digits.starts_with(code)
        && (!meta.general.is_match(digits) || meta.length(digits.len()) != Length::Possible)
    {
        national = &digits[code.len()..];
    }
    finish(tables, Some(meta), meta.code, national)
}

/// A number written with `+`: the country code comes from the number. `region` is `None` for the
/// reading without a default region, else the default region's slot.
fn international(
    tables: &Tables,
    digits: &[u8],
    rfc_code_len: Option<usize>,
    region: Option<usize>,
) -> Option<Result<E164, IdentifierError>> {
    let region = match region {
        Some(slot) => Some(tables.meta(slot)?),
        None => None,
    };
    let (code, national) = match rfc_code_len {
        Some(code_len) => {
            let national = digits.get(code_len..)?;
            // Viable needs 3 digits; the code step needs more than 2.
            if national.len() < 3 {
                return None;
            }
            let code = parse_code(&digits[..code_len])?;
            if matches!(tables.code(code), CodeRegions::Unknown) {
                return None;
            }
            (code, national)
        }
        None => {
            if digits.len() <= 2 {
                return None;
            }
            // With a default region, a dialling prefix right after the `+` is stripped too.
            if region.is_some_and(|meta| {
                meta.international_prefix
                    .as_ref()
                    .is_some_and(|idd| idd.matches_at_start(digits))
            }) {
                return None;
            }
            let unknown_code = || Some(Err(IdentifierError::PhoneUnreadable(REASON_COUNTRY_CODE)));
            if digits[0] == b'0' {
                return unknown_code();
            }
            let found = (1..=3).find_map(|len| {
                let code = parse_code(digits.get(..len)?)?;
                (!matches!(tables.code(code), CodeRegions::Unknown)).then_some((len, code))
            });
            let Some((code_len, code)) = found else {
                return unknown_code();
            };
            (code, &digits[code_len..])
        }
    };
    // Without a default region the parser takes the national-prefix rules of the region the
    // number belongs to; with one, it takes the default region's (see `normalize_phone_full`).
    let meta = match region {
        Some(meta) => Some(meta),
        None => region_of(tables, code, trim_zeros(national))?.map(|(meta, _)| meta),
    };
    finish(tables, meta, code, national)
}

/// The parser's last steps: national prefix, length limits, validity, E.164.
fn finish(
    tables: &Tables,
    meta: Option<&Meta>,
    code: u16,
    mut national: &[u8],
) -> Option<Result<E164, IdentifierError>> {
    if let Some(meta) = meta {
        let mut potential = national;
        match &meta.prefix_for_parsing {
            None => {
                if let Some(prefix) = &meta.national_prefix {
                    potential = potential
                        .strip_prefix(prefix.as_bytes())
                        .unwrap_or(potential);
                }
            }
            Some(parsing) => {
                if let Some(end) = parsing.match_end_at_start(potential) {
                    if meta.has_transform_rule {
                        return None;
                    }
                    potential = &potential[end..];
                }
            }
        }
        if let Some(prefix) = &meta.national_prefix {
            potential = potential
                .strip_prefix(prefix.as_bytes())
                .unwrap_or(potential);
        }
        if meta.length(potential.len()) != Length::TooShort {
            national = potential;
        }
    }
    if national.len() < 2 || national.len() > 17 {
        return None;
    }
    // The crate stores the national number as (leading zeros, u64 < 2^56).
    let significant = trim_zeros(national);
    if significant.is_empty() || significant.len() > 16 {
        return None;
    }
    let not_valid = Err(IdentifierError::PhoneNotValid { country_code: code });
    let Some((meta, known)) = region_of(tables, code, national)? else {
        return Some(not_valid);
    };
    if !(known || meta.is_known_type(national)) {
        return Some(not_valid);
    }
    E164::new(&meta.code_digits, national).map(Ok)
}

/// The crate's `validator::source_for`: which region's metadata a national number belongs to,
/// and whether that choice already proved the number is of a known type (then it need not be
/// checked again). `None` = "give up" (non-geographic code, uncompiled region); `Some(None)` = no
/// region.
fn region_of<'t>(
    tables: &'t Tables,
    code: u16,
    national: &[u8],
) -> Option<Option<(&'t Meta, bool)>> {
    let CodeRegions::Regions(regions) = tables.code(code) else {
        return None;
    };
    if let [only] = regions.as_slice() {
        return tables.meta(*only).map(|meta| Some((meta, false)));
    }
    for &slot in regions {
        let meta = tables.meta(slot)?;
        let belongs = match &meta.leading_digits {
            Some(leading) => leading.matches_at_start(national).then_some(false),
            None => meta.is_known_type(national).then_some(true),
        };
        if let Some(known) = belongs {
            return Some(Some((meta, known)));
        }
    }
    Some(None)
}

fn parse_code(digits: &[u8]) -> Option<u16> {
    if digits.is_empty() || digits.len() > 5 {
        return None;
    }
    let value = digits
        .iter()
        .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
    u16::try_from(value).ok()
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|&&d| d == b'0').count();
    &digits[zeros..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast(raw: &str, region: &str) -> Option<Result<String, IdentifierError>> {
        normalize(raw, Tables::get().region(region).unwrap())
            .map(|answer| answer.map(|e164| e164.to_string_lossless()))
    }

    #[test]
    fn accepts_the_common_shapes() {
        for (raw, region, e164) in [
            ("(+1)2133734253", "US", "+12133734253"),
            ("+1 (213) 373-4253", "US", "+12133734253"),
            ("213-373-4253", "US", "+12133734253"),
            ("213.373.4253", "US", "+12133734253"),
            ("(213) 373-4253", "US", "+12133734253"),
            ("2133734253", "US", "+12133734253"),
            ("1 213 373 4253", "US", "+12133734253"),
            ("12133734253", "US", "+12133734253"),
            ("+12133734253", "FR", "+12133734253"),
            ("+1-213-373-4253", "US", "+12133734253"),
            ("0612345678", "FR", "+33612345678"),
            ("06 12 34 56 78", "FR", "+33612345678"),
            ("+33 6 12 34 56 78", "US", "+33612345678"),
            ("+44 20 7946 0958", "US", "+442079460958"),
            ("+44 (0)20 7946 0958", "US", "+442079460958"),
            ("020 7946 0958", "GB", "+442079460958"),
            ("+1 604 555 0123", "US", "+16045550123"),
            ("604-555-0123", "CA", "+16045550123"),
            ("+39 02 1234 5678", "US", "+390212345678"),
        ] {
            assert_eq!(
                fast(raw, region),
                Some(Ok(e164.to_owned())),
                "{raw} {region}"
            );
        }
    }

    #[test]
    fn steps_aside_for_shapes_it_does_not_model() {
        for (raw, region) in [
            ("011 44 20 7946 0958", "US"),
            ("tel:+1-213-373-4253", "US"),
            ("213 373 4253 ext 12", "US"),
            ("+800 1234 5678", "US"),
            ("+1+2133734253", "US"),
            ("2133734253+", "US"),
            ("２１３３７３４２５３", "US"),
            ("12", "US"),
            ("", "US"),
        ] {
            assert_eq!(fast(raw, region), None, "{raw} {region}");
        }
    }

    #[test]
    fn rejects_invalid_numbers_with_the_full_parsers_error() {
        for (raw, region, code) in [
            ("200-373-4253", "US", 1),
            ("213-373-425", "US", 1),
            ("+44 1632 960123", "GB", 44),
            ("+1 604 123 4567", "US", 1),
        ] {
            assert_eq!(
                fast(raw, region),
                Some(Err(IdentifierError::PhoneNotValid { country_code: code })),
                "{raw} {region}"
            );
        }
        assert_eq!(
            fast("+0612345678", "FR"),
            Some(Err(IdentifierError::PhoneUnreadable(REASON_COUNTRY_CODE)))
        );
    }
}
