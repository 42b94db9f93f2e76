//! Differential test against libphonenumber (issue 14). `data/phones/corpus.tsv` holds what
//! Google's libphonenumber (its Python port `phonenumbers`; the version is on the file's first
//! line) answers for every region's example numbers typed the ways people type them, plus hand-picked
//! hard cases. This test reads each (region, input) with [`normalize_phone`], the function behind
//! the gateway's `hash_phone`, and compares valid/invalid and the E.164.
//!
//! Regenerate the corpus with `data/phones/generate.py` (see its header).
//!
//! Every row must agree. Run with `--nocapture` to see the agreement figure, and on a failure a
//! sample of the disagreements grouped by kind; set `PHONE_PARITY_ALL=1` to list every one.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use signalpost_identity::{Region, normalize_phone};

const CORPUS: &str = include_str!("data/phones/corpus.tsv");

/// How many disagreements of each kind to print.
const SAMPLE: usize = 12;
/// How many regions to name per kind.
const TOP_REGIONS: usize = 10;

struct Row<'a> {
    region: &'a str,
    input: &'a str,
    /// libphonenumber's E.164, `None` when it says the number is not valid.
    expected: Option<&'a str>,
}

fn corpus() -> Vec<Row<'static>> {
    let mut lines = CORPUS.lines().filter(|l| !l.starts_with('#'));
    assert_eq!(
        lines.next(),
        Some("region\tinput\tvalid\te164"),
        "corpus column line"
    );
    lines
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 4, "corpus row {line:?}");
            let expected = match (cols[2], cols[3]) {
                ("1", e164) if e164.starts_with('+') => Some(e164),
                ("0", "-") => None,
                _ => panic!("corpus row {line:?}: valid must be 1 with an E.164 or 0 with -"),
            };
            Row {
                region: cols[0],
                input: cols[1],
                expected,
            }
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// libphonenumber says valid, we reject (or do not know the region).
    WeReject,
    /// libphonenumber says not valid, we give an E.164.
    WeAcceptInvalid,
    /// Both valid, different E.164 (a different hash sent to TikTok).
    DifferentE164,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::WeReject => "we reject a number libphonenumber accepts",
            Kind::WeAcceptInvalid => "we accept a number libphonenumber rejects",
            Kind::DifferentE164 => "both accept, different E.164",
        }
    }
}

/// Our answer: the E.164, or why not (an unknown region, a rejection, a panic).
fn ours(row: &Row<'_>) -> Result<String, String> {
    let region = Region::parse(row.region).map_err(|e| e.to_string())?;
    let input = row.input;
    match std::panic::catch_unwind(|| normalize_phone(input, region)) {
        Ok(answer) => answer.map_err(|e| e.to_string()),
        Err(_) => Err("panicked".to_owned()),
    }
}

struct Disagreement {
    kind: Kind,
    region: &'static str,
    line: String,
}

#[test]
fn every_corpus_row_agrees_with_libphonenumber() {
    let rows = corpus();
    assert!(rows.len() > 10_000, "the corpus looks truncated");
    let mut disagreements = Vec::new();
    for row in &rows {
        let got = ours(row);
        let kind = match (row.expected, &got) {
            (Some(want), Ok(e164)) if want == e164 => continue,
            (None, Err(_)) => continue,
            (Some(_), Err(_)) => Kind::WeReject,
            (None, Ok(_)) => Kind::WeAcceptInvalid,
            (Some(_), Ok(_)) => Kind::DifferentE164,
        };
        let ours = match &got {
            Ok(e164) => e164.clone(),
            Err(why) => format!("rejected ({why})"),
        };
        disagreements.push(Disagreement {
            kind,
            region: row.region,
            line: format!(
                "{} {:?}: libphonenumber {}, signalpost {}",
                row.region,
                row.input,
                row.expected.unwrap_or("not valid"),
                ours
            ),
        });
    }

    let total = rows.len();
    let agree = total - disagreements.len();
    let rate = agree as f64 * 100.0 / total as f64;
    let mut report = String::new();
    writeln!(
        report,
        "phone parity with libphonenumber: {agree} of {total} agree ({rate:.2} %), {} disagree",
        disagreements.len()
    )
    .unwrap();
    let mut by_kind: BTreeMap<Kind, Vec<&Disagreement>> = BTreeMap::new();
    for d in &disagreements {
        by_kind.entry(d.kind).or_default().push(d);
    }
    for (kind, list) in &by_kind {
        let mut regions: BTreeMap<&str, usize> = BTreeMap::new();
        for d in list {
            *regions.entry(d.region).or_default() += 1;
        }
        let mut regions: Vec<(&str, usize)> = regions.into_iter().collect();
        regions.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let top: Vec<String> = regions
            .iter()
            .take(TOP_REGIONS)
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        writeln!(
            report,
            "\n{}: {} (top regions: {})",
            kind.label(),
            list.len(),
            top.join(", ")
        )
        .unwrap();
        // Spread the sample over regions: the first disagreement of each region, in region order.
        if std::env::var_os("PHONE_PARITY_ALL").is_some() {
            for d in list {
                writeln!(report, "  {}", d.line).unwrap();
            }
        } else {
            let mut seen = std::collections::BTreeSet::new();
            for d in list.iter().filter(|d| seen.insert(d.region)).take(SAMPLE) {
                writeln!(report, "  {}", d.line).unwrap();
            }
        }
    }
    println!("{report}");

    assert!(disagreements.is_empty(), "{report}");
}

/// The examples from issue 14, with libphonenumber's answers (`None`: not a valid number).
#[test]
fn issue_14_examples_match_libphonenumber() {
    let cases: [(&str, &str, Option<&str>); 6] = [
        ("393 123 4567", "IT", Some("+393931234567")),
        ("+7 800 123-45-67", "KZ", Some("+78001234567")),
        ("8 801 123 4567", "BY", Some("+3758011234567")),
        ("590271234", "BL", Some("+590590271234")),
        ("4915123456789", "DE", Some("+494915123456789")),
        ("55800123456", "BR", None),
    ];
    let mut wrong = Vec::new();
    for (input, region, want) in cases {
        let got = normalize_phone(input, Region::parse(region).unwrap()).ok();
        if got.as_deref() != want {
            wrong.push(format!("{region} {input:?}: want {want:?}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The corpus agrees with the issue's examples, so the differential test covers them.
#[test]
fn corpus_holds_the_issue_14_examples() {
    let rows = corpus();
    let find = |region: &str, input: &str| {
        rows.iter()
            .find(|r| r.region == region && r.input == input)
            .map(|r| r.expected)
    };
    assert_eq!(find("IT", "393 123 4567"), Some(Some("+393931234567")));
    assert_eq!(find("KZ", "+7 800 123-45-67"), Some(Some("+78001234567")));
    assert_eq!(find("BY", "8 801 123 4567"), Some(Some("+3758011234567")));
    assert_eq!(find("BL", "590271234"), Some(Some("+590590271234")));
    assert_eq!(find("DE", "4915123456789"), Some(Some("+494915123456789")));
    assert_eq!(find("BR", "55800123456"), Some(None));
}
