//! The fuzz targets' checks (`fuzz/src/`, included here by path) run over their checked-in seed
//! corpus (`fuzz/corpus/<target>/`), so the properties the fuzzer holds the code to are exercised by
//! the normal test suite too, without libFuzzer. The fuzzer itself: docs/development.md, "Fuzzing".
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

#[path = "../../../fuzz/src/identity.rs"]
mod identity;
#[path = "../../../fuzz/src/ingest.rs"]
mod ingest;
#[path = "../../../fuzz/src/ttclid.rs"]
mod ttclid;

/// Every seed of `target`, by file name; fails when the directory is empty.
fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 3, "too few seeds in {}", dir.display());
    seeds
}

/// Runs `check` on every seed and on every prefix of it (truncated input is the fuzzer's first move).
fn replay(target: &str, check: fn(&[u8])) {
    for (name, data) in seeds(target) {
        for end in 0..=data.len() {
            let input = &data[..end];
            if std::panic::catch_unwind(|| check(input)).is_err() {
                panic!("{target} check failed on seed {name:?} cut to {end} bytes: {input:?}");
            }
        }
    }
}

#[test]
fn identity_checks_hold_on_the_seeds() {
    replay("identity", identity::check);
}

#[test]
fn ttclid_checks_hold_on_the_seeds() {
    replay("ttclid", ttclid::check);
}

#[test]
fn ingest_checks_hold_on_the_seeds() {
    replay("ingest", ingest::check);
}
