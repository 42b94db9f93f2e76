//! What each fuzz target checks, as plain functions of the input bytes: they panic on a violated
//! property, so libFuzzer reports it as a crash, and a normal `#[test]` can replay the seed corpus.
//! Each module is self-contained (it only uses the signalpost crates, `serde_json` and `url`) so
//! that `crates/signalpost/tests/fuzz_seeds.rs` can include it by path.

pub mod identity;
pub mod ingest;
pub mod ttclid;
