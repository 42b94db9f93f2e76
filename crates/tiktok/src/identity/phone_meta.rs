//! phonenumber's metadata compiled for speed. The `phonenumber` crate matches its descriptor
//! regexes through one global, mutex-guarded LRU cache of 100 compiled regexes, which is both slow
//! (≈2–5 µs a number) and contended. Here each pattern of a region is compiled once, on first use of
//! that region, into an anchored dense DFA over ASCII digits: a check then costs a few nanoseconds
//! per digit and takes no lock.
//!
//! The DFAs are built from the crate's own pattern strings with the crate's own flags
//! (`ignore_whitespace`), so they accept exactly the same digit strings; `\d` is compiled as ASCII,
//! which is equivalent because only ASCII digits are ever searched. This module answers questions
//! about the metadata and never decides anything about a number itself (that is `phone_fast`).

use std::sync::OnceLock;

use phonenumber::metadata::{DATABASE, Descriptor, Metadata};
use regex_automata::{
    Anchored, Input, MatchKind,
    dfa::{Automaton, StartKind, dense},
    nfa::thompson,
    util::start,
    util::syntax,
};

/// Highest country calling code (3 digits).
const MAX_CODE: usize = 999;
/// Region ids are two upper-case ASCII letters.
const REGION_SLOTS: usize = 26 * 26;

/// One pattern as an anchored DFA.
pub(crate) struct Dfa(dense::DFA<Vec<u32>>);

impl Dfa {
    fn build(pattern: &str) -> Option<Self> {
        dense::Builder::new()
            .syntax(
                syntax::Config::new()
                    .unicode(false)
                    .utf8(false)
                    .ignore_whitespace(true),
            )
            .thompson(thompson::Config::new().utf8(false))
            .configure(
                dense::DFA::config()
                    .start_kind(StartKind::Anchored)
                    .match_kind(MatchKind::LeftmostFirst)
                    // Plain states only, so the hand-written walk needs no acceleration logic.
                    // No quit bytes are configured, so a quit state cannot occur.
                    .accelerate(false),
            )
            .build(pattern)
            .ok()
            .map(Self)
    }

    /// Whether a match starts at the first digit: the crate's `find(x).start() == 0`.
    ///
    /// Walks the DFA by hand (no `Input`, no search bookkeeping): this runs several times per
    /// number. A match state anywhere on the way means a match starting at 0 exists.
    pub(crate) fn matches_at_start(&self, digits: &[u8]) -> bool {
        let dfa = &self.0;
        let Ok(mut state) = dfa.start_state(&start::Config::new().anchored(Anchored::Yes)) else {
            return false;
        };
        for &byte in digits {
            state = dfa.next_state(state, byte);
            if dfa.is_special_state(state) {
                if dfa.is_match_state(state) {
                    return true;
                }
                if dfa.is_dead_state(state) {
                    return false;
                }
            }
        }
        dfa.is_match_state(dfa.next_eoi_state(state))
    }

    /// End of the leftmost-first match starting at the first digit, if there is one: what the
    /// crate's `find(x)` returns when that match starts at 0.
    pub(crate) fn match_end_at_start(&self, digits: &[u8]) -> Option<usize> {
        let input = Input::new(digits).anchored(Anchored::Yes);
        match self.0.try_search_fwd(&input) {
            Ok(Some(m)) => Some(m.offset()),
            _ => None,
        }
    }
}

/// A number-type descriptor: its pattern and the lengths it allows (empty = any).
pub(crate) struct Desc {
    dfa: Dfa,
    lengths: Vec<u16>,
}

impl Desc {
    fn build(desc: &Descriptor) -> Option<Self> {
        Some(Self {
            dfa: Dfa::build(desc.national_number().as_str())?,
            lengths: desc.possible_length().to_vec(),
        })
    }

    /// The crate's `Descriptor::is_match`.
    pub(crate) fn is_match(&self, digits: &[u8]) -> bool {
        (self.lengths.is_empty() || self.lengths.contains(&len16(digits)))
            && self.dfa.matches_at_start(digits)
    }
}

/// The outcome of the crate's `validator::length(meta, number, Type::Unknown)` that callers need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Length {
    Possible,
    TooShort,
    Other,
}

