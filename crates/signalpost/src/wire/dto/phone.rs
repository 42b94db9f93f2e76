//! Which region a lead's national-format phone number is read with, and the readings a lead carries
//! for pixels that read it elsewhere.
//!
//! Order: the lead's own `country`; else the pixel's `default_region`; else `[server]
//! default_region`. The phone is hashed here, before any pixel is chosen, so a lead without
//! `country` is read with the server's region (its `phone`) and with each distinct pixel region as
//! well; the readings that differ from `phone` are kept per region for the payload builder to pick
//! (`Lead::phone_by_region`). A number written with its `+country code` reads the same everywhere,
//! so for most leads that map is empty. Nothing here keeps the raw number.

use std::collections::BTreeMap;

use signalpost_tiktok::identity::{self, Region};

use super::lead::IdentifierPolicy;

/// A phone number read for every region that may send it.
#[derive(Debug, PartialEq, Eq)]
pub struct PhoneReading {
    /// SHA-256 hex of the number read with the lead's country or the server's region, or why it
    /// could not be read there.
    pub phone: Result<String, String>,
    /// Region → SHA-256 hex, where a pixel's region reads the number differently from `phone`.
    pub by_region: BTreeMap<String, String>,
    /// When `phone` failed but some pixel region read it: says which, for a warning.
    pub note: Option<String>,
    /// `phone` hashed as digits without the plus sign (Meta's format), when it was read.
    pub digits: Option<String>,
    /// `by_region`'s readings hashed as digits, by region.
    pub digits_by_region: BTreeMap<String, String>,
}

/// Reads `raw` (trimmed, non-empty) with `country` when the lead has one, else with the server's
/// region and each pixel region of `policy`.
pub fn read(raw: &str, country: Option<Region>, policy: &IdentifierPolicy) -> PhoneReading {
    let hash = |region: Region| {
        identity::hash_phone_forms(raw, region)
            .map(|h| (h.e164.into_string(), h.digits.into_string()))
            .map_err(|e| e.to_string())
    };
    let main = hash(country.unwrap_or(policy.default_region));
    let (phone, digits) = match main {
        Ok((e164, digits)) => (Ok(e164), Some(digits)),
        Err(problem) => (Err(problem), None),
    };
    let mut by_region = BTreeMap::new();
    let mut digits_by_region = BTreeMap::new();
    if country.is_some() {
        return PhoneReading {
            phone,
            by_region,
            note: None,
            digits,
            digits_by_region,
        };
    }
    for &region in &policy.pixel_regions {
        if region == policy.default_region {
            continue;
        }
        if let Ok((h, d)) = hash(region)
            && phone.as_ref().ok() != Some(&h)
        {
            by_region.insert(region.to_string(), h);
            digits_by_region.insert(region.to_string(), d);
        }
    }
    let note = match &phone {
        Err(problem) if !by_region.is_empty() => Some(format!(
            "{problem} (read with {}); kept as read with {} for the pixels with that default_region",
            policy.default_region,
            by_region.keys().cloned().collect::<Vec<_>>().join(", ")
        )),
        _ => None,
    };
    PhoneReading {
        phone,
        by_region,
        note,
        digits,
        digits_by_region,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(code: &str) -> Region {
        Region::parse(code).unwrap()
    }

    fn policy(pixel_regions: &[&str]) -> IdentifierPolicy {
        IdentifierPolicy {
            default_region: region("US"),
            strict: false,
            pixel_regions: pixel_regions.iter().map(|r| region(r)).collect(),
        }
    }

    fn sha(e164: &str) -> String {
        identity::hash_phone(e164, region("US"))
            .unwrap()
            .into_string()
    }

    #[test]
    fn the_leads_country_reads_the_number_and_nothing_else_is_kept() {
        let r = read("02 1234 5678", Some(region("IT")), &policy(&["FR"]));
        assert_eq!(r.phone, Ok(sha("+390212345678")));
        assert!(r.by_region.is_empty() && r.note.is_none());
    }

    #[test]
    fn without_country_each_pixel_region_that_reads_it_differently_is_kept() {
        let r = read("0612345678", None, &policy(&["FR", "US", "FR"]));
        assert!(r.phone.is_err(), "not a US number");
        assert_eq!(
            r.by_region,
            BTreeMap::from([("FR".to_owned(), sha("+33612345678"))])
        );
        let note = r.note.unwrap();
        assert!(note.contains("US") && note.contains("FR"), "{note}");
    }

    #[test]
    fn an_international_number_reads_the_same_everywhere_so_no_map() {
        let r = read("+1 213 373 4253", None, &policy(&["FR", "DE"]));
        assert_eq!(r.phone, Ok(sha("+12133734253")));
        assert!(r.by_region.is_empty() && r.note.is_none());
    }

    #[test]
    fn a_number_no_region_reads_is_just_the_default_problem() {
        let r = read("12", None, &policy(&["FR"]));
        assert!(r.phone.is_err());
        assert!(r.by_region.is_empty() && r.note.is_none());
    }
}
