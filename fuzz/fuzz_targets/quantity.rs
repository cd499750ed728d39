#![no_main]
//! Fuzz target: see `portcullis::fuzzing::quantity`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| portcullis::fuzzing::quantity(data));