/// Everything the fast path needs about one region, compiled.
pub(crate) struct Meta {
    pub(crate) code: u16,
    /// The country code as digits.
    pub(crate) code_digits: String,
    pub(crate) general: Desc,
    possible_lengths: Vec<u16>,
    local_lengths: Vec<u16>,
    /// Fixed line and mobile first: they decide most numbers.
    types: Vec<Desc>,
    pub(crate) leading_digits: Option<Dfa>,
    pub(crate) national_prefix: Option<String>,
    pub(crate) prefix_for_parsing: Option<Dfa>,
    pub(crate) has_transform_rule: bool,
    pub(crate) international_prefix: Option<Dfa>,
}

impl Meta {
    fn build(meta: &Metadata) -> Option<Self> {
        let d = meta.descriptors();
        let mut types: Vec<&Descriptor> = Vec::new();
        for desc in [
            d.fixed_line(),
            d.mobile(),
            d.toll_free(),
            d.premium_rate(),
            d.shared_cost(),
            d.voip(),
            d.personal_number(),
            d.pager(),
            d.uan(),
            d.voicemail(),
        ]
        .into_iter()
        .flatten()
        {
            // Fixed line and mobile often share one pattern: test it once.
            let duplicate = types.iter().any(|t| {
                t.national_number().as_str() == desc.national_number().as_str()
                    && t.possible_length() == desc.possible_length()
            });
            if !duplicate {
                types.push(desc);
            }
        }
        let optional = |pattern: Option<&str>| match pattern {
            Some(pattern) => Dfa::build(pattern).map(Some),
            None => Some(None),
        };
        Some(Self {
            code: meta.country_code(),
            code_digits: meta.country_code().to_string(),
            general: Desc::build(d.general())?,
            possible_lengths: d.general().possible_length().to_vec(),
            local_lengths: d.general().possible_local_length().to_vec(),
            types: types
                .into_iter()
                .map(Desc::build)
                .collect::<Option<Vec<_>>>()?,
            leading_digits: optional(meta.leading_digits().map(|re| re.as_str()))?,
            national_prefix: meta.national_prefix().map(str::to_owned),
            prefix_for_parsing: optional(meta.national_prefix_for_parsing().map(|re| re.as_str()))?,
            has_transform_rule: meta.national_prefix_transform_rule().is_some(),
            international_prefix: optional(meta.international_prefix().map(|re| re.as_str()))?,
        })
    }

    /// The crate's `validator::number_type(meta, n) != Type::Unknown`: the general pattern and at
    /// least one type pattern match.
    pub(crate) fn is_known_type(&self, digits: &[u8]) -> bool {
        self.general.is_match(digits) && self.types.iter().any(|t| t.is_match(digits))
    }

    /// The crate's `validator::length` with `Type::Unknown` (its general lengths), reduced to what
    /// the parser asks of it.
    pub(crate) fn length(&self, len: usize) -> Length {
        let possible = &self.possible_lengths;
        let (Some(&min), Some(&max)) = (possible.first(), possible.last()) else {
            return Length::Other;
        };
        let len = u16::try_from(len).unwrap_or(u16::MAX);
        if self.local_lengths.contains(&len) || len == min {
            Length::Possible
        } else if len < min {
            Length::TooShort
        } else if len > max {
            Length::Other
        } else if possible.contains(&len) {
            Length::Possible
        } else {
            Length::Other
        }
    }
}

/// Which regions share a country code, in the crate's order (main country first).
pub(crate) enum CodeRegions {
    /// Not a country code.
    Unknown,
    /// A non-geographic code ("001" entities such as +800): left to the full parser.
    NonGeographic,
    /// Slots of the regions, in order.
    Regions(Vec<usize>),
}

struct Slot {
    meta: &'static Metadata,
    compiled: OnceLock<Option<Meta>>,
}

/// The whole database, indexed; regions compile lazily.
pub(crate) struct Tables {
    slots: Vec<Slot>,
    by_region: Vec<Option<usize>>,
    by_code: Vec<CodeRegions>,
}

