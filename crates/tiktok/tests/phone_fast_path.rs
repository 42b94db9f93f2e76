//! The phone fast path must agree with the full parser on every input it accepts. Inputs are built
//! from the metadata's own example numbers (so many are valid), mutated, and written the ways people
//! write numbers (national, international, with IDD, RFC 3966-like, grouped with random
//! separators), then read with either their own region or an unrelated default region.
#![allow(clippy::unwrap_used)]

use phonenumber::metadata::DATABASE;
use proptest::prelude::*;
use signalpost_tiktok::identity::{
    Region, normalize_phone, normalize_phone_fast, normalize_phone_full,
};

/// (region id, country code, national prefix, example national numbers) for every region.
fn regions() -> Vec<(String, u16, Option<String>, Vec<String>)> {
    let mut out: Vec<_> = DATABASE
        .iter()
        .filter(|m| m.id().len() == 2)
        .map(|m| {
            let d = m.descriptors();
            let examples = [
                d.fixed_line(),
                d.mobile(),
                d.toll_free(),
                d.premium_rate(),
                d.voip(),
                d.uan(),
            ]
            .into_iter()
            .flatten()
            .filter_map(|x| x.example().map(str::to_owned))
            .collect();
            (
                m.id().to_owned(),
                m.country_code(),
                m.national_prefix().map(str::to_owned),
                examples,
            )
        })
        .filter(
            |(_, _, _, examples): &(String, u16, Option<String>, Vec<String>)| !examples.is_empty(),
        )
        .collect();
    out.sort();
    out
}

/// Default regions commonly configured, besides the number's own.
const DEFAULTS: &[&str] = &[
    "US", "CA", "GB", "FR", "DE", "IT", "ES", "AU", "BR", "MX", "IN", "JP", "AG", "NL",
];

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

/// Joins digit groups with random separators.
fn grouped(digits: &str, cuts: &[usize], seps: &[&'static str]) -> String {
    let mut out = String::new();
    let mut last = 0;
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (digits.len() + 1)).collect();
    points.sort_unstable();
    for (i, p) in points.into_iter().enumerate() {
        if p > last {
            out.push_str(&digits[last..p]);
            last = p;
        }
        out.push_str(seps[i % seps.len()]);
    }
    out.push_str(&digits[last..]);
    out
}

fn phone_input() -> impl Strategy<Value = (String, String)> {
    let regions = regions();
    let n = regions.len();
    (
        0..n,
        any::<prop::sample::Index>(),
        prop::collection::vec(0u8..10, 0..4),
        0usize..10,
        prop::collection::vec(0usize..20, 0..5),
        prop::collection::vec(
            prop::sample::select(vec![" ", "-", ".", "", "(", ")", "  ", ") ", " ("]),
            1..5,
        ),
        0usize..3,
        prop::sample::select(DEFAULTS.to_vec()),
        prop::collection::vec(0u8..10, 3..16),
    )
        .prop_map(
            move |(r, ex, mutation, shape, cuts, seps, which_default, other_default, random)| {
                let (id, code, prefix, examples) = &regions[r];
                let mut national: Vec<u8> = examples[ex.index(examples.len())].bytes().collect();
                // Replace the last digits: stays close to valid, sometimes becomes invalid.
                for (i, d) in mutation.iter().enumerate() {
                    if let Some(slot) = national.len().checked_sub(i + 1) {
                        national[slot] = b'0' + d;
                    }
                }
                let mut national = String::from_utf8(national).unwrap();
                if shape == 9 {
                    national = random.iter().map(|d| char::from(b'0' + d)).collect();
                }
                let np = prefix.clone().unwrap_or_default();
                let body = grouped(&national, &cuts, &seps);
                let text = match shape {
                    0 => format!("+{code} {body}"),
                    1 => format!("{np}{body}"),
                    2 => body.clone(),
                    3 => format!("{code}{body}"),
                    4 => format!("(+{code}){body}"),
                    5 => format!("+{code} ({np}){body}"),
                    6 => format!("00{code} {body}"),
                    7 => format!("+{code}-{}", grouped(&national, &cuts, &["-"])),
                    8 => format!(" +{code}{national} "),
                    _ => format!("{np}{body}"),
                };
                let default = if which_default == 0 {
                    other_default.to_owned()
                } else {
                    id.clone()
                };
                (text, default)
            },
        )
}

