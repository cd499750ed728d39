#![no_main]
//! Fuzz target: see `portcullis::fuzzing::cel_compile`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| portcullis::fuzzing::cel_compile(data));
