//! libFuzzer entry point; the checks are in `signalpost_fuzz::identity`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signalpost_fuzz::identity::check(data));
