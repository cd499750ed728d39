#![no_main]
//! Fuzz target: see `portcullis::fuzzing::selector`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| portcullis::fuzzing::selector(data));