impl Tables {
    /// The process-wide tables (indexing is cheap; compiling happens per region on first use).
    pub(crate) fn get() -> &'static Tables {
        static TABLES: OnceLock<Tables> = OnceLock::new();
        TABLES.get_or_init(Tables::index)
    }

    fn index() -> Tables {
        let database: &'static phonenumber::metadata::Database = &DATABASE;
        let mut slots = Vec::new();
        let mut by_region = vec![None; REGION_SLOTS];
        for meta in database.iter() {
            if let Some(i) = region_slot(meta.id()) {
                by_region[i] = Some(slots.len());
                slots.push(Slot {
                    meta,
                    compiled: OnceLock::new(),
                });
            }
        }
        let by_code = (0..=MAX_CODE)
            .map(|code| {
                let Ok(code) = u16::try_from(code) else {
                    return CodeRegions::Unknown;
                };
                match database.region(&code) {
                    None => CodeRegions::Unknown,
                    Some(ids) => {
                        let found: Option<Vec<usize>> = ids
                            .iter()
                            .map(|id| region_slot(id).and_then(|i| by_region[i]))
                            .collect();
                        match found {
                            Some(found) if !found.is_empty() => CodeRegions::Regions(found),
                            _ => CodeRegions::NonGeographic,
                        }
                    }
                }
            })
            .collect();
        Tables {
            slots,
            by_region,
            by_code,
        }
    }

    /// The slot of a region id ("US"), if the database has it.
    pub(crate) fn region(&self, id: &str) -> Option<usize> {
        region_slot(id).and_then(|i| self.by_region[i])
    }

    /// The compiled tables of a slot; `None` if one of its patterns could not be compiled (then the
    /// fast path steps aside for numbers of that region).
    pub(crate) fn meta(&self, slot: usize) -> Option<&Meta> {
        let slot = self.slots.get(slot)?;
        slot.compiled
            .get_or_init(|| Meta::build(slot.meta))
            .as_ref()
    }

    /// Compiles a region and every region sharing its country code now, instead of on the first
    /// number that needs them.
    pub(crate) fn warm_up(&self, slot: usize) {
        let Some(meta) = self.meta(slot) else {
            return;
        };
        if let CodeRegions::Regions(regions) = self.code(meta.code) {
            for &other in regions {
                self.meta(other);
            }
        }
    }

    /// The regions using a country code.
    pub(crate) fn code(&self, code: u16) -> &CodeRegions {
        self.by_code
            .get(usize::from(code))
            .unwrap_or(&CodeRegions::Unknown)
    }
}

fn region_slot(id: &str) -> Option<usize> {
    match id.as_bytes() {
        [a, b] if a.is_ascii_uppercase() && b.is_ascii_uppercase() => {
            Some(usize::from(a - b'A') * 26 + usize::from(b - b'A'))
        }
        _ => None,
    }
}

fn len16(digits: &[u8]) -> u16 {
    u16::try_from(digits.len()).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_region_of_the_database_compiles() {
        let tables = Tables::get();
        let failed: Vec<&str> = (0..tables.slots.len())
            .filter(|&i| tables.meta(i).is_none())
            .map(|i| tables.slots[i].meta.id())
            .collect();
        assert!(failed.is_empty(), "{failed:?}");
        assert!(tables.slots.len() > 200);
    }

    #[test]
    fn nanp_regions_are_listed_with_the_us_first() {
        let tables = Tables::get();
        let CodeRegions::Regions(regions) = tables.code(1) else {
            panic!("code 1 has regions");
        };
        assert_eq!(Some(regions[0]), tables.region("US"));
        assert!(regions.contains(&tables.region("CA").unwrap()));
        assert!(matches!(tables.code(800), CodeRegions::NonGeographic));
        assert!(matches!(tables.code(999), CodeRegions::Unknown));
    }

    #[test]
    fn dfa_matches_like_the_crate_regex() {
        let tables = Tables::get();
        let us = tables.meta(tables.region("US").unwrap()).unwrap();
        assert!(us.is_known_type(b"2133734253"));
        for digits in [
            "2133734253",
            "2003734253",
            "9003734253",
            "8005550100",
            "2131234567",
        ] {
            let parsed = phonenumber::parse(Some(phonenumber::country::US), digits).unwrap();
            assert_eq!(
                us.is_known_type(digits.as_bytes()),
                phonenumber::is_valid(&parsed),
                "{digits}"
            );
        }
        let idd = us.international_prefix.as_ref().unwrap();
        assert!(idd.matches_at_start(b"01144"));
        assert!(!idd.matches_at_start(b"1011"));
        assert_eq!(idd.match_end_at_start(b"01144"), Some(3));
    }
}
