//! libFuzzer entry point; the checks are in `signalpost_fuzz::ttclid`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signalpost_fuzz::ttclid::check(data));