proptest! {
    // 1,000 cases by default (the full parser is slow in debug builds); PROPTEST_CASES raises it,
    // e.g. `PROPTEST_CASES=100000 cargo test --release -p signalpost-tiktok --test phone_fast_path`.
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn fast_path_agrees_with_the_full_parser((raw, default) in phone_input()) {
        let region = Region::parse(&default).unwrap();
        let full = normalize_phone_full(&raw, region);
        if let Some(fast) = normalize_phone_fast(&raw, region) {
            prop_assert_eq!(&full, &fast, "input {:?} region {}", raw, default);
        }
        prop_assert_eq!(normalize_phone(&raw, region), full);
    }

    #[test]
    fn fast_path_agrees_on_arbitrary_phone_characters(
        raw in "[0-9 ()+.-]{0,22}",
        default in prop::sample::select(DEFAULTS.to_vec()),
    ) {
        let region = Region::parse(default).unwrap();
        if let Some(fast) = normalize_phone_fast(&raw, region) {
            prop_assert_eq!(normalize_phone_full(&raw, region), fast, "input {:?} region {}", raw, default);
        }
    }
}

/// Guards against a fast path that agrees by never answering: on the metadata's example numbers
/// written in international or national form, it must answer for most of them.
#[test]
fn fast_path_answers_for_most_example_numbers() {
    let (mut asked, mut answered) = (0, 0);
    for (id, code, prefix, examples) in regions() {
        let region = Region::parse(&id).unwrap();
        for example in &examples {
            let np = prefix.clone().unwrap_or_default();
            for raw in [format!("+{code} {example}"), format!("{np}{example}")] {
                if normalize_phone_full(&raw, region).is_ok() {
                    asked += 1;
                    if let Some(fast) = normalize_phone_fast(&raw, region) {
                        answered += 1;
                        assert_eq!(normalize_phone_full(&raw, region), fast, "{raw} {id}");
                    }
                }
            }
        }
    }
    assert!(asked > 500, "{asked}");
    assert!(
        answered * 100 >= asked * 85,
        "fast path answered {answered} of {asked}"
    );
}

/// Guards the generator: a good share of the generated inputs must take the fast path, or the
/// agreement property above would be checking little.
#[test]
fn generated_inputs_often_take_the_fast_path() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        ProptestConfig::default(),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let strategy = phone_input();
    let (mut total, mut fast, mut valid, mut rejected, mut invalid) = (0, 0, 0, 0, 0);
    for _ in 0..400 {
        let (raw, default) = strategy.new_tree(&mut runner).unwrap().current();
        let region = Region::parse(&default).unwrap();
        let full = normalize_phone_full(&raw, region);
        total += 1;
        valid += usize::from(full.is_ok());
        invalid += usize::from(full.is_err());
        if let Some(answer) = normalize_phone_fast(&raw, region) {
            fast += usize::from(answer.is_ok());
            rejected += usize::from(answer.is_err());
            assert_eq!(full, answer, "{raw} {default}");
        }
    }
    eprintln!("{invalid} invalid, {rejected} rejected on the fast path");
    assert!(
        rejected * 100 >= invalid * 30,
        "fast path rejected {rejected} of {invalid} invalid inputs"
    );
    eprintln!("generated {total}: {valid} valid, {fast} on the fast path");
    assert!(
        valid * 100 >= total * 30,
        "only {valid} of {total} generated inputs are valid"
    );
    assert!(
        fast * 100 >= valid * 60,
        "fast path took {fast} of {valid} valid inputs"
    );
}
