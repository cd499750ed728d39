#![no_main]
//! Fuzz target: see `portcullis::fuzzing::rego_compile`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| portcullis::fuzzing::rego_compile(data));
