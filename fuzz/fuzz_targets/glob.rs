#![no_main]
//! Fuzz target: see `portcullis::fuzzing::glob`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| portcullis::fuzzing::glob(data));
