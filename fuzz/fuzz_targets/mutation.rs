#![no_main]
//! Fuzz target: see `portcullis::fuzzing::mutation`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| portcullis::fuzzing::mutation(data));
