#![no_main]
//! Fuzz target: see `portcullis::fuzzing::review_decode`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| portcullis::fuzzing::review_decode(data));
